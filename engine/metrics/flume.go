package metrics

// The typed counter sets below are Flume's MBean interfaces, attribute for
// attribute (flume-facts §9). StartTime, StopTime and Type come from Group.

// SourceCounter is Flume's SourceCounterMBean.
type SourceCounter struct {
	*Group
	EventReceivedCount       *Counter
	EventAcceptedCount       *Counter
	AppendReceivedCount      *Counter
	AppendAcceptedCount      *Counter
	AppendBatchReceivedCount *Counter
	AppendBatchAcceptedCount *Counter
	OpenConnectionCount      *Counter
	EventReadFail            *Counter
	ChannelWriteFail         *Counter
	GenericProcessingFail    *Counter
}

// NewSourceCounter registers SOURCE.<name>.
func NewSourceCounter(r *Registry, name string) *SourceCounter {
	g := r.Group(Source, name)
	return &SourceCounter{
		Group:                    g,
		EventReceivedCount:       g.Counter("EventReceivedCount", KindCounter),
		EventAcceptedCount:       g.Counter("EventAcceptedCount", KindCounter),
		AppendReceivedCount:      g.Counter("AppendReceivedCount", KindCounter),
		AppendAcceptedCount:      g.Counter("AppendAcceptedCount", KindCounter),
		AppendBatchReceivedCount: g.Counter("AppendBatchReceivedCount", KindCounter),
		AppendBatchAcceptedCount: g.Counter("AppendBatchAcceptedCount", KindCounter),
		OpenConnectionCount:      g.Counter("OpenConnectionCount", KindGauge),
		EventReadFail:            g.Counter("EventReadFail", KindCounter),
		ChannelWriteFail:         g.Counter("ChannelWriteFail", KindCounter),
		GenericProcessingFail:    g.Counter("GenericProcessingFail", KindCounter),
	}
}

// ChannelCounter is Flume's ChannelCounterMBean. ChannelSize and
// ChannelFillPercentage are read from the channel when served.
type ChannelCounter struct {
	*Group
	EventPutAttemptCount  *Counter
	EventTakeAttemptCount *Counter
	EventPutSuccessCount  *Counter
	EventTakeSuccessCount *Counter
	ChannelCapacity       *Counter
}

// NewChannelCounter registers CHANNEL.<name>; size reports the current
// number of committed events in the channel.
func NewChannelCounter(r *Registry, name string, size func() int64) *ChannelCounter {
	g := r.Group(Channel, name)
	c := &ChannelCounter{Group: g}
	g.Func("ChannelSize", KindGauge, false, func() string { return itoa(size()) })
	c.EventPutAttemptCount = g.Counter("EventPutAttemptCount", KindCounter)
	c.EventTakeAttemptCount = g.Counter("EventTakeAttemptCount", KindCounter)
	c.EventPutSuccessCount = g.Counter("EventPutSuccessCount", KindCounter)
	c.EventTakeSuccessCount = g.Counter("EventTakeSuccessCount", KindCounter)
	c.ChannelCapacity = g.Counter("ChannelCapacity", KindGauge)
	g.Func("ChannelFillPercentage", KindGauge, false, func() string {
		capa := c.ChannelCapacity.Load()
		if capa == 0 {
			return JavaDouble(1.7976931348623157e308) // Flume: Double.MAX_VALUE
		}
		return JavaDouble(float64(size()) / float64(capa) * 100)
	})
	return c
}

// FileChannelCounter is Flume's FileChannelCounterMBean.
type FileChannelCounter struct {
	*ChannelCounter
	Closed                          *Counter
	Unhealthy                       *Counter
	EventPutErrorCount              *Counter
	EventTakeErrorCount             *Counter
	CheckpointWriteErrorCount       *Counter
	CheckpointBackupWriteErrorCount *Counter
}

// NewFileChannelCounter registers CHANNEL.<name> with the file-channel
// attributes; Open is derived from Closed.
func NewFileChannelCounter(r *Registry, name string, size func() int64) *FileChannelCounter {
	cc := NewChannelCounter(r, name, size)
	g := cc.Group
	f := &FileChannelCounter{ChannelCounter: cc}
	f.Closed = g.Counter("Closed", KindGauge)
	g.Func("Open", KindInfo, false, func() string {
		if f.Closed.Load() == 0 {
			return "true"
		}
		return "false"
	})
	f.Unhealthy = g.Counter("Unhealthy", KindGauge)
	f.EventPutErrorCount = g.Counter("EventPutErrorCount", KindCounter)
	f.EventTakeErrorCount = g.Counter("EventTakeErrorCount", KindCounter)
	f.CheckpointWriteErrorCount = g.Counter("CheckpointWriteErrorCount", KindCounter)
	f.CheckpointBackupWriteErrorCount = g.Counter("CheckpointBackupWriteErrorCount", KindCounter)
	return f
}

// SinkCounter is Flume's SinkCounterMBean.
type SinkCounter struct {
	*Group
	ConnectionCreatedCount *Counter
	ConnectionClosedCount  *Counter
	ConnectionFailedCount  *Counter
	BatchEmptyCount        *Counter
	BatchUnderflowCount    *Counter
	BatchCompleteCount     *Counter
	EventDrainAttemptCount *Counter
	EventDrainSuccessCount *Counter
	EventWriteFail         *Counter
	ChannelReadFail        *Counter
}

// NewSinkCounter registers SINK.<name>.
func NewSinkCounter(r *Registry, name string) *SinkCounter {
	g := r.Group(Sink, name)
	return &SinkCounter{
		Group:                  g,
		ConnectionCreatedCount: g.Counter("ConnectionCreatedCount", KindCounter),
		ConnectionClosedCount:  g.Counter("ConnectionClosedCount", KindCounter),
		ConnectionFailedCount:  g.Counter("ConnectionFailedCount", KindCounter),
		BatchEmptyCount:        g.Counter("BatchEmptyCount", KindCounter),
		BatchUnderflowCount:    g.Counter("BatchUnderflowCount", KindCounter),
		BatchCompleteCount:     g.Counter("BatchCompleteCount", KindCounter),
		EventDrainAttemptCount: g.Counter("EventDrainAttemptCount", KindCounter),
		EventDrainSuccessCount: g.Counter("EventDrainSuccessCount", KindCounter),
		EventWriteFail:         g.Counter("EventWriteFail", KindCounter),
		ChannelReadFail:        g.Counter("ChannelReadFail", KindCounter),
	}
}

// Batch records a sink's take of n events at batch size max, as Flume's
// sinks do: empty, underflow or complete.
func (s *SinkCounter) Batch(n, max int) {
	switch {
	case n == 0:
		s.BatchEmptyCount.Inc()
	case n < max:
		s.BatchUnderflowCount.Inc()
	default:
		s.BatchCompleteCount.Inc()
	}
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
