package sim

import (
	"math"
	"math/bits"
	"sort"
	"time"
)

// latencyByWrite is the latency-over-time series of the record: per series
// interval of write time (as scenarios/checker buckets it), the p50, p99 and
// max latency of the events written then, to their first arrival in a store.
// An event written during an outage arrives long after its interval was
// sampled, so the intervals stay open until the run ends. Each keeps a
// log-scale histogram of latBins counters (8 per octave, so a percentile is
// within an eighth of an octave above the true one; the max is exact): an
// hour of the seed fleet costs a few megabytes, not a histogram per event.
type latencyByWrite struct {
	every time.Duration
	bins  [][]uint32 // per interval, allocated at its first arrival
	max   []int64    // µs
}

const (
	latSub    = 8                             // bins per octave
	latOctave = 42                            // latencies are capped at 2^42 µs (50 days)
	latBins   = latSub + (latOctave-3)*latSub // bins below 2^latOctave µs
)

// latBin is the bin of a latency in µs: exact below latSub, then latSub
// bins per octave.
func latBin(us int64) int {
	if us < latSub {
		return int(max(us, 0))
	}
	us = min(us, 1<<latOctave-1)
	o := bits.Len64(uint64(us)) - 1
	return latSub + (o-3)*latSub + int(us>>(o-3))&(latSub-1)
}

// latTop is the largest latency in bin b.
func latTop(b int) int64 {
	if b < latSub {
		return int64(b)
	}
	o, m := (b-latSub)/latSub+3, (b-latSub)%latSub
	return int64(latSub|m)<<(o-3) + 1<<(o-3) - 1
}

// add counts one first arrival of an event written at written (virtual
// time) after latency.
func (l *latencyByWrite) add(written, latency time.Duration) {
	if l.every <= 0 {
		return
	}
	i := int(max(written, 0) / l.every)
	for len(l.bins) <= i {
		l.bins = append(l.bins, nil)
		l.max = append(l.max, 0)
	}
	if l.bins[i] == nil {
		l.bins[i] = make([]uint32, latBins)
	}
	us := max(int64(latency/time.Microsecond), 1)
	if b := &l.bins[i][latBin(us)]; *b < math.MaxUint32 {
		*b++
	}
	l.max[i] = max(l.max[i], us)
}

// series returns, per sample taken at the virtual times at (the record's
// series points), p50, p99 and max in µs of the events written since the
// sample before (0 where none of them has arrived); events written after
// the last sample count in it.
func (l *latencyByWrite) series(at []time.Duration) (p50, p99, mx []int64) {
	n := len(at)
	p50, p99, mx = make([]int64, n), make([]int64, n), make([]int64, n)
	if n == 0 {
		return
	}
	merged := make([][]uint32, n)
	for g, b := range l.bins {
		if b == nil {
			continue
		}
		// Interval g holds writes in [g, g+1) x every: the first sample
		// at or after its end is the point they belong to.
		end := time.Duration(g+1) * l.every
		i := min(sort.Search(n, func(k int) bool { return at[k] >= end }), n-1)
		if merged[i] == nil {
			merged[i] = make([]uint32, latBins)
		}
		for k, v := range b {
			merged[i][k] = uint32(min(uint64(merged[i][k])+uint64(v), math.MaxUint32))
		}
		mx[i] = max(mx[i], l.max[g])
	}
	for i, b := range merged {
		if b != nil {
			p50[i], p99[i] = rankBins(b, 0.50, mx[i]), rankBins(b, 0.99, mx[i])
		}
	}
	return
}

// rankBins is the nearest-rank percentile q of the histogram b: the top of
// the bin it falls in, never above the largest value seen.
func rankBins(b []uint32, q float64, most int64) int64 {
	var total uint64
	for _, v := range b {
		total += uint64(v)
	}
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, v := range b {
		if seen += uint64(v); seen >= max(want, 1) {
			return min(latTop(i), most)
		}
	}
	return most
}
