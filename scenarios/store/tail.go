package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/flumekafka"
	"github.com/sluicehq/sluice/engine/sink/hdfs"
	"github.com/sluicehq/sluice/engine/vfs"
)

// Tailer follows a store while a scenario runs: each Poll returns only what
// arrived since the previous one, so the checker can call Deliver once per
// copy with the time it was first seen (its delivery latency).
type Tailer interface {
	Name() string
	// Poll returns the deliveries that appeared since the last Poll.
	Poll(ctx context.Context) ([]Delivery, error)
	// Torn is the number of files that end in a partial record now.
	Torn() int
	Close() error
}

// HDFSTail follows an HDFS sink's file:// directory. A file is known by its
// final name, so the rename at close (in-use name to final name) is not a
// new delivery; closed files are read once.
type HDFSTail struct {
	Dir HDFSDir
	// InUsePrefix is hdfs.inUsePrefix ("" by default).
	InUsePrefix string

	mu   sync.Mutex
	seen map[string]int  // final name -> events delivered
	done map[string]bool // closed files read to the end
	torn int
}

func (h *HDFSTail) Name() string { return h.Dir.Name() }

func (h *HDFSTail) canonical(p string, inUse bool) string {
	if !inUse {
		return p
	}
	suffix := h.Dir.InUseSuffix
	if suffix == "" {
		suffix = ".tmp"
	}
	dir, base := path.Split(strings.TrimSuffix(p, suffix))
	return dir + strings.TrimPrefix(base, h.InUsePrefix)
}

func (h *HDFSTail) Poll(ctx context.Context) ([]Delivery, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen == nil {
		h.seen, h.done = map[string]int{}, map[string]bool{}
	}
	d := h.Dir
	fsys := d.FS
	if fsys == nil {
		fsys = vfs.OS{}
	}
	f := d.Format
	if f.FileType == "" {
		f.FileType = "DataStream"
	}
	suffix := d.InUseSuffix
	if suffix == "" {
		suffix = ".tmp"
	}
	if _, err := fsys.Stat(d.Dir); err != nil {
		return nil, nil
	}
	files, err := hdfs.ReadStore(skipDone{fsys, h.done}, d.Dir, f, suffix)
	if err != nil {
		return nil, fmt.Errorf("tail %s: %w", h.Name(), err)
	}
	var out []Delivery
	h.torn = 0
	for _, sf := range files {
		name := h.canonical(sf.Path, sf.InUse)
		if sf.Torn {
			h.torn++
		}
		for _, e := range sf.Events[min(h.seen[name], len(sf.Events)):] {
			out = append(out, Delivery{Event: e, Store: h.Name(), Where: name})
		}
		h.seen[name] = max(h.seen[name], len(sf.Events))
		if !sf.InUse && !sf.Torn {
			h.done[sf.Path] = true
		}
	}
	return out, nil
}

func (h *HDFSTail) Torn() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.torn
}

func (h *HDFSTail) Close() error { return nil }

// skipDone hides closed files already read from ReadStore.
type skipDone struct {
	vfs.FS
	done map[string]bool
}

func (s skipDone) ReadDir(name string) ([]fs.DirEntry, error) {
	ents, err := s.FS.ReadDir(name)
	if err != nil {
		return nil, err
	}
	out := ents[:0]
	for _, e := range ents {
		if !s.done[path.Join(name, e.Name())] {
			out = append(out, e)
		}
	}
	return out, nil
}

// KafkaTail follows a topic from its start with one consumer (no group).
type KafkaTail struct {
	Topic KafkaTopic

	mu   sync.Mutex
	cl   *kgo.Client
	seen map[[2]int64]uint64 // (partition, offset) -> hash of the value read there
	// Reread counts records the tail fetched again (the client reset its
	// position, e.g. after a leader move): the same value at the same
	// offset is the same copy, not a duplicate delivery. A different value
	// at an offset read before (a broker that truncated and reused it) is
	// delivered.
	Reread int
	// Restarts counts clients replaced because they stopped short of
	// records the topic has (see Poll).
	Restarts int

	next      map[int32]int64 // partition -> 1 + the highest offset read
	behind    map[int32]int64 // at the last check: partitions short of their end, and next
	lastCheck time.Time       // when end offsets were last compared
}

// stallCheck is how often a tail compares what it has read with the
// topic's end offsets: a partition short of its end at two checks in a
// row, with no record read from it in between, has stalled.
const stallCheck = 2 * time.Second

func (k *KafkaTail) Name() string { return k.Topic.Name() }

func (k *KafkaTail) Poll(ctx context.Context) ([]Delivery, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cl == nil {
		cl, err := kgo.NewClient(kgo.SeedBrokers(k.Topic.Brokers...), kgo.ConsumeTopics(k.Topic.Topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			return nil, err
		}
		k.cl = cl
	}
	pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	fs := k.cl.PollFetches(pctx)
	var ferr error
	fs.EachError(func(t string, p int32, err error) {
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && ferr == nil {
			ferr = fmt.Errorf("tail %s partition %d: %w", t, p, err)
		}
	})
	var out []Delivery
	fs.EachRecord(func(r *kgo.Record) {
		if k.next == nil {
			k.next = map[int32]int64{}
		}
		k.next[r.Partition] = max(k.next[r.Partition], r.Offset+1)
		if d, ok := k.take(r.Topic, r.Partition, r.Offset, r.Value, true); ok {
			out = append(out, d)
		}
	})
	if now := time.Now(); now.Sub(k.lastCheck) > stallCheck {
		k.lastCheck = now
		if k.stalled(ctx) {
			// A client whose fetches stopped on a partition after leader
			// moves (seen with kfake) does not resume; a new one reads from
			// the start, and what was read before is known by its offset.
			k.cl.Close()
			k.cl = nil
			k.behind = nil
			k.Restarts++
		}
	}
	return out, ferr
}

// stalled reports whether a partition has records beyond what the tail
// read and made no progress towards them since the previous check.
func (k *KafkaTail) stalled(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	ends, err := kadm.NewClient(k.cl).ListEndOffsets(ctx, k.Topic.Topic)
	if err != nil || ends.Error() != nil {
		return false
	}
	prev := k.behind
	k.behind = map[int32]int64{}
	stuck := false
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil || o.Offset <= k.next[o.Partition] {
			return
		}
		at := k.next[o.Partition]
		if was, ok := prev[o.Partition]; ok && was == at {
			stuck = true
		}
		k.behind[o.Partition] = at
	})
	return stuck
}

// take is the delivery of the record at (partition, offset), unless that
// copy was read before (counted in Reread if reread).
func (k *KafkaTail) take(topic string, partition int32, offset int64, value []byte, reread bool) (Delivery, bool) {
	if k.seen == nil {
		k.seen = map[[2]int64]uint64{}
	}
	at := [2]int64{int64(partition), offset}
	h := fnv.New64a()
	h.Write(value)
	sum := h.Sum64()
	if old, ok := k.seen[at]; ok && old == sum {
		if reread {
			k.Reread++
		}
		return Delivery{}, false
	}
	k.seen[at] = sum
	e := event.Event{Body: value}
	if k.Topic.FlumeFormat {
		var err error
		if e, err = flumekafka.DecodeEvent(value); err != nil {
			e = event.Event{Body: value} // the checker calls it unexpected
		}
	}
	return Delivery{Event: e, Store: k.Name(), Where: fmt.Sprintf("%s/%d@%d", topic, partition, offset)}, true
}

// Recheck reads the whole topic again with a fresh client, up to the end
// offsets it has now, and returns the records the tail never returned: a
// final read, as Jepsen's checkers make, so that a record the following
// consumer skipped (its position moved on a leader change) is not called
// lost when it is in the store.
func (k *KafkaTail) Recheck(ctx context.Context) ([]Delivery, error) {
	recs, err := flumekafka.ReadTopic(ctx, k.Topic.Brokers, k.Topic.Topic, false)
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []Delivery
	for _, r := range recs {
		if d, ok := k.take(k.Topic.Topic, r.Partition, r.Offset, r.Event.Body, false); ok {
			out = append(out, d)
		}
	}
	if err != nil {
		return out, fmt.Errorf("recheck %s: %w", k.Name(), err)
	}
	return out, nil
}

func (k *KafkaTail) Torn() int { return 0 }

// Replaced is how many times the tail replaced its client (Restarts).
func (k *KafkaTail) Replaced() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.Restarts
}

func (k *KafkaTail) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cl != nil {
		k.cl.Close()
		k.cl = nil
	}
	return nil
}
