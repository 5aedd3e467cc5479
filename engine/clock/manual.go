package clock

import (
	"context"
	"sync"
	"time"
)

// Manual is a virtual clock: time stands still until Advance or Set moves
// it. Timers fire in deadline order (ties in creation order) as time passes
// them, so a run on a Manual clock is repeatable. It is safe for concurrent
// use; tests that drive goroutines use WaitForWaiters to know a goroutine
// has parked on a timer before advancing.
type Manual struct {
	mu      sync.Mutex
	cond    *sync.Cond
	now     time.Time
	seq     uint64
	waiters []*manualWaiter
}

type manualWaiter struct {
	at     time.Time
	seq    uint64
	period time.Duration // > 0 for tickers
	ch     chan time.Time
	active bool
}

// NewManual returns a virtual clock reading start.
func NewManual(start time.Time) *Manual {
	m := &Manual{now: start}
	m.cond = sync.NewCond(&m.mu)
	return m
}

// Now returns the virtual time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// Advance moves time forward by d, firing every timer that falls due, in
// order, with Now reading each timer's deadline as it fires.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	target := m.now.Add(d)
	m.advanceLocked(target)
	m.mu.Unlock()
}

// Set moves time to t (never backwards), firing due timers as Advance does.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	if t.After(m.now) {
		m.advanceLocked(t)
	}
	m.mu.Unlock()
}

// Next reports the deadline of the earliest pending timer.
func (m *Manual) Next() (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.earliestLocked()
	if w == nil {
		return time.Time{}, false
	}
	return w.at, true
}

// AdvanceToNext moves time to the earliest pending deadline and fires it.
// It reports false when no timer is pending.
func (m *Manual) AdvanceToNext() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.earliestLocked()
	if w == nil {
		return false
	}
	if w.at.After(m.now) {
		m.advanceLocked(w.at)
	} else {
		m.advanceLocked(m.now)
	}
	return true
}

// Waiters is the number of armed timers and tickers.
func (m *Manual) Waiters() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.waiters)
}

// WaitForWaiters blocks until at least n timers are armed or ctx ends. It is
// how a test learns that the goroutine under test is parked on the clock.
func (m *Manual) WaitForWaiters(ctx context.Context, n int) error {
	stop := context.AfterFunc(ctx, func() {
		m.mu.Lock()
		m.cond.Broadcast()
		m.mu.Unlock()
	})
	defer stop()
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.waiters) < n {
		if err := ctx.Err(); err != nil {
			return err
		}
		m.cond.Wait()
	}
	return nil
}

func (m *Manual) earliestLocked() *manualWaiter {
	var best *manualWaiter
	for _, w := range m.waiters {
		if best == nil || w.at.Before(best.at) || (w.at.Equal(best.at) && w.seq < best.seq) {
			best = w
		}
	}
	return best
}

func (m *Manual) advanceLocked(target time.Time) {
	for {
		w := m.earliestLocked()
		if w == nil || w.at.After(target) {
			break
		}
		if w.at.After(m.now) {
			m.now = w.at
		}
		select {
		case w.ch <- m.now:
		default: // like time.Ticker, a slow reader drops ticks
		}
		if w.period > 0 {
			w.at = w.at.Add(w.period)
			m.seq++
			w.seq = m.seq
		} else {
			m.removeLocked(w)
		}
	}
	m.now = target
}

func (m *Manual) addLocked(w *manualWaiter) {
	m.seq++
	w.seq = m.seq
	w.active = true
	m.waiters = append(m.waiters, w)
	m.cond.Broadcast()
}

func (m *Manual) removeLocked(w *manualWaiter) bool {
	for i, x := range m.waiters {
		if x == w {
			m.waiters = append(m.waiters[:i], m.waiters[i+1:]...)
			w.active = false
			m.cond.Broadcast()
			return true
		}
	}
	return false
}

// NewTimer returns a timer on virtual time. A timer for d <= 0 fires at once.
func (m *Manual) NewTimer(d time.Duration) Timer {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := &manualWaiter{at: m.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		w.ch <- m.now
		return &manualTimer{m: m, w: w}
	}
	m.addLocked(w)
	return &manualTimer{m: m, w: w}
}

// NewTicker returns a ticker on virtual time.
func (m *Manual) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		d = time.Nanosecond
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	w := &manualWaiter{at: m.now.Add(d), period: d, ch: make(chan time.Time, 1)}
	m.addLocked(w)
	return &manualTicker{m: m, w: w}
}

// Sleep parks until virtual time has advanced by d or ctx ends.
func (m *Manual) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := m.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type manualTimer struct {
	m *Manual
	w *manualWaiter
}

func (t *manualTimer) C() <-chan time.Time { return t.w.ch }

func (t *manualTimer) Stop() bool {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	return t.m.removeLocked(t.w)
}

func (t *manualTimer) Reset(d time.Duration) bool {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	was := t.m.removeLocked(t.w)
	select { // drain a stale fire, as Go 1.23+ timers do
	case <-t.w.ch:
	default:
	}
	t.w.at = t.m.now.Add(d)
	if d <= 0 {
		t.w.ch <- t.m.now
		return was
	}
	t.m.addLocked(t.w)
	return was
}

type manualTicker struct {
	m *Manual
	w *manualWaiter
}

func (t *manualTicker) C() <-chan time.Time { return t.w.ch }

func (t *manualTicker) Stop() {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	t.m.removeLocked(t.w)
}
