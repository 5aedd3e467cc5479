package sim

import (
	"sort"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/sluicehq/sluice/reports/record"
)

// checker is Jepsen's total-queue check over the simulation's writers: every
// event is (writer, seq); whatever a store receives is counted, so that
// after the drain lost = written and never delivered, duplicated = delivered
// more than once (with how many copies), unexpected = delivered and never
// written. It keeps one byte per written event (a copy count), which is what
// lets a 72-million-event run be checked in a few hundred megabytes.
//
// It reports in the shared format (record.Result) with the semantics of the
// shared checker, scenarios/checker, which a test runs side by side with it
// on the same deliveries. That checker keeps a 40-byte entry per event and
// parses a text line per delivery behind a mutex: right for real processes,
// about 3 GB and tens of seconds for the 72 million events of an hour of
// the seed fleet, which is why the simulator counts copies compactly here.
type checker struct {
	writers []writerLog
	lat     *hdrhistogram.Histogram
	first   uint64 // first arrivals so far
}

type writerLog struct {
	written uint64
	total   uint64  // lines the writer will have written when it stops (0: unknown)
	counts  []uint8 // copies delivered per seq, saturating at 255
}

func newChecker(writers int) *checker {
	return &checker{
		writers: make([]writerLog, writers),
		// Latency in microseconds, as the shared record has it, up to
		// a week (capacity runs hold events through long outages).
		lat: hdrhistogram.New(1, int64(7*24*time.Hour/time.Microsecond), 3),
	}
}

// wrote records that writer w has written seqs [0, upto).
func (c *checker) wrote(w int, upto uint64) {
	if upto > c.writers[w].written {
		c.writers[w].written = upto
	}
}

// delivered records one copy of (w, seq) reaching a store, latency after it
// was written. It returns the copies delivered so far (saturating at 255),
// 0 for an event never written.
func (c *checker) delivered(w int, seq uint64, latency time.Duration) (copies uint8) {
	if w < 0 || w >= len(c.writers) || seq >= c.writers[w].written {
		return 0
	}
	l := &c.writers[w]
	if seq >= uint64(len(l.counts)) {
		// Doubling, up to what the writer will ever write: capping
		// at what it has written so far grew the slice by a few
		// lines at a time, copying it quadratically (a sixth of an
		// hour-long run).
		n := max(uint64(len(l.counts))*2, seq+1, 1024)
		if l.total > 0 {
			n = min(n, max(l.total, seq+1))
		}
		grown := make([]uint8, n)
		copy(grown, l.counts)
		l.counts = grown
	}
	switch l.counts[seq] {
	case 0:
		c.lat.RecordValue(max(int64(latency/time.Microsecond), 1))
		l.counts[seq] = 1
		c.first++
	case 255:
	default:
		l.counts[seq]++
	}
	return l.counts[seq]
}

// result is the verdict in the shared record format (reports/record), with
// Jepsen total-queue semantics: every line written to a log is an
// acknowledged write (the application's append returned), so attempted =
// acknowledged = written, and nothing is indeterminate.
func (c *checker) result(names func(int) string, unexpected uint64, perStore map[string]int64) record.Result {
	r := record.Result{Unexpected: int64(unexpected), PerStore: perStore}
	hist := map[int]int64{}
	budget := 5000
	for w := range c.writers {
		l := &c.writers[w]
		r.Attempted += int64(l.written)
		var lost record.WriterIntervals
		for seq := uint64(0); seq < l.written; seq++ {
			n := 0
			if seq < uint64(len(l.counts)) {
				n = int(l.counts[seq])
			}
			if n > 0 {
				r.Delivered++
				if n > 1 {
					r.DuplicatedEvents++
					r.Duplicated += int64(n - 1)
					hist[n]++
				}
				continue
			}
			r.Lost++
			lost.Count++
			if k := len(lost.Intervals); k > 0 && lost.Intervals[k-1][1] == int64(seq)-1 {
				lost.Intervals[k-1][1] = int64(seq)
			} else if k < 200 && budget > 0 {
				lost.Intervals = append(lost.Intervals, [2]int64{int64(seq), int64(seq)})
				budget--
			} else {
				r.Truncated = true
			}
		}
		if lost.Count > 0 {
			lost.Writer = names(w)
			r.LostIntervals = append(r.LostIntervals, lost)
		}
	}
	r.Acknowledged = r.Attempted
	r.Gaps = r.LostIntervals
	keys := make([]int, 0, len(hist))
	for k := range hist {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		r.Copies = append(r.Copies, record.CopiesBucket{Copies: k, Events: hist[k]})
	}
	r.Valid = r.Lost == 0 && r.Unexpected == 0
	h := c.lat
	r.Latency = record.Latency{Count: h.TotalCount(), MinUs: h.Min(), P50Us: h.ValueAtQuantile(50), P90Us: h.ValueAtQuantile(90),
		P99Us: h.ValueAtQuantile(99), P999Us: h.ValueAtQuantile(99.9), MaxUs: h.Max(), MeanUs: h.Mean()}
	if snap, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase); err == nil {
		r.Latency.Histogram = string(snap)
	}
	return r
}
