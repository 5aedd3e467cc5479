// Package store reads back the places a pipeline delivers to, as the
// scenario checker needs them: every event a store holds, with where it was
// found. Stores are behind one interface so that a scenario can point its
// checker at file_roll directories, HDFS-on-file:// directories and Kafka
// topics alike, or at several at once (a failover group writing to two).
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/flumekafka"
	"github.com/sluicehq/sluice/engine/sink/hdfs"
	"github.com/sluicehq/sluice/engine/vfs"
)

// Delivery is one event found in a store.
type Delivery struct {
	Event event.Event
	// Store is the store's name; Where is the file or topic/partition/offset.
	Store, Where string
}

// Store is a place events are delivered to.
type Store interface {
	Name() string
	// Read returns every event the store holds now, in a stable order.
	Read(ctx context.Context) ([]Delivery, error)
}

// HDFSDir is an HDFS sink's file:// directory tree (hdfs.path without its
// escapes, e.g. the part before the first %). Files still under their
// in-use name count: their synced content was committed.
type HDFSDir struct {
	Label       string
	FS          vfs.FS // nil: the OS
	Dir         string
	Format      hdfs.Format // FileType "" means DataStream
	InUseSuffix string      // "" means Flume's ".tmp"
}

func (h HDFSDir) Name() string {
	if h.Label != "" {
		return h.Label
	}
	return "hdfs:" + h.Dir
}

func (h HDFSDir) Read(ctx context.Context) ([]Delivery, error) {
	fsys := h.FS
	if fsys == nil {
		fsys = vfs.OS{}
	}
	f := h.Format
	if f.FileType == "" {
		f.FileType = "DataStream"
	}
	suffix := h.InUseSuffix
	if suffix == "" {
		suffix = ".tmp"
	}
	if _, err := fsys.Stat(h.Dir); err != nil {
		return nil, nil // nothing written yet
	}
	files, err := hdfs.ReadStore(fsys, h.Dir, f, suffix)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", h.Name(), err)
	}
	var out []Delivery
	for _, sf := range files {
		for _, e := range sf.Events {
			out = append(out, Delivery{Event: e, Store: h.Name(), Where: sf.Path})
		}
	}
	return out, nil
}

// KafkaTopic is a topic a Kafka sink (or channel) writes.
type KafkaTopic struct {
	Label   string
	Brokers []string
	Topic   string
	// FlumeFormat: values are Avro Flume events (useFlumeEventFormat,
	// or a Kafka channel with parseAsFlumeEvent); otherwise bodies.
	FlumeFormat bool
}

func (k KafkaTopic) Name() string {
	if k.Label != "" {
		return k.Label
	}
	return "kafka:" + k.Topic
}

func (k KafkaTopic) Read(ctx context.Context) ([]Delivery, error) {
	recs, err := flumekafka.ReadTopic(ctx, k.Brokers, k.Topic, k.FlumeFormat)
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil, nil // nothing written yet
	}
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", k.Name(), err)
	}
	out := make([]Delivery, len(recs))
	for i, r := range recs {
		out[i] = Delivery{Event: r.Event, Store: k.Name(), Where: fmt.Sprintf("%s/%d@%d", k.Topic, r.Partition, r.Offset)}
	}
	return out, nil
}

// Multi reads several stores as one: a failover group's events are in
// either.
type Multi []Store

func (m Multi) Name() string {
	names := make([]string, len(m))
	for i, s := range m {
		names[i] = s.Name()
	}
	return strings.Join(names, "+")
}

func (m Multi) Read(ctx context.Context) ([]Delivery, error) {
	var out []Delivery
	for _, s := range m {
		d, err := s.Read(ctx)
		if err != nil {
			return out, err
		}
		out = append(out, d...)
	}
	return out, nil
}

// Count is a checker's view of deliveries: how many times each body
// arrived, and in which stores.
type Count struct {
	Times  map[string]int
	Stores map[string]map[string]int // body -> store -> copies
}

// Tally counts deliveries by body.
func Tally(ds []Delivery) Count {
	c := Count{Times: map[string]int{}, Stores: map[string]map[string]int{}}
	for _, d := range ds {
		b := string(d.Event.Body)
		c.Times[b]++
		if c.Stores[b] == nil {
			c.Stores[b] = map[string]int{}
		}
		c.Stores[b][d.Store]++
	}
	return c
}
