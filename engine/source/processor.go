package source

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/event"
)

// ChannelProcessor runs a batch through the source's interceptors and puts
// it into the channels its selector picks, as Flume's ChannelProcessor does
// (flume-facts §7.1): one transaction per required channel, committed in
// order; the first failure rolls that channel back and fails the batch
// (channels already committed stay committed, so a retry duplicates there).
// Optional channels are then tried, failures logged and ignored.
type ChannelProcessor struct {
	Selector     Selector
	Interceptors Chain
	Log          *slog.Logger
}

// ProcessBatch delivers events. On error nothing more can be assumed than
// that some required channels may hold the batch: the caller retries it.
// An error wrapping channel.ErrFull means back-pressure.
func (p *ChannelProcessor) ProcessBatch(events []event.Event) error {
	events = p.Interceptors.Intercept(events)
	if len(events) == 0 {
		return nil
	}
	if u, ok := p.Selector.(Uniform); ok {
		req, opt := u.Uniform()
		for _, c := range req {
			if err := putBatch(c, events); err != nil {
				return err
			}
		}
		for _, c := range opt {
			if err := putBatch(c, events); err != nil && p.Log != nil {
				p.Log.Warn("unable to put batch on optional channel", "channel", c.Name(), "err", err)
			}
		}
		return nil
	}
	chans := p.Selector.Channels()
	req := make(map[channel.Channel][]event.Event, len(chans))
	opt := map[channel.Channel][]event.Event{}
	for _, e := range events {
		r, o := p.Selector.Select(e)
		for _, c := range r {
			req[c] = append(req[c], e)
		}
		for _, c := range o {
			opt[c] = append(opt[c], e)
		}
	}
	// Commit in the selector's channel order, so behaviour is repeatable.
	for _, c := range chans {
		if b := req[c]; len(b) > 0 {
			if err := putBatch(c, b); err != nil {
				return err
			}
		}
	}
	for _, c := range chans {
		if b := opt[c]; len(b) > 0 {
			if err := putBatch(c, b); err != nil && p.Log != nil {
				p.Log.Warn("unable to put batch on optional channel", "channel", c.Name(), "err", err)
			}
		}
	}
	return nil
}

// putBatch commits events to c, in transactions of at most the channel's
// transactionCapacity. Flume fails a batch larger than that forever (the
// sender retries it, and is refused, until someone changes a config);
// Sluice splits it, which keeps at-least-once: a failure after the first
// part means the retry duplicates that part, as with several channels.
func putBatch(c channel.Channel, events []event.Event) error {
	tc := c.TransactionCapacity()
	for tc > 0 && len(events) > tc {
		if err := putTxn(c, events[:tc]); err != nil {
			return err
		}
		events = events[tc:]
	}
	return putTxn(c, events)
}

func putTxn(c channel.Channel, events []event.Event) error {
	tx, err := c.Begin()
	if err != nil {
		return fmt.Errorf("channel %s: %w", c.Name(), err)
	}
	if err := tx.Put(events); err != nil {
		return errors.Join(fmt.Errorf("put to channel %s: %w", c.Name(), err), tx.Rollback())
	}
	if err := tx.Commit(); err != nil {
		return errors.Join(fmt.Errorf("commit to channel %s: %w", c.Name(), err), tx.Rollback())
	}
	return nil
}
