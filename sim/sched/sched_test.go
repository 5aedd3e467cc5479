package sched

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestTiesRunInScheduleOrder(t *testing.T) {
	s := New(t0)
	var got []int
	for i := range 100 {
		e := NewEvent(func() { got = append(got, i) })
		s.After(e, time.Second) // all due at the same instant
	}
	for s.Step() {
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("event %d ran at position %d; ties must run in scheduling order: %v", v, i, got)
		}
	}
	if s.Now() != time.Second || !s.Clock().Now().Equal(t0.Add(time.Second)) {
		t.Fatalf("now %v clock %v, want 1s", s.Now(), s.Clock().Now())
	}
}

func TestOrderRescheduleCancel(t *testing.T) {
	s := New(t0)
	var got []string
	mk := func(name string) *Event { return NewEvent(func() { got = append(got, name+"@"+s.Now().String()) }) }
	a, b, c := mk("a"), mk("b"), mk("c")
	s.After(a, 3*time.Second)
	s.After(b, time.Second)
	s.After(c, 2*time.Second)
	s.After(a, 500*time.Millisecond) // moved earlier
	s.Cancel(c)
	s.Cancel(c) // no-op
	if c.Pending() || !a.Pending() {
		t.Fatal("pending flags wrong")
	}
	s.RunUntil(10 * time.Second)
	want := []string{"a@500ms", "b@1s"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if s.Now() != 10*time.Second {
		t.Fatalf("RunUntil left time at %v", s.Now())
	}
	// An event scheduled in the past runs now, not before now.
	s.AtTime(c, time.Second)
	s.Step()
	if got[len(got)-1] != "c@10s" {
		t.Fatalf("past event ran as %s", got[len(got)-1])
	}
}

// TestHeapMatchesSort drives random schedules, moves and cancels and checks
// the run order against a plain sort by (time, sequence).
func TestHeapMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 50; round++ {
		s := New(t0)
		type rec struct {
			at  int64
			seq uint64
			id  int
		}
		var ran []int
		evs := make([]*Event, 200)
		for i := range evs {
			evs[i] = NewEvent(func() { ran = append(ran, i) })
		}
		for i := 0; i < 600; i++ {
			e := evs[rng.IntN(len(evs))]
			if rng.IntN(5) == 0 {
				s.Cancel(e)
			} else {
				s.After(e, time.Duration(rng.IntN(20))*time.Millisecond)
			}
		}
		var want []rec
		for i, e := range evs {
			if e.Pending() {
				want = append(want, rec{e.at, e.seq, i})
			}
		}
		slices.SortFunc(want, func(a, b rec) int {
			if a.at != b.at {
				return int(a.at - b.at)
			}
			return int(a.seq) - int(b.seq)
		})
		for s.Step() {
		}
		if len(ran) != len(want) {
			t.Fatalf("ran %d events, want %d", len(ran), len(want))
		}
		for i := range want {
			if ran[i] != want[i].id {
				t.Fatalf("round %d: position %d ran %d, want %d", round, i, ran[i], want[i].id)
			}
		}
	}
}

func TestStreamsAreIndependentAndRepeatable(t *testing.T) {
	a1, a2 := Seed(7).Stream("net"), Seed(7).Stream("net")
	b := Seed(7).Stream("faults")
	c := Seed(8).Stream("net")
	same, diffB, diffC := true, false, false
	for range 32 {
		x := a1.Uint64()
		if x != a2.Uint64() {
			same = false
		}
		if x != b.Uint64() {
			diffB = true
		}
		if x != c.Uint64() {
			diffC = true
		}
	}
	if !same || !diffB || !diffC {
		t.Fatalf("same=%v diffName=%v diffSeed=%v", same, diffB, diffC)
	}
}

func BenchmarkStep(b *testing.B) {
	s := New(t0)
	rng := rand.New(rand.NewPCG(1, 1))
	evs := make([]*Event, 4000)
	for i := range evs {
		var e *Event
		e = NewEvent(func() { s.After(e, time.Duration(1+rng.IntN(5000))*time.Millisecond) })
		evs[i] = e
		s.After(e, time.Duration(rng.IntN(5000))*time.Millisecond)
	}
	b.ResetTimer()
	for range b.N {
		s.Step()
	}
}
