// Package sched is the simulator's discrete-event scheduler: one goroutine,
// virtual time, and a total order on events. Events due at the same instant
// run in the order they were scheduled (a sequence number breaks the tie),
// never in map or goroutine order, so a run is a pure function of its seed.
//
// The engine reads time through the clock.Manual the scheduler owns: before
// each event runs, the clock is set to the event's time, so the real
// failover penalties, channel keep-alives and backoffs see virtual time.
package sched

import (
	"time"

	"github.com/sluicehq/sluice/engine/clock"
)

// Event is a callback at a virtual instant. An actor keeps one Event and
// reschedules it, so a long run allocates nothing per step.
type Event struct {
	at  int64 // virtual nanoseconds since the start
	seq uint64
	idx int // position in the heap, -1 when not scheduled
	fn  func()
	r   Runner
}

// Runner is an actor that an Event runs.
type Runner interface{ Run() }

// NewEvent returns an unscheduled event that runs fn.
func NewEvent(fn func()) *Event { return &Event{fn: fn, idx: -1} }

// Init makes e an unscheduled event that runs r. An actor that holds its
// Event in its own struct and runs through Init is one object to the
// scheduler, not three (event, closure, actor).
func (e *Event) Init(r Runner) { *e = Event{r: r, idx: -1} }

// Pending reports whether e is scheduled.
func (e *Event) Pending() bool { return e.idx >= 0 }

// At is when e is due (meaningful only while pending).
func (e *Event) At() time.Duration { return time.Duration(e.at) }

// Sched orders events on virtual time.
type Sched struct {
	start time.Time
	now   int64
	seq   uint64
	heap  []slot // a binary min-heap on (at, seq)
	clk   *clock.Manual
	steps uint64
}

// slot is a heap entry. It holds its event's key, so ordering the heap
// reads one array and touches an event only to record where it moved.
type slot struct {
	at  int64
	seq uint64
	e   *Event
}

// New returns a scheduler whose virtual time starts at start.
func New(start time.Time) *Sched {
	return &Sched{start: start, clk: clock.NewManual(start)}
}

// Clock is the engine clock that reads the scheduler's virtual time.
func (s *Sched) Clock() *clock.Manual { return s.clk }

// Now is the virtual time elapsed since the start.
func (s *Sched) Now() time.Duration { return time.Duration(s.now) }

// Time is the virtual wall time.
func (s *Sched) Time() time.Time { return s.start.Add(time.Duration(s.now)) }

// Start is the virtual time at which the run began.
func (s *Sched) Start() time.Time { return s.start }

// Steps is the number of events run so far.
func (s *Sched) Steps() uint64 { return s.steps }

// Len is the number of pending events.
func (s *Sched) Len() int { return len(s.heap) }

// After schedules e to run d from now (d < 0 counts as 0). A pending e is
// moved; it then runs after every event already due at its new time.
func (s *Sched) After(e *Event, d time.Duration) {
	if d < 0 {
		d = 0
	}
	s.at(e, s.now+int64(d))
}

// AtTime schedules e at virtual offset t from the start (never in the past).
func (s *Sched) AtTime(e *Event, t time.Duration) {
	at := int64(t)
	if at < s.now {
		at = s.now
	}
	s.at(e, at)
}

func (s *Sched) at(e *Event, at int64) {
	s.seq++
	e.at, e.seq = at, s.seq
	if e.idx >= 0 {
		s.heap[e.idx].at, s.heap[e.idx].seq = at, s.seq
		s.fix(e.idx)
		return
	}
	e.idx = len(s.heap)
	s.heap = append(s.heap, slot{at, s.seq, e})
	s.up(e.idx)
}

// Cancel unschedules e; it is a no-op when e is not pending.
func (s *Sched) Cancel(e *Event) {
	i := e.idx
	if i < 0 {
		return
	}
	last := len(s.heap) - 1
	if i != last {
		s.swap(i, last)
	}
	s.heap[last] = slot{}
	s.heap = s.heap[:last]
	e.idx = -1
	if i != last {
		s.fix(i)
	}
}

// Next reports when the earliest pending event is due.
func (s *Sched) Next() (time.Duration, bool) {
	if len(s.heap) == 0 {
		return 0, false
	}
	return time.Duration(s.heap[0].at), true
}

// Step runs the earliest event. It reports false when none is pending.
func (s *Sched) Step() bool {
	if len(s.heap) == 0 {
		return false
	}
	e := s.heap[0].e
	s.Cancel(e)
	if e.at > s.now {
		s.now = e.at
		s.clk.Set(s.start.Add(time.Duration(s.now)))
	}
	s.steps++
	if e.r != nil {
		e.r.Run()
	} else {
		e.fn()
	}
	return true
}

// RunUntil runs every event due at or before t, then leaves virtual time at t.
func (s *Sched) RunUntil(t time.Duration) {
	for len(s.heap) > 0 && s.heap[0].at <= int64(t) {
		s.Step()
	}
	if int64(t) > s.now {
		s.now = int64(t)
		s.clk.Set(s.start.Add(t))
	}
}

func less(a, b *slot) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

func (s *Sched) swap(i, j int) {
	h := s.heap
	h[i], h[j] = h[j], h[i]
	h[i].e.idx = i
	h[j].e.idx = j
}

func (s *Sched) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !less(&s.heap[i], &s.heap[p]) {
			return
		}
		s.swap(i, p)
		i = p
	}
}

func (s *Sched) down(i int) bool {
	i0 := i
	n := len(s.heap)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && less(&s.heap[r], &s.heap[l]) {
			j = r
		}
		if !less(&s.heap[j], &s.heap[i]) {
			break
		}
		s.swap(i, j)
		i = j
	}
	return i > i0
}

func (s *Sched) fix(i int) {
	if !s.down(i) {
		s.up(i)
	}
}
