package sim

import (
	"fmt"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// checker is Jepsen's total-queue check over the simulation's writers: every
// event is (writer, seq); whatever a store receives is counted, so that
// after the drain lost = written and never delivered, duplicated = delivered
// more than once (with how many copies), unexpected = delivered and never
// written. It keeps one byte per written event (a copy count), which is what
// lets a 72-million-event run be checked in a few hundred megabytes.
//
// TODO(issue 7): the scenario engineer's shared checker (scenarios/checker)
// replaces this type when it lands; Result already has its shape.
type checker struct {
	writers []writerLog
	lat     *hdrhistogram.Histogram
}

type writerLog struct {
	written uint64
	counts  []uint8 // copies delivered per seq, saturating at 255
}

func newChecker(writers int) *checker {
	return &checker{
		writers: make([]writerLog, writers),
		// Latency in milliseconds, 1 ms to 10 days, 3 significant digits.
		lat: hdrhistogram.New(1, 10*24*3600*1000, 3),
	}
}

// wrote records that writer w has written seqs [0, upto).
func (c *checker) wrote(w int, upto uint64) {
	if upto > c.writers[w].written {
		c.writers[w].written = upto
	}
}

// delivered records one copy of (w, seq) reaching a store, latency after it
// was written.
func (c *checker) delivered(w int, seq uint64, latency time.Duration) (unexpected bool) {
	if w < 0 || w >= len(c.writers) || seq >= c.writers[w].written {
		return true
	}
	l := &c.writers[w]
	if seq >= uint64(len(l.counts)) {
		n := max(uint64(len(l.counts))*2, seq+1, 1024)
		n = min(n, max(l.written, seq+1))
		grown := make([]uint8, n)
		copy(grown, l.counts)
		l.counts = grown
	}
	switch l.counts[seq] {
	case 0:
		c.lat.RecordValue(max(int64(latency/time.Millisecond), 1))
		l.counts[seq] = 1
	case 255:
	default:
		l.counts[seq]++
	}
	return false
}

// Interval is a closed range of sequence numbers [From, To].
type Interval struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// WriterLoss lists one writer's lost events as intervals.
type WriterLoss struct {
	Writer    string     `json:"writer"`
	Lost      uint64     `json:"lost"`
	Intervals []Interval `json:"intervals"`
	Truncated bool       `json:"truncated,omitempty"`
}

// Latency holds delivery latency percentiles in milliseconds.
type Latency struct {
	P50  int64 `json:"p50_ms"`
	P90  int64 `json:"p90_ms"`
	P99  int64 `json:"p99_ms"`
	P999 int64 `json:"p999_ms"`
	Max  int64 `json:"max_ms"`
}

// Result is the checker's verdict.
type Result struct {
	Valid           bool             `json:"valid"`
	Written         uint64           `json:"written"`
	Delivered       uint64           `json:"delivered"` // distinct events delivered
	Copies          uint64           `json:"copies"`    // deliveries, duplicates included
	Lost            uint64           `json:"lost"`
	Duplicated      uint64           `json:"duplicated"` // events delivered more than once
	Unexpected      uint64           `json:"unexpected"`
	CopyHistogram   map[string]int64 `json:"copy_histogram,omitempty"` // copies -> events
	LostByWriter    []WriterLoss     `json:"lost_by_writer,omitempty"`
	Latency         Latency          `json:"latency"`
	LatencySnapshot string           `json:"latency_hdr,omitempty"`
}

const maxLossWriters, maxLossIntervals = 50, 20

func (c *checker) result(names func(int) string, unexpected uint64) Result {
	r := Result{Unexpected: unexpected}
	hist := map[int]int64{}
	for w := range c.writers {
		l := &c.writers[w]
		r.Written += l.written
		var loss *WriterLoss
		for seq := uint64(0); seq < l.written; seq++ {
			n := 0
			if seq < uint64(len(l.counts)) {
				n = int(l.counts[seq])
			}
			if n > 0 {
				r.Delivered++
				r.Copies += uint64(n)
				if n > 1 {
					r.Duplicated++
					hist[n]++
				}
				continue
			}
			r.Lost++
			if loss == nil {
				loss = &WriterLoss{Writer: names(w)}
			}
			loss.Lost++
			if k := len(loss.Intervals); k > 0 && loss.Intervals[k-1].To == seq-1 {
				loss.Intervals[k-1].To = seq
			} else if k < maxLossIntervals {
				loss.Intervals = append(loss.Intervals, Interval{seq, seq})
			} else {
				loss.Truncated = true
			}
		}
		if loss != nil && len(r.LostByWriter) < maxLossWriters {
			r.LostByWriter = append(r.LostByWriter, *loss)
		}
	}
	if len(hist) > 0 {
		r.CopyHistogram = map[string]int64{}
		for k, v := range hist {
			r.CopyHistogram[fmt.Sprint(k)] = v
		}
	}
	r.Valid = r.Lost == 0 && r.Unexpected == 0
	r.Latency = Latency{
		P50: c.lat.ValueAtQuantile(50), P90: c.lat.ValueAtQuantile(90), P99: c.lat.ValueAtQuantile(99),
		P999: c.lat.ValueAtQuantile(99.9), Max: c.lat.Max(),
	}
	if snap, err := c.lat.Encode(hdrhistogram.V2CompressedEncodingCookieBase); err == nil {
		r.LatencySnapshot = string(snap)
	}
	return r
}
