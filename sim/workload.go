package sim

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/source"
)

// writer is the application on one agent's host appending lines to the log
// the agent tails: line seq is written at phase + seq/rate, so the
// simulator never stores the log: what is written by a time, and when a
// line was written, are both computed.
type writer struct {
	id    int
	rate  float64 // lines per second
	phase time.Duration
	stop  time.Duration // no lines are written at or after stop
}

// written is the number of lines written by virtual time t.
func (w *writer) written(t time.Duration) uint64 {
	if t > w.stop {
		t = w.stop
	}
	if t < w.phase || w.rate <= 0 {
		return 0
	}
	return uint64(math.Floor((t-w.phase).Seconds()*w.rate)) + 1
}

// writtenAt is when line seq was written.
func (w *writer) writtenAt(seq uint64) time.Duration {
	return w.phase + time.Duration(float64(seq)/w.rate*float64(time.Second))
}

const bodyLen = 8

// body encodes (writer, seq) as the event body; the stores decode it.
func putBody(b []byte, w int, seq uint64) {
	binary.BigEndian.PutUint32(b, uint32(w))
	binary.BigEndian.PutUint32(b[4:], uint32(seq))
}

func readBody(b []byte) (int, uint64, bool) {
	if len(b) != bodyLen {
		return 0, 0, false
	}
	return int(binary.BigEndian.Uint32(b)), uint64(binary.BigEndian.Uint32(b[4:])), true
}

// tailSource stands in for the taildir source: it reads the writer's log
// from its position in batches of batchSize and hands each batch to the real
// ChannelProcessor, advancing the position only after the channels
// committed, as taildir does. Like taildir with its defaults, one poll reads
// until a batch comes back short and then reports BACKOFF (flume-facts
// §5.1). Its position is saved every writePosInterval; an agent crash
// restarts from the saved position, re-reading (duplicating) the rest.
type tailSource struct {
	n        *node
	w        *writer
	cp       *source.ChannelProcessor
	chans    []*chanNode
	batch    int
	pos      uint64 // next seq to read: committed to the channels
	saved    uint64 // position as last written to the position file
	nextSave time.Duration
	blocked  bool // the last put found a channel full
	// bodies is carved into the events' bodies, which the channels keep.
	bodies []byte
}

const writePosInterval = 3 * time.Second

var errFull = errors.New("channel full")

// poll reads what the writer has written. It returns errFull (wrapped)
// when a channel is full: back-pressure, the batch is re-read later.
func (t *tailSource) poll(now time.Duration) (source.Status, error) {
	if now >= t.nextSave {
		t.saved, t.nextSave = t.pos, now+writePosInterval
	}
	avail := t.w.written(now)
	n := t.n
	for t.pos < avail {
		k := int(min(uint64(t.batch), avail-t.pos))
		// The batch slice is the world's, shared by every agent (the
		// channels copy what they commit), so it stays in the cache.
		if cap(n.w.batch) < k {
			n.w.batch = make([]event.Event, k)
		}
		events := n.w.batch[:k]
		if len(t.bodies) < k*bodyLen {
			t.bodies = make([]byte, max(k*bodyLen, 4096))
		}
		bodies := t.bodies[: k*bodyLen : k*bodyLen]
		t.bodies = t.bodies[k*bodyLen:]
		for i := range events {
			b := bodies[i*bodyLen : (i+1)*bodyLen : (i+1)*bodyLen]
			putBody(b, t.w.id, t.pos+uint64(i))
			events[i] = event.Event{Body: b}
		}
		if err := t.cp.ProcessBatch(events); err != nil {
			if errors.Is(err, channel.ErrFull) {
				// The put commit waited keep-alive for room before failing.
				n.w.meter.Elapsed += t.chans[0].keepAlive
				n.w.stats.sourceFull++
				t.blocked = true
				if cp := &n.w.cap; !cp.fullAgents[t.w.id] {
					cp.fullAgents[t.w.id] = true
					if cp.firstFull < 0 {
						cp.firstFull = now
					}
				}
				return source.Backoff, errFull
			}
			return source.Backoff, err
		}
		t.pos += uint64(k)
		t.blocked = false
		for _, c := range t.chans {
			c.woke()
		}
		if k < t.batch {
			break
		}
	}
	return source.Backoff, nil
}
