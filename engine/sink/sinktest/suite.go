// Package sinktest is the contract every Sluice sink passes: it delivers
// what its channel holds and commits only then; with the destination broken
// it returns an error and leaves every event in the channel (so a failover
// group can switch); after the destination heals nothing is missing; an empty
// channel gives Backoff.
package sinktest

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/channel/memory"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/sink"
)

// Harness describes the sink under test and its destination.
type Harness struct {
	// New returns an unstarted sink reading ch with batch size batch.
	New func(t *testing.T, ch channel.Channel, batch int) sink.Sink
	// Delivered returns the events the destination holds, in arrival order.
	Delivered func(t *testing.T) []event.Event
	// Break makes the destination fail every delivery; Heal undoes it.
	// Both nil skips the failure cases.
	Break, Heal func(t *testing.T)
	// HeadersKept says whether the destination preserves headers.
	HeadersKept bool
}

// Run runs the contract.
func Run(t *testing.T, h Harness) {
	t.Run("DeliversInOrderAndCommits", h.delivers)
	t.Run("EmptyChannelBacksOff", h.empty)
	if h.Break != nil {
		t.Run("FailureRollsBackAndErrors", h.failure)
	}
}

func newChannel(t *testing.T) channel.Channel {
	c := memory.DefaultConfig()
	c.Capacity, c.TransactionCapacity, c.KeepAlive = 10000, 1000, 0
	ch := memory.New("c1", c, nil, nil, nil)
	if err := ch.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Stop() })
	return ch
}

func fill(t *testing.T, ch channel.Channel, from, n int) {
	t.Helper()
	for n > 0 {
		k := min(n, ch.TransactionCapacity())
		batch := make([]event.Event, k)
		for i := range batch {
			id := strconv.Itoa(from + i)
			batch[i] = event.Event{Headers: map[string]string{"id": id}, Body: []byte("event-" + id)}
		}
		tx, err := ch.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Put(batch); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		from, n = from+k, n-k
	}
}

func start(t *testing.T, s sink.Sink) {
	t.Helper()
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
}

// drain calls Process until the channel is empty or a deadline passes.
func drain(t *testing.T, s sink.Sink, ch channel.Channel) {
	t.Helper()
	// The suite is engine code (not a _test file), so it reads the wall
	// clock through the seam.
	wall := clock.Real()
	deadline := wall.Now().Add(30 * time.Second)
	for ch.Len() > 0 {
		if wall.Now().After(deadline) {
			t.Fatalf("channel still holds %d events after 30s", ch.Len())
		}
		if _, err := s.Process(context.Background()); err != nil {
			t.Fatalf("Process with a healthy destination: %v", err)
		}
	}
}

func (h Harness) delivers(t *testing.T) {
	ch := newChannel(t)
	s := h.New(t, ch, 100)
	start(t, s)
	fill(t, ch, 0, 250)
	drain(t, s, ch)
	got := h.Delivered(t)
	if len(got) != 250 {
		t.Fatalf("destination holds %d events, want 250", len(got))
	}
	for i, e := range got {
		if want := fmt.Sprintf("event-%d", i); string(e.Body) != want {
			t.Fatalf("event %d body %q, want %q", i, e.Body, want)
		}
		if h.HeadersKept && e.Headers["id"] != strconv.Itoa(i) {
			t.Fatalf("event %d headers %v", i, e.Headers)
		}
	}
}

func (h Harness) empty(t *testing.T) {
	ch := newChannel(t)
	s := h.New(t, ch, 100)
	start(t, s)
	st, err := s.Process(context.Background())
	if err != nil || st != sink.Backoff {
		t.Fatalf("Process on an empty channel = %v, %v; want BACKOFF, nil", st, err)
	}
}

func (h Harness) failure(t *testing.T) {
	ch := newChannel(t)
	s := h.New(t, ch, 50)
	start(t, s)
	fill(t, ch, 0, 120)
	h.Break(t)
	for i := 0; i < 3; i++ {
		if _, err := s.Process(context.Background()); err == nil {
			t.Fatal("Process with a broken destination returned no error (a failover group would never switch)")
		}
		if ch.Len() != 120 {
			t.Fatalf("channel holds %d events after a failed delivery, want 120 (rolled back)", ch.Len())
		}
	}
	h.Heal(t)
	drain(t, s, ch)
	seen := map[string]int{}
	for _, e := range h.Delivered(t) {
		seen[string(e.Body)]++
	}
	for i := 0; i < 120; i++ {
		if seen[fmt.Sprintf("event-%d", i)] == 0 {
			t.Fatalf("event-%d lost across the failure", i)
		}
	}
}
