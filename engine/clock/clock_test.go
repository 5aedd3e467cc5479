package clock

import (
	"context"
	"testing"
	"time"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestManualFiresInDeadlineOrder(t *testing.T) {
	m := NewManual(epoch)
	late := m.NewTimer(3 * time.Second)
	early := m.NewTimer(1 * time.Second)
	tick := m.NewTicker(2 * time.Second)

	m.Advance(1 * time.Second)
	select {
	case at := <-early.C():
		if !at.Equal(epoch.Add(time.Second)) {
			t.Fatalf("early fired at %v", at)
		}
	default:
		t.Fatal("early timer did not fire at its deadline")
	}
	select {
	case <-late.C():
		t.Fatal("late timer fired early")
	default:
	}
	m.Advance(2 * time.Second)
	if at := <-late.C(); !at.Equal(epoch.Add(3 * time.Second)) {
		t.Fatalf("late fired at %v", at)
	}
	if at := <-tick.C(); !at.Equal(epoch.Add(2 * time.Second)) {
		t.Fatalf("tick at %v", at)
	}
	if got := m.Now(); !got.Equal(epoch.Add(3 * time.Second)) {
		t.Fatalf("now = %v", got)
	}
	tick.Stop()
	if m.Waiters() != 0 {
		t.Fatalf("waiters = %d after all fired/stopped", m.Waiters())
	}
}

func TestManualStopAndReset(t *testing.T) {
	m := NewManual(epoch)
	tm := m.NewTimer(time.Second)
	if !tm.Stop() {
		t.Fatal("Stop of an armed timer reported inactive")
	}
	m.Advance(2 * time.Second)
	select {
	case <-tm.C():
		t.Fatal("stopped timer fired")
	default:
	}
	tm.Reset(time.Second)
	if _, ok := m.Next(); !ok {
		t.Fatal("reset timer not pending")
	}
	if !m.AdvanceToNext() {
		t.Fatal("AdvanceToNext found nothing")
	}
	<-tm.C()
	if got := m.Now(); !got.Equal(epoch.Add(3 * time.Second)) {
		t.Fatalf("now = %v", got)
	}
}

func TestManualSleepWakesOnAdvance(t *testing.T) {
	m := NewManual(epoch)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.Sleep(ctx, 5*time.Second) }()
	if err := m.WaitForWaiters(ctx, 1); err != nil {
		t.Fatal(err)
	}
	m.Advance(5 * time.Second)
	if err := <-done; err != nil {
		t.Fatalf("Sleep = %v", err)
	}
}

func TestManualSleepCancel(t *testing.T) {
	m := NewManual(epoch)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Sleep(ctx, time.Hour); err == nil {
		t.Fatal("Sleep on a cancelled context returned nil")
	}
	if m.Waiters() != 0 {
		t.Fatal("cancelled Sleep left a timer armed")
	}
}

func TestRealSleepCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Real().Sleep(ctx, time.Hour); err == nil {
		t.Fatal("Sleep on a cancelled context returned nil")
	}
}
