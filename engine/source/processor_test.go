package source_test

import (
	"errors"
	"testing"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/channel/memory"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/selector"
	"github.com/sluicehq/sluice/engine/source"
)

func newChan(t *testing.T, name string, capacity int) *memory.Channel {
	cfg := memory.DefaultConfig()
	cfg.Capacity, cfg.TransactionCapacity, cfg.KeepAlive = capacity, capacity, 0
	c := memory.New(name, cfg, nil, nil, nil)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	return c
}

func batch(n int) []event.Event {
	out := make([]event.Event, n)
	for i := range out {
		out[i] = event.New([]byte{byte(i)})
	}
	return out
}

// TestReplicatingPutsWholeBatches covers the uniform-selector path: every
// required channel gets the batch in order, an optional channel's failure
// is ignored, a required channel's failure fails the batch.
func TestReplicatingPutsWholeBatches(t *testing.T) {
	a, b, opt := newChan(t, "a", 10), newChan(t, "b", 10), newChan(t, "opt", 2)
	sel, err := selector.NewReplicating([]channel.Channel{a, b, opt}, []string{"opt"})
	if err != nil {
		t.Fatal(err)
	}
	cp := &source.ChannelProcessor{Selector: sel}
	if err := cp.ProcessBatch(batch(5)); err != nil {
		t.Fatalf("optional channel too small must not fail the batch: %v", err)
	}
	for _, c := range []*memory.Channel{a, b} {
		if c.Len() != 5 {
			t.Fatalf("channel %s holds %d, want 5", c.Name(), c.Len())
		}
		tx, _ := c.Begin()
		got, _ := tx.Take(5)
		for i, e := range got {
			if e.Body[0] != byte(i) {
				t.Fatalf("channel %s: event %d out of order", c.Name(), i)
			}
		}
		tx.Rollback()
	}
	if opt.Len() > 2 {
		t.Fatalf("optional channel holds %d, more than its capacity", opt.Len())
	}
	if err := cp.ProcessBatch(batch(6)); !errors.Is(err, channel.ErrFull) {
		t.Fatalf("a full required channel must fail the batch with ErrFull, got %v", err)
	}
}
