// Package channeltest is the contract every Sluice channel passes: FIFO
// order, rollback order, capacity and transaction-capacity limits, close
// semantics, and exact accounting under concurrent producers and consumers.
// A channel's tests call Run with a factory; durable channels also pass
// Reopen so the suite checks that commits survive a restart.
package channeltest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/event"
)

// Config is what the suite asks a factory for.
type Config struct {
	Capacity            int
	TransactionCapacity int
}

// Suite describes the channel under test.
type Suite struct {
	// New returns a new, empty, unstarted channel with the given limits and a
	// keep-alive of zero (a full commit fails at once).
	New func(t *testing.T, cfg Config) channel.Channel
	// Reopen, for durable channels, stops ch and returns a channel opened on
	// the same storage (unstarted). Nil for channels that lose their content.
	Reopen func(t *testing.T, ch channel.Channel) channel.Channel
}

// Run runs the contract.
func Run(t *testing.T, s Suite) {
	t.Run("FIFO", s.fifo)
	t.Run("UncommittedPutsInvisible", s.uncommittedInvisible)
	t.Run("PutRollbackDiscards", s.putRollback)
	t.Run("TakeRollbackRestoresHeadInOrder", s.takeRollback)
	t.Run("Capacity", s.capacity)
	t.Run("TakeCommitFreesCapacity", s.takeFreesCapacity)
	t.Run("TransactionCapacity", s.txnCapacity)
	t.Run("TransactionSingleUse", s.singleUse)
	t.Run("Close", s.close)
	t.Run("ConcurrentExactAccounting", s.concurrent)
	if s.Reopen != nil {
		t.Run("CommittedSurvivesReopen", s.reopen)
		t.Run("RecoveredStateSurvivesReopen", s.reopenTwice)
	}
}

// Ev makes an event whose body is "<prefix>-<i>".
func Ev(prefix string, i int) event.Event {
	return event.Event{Headers: map[string]string{"seq": strconv.Itoa(i)}, Body: []byte(prefix + "-" + strconv.Itoa(i))}
}

func evs(prefix string, from, n int) []event.Event {
	out := make([]event.Event, n)
	for i := range out {
		out[i] = Ev(prefix, from+i)
	}
	return out
}

func (s Suite) start(t *testing.T, cfg Config) channel.Channel {
	t.Helper()
	ch := s.New(t, cfg)
	if err := ch.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { ch.Stop() })
	return ch
}

// Put commits events in one transaction, failing the test on error.
func Put(t testing.TB, ch channel.Channel, events []event.Event) {
	t.Helper()
	tx, err := ch.Begin()
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	if err := tx.Put(events); err != nil {
		tx.Rollback()
		t.Fatalf("Put: %v", err)
	}
	if err := tx.Commit(); err != nil {
		tx.Rollback()
		t.Fatalf("Commit put: %v", err)
	}
}

// Take takes and commits up to max events.
func Take(t testing.TB, ch channel.Channel, max int) []event.Event {
	t.Helper()
	tx, err := ch.Begin()
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	got, err := tx.Take(max)
	if err != nil {
		tx.Rollback()
		t.Fatalf("Take: %v", err)
	}
	out := append([]event.Event(nil), got...)
	if err := tx.Commit(); err != nil {
		tx.Rollback()
		t.Fatalf("Commit take: %v", err)
	}
	return out
}

func bodies(es []event.Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = string(e.Body)
	}
	return out
}

func wantBodies(t *testing.T, got []event.Event, want []event.Event) {
	t.Helper()
	g, w := bodies(got), bodies(want)
	if fmt.Sprint(g) != fmt.Sprint(w) {
		t.Fatalf("got %v\nwant %v", g, w)
	}
	for i := range got {
		if got[i].Headers["seq"] != want[i].Headers["seq"] {
			t.Fatalf("event %d: headers %v, want %v", i, got[i].Headers, want[i].Headers)
		}
	}
}

func (s Suite) fifo(t *testing.T) {
	ch := s.start(t, Config{Capacity: 100, TransactionCapacity: 10})
	Put(t, ch, evs("a", 0, 5))
	Put(t, ch, evs("a", 5, 5))
	if ch.Len() != 10 {
		t.Fatalf("Len = %d, want 10", ch.Len())
	}
	got := Take(t, ch, 3)
	got = append(got, Take(t, ch, 10)...)
	wantBodies(t, got, evs("a", 0, 10))
	if rest := Take(t, ch, 10); len(rest) != 0 {
		t.Fatalf("empty channel returned %d events", len(rest))
	}
}

func (s Suite) uncommittedInvisible(t *testing.T) {
	ch := s.start(t, Config{Capacity: 100, TransactionCapacity: 10})
	tx, _ := ch.Begin()
	tx.Put(evs("u", 0, 3))
	if got := Take(t, ch, 10); len(got) != 0 {
		t.Fatalf("uncommitted puts visible: %v", bodies(got))
	}
	if ch.Len() != 0 {
		t.Fatalf("Len = %d before commit", ch.Len())
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	wantBodies(t, Take(t, ch, 10), evs("u", 0, 3))
}

func (s Suite) putRollback(t *testing.T) {
	ch := s.start(t, Config{Capacity: 100, TransactionCapacity: 10})
	tx, _ := ch.Begin()
	tx.Put(evs("r", 0, 3))
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if ch.Len() != 0 {
		t.Fatalf("Len = %d after put rollback", ch.Len())
	}
	Put(t, ch, evs("r", 3, 1))
	wantBodies(t, Take(t, ch, 10), evs("r", 3, 1))
}

func (s Suite) takeRollback(t *testing.T) {
	ch := s.start(t, Config{Capacity: 100, TransactionCapacity: 10})
	Put(t, ch, evs("t", 0, 6))
	tx, _ := ch.Begin()
	first, _ := tx.Take(2)
	second, _ := tx.Take(2)
	wantBodies(t, append(append([]event.Event(nil), first...), second...), evs("t", 0, 4))
	// Events committed after the take must queue behind the rolled-back ones.
	Put(t, ch, evs("t", 6, 2))
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if ch.Len() != 8 {
		t.Fatalf("Len = %d after take rollback, want 8", ch.Len())
	}
	wantBodies(t, Take(t, ch, 10), evs("t", 0, 8))
}

func (s Suite) capacity(t *testing.T) {
	ch := s.start(t, Config{Capacity: 10, TransactionCapacity: 10})
	Put(t, ch, evs("c", 0, 8))
	tx, _ := ch.Begin()
	if err := tx.Put(evs("c", 8, 3)); err != nil {
		t.Fatalf("Put within transaction capacity: %v", err)
	}
	err := tx.Commit()
	if !errors.Is(err, channel.ErrFull) {
		t.Fatalf("over-capacity Commit = %v, want ErrFull", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatalf("Rollback after failed commit: %v", err)
	}
	if ch.Len() != 8 {
		t.Fatalf("Len = %d after failed commit, want 8 (nothing partial)", ch.Len())
	}
	Put(t, ch, evs("c", 8, 2)) // exactly full
	if ch.Len() != 10 {
		t.Fatalf("Len = %d, want 10", ch.Len())
	}
	wantBodies(t, Take(t, ch, 10), evs("c", 0, 10))
}

func (s Suite) takeFreesCapacity(t *testing.T) {
	ch := s.start(t, Config{Capacity: 4, TransactionCapacity: 4})
	Put(t, ch, evs("f", 0, 4))
	// An uncommitted take still holds its room (as Flume's permits do).
	tx, _ := ch.Begin()
	tx.Take(2)
	ptx, _ := ch.Begin()
	ptx.Put(evs("f", 4, 1))
	if err := ptx.Commit(); !errors.Is(err, channel.ErrFull) {
		t.Fatalf("commit into room held by an in-flight take = %v, want ErrFull", err)
	}
	ptx.Rollback()
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	Put(t, ch, evs("f", 4, 2))
	wantBodies(t, Take(t, ch, 4), evs("f", 2, 4))
}

func (s Suite) txnCapacity(t *testing.T) {
	ch := s.start(t, Config{Capacity: 100, TransactionCapacity: 5})
	tx, _ := ch.Begin()
	if err := tx.Put(evs("x", 0, 3)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Put(evs("x", 3, 3)); !errors.Is(err, channel.ErrTxnCapacity) {
		t.Fatalf("Put past transactionCapacity = %v, want ErrTxnCapacity", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("Commit of the puts that fit: %v", err)
	}
	Put(t, ch, evs("x", 3, 5))
	tx, _ = ch.Begin()
	if _, err := tx.Take(6); !errors.Is(err, channel.ErrTxnCapacity) {
		t.Fatalf("Take past transactionCapacity = %v, want ErrTxnCapacity", err)
	}
	got, err := tx.Take(5)
	if err != nil || len(got) != 5 {
		t.Fatalf("Take(5) = %d, %v", len(got), err)
	}
	tx.Rollback()
	wantBodies(t, Take(t, ch, 5), evs("x", 0, 5))
}

func (s Suite) singleUse(t *testing.T) {
	ch := s.start(t, Config{Capacity: 10, TransactionCapacity: 10})
	tx, _ := ch.Begin()
	tx.Put(evs("s", 0, 1))
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); !errors.Is(err, channel.ErrTxnDone) {
		t.Fatalf("second Commit = %v, want ErrTxnDone", err)
	}
	if err := tx.Put(evs("s", 1, 1)); !errors.Is(err, channel.ErrTxnDone) {
		t.Fatalf("Put after Commit = %v, want ErrTxnDone", err)
	}
	if err := tx.Rollback(); !errors.Is(err, channel.ErrTxnDone) {
		t.Fatalf("Rollback after Commit = %v, want ErrTxnDone", err)
	}
}

func (s Suite) close(t *testing.T) {
	ch := s.New(t, Config{Capacity: 10, TransactionCapacity: 10})
	if err := ch.Start(); err != nil {
		t.Fatal(err)
	}
	Put(t, ch, evs("z", 0, 2))
	open, _ := ch.Begin()
	open.Put(evs("z", 2, 1))
	if err := ch.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.Begin(); !errors.Is(err, channel.ErrClosed) {
		t.Fatalf("Begin after Stop = %v, want ErrClosed", err)
	}
	if err := open.Commit(); !errors.Is(err, channel.ErrClosed) {
		t.Fatalf("Commit after Stop = %v, want ErrClosed", err)
	}
	if err := open.Rollback(); err != nil {
		t.Fatalf("Rollback after Stop = %v, want nil", err)
	}
}

// concurrent runs 8 producers and 8 consumers; consumers roll back a third
// of their takes. Every event must be taken-and-committed exactly once.
// stallLimit bounds how long the concurrent test waits without any put or
// take committing before it fails: a channel that stops making progress
// (a livelock, a drain that never converges) fails with a message instead
// of hanging until the test binary's timeout.
const stallLimit = 30 * time.Second

func (s Suite) concurrent(t *testing.T) {
	const producers, consumers, perProducer, batch = 8, 8, 2000, 20
	ch := s.start(t, Config{Capacity: 500, TransactionCapacity: batch})
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]int{}
	var progress atomic.Int64 // unix nanos of the last committed put or take
	var putN, takeN atomic.Int64
	progress.Store(time.Now().UnixNano())
	stalled := func(who string) error {
		idle := time.Since(time.Unix(0, progress.Load()))
		if idle < stallLimit {
			return nil
		}
		return fmt.Errorf("%s: no put or take committed for %v: %d of %d events put, %d committed-taken, Len() = %d (livelock or a drain that does not converge)",
			who, idle.Round(time.Second), putN.Load(), producers*perProducer, takeN.Load(), ch.Len())
	}
	var produced sync.WaitGroup
	errc := make(chan error, producers+consumers)
	for p := 0; p < producers; p++ {
		wg.Add(1)
		produced.Add(1)
		go func(p int) {
			defer wg.Done()
			defer produced.Done()
			prefix := "p" + strconv.Itoa(p)
			for i := 0; i < perProducer; {
				tx, err := ch.Begin()
				if err != nil {
					errc <- err
					return
				}
				if err := tx.Put(evs(prefix, i, batch)); err != nil {
					errc <- err
					return
				}
				if err := tx.Commit(); err != nil {
					tx.Rollback()
					if errors.Is(err, channel.ErrFull) {
						if err := stalled("producer " + prefix); err != nil {
							errc <- err
							return
						}
						continue // back-pressure: retry the same batch
					}
					errc <- err
					return
				}
				putN.Add(batch)
				progress.Store(time.Now().UnixNano())
				i += batch
			}
		}(p)
	}
	done := make(chan struct{})
	go func() { produced.Wait(); close(done) }()
	for c := 0; c < consumers; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			for {
				tx, err := ch.Begin()
				if err != nil {
					errc <- err
					return
				}
				got, err := tx.Take(1 + rng.IntN(batch))
				if err != nil {
					tx.Rollback()
					errc <- err
					return
				}
				if len(got) == 0 {
					tx.Rollback()
					select {
					case <-done:
						if ch.Len() == 0 {
							return
						}
					default:
					}
					if err := stalled("consumer " + strconv.Itoa(c)); err != nil {
						errc <- err
						return
					}
					continue
				}
				if rng.IntN(3) == 0 {
					tx.Rollback()
					continue
				}
				names := bodies(got)
				if err := tx.Commit(); err != nil {
					tx.Rollback()
					errc <- err
					return
				}
				takeN.Add(int64(len(names)))
				progress.Store(time.Now().UnixNano())
				mu.Lock()
				for _, n := range names {
					seen[n]++
				}
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if len(seen) != producers*perProducer {
		t.Fatalf("%d distinct events taken, want %d", len(seen), producers*perProducer)
	}
	for n, k := range seen {
		if k != 1 {
			t.Fatalf("event %s committed-taken %d times", n, k)
		}
	}
	if ch.Len() != 0 {
		t.Fatalf("Len = %d at the end", ch.Len())
	}
}

func (s Suite) reopen(t *testing.T) {
	ch := s.New(t, Config{Capacity: 100, TransactionCapacity: 10})
	if err := ch.Start(); err != nil {
		t.Fatal(err)
	}
	Put(t, ch, evs("d", 0, 10))
	wantBodies(t, Take(t, ch, 3), evs("d", 0, 3))
	inflight, _ := ch.Begin()
	inflight.Take(2)     // in flight at the "crash": must come back
	unc, _ := ch.Begin() // uncommitted put: must not appear
	unc.Put(evs("x", 0, 1))
	ch2 := s.Reopen(t, ch)
	if err := ch2.Start(); err != nil {
		t.Fatalf("Start after reopen: %v", err)
	}
	t.Cleanup(func() { ch2.Stop() })
	if ch2.Len() != 7 {
		t.Fatalf("Len after reopen = %d, want 7", ch2.Len())
	}
	wantBodies(t, Take(t, ch2, 10), evs("d", 3, 7))
}

// reopenTwice checks that a recovered channel keeps working and that what
// it does after recovery is as durable as before: recovery must leave the
// storage in a state the next recovery reads correctly.
func (s Suite) reopenTwice(t *testing.T) {
	ch := s.New(t, Config{Capacity: 100, TransactionCapacity: 10})
	if err := ch.Start(); err != nil {
		t.Fatal(err)
	}
	Put(t, ch, evs("e", 0, 10))
	wantBodies(t, Take(t, ch, 4), evs("e", 0, 4))
	ch = s.Reopen(t, ch)
	if err := ch.Start(); err != nil {
		t.Fatalf("Start after first reopen: %v", err)
	}
	Put(t, ch, evs("e", 10, 5))
	wantBodies(t, Take(t, ch, 3), evs("e", 4, 3))
	inflight, _ := ch.Begin()
	inflight.Take(2) // e-7, e-8: in flight at the second "crash"
	ch = s.Reopen(t, ch)
	if err := ch.Start(); err != nil {
		t.Fatalf("Start after second reopen: %v", err)
	}
	t.Cleanup(func() { ch.Stop() })
	if ch.Len() != 8 {
		t.Fatalf("Len after second reopen = %d, want 8", ch.Len())
	}
	wantBodies(t, Take(t, ch, 10), evs("e", 7, 8))
}
