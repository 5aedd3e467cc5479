package memory

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/channel/channeltest"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
)

func TestContract(t *testing.T) {
	channeltest.Run(t, channeltest.Suite{
		New: func(t *testing.T, cfg channeltest.Config) channel.Channel {
			c := DefaultConfig()
			c.Capacity, c.TransactionCapacity, c.KeepAlive = cfg.Capacity, cfg.TransactionCapacity, 0
			return New("c1", c, nil, nil, nil)
		},
	})
}

func TestByteCapacity(t *testing.T) {
	c := DefaultConfig()
	c.ByteCapacity = 1000 // 800 usable bytes after the 20% buffer: 8 slots
	c.KeepAlive = 0
	ch := New("c1", c, nil, nil, nil)
	ch.Start()
	defer ch.Stop()
	big := event.New(make([]byte, 350)) // 4 slots
	channeltest.Put(t, ch, []event.Event{big, big})
	tx, _ := ch.Begin()
	tx.Put([]event.Event{event.New([]byte("x"))})
	if err := tx.Commit(); !errors.Is(err, channel.ErrFull) {
		t.Fatalf("commit past byte capacity = %v, want ErrFull", err)
	}
	tx.Rollback()
	channeltest.Take(t, ch, 1)
	channeltest.Put(t, ch, []event.Event{event.New([]byte("x"))})
}

// A put commit into a full channel waits up to keep-alive (on the clock) and
// succeeds as soon as a take frees room.
func TestKeepAliveWaitsForRoom(t *testing.T) {
	clk := clock.NewManual(time.Unix(0, 0))
	c := DefaultConfig()
	c.Capacity, c.TransactionCapacity = 2, 2
	ch := New("c1", c, clk, nil, nil)
	ch.Start()
	defer ch.Stop()
	channeltest.Put(t, ch, []event.Event{channeltest.Ev("a", 0), channeltest.Ev("a", 1)})
	tx, _ := ch.Begin()
	tx.Put([]event.Event{channeltest.Ev("a", 2)})
	res := make(chan error, 1)
	go func() { res <- tx.Commit() }()
	if err := clk.WaitForWaiters(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	channeltest.Take(t, ch, 1)
	if err := <-res; err != nil {
		t.Fatalf("commit after room was freed = %v", err)
	}

	tx, _ = ch.Begin()
	tx.Put([]event.Event{channeltest.Ev("a", 3)})
	go func() { res <- tx.Commit() }()
	if err := clk.WaitForWaiters(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(3 * time.Second)
	if err := <-res; !errors.Is(err, channel.ErrFull) {
		t.Fatalf("commit after keep-alive = %v, want ErrFull", err)
	}
	tx.Rollback()
}

func TestNotify(t *testing.T) {
	ch := New("c1", DefaultConfig(), nil, nil, nil)
	ch.Start()
	defer ch.Stop()
	n := ch.Notify()
	select {
	case <-n:
		t.Fatal("notified before any commit")
	default:
	}
	channeltest.Put(t, ch, []event.Event{channeltest.Ev("n", 0)})
	select {
	case <-n:
	default:
		t.Fatal("not notified after a put commit")
	}
}

func TestCounters(t *testing.T) {
	ch := New("c1", DefaultConfig(), nil, nil, nil)
	ch.Start()
	defer ch.Stop()
	channeltest.Put(t, ch, []event.Event{channeltest.Ev("m", 0), channeltest.Ev("m", 1)})
	channeltest.Take(t, ch, 5)
	c := ch.counter
	if c.EventPutAttemptCount.Load() != 2 || c.EventPutSuccessCount.Load() != 2 {
		t.Fatalf("put counters %d/%d", c.EventPutAttemptCount.Load(), c.EventPutSuccessCount.Load())
	}
	if c.EventTakeAttemptCount.Load() != 3 || c.EventTakeSuccessCount.Load() != 2 {
		t.Fatalf("take counters %d/%d, want 3/2", c.EventTakeAttemptCount.Load(), c.EventTakeSuccessCount.Load())
	}
	if v, _ := c.Get("ChannelFillPercentage"); v != "0.0" {
		t.Fatalf("ChannelFillPercentage = %q", v)
	}
}

func benchPutTake(b *testing.B, batch int) {
	c := DefaultConfig()
	c.Capacity, c.TransactionCapacity = batch*4, batch
	ch := New("c1", c, nil, nil, nil)
	ch.Start()
	defer ch.Stop()
	events := make([]event.Event, batch)
	for i := range events {
		events[i] = event.New(make([]byte, 256))
	}
	b.SetBytes(int64(256 * batch))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tx, _ := ch.Begin()
		tx.Put(events)
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		tx, _ = ch.Begin()
		if got, _ := tx.Take(batch); len(got) != batch {
			b.Fatal("short take")
		}
		tx.Commit()
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkPutTake100(b *testing.B)  { benchPutTake(b, 100) }
func BenchmarkPutTake1000(b *testing.B) { benchPutTake(b, 1000) }

// Like Flume's MemoryChannel, a bad number falls back to the default with
// a warning, while transactionCapacity > capacity fails the channel.
func TestParseConfigLikeFlume(t *testing.T) {
	parse := func(kv map[string]string) (Config, *config.Reader, error) {
		c := &config.Component{Kind: config.KindChannel, Name: "c1", Props: map[string]config.Property{}}
		for k, v := range kv {
			c.Props[k] = config.Property{Key: k, Value: v, Pos: config.Position{File: "a.conf", Line: 3}}
		}
		r := config.NewReader("a1", c)
		cfg, err := ParseConfig(r)
		return cfg, r, err
	}
	cfg, r, err := parse(map[string]string{"capacity": "1000  # big", "transactionCapacity": "-5", "keep-alive": "x"})
	if err != nil {
		t.Fatalf("ParseConfig = %v, want defaults with warnings", err)
	}
	if cfg.Capacity != 100 || cfg.TransactionCapacity != 100 || cfg.KeepAlive != 3*time.Second {
		t.Fatalf("cfg = %+v", cfg)
	}
	if len(r.Notes()) != 3 || !strings.Contains(r.Notes()[0].Message+r.Notes()[1].Message+r.Notes()[2].Message, `"1000  # big" is invalid`) {
		t.Fatalf("notes = %v", r.Notes())
	}
	if _, _, err := parse(map[string]string{"capacity": "10", "transactionCapacity": "20"}); err == nil || !strings.Contains(err.Error(), "a.conf:3") {
		t.Fatalf("transactionCapacity > capacity = %v, want an error naming the line", err)
	}
}

// TestRingMatchesSlice drives the ring through wrap-arounds and growth in
// bulk and one at a time, against a plain slice.
func TestRingMatchesSlice(t *testing.T) {
	var r ring
	var want []event.Event
	rng := rand.New(rand.NewPCG(1, 2))
	next := 0
	mk := func() event.Event { next++; return event.Event{Body: []byte(strconv.Itoa(next))} }
	for step := 0; step < 20000; step++ {
		switch rng.IntN(3) {
		case 0:
			k := rng.IntN(150)
			batch := make([]event.Event, k)
			for i := range batch {
				batch[i] = mk()
			}
			r.pushBackN(batch)
			want = append(want, batch...)
		case 1:
			k := rng.IntN(r.len() + 1)
			got := r.popFrontN(nil, k)
			for i := range got {
				if string(got[i].Body) != string(want[i].Body) {
					t.Fatalf("step %d: popped %q, want %q", step, got[i].Body, want[i].Body)
				}
			}
			want = want[k:]
		case 2:
			e := mk()
			r.pushFront(e)
			want = append([]event.Event{e}, want...)
		}
		if r.len() != len(want) || len(r.buf)&(len(r.buf)-1) != 0 {
			t.Fatalf("step %d: len %d (buffer %d), want %d", step, r.len(), len(r.buf), len(want))
		}
	}
}
