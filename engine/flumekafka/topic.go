package flumekafka

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/engine/event"
)

// Record is one record read back from a topic.
type Record struct {
	Partition int32
	Offset    int64
	Key       []byte
	Timestamp time.Time
	Event     event.Event
	Headers   map[string]string // the Kafka record headers
}

// ReadTopic reads every record of topic, from the start of each partition
// to the end offset it had when the read began, without joining a group.
// With flumeFormat the values are decoded as Avro Flume events; otherwise
// each value is an event body. It is how tests, benchmarks and the scenario
// checker read a Kafka store back.
func ReadTopic(ctx context.Context, brokers []string, topic string, flumeFormat bool) ([]Record, error) {
	admin, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	ends, err := kadm.NewClient(admin).ListEndOffsets(ctx, topic)
	admin.Close()
	if err != nil {
		return nil, fmt.Errorf("read topic %s: list end offsets: %w", topic, err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("read topic %s: %w", topic, err)
	}
	want := map[int32]int64{}
	parts := map[string]map[int32]kgo.Offset{topic: {}}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
			parts[topic][o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(want) == 0 {
		return nil, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumePartitions(parts))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []Record
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("read topic %s: %d partitions unfinished: %w", topic, len(want), err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("read topic %s partition %d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return out, ferr
		}
		var derr error
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			rec := Record{Partition: r.Partition, Offset: r.Offset, Key: r.Key, Timestamp: r.Timestamp}
			if len(r.Headers) > 0 {
				rec.Headers = make(map[string]string, len(r.Headers))
				for _, h := range r.Headers {
					rec.Headers[h.Key] = string(h.Value)
				}
			}
			if flumeFormat {
				e, err := DecodeEvent(r.Value)
				if err != nil && derr == nil {
					derr = fmt.Errorf("read topic %s partition %d offset %d: %w", topic, r.Partition, r.Offset, err)
				}
				rec.Event = e
			} else {
				rec.Event = event.Event{Body: r.Value}
			}
			out = append(out, rec)
			if r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
		if derr != nil {
			return out, derr
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out, nil
}
