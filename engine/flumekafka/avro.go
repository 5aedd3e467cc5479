// Package flumekafka holds what Flume's Kafka sink, channel and source share:
// the Avro encoding of an event in a Kafka record value
// (useFlumeEventFormat / parseAsFlumeEvent) and the mapping of Kafka client
// properties (kafka.producer.*, kafka.consumer.*) onto franz-go options.
package flumekafka

import (
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/engine/event"
)

// MaxEventBytes bounds a decoded event; a record value claiming more is
// corrupt, not a reason to allocate.
const MaxEventBytes = 64 << 20

// ErrCorrupt is wrapped by DecodeEvent errors.
var ErrCorrupt = errors.New("not an Avro-encoded Flume event")

// AppendEvent appends e as an Avro binary AvroFlumeEvent datum
// ({map<string> headers; bytes body}, no container, no schema) to dst, as
// Flume's Kafka components write it with a direct binary encoder.
func AppendEvent(dst []byte, e event.Event) []byte {
	if n := len(e.Headers); n > 0 {
		dst = appendLong(dst, int64(n))
		for k, v := range e.Headers {
			dst = appendBytes(dst, []byte(k))
			dst = appendBytes(dst, []byte(v))
		}
	}
	dst = appendLong(dst, 0)
	return appendBytes(dst, e.Body)
}

// EncodedSize is an upper bound of AppendEvent's output, for preallocation.
func EncodedSize(e event.Event) int {
	n := 10 + 10 + len(e.Body) + 10
	for k, v := range e.Headers {
		n += 20 + len(k) + len(v)
	}
	return n
}

func appendLong(dst []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		dst = append(dst, byte(u)|0x80)
		u >>= 7
	}
	return append(dst, byte(u))
}

func appendBytes(dst, b []byte) []byte {
	dst = appendLong(dst, int64(len(b)))
	return append(dst, b...)
}

// DecodeEvent parses an AvroFlumeEvent datum. It accepts the negative block
// counts (followed by a byte size) the Avro spec allows, and never allocates
// more than the input could hold.
func DecodeEvent(b []byte) (event.Event, error) {
	if len(b) > MaxEventBytes {
		return event.Event{}, fmt.Errorf("%w: %d bytes is over the %d-byte limit", ErrCorrupt, len(b), MaxEventBytes)
	}
	d := decoder{b: b}
	var e event.Event
	for {
		n := d.long()
		if d.err != nil {
			return event.Event{}, d.err
		}
		if n == 0 {
			break
		}
		if n < 0 {
			n = -n
			d.long()   // block size in bytes, unused
			if n < 0 { // -MinInt64
				return event.Event{}, fmt.Errorf("%w: header block count out of range", ErrCorrupt)
			}
		}
		// Each entry takes at least two bytes (two empty strings).
		if n > int64(len(d.b)-d.off)/2 {
			return event.Event{}, fmt.Errorf("%w: header block of %d entries in %d bytes", ErrCorrupt, n, len(d.b)-d.off)
		}
		if e.Headers == nil {
			e.Headers = make(map[string]string, n)
		}
		for i := int64(0); i < n; i++ {
			k := d.bytes()
			v := d.bytes()
			if d.err != nil {
				return event.Event{}, d.err
			}
			e.Headers[string(k)] = string(v)
		}
	}
	body := d.bytes()
	if d.err != nil {
		return event.Event{}, d.err
	}
	if d.off != len(d.b) {
		return event.Event{}, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b)-d.off)
	}
	e.Body = append([]byte(nil), body...)
	return e, nil
}

type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) long() int64 {
	if d.err != nil {
		return 0
	}
	var u uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if d.off >= len(d.b) {
			d.err = fmt.Errorf("%w: truncated varint", ErrCorrupt)
			return 0
		}
		c := d.b[d.off]
		d.off++
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1)
		}
	}
	d.err = fmt.Errorf("%w: varint too long", ErrCorrupt)
	return 0
}

func (d *decoder) bytes() []byte {
	n := d.long()
	if d.err != nil {
		return nil
	}
	if n < 0 || n > int64(len(d.b)-d.off) {
		d.err = fmt.Errorf("%w: length %d with %d bytes left", ErrCorrupt, n, len(d.b)-d.off)
		return nil
	}
	s := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return s
}
