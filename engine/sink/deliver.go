package sink

import (
	"errors"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/metrics"
)

// Deliver runs one sink transaction the way Flume's sinks do: take up to
// batch events from ch; with none, return Backoff; otherwise hand them to
// deliver and commit only if it succeeds. A delivery error rolls the batch
// back into the channel and is returned (so a failover group switches); a
// channel error rolls back and returns Backoff, as Flume's sinks do on a
// ChannelException (counted in ChannelReadFail). The counters follow
// Flume's SinkCounter.
func Deliver(ch channel.Channel, batch int, c *metrics.SinkCounter, deliver func([]event.Event) error) (Status, error) {
	tx, err := ch.Begin()
	if err != nil {
		c.ChannelReadFail.Inc()
		return Backoff, nil
	}
	events, err := tx.Take(batch)
	if err != nil {
		// A channel problem is not a delivery failure: returning an error
		// would make a failover group penalize a healthy sink.
		c.ChannelReadFail.Inc()
		tx.Rollback()
		return Backoff, nil
	}
	c.Batch(len(events), batch)
	if len(events) == 0 {
		return Backoff, tx.Commit()
	}
	c.EventDrainAttemptCount.Add(int64(len(events)))
	if err := deliver(events); err != nil {
		c.EventWriteFail.Inc()
		return Backoff, errors.Join(err, tx.Rollback())
	}
	if err := tx.Commit(); err != nil {
		// Delivered but not committed: the batch will be delivered again (a
		// duplicate, never a loss). The channel failed, not the sink.
		c.ChannelReadFail.Inc()
		tx.Rollback()
		return Backoff, nil
	}
	c.EventDrainSuccessCount.Add(int64(len(events)))
	return Ready, nil
}
