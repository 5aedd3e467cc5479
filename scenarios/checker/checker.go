// Package checker is the zero-loss checker shared by the chaos scenarios
// and the fleet simulator: Jepsen's total-queue model over multisets, a
// per-writer sequence-gap check, the delivery latency of every event in an
// HdrHistogram, and the failover table derived from what was observed.
//
// Writers call Attempt before an event is written and Ack once the write
// was confirmed; whatever reads the stores back calls Deliver for every
// line it finds, with the time it found it. Result then reports:
//
//   - lost: acknowledged, never read back (makes the run invalid);
//   - unexpected: read back but never written, or altered (invalid);
//   - duplicated: extra copies, with a histogram of copies (reported,
//     never hidden, never invalidating: delivery is at-least-once);
//   - recovered: read back though never acknowledged (an indeterminate
//     write that landed);
//   - gaps: per writer, sequence numbers never read back.
//
// The package imports no process, network or container code, so the
// simulator can use it as is. It is safe for concurrent use.
package checker

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/sluicehq/sluice/reports/record"
)

// Limits on what a Result lists in full; counts are always exact.
const (
	maxIntervalsPerWriter = 200
	maxIntervals          = 5000
	maxSamples            = 20
	// maxSeq bounds a writer's sequence numbers so a corrupt or hostile
	// Attempt cannot make the checker allocate without bound.
	maxSeq = 1 << 28
	// maxBuckets bounds the per-interval series.
	maxBuckets = 1 << 22
)

// Histogram range: 1 µs to 1 hour at 3 significant digits.
const (
	histMinUs = 1
	histMaxUs = int64(time.Hour / time.Microsecond)
)

type event struct {
	write     int64 // unix nanos the writer stamped
	first     int64 // unix nanos of the first arrival (0: none)
	second    int64 // unix nanos of the second arrival (0: none)
	copies    int32
	size      int32
	store     uint16 // first arrival's store index + 1
	attempted bool
	acked     bool
}

type writer struct {
	name   string
	node   string
	events []event
}

// Options configure a Checker.
type Options struct {
	// Start is time zero of the run; Interval the width of the series
	// buckets (default 1 s).
	Start    time.Time
	Interval time.Duration
	// Resolution is how finely arrivals are observed (the store polling
	// period), recorded alongside the latencies.
	Resolution time.Duration
}

// Checker accumulates writes and deliveries.
type Checker struct {
	opts Options

	mu         sync.Mutex
	writers    map[string]*writer
	order      []*writer
	stores     []string
	storeIdx   map[string]uint16
	unexpected int64
	samples    []string
	torn       int64
	perStore   []int64

	written    []int64
	delivered  []int64
	duplicates []int64
	storeSer   [][]int64
}

// New returns an empty checker.
func New(opts Options) *Checker {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	return &Checker{opts: opts, writers: map[string]*writer{}, storeIdx: map[string]uint16{}}
}

// Writer declares a writer and the node whose source it feeds; the
// failover analysis groups events by node. Undeclared writers belong to
// no node.
func (c *Checker) Writer(name, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writerLocked(name).node = node
}

func (c *Checker) writerLocked(name string) *writer {
	w, ok := c.writers[name]
	if !ok {
		w = &writer{name: name}
		c.writers[name] = w
		c.order = append(c.order, w)
	}
	return w
}

// Attempt records that writer is about to write event seq, stamped at
// (the time inside the line) with a line of size bytes. It returns false
// (and records nothing) for a sequence number out of range.
func (c *Checker) Attempt(writerName string, seq int64, at time.Time, size int) bool {
	if seq < 0 || seq >= maxSeq {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.writerLocked(writerName)
	if int64(len(w.events)) <= seq {
		if int64(cap(w.events)) > seq {
			w.events = w.events[:seq+1]
		} else {
			n := make([]event, seq+1, max(2*cap(w.events), int(seq+1), 1024))
			copy(n, w.events)
			w.events = n
		}
	}
	e := &w.events[seq]
	if e.attempted {
		return true
	}
	e.attempted, e.write, e.size = true, at.UnixNano(), int32(size)
	c.bump(&c.written, at)
	return true
}

// Ack records that the write of seq was confirmed (the http source
// answered 200, the line is in the tailed file).
func (c *Checker) Ack(writerName string, seq int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w, ok := c.writers[writerName]; ok && seq >= 0 && seq < int64(len(w.events)) && w.events[seq].attempted {
		w.events[seq].acked = true
	}
}

// Deliver records one line read back from store at time at. A line that
// is not an intact workload line of an attempted event is unexpected.
func (c *Checker) Deliver(store string, line []byte, at time.Time) {
	p, ok := Parse(line)
	c.mu.Lock()
	defer c.mu.Unlock()
	si := c.storeLocked(store)
	c.perStore[si]++
	c.bumpStore(si, at)
	if !ok {
		c.unexpectedLocked(line)
		return
	}
	w, ok := c.writers[p.Writer]
	if !ok || p.Seq >= int64(len(w.events)) || !w.events[p.Seq].attempted {
		c.unexpectedLocked(line)
		return
	}
	e := &w.events[p.Seq]
	if e.write != p.Nanos || int(e.size) != p.Size {
		c.unexpectedLocked(line)
		return
	}
	e.copies++
	n := at.UnixNano()
	switch e.copies {
	case 1:
		e.first, e.store = n, si+1
		c.bump(&c.delivered, at)
	case 2:
		e.second = n
		c.bump(&c.duplicates, at)
	default:
		c.bump(&c.duplicates, at)
	}
}

// Torn records an incomplete line left at the end of a store file.
func (c *Checker) Torn(store string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.torn++
	c.storeLocked(store)
}

func (c *Checker) storeLocked(name string) uint16 {
	if i, ok := c.storeIdx[name]; ok {
		return i
	}
	i := uint16(len(c.stores))
	c.stores = append(c.stores, name)
	c.storeIdx[name] = i
	c.perStore = append(c.perStore, 0)
	c.storeSer = append(c.storeSer, nil)
	return i
}

func (c *Checker) unexpectedLocked(line []byte) {
	c.unexpected++
	if len(c.samples) < maxSamples {
		s := line
		if len(s) > 120 {
			s = s[:120]
		}
		c.samples = append(c.samples, string(s))
	}
}

func (c *Checker) bucket(at time.Time) int {
	if c.opts.Start.IsZero() {
		return -1
	}
	d := at.Sub(c.opts.Start)
	if d < 0 {
		d = 0
	}
	i := int64(d / c.opts.Interval)
	if i >= maxBuckets {
		return -1
	}
	return int(i)
}

func (c *Checker) bump(s *[]int64, at time.Time) {
	i := c.bucket(at)
	if i < 0 {
		return
	}
	for len(*s) <= i {
		*s = append(*s, 0)
	}
	(*s)[i]++
}

func (c *Checker) bumpStore(si uint16, at time.Time) {
	c.bump(&c.storeSer[si], at)
}

// Counts is a cheap live summary for progress lines.
type Counts struct {
	Attempted, Acknowledged, Delivered, Duplicated, Unexpected int64
}

// Counts returns the live summary.
func (c *Checker) Counts() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	var k Counts
	for _, w := range c.order {
		for i := range w.events {
			e := &w.events[i]
			if !e.attempted {
				continue
			}
			k.Attempted++
			if e.acked {
				k.Acknowledged++
			}
			if e.copies > 0 {
				k.Delivered++
				k.Duplicated += int64(e.copies - 1)
			}
		}
	}
	k.Unexpected = c.unexpected
	return k
}

// Outstanding is the number of acknowledged events not yet read back: the
// drain phase waits for it to reach zero.
func (c *Checker) Outstanding() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for _, w := range c.order {
		for i := range w.events {
			if e := &w.events[i]; e.acked && e.copies == 0 {
				n++
			}
		}
	}
	return n
}

// Result computes the verdict.
func (c *Checker) Result() record.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	var r record.Result
	h := hdrhistogram.New(histMinUs, histMaxUs, 3)
	copies := map[int]int64{}
	budget := maxIntervals
	for _, w := range c.sortedWriters() {
		var lost, gaps intervals
		for i := range w.events {
			e := &w.events[i]
			if !e.attempted {
				continue
			}
			r.Attempted++
			if e.acked {
				r.Acknowledged++
			}
			switch {
			case e.copies > 0:
				r.Delivered++
				if !e.acked {
					r.Recovered++
				}
				if e.copies > 1 {
					r.DuplicatedEvents++
					r.Duplicated += int64(e.copies - 1)
					copies[int(e.copies)]++
				}
				us := (e.first - e.write) / int64(time.Microsecond)
				h.RecordValue(min(max(us, histMinUs), histMaxUs))
			case e.acked:
				r.Lost++
				lost.add(int64(i))
				gaps.add(int64(i))
			default:
				r.Unconfirmed++
				gaps.add(int64(i))
			}
		}
		if lost.count > 0 {
			wi, trunc := lost.take(w.name, &budget)
			r.LostIntervals = append(r.LostIntervals, wi)
			r.Truncated = r.Truncated || trunc
		}
		if gaps.count > 0 {
			wi, trunc := gaps.take(w.name, &budget)
			r.Gaps = append(r.Gaps, wi)
			r.Truncated = r.Truncated || trunc
		}
	}
	for k, v := range copies {
		r.Copies = append(r.Copies, record.CopiesBucket{Copies: k, Events: v})
	}
	sort.Slice(r.Copies, func(i, j int) bool { return r.Copies[i].Copies < r.Copies[j].Copies })
	r.Unexpected = c.unexpected
	r.UnexpectedSamples = append([]string(nil), c.samples...)
	r.Torn = c.torn
	if len(c.stores) > 0 {
		r.PerStore = map[string]int64{}
		for i, s := range c.stores {
			r.PerStore[s] = c.perStore[i]
		}
	}
	r.Latency = latency(h)
	r.Latency.ResolutionUs = c.opts.Resolution.Microseconds()
	r.Valid = r.Lost == 0 && r.Unexpected == 0
	return r
}

func (c *Checker) sortedWriters() []*writer {
	ws := append([]*writer(nil), c.order...)
	sort.Slice(ws, func(i, j int) bool { return ws[i].name < ws[j].name })
	return ws
}

func latency(h *hdrhistogram.Histogram) record.Latency {
	l := record.Latency{Count: h.TotalCount()}
	if l.Count == 0 {
		return l
	}
	l.MinUs = h.Min()
	l.P50Us = h.ValueAtQuantile(50)
	l.P90Us = h.ValueAtQuantile(90)
	l.P99Us = h.ValueAtQuantile(99)
	l.P999Us = h.ValueAtQuantile(99.9)
	l.MaxUs = h.Max()
	l.MeanUs = math.Round(h.Mean()*10) / 10
	if b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase); err == nil {
		l.Histogram = string(b)
	}
	return l
}

// intervals accumulates sorted sequence numbers as inclusive intervals.
type intervals struct {
	iv    [][2]int64
	count int64
}

func (v *intervals) add(seq int64) {
	v.count++
	if n := len(v.iv); n > 0 && v.iv[n-1][1] == seq-1 {
		v.iv[n-1][1] = seq
		return
	}
	v.iv = append(v.iv, [2]int64{seq, seq})
}

func (v *intervals) take(name string, budget *int) (record.WriterIntervals, bool) {
	n := min(len(v.iv), maxIntervalsPerWriter, *budget)
	*budget -= n
	return record.WriterIntervals{Writer: name, Count: v.count, Intervals: v.iv[:n]}, n < len(v.iv)
}

// Series fills the written, delivered, duplicate and per-store series of s
// (whose IntervalMs must match the checker's interval) up to n buckets.
func (c *Checker) Series(s *record.Series, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s.IntervalMs = c.opts.Interval.Milliseconds()
	s.Written = fit(c.written, n)
	s.Delivered = fit(c.delivered, n)
	s.Duplicates = fit(c.duplicates, n)
	if len(c.stores) > 0 {
		s.Stores = map[string][]int64{}
		for i, name := range c.stores {
			s.Stores[name] = fit(c.storeSer[i], n)
		}
	}
	if n <= 0 || c.opts.Start.IsZero() {
		return
	}
	per := make([][]int64, n)
	for _, w := range c.order {
		for i := range w.events {
			e := &w.events[i]
			if !e.attempted || e.copies == 0 {
				continue
			}
			b := c.bucket(time.Unix(0, e.write))
			if b < 0 {
				continue
			}
			b = min(b, n-1)
			per[b] = append(per[b], (e.first-e.write)/int64(time.Microsecond))
		}
	}
	s.LatencyP50Us = make([]int64, n)
	s.LatencyP99Us = make([]int64, n)
	s.LatencyMaxUs = make([]int64, n)
	for i, v := range per {
		if len(v) == 0 {
			continue
		}
		sort.Slice(v, func(a, b int) bool { return v[a] < v[b] })
		s.LatencyP50Us[i] = rank(v, 0.50)
		s.LatencyP99Us[i] = rank(v, 0.99)
		s.LatencyMaxUs[i] = v[len(v)-1]
	}
}

// rank is the nearest-rank percentile of sorted v.
func rank(v []int64, q float64) int64 {
	i := int(math.Ceil(q*float64(len(v)))) - 1
	return v[min(max(i, 0), len(v)-1)]
}

func fit(s []int64, n int) []int64 {
	if n <= 0 {
		return nil
	}
	out := make([]int64, n)
	copy(out, s)
	if len(s) > n {
		// Anything past the end (late arrivals) folds into the last bucket.
		for _, v := range s[n:] {
			out[n-1] += v
		}
	}
	return out
}
