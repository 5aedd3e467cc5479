// Package channel defines the channel and transaction contract every Sluice
// channel honours, exactly as Flume's: a transaction either commits all of
// its puts and takes or none of them.
//
// A source puts a batch in one transaction and commits it; a sink takes a
// batch in one transaction and commits only after the next hop acknowledged
// it. A failed Commit leaves the transaction open: the caller must Rollback.
// Rolled-back takes return to the head of the channel in their original
// order, so delivery is at-least-once and ordered per channel.
package channel

import (
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/engine/event"
)

var (
	// ErrFull means the channel has no room for a commit (Flume's
	// ChannelFullException). Sources back off and retry; nothing is lost.
	ErrFull = errors.New("channel full")
	// ErrTxnCapacity means a transaction tried to put or take more events
	// than the channel's transactionCapacity.
	ErrTxnCapacity = errors.New("transaction capacity exceeded")
	// ErrClosed means the channel is stopped.
	ErrClosed = errors.New("channel closed")
	// ErrTxnDone means the transaction was already committed or rolled back.
	ErrTxnDone = errors.New("transaction already finished")
)

// Channel is a buffer between sources and sinks.
type Channel interface {
	Name() string
	// Start opens the channel (recovering durable state, if any).
	Start() error
	// Stop closes the channel. Begin then fails with ErrClosed; transactions
	// already open can still Rollback, and their Commit fails with ErrClosed.
	Stop() error
	// Begin starts a transaction. Transactions are independent and may be
	// used from different goroutines, each by one goroutine at a time.
	Begin() (Transaction, error)
	// Len is the number of committed events available to take.
	Len() int
	// Capacity is the maximum number of events the channel holds.
	Capacity() int
	// TransactionCapacity is the maximum number of events one transaction
	// may put or take.
	TransactionCapacity() int
}

// Transaction is a unit of work on a channel.
type Transaction interface {
	// Put stages events; they become visible to takers only on Commit.
	Put(events []event.Event) error
	// Take removes up to max events from the head and returns them without
	// blocking; an empty result means the channel is empty. Taken events are
	// gone from the channel only on Commit.
	Take(max int) ([]event.Event, error)
	// Commit makes the puts visible and the takes final. A put commit waits
	// up to the channel's keep-alive for room and then fails with ErrFull.
	// On error the transaction stays open and must be rolled back.
	Commit() error
	// Rollback discards the puts and returns the takes to the head of the
	// channel in order. It is safe to call after a failed Commit.
	Rollback() error
}

// Notifier is implemented by channels that can wake a waiting sink when
// events are committed, so that an idle sink reacts at once instead of after
// its backoff sleep.
type Notifier interface {
	// Notify returns a channel closed at the next put commit.
	Notify() <-chan struct{}
}

// TxnCapacityError builds the error for a transaction that exceeded its
// capacity, naming the channel and the limit.
func TxnCapacityError(ch, what string, capacity int) error {
	return fmt.Errorf("channel %s: %s list of transaction capacity %d full, consider committing more frequently, increasing capacity, or increasing thread count: %w", ch, what, capacity, ErrTxnCapacity)
}

// Cost is the number of byte-capacity slots an event takes in Flume's
// memory channel: one per started 100 bytes of body, at least one. Headers
// are not counted (flume-facts §4.1).
func Cost(e event.Event) int64 {
	n := int64(len(e.Body)+99) / 100
	if n < 1 {
		n = 1
	}
	return n
}
