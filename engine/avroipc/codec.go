package avroipc

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/engine/event"
)

// ErrMalformed is wrapped by every decoding error: the bytes are not a
// valid encoding of the expected Avro value.
var ErrMalformed = errors.New("malformed avro data")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Avro binary encoding (zig-zag varints, length-prefixed bytes, blocked
// maps and arrays), appended to a byte slice so one buffer serves a whole
// frame.

func appendLong(b []byte, v int64) []byte {
	return binary.AppendUvarint(b, uint64((v<<1)^(v>>63)))
}

func appendBytes(b, v []byte) []byte {
	b = appendLong(b, int64(len(v)))
	return append(b, v...)
}

func appendString(b []byte, s string) []byte {
	b = appendLong(b, int64(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendEvent writes an AvroFlumeEvent: map<string> headers, bytes body.
// Java writes a map as one block with a positive count, then 0; so do we.
func appendEvent(b []byte, e event.Event) []byte {
	if len(e.Headers) > 0 {
		b = appendLong(b, int64(len(e.Headers)))
		for k, v := range e.Headers {
			b = appendString(b, k)
			b = appendString(b, v)
		}
	}
	b = append(b, 0)
	return appendBytes(b, e.Body)
}

// decoder reads Avro binary from a byte slice. Every length and count is
// checked against the bytes that remain before anything is allocated, so a
// hostile count cannot make it allocate more than the message's own size.
type decoder struct {
	b   []byte
	off int
	// keys, when set, interns map keys across the messages of one
	// connection.
	keys map[string]string
}

func (d *decoder) remaining() int { return len(d.b) - d.off }

func (d *decoder) long() (int64, error) {
	var x uint64
	var s uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		if d.off >= len(d.b) {
			return 0, malformed("truncated varint at offset %d", d.off)
		}
		c := d.b[d.off]
		d.off++
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return 0, malformed("varint overflows 64 bits at offset %d", d.off)
			}
			x |= uint64(c) << s
			return int64(x>>1) ^ -int64(x&1), nil
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	return 0, malformed("varint longer than 10 bytes at offset %d", d.off)
}

// length reads a non-negative length that must fit in what remains.
func (d *decoder) length(what string) (int, error) {
	n, err := d.long()
	if err != nil {
		return 0, err
	}
	if n < 0 || n > int64(d.remaining()) {
		return 0, malformed("%s length %d at offset %d exceeds the %d bytes left", what, n, d.off, d.remaining())
	}
	return int(n), nil
}

// bytes returns the next bytes value without copying: it aliases the
// message buffer, which the caller hands over whole.
func (d *decoder) bytes(what string) ([]byte, error) {
	n, err := d.length(what)
	if err != nil {
		return nil, err
	}
	v := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return v, nil
}

func (d *decoder) string(what string) (string, error) {
	v, err := d.bytes(what)
	if err != nil {
		return "", err
	}
	// Invalid UTF-8 is kept byte for byte (Java would substitute U+FFFD):
	// passing the bytes on unchanged loses nothing.
	return string(v), nil
}

func (d *decoder) fixed(n int, what string) ([]byte, error) {
	if d.remaining() < n {
		return nil, malformed("truncated %s at offset %d", what, d.off)
	}
	v := d.b[d.off : d.off+n]
	d.off += n
	return v, nil
}

func (d *decoder) boolean() (bool, error) {
	if d.off >= len(d.b) {
		return false, malformed("truncated boolean at offset %d", d.off)
	}
	c := d.b[d.off]
	d.off++
	switch c {
	case 0:
		return false, nil
	case 1:
		return true, nil
	}
	return false, malformed("boolean byte %#x at offset %d", c, d.off-1)
}

// union reads a union branch index, which must be below n.
func (d *decoder) union(n int64, what string) (int64, error) {
	i, err := d.long()
	if err != nil {
		return 0, err
	}
	if i < 0 || i >= n {
		return 0, malformed("%s union index %d at offset %d; valid are 0 to %d", what, i, d.off, n-1)
	}
	return i, nil
}

// blockCount reads the count that starts a map or array block; a negative
// count is followed by the block's byte size, which is skipped over. minItem
// is the smallest encoding of one item, used to refuse counts the remaining
// bytes cannot possibly hold.
func (d *decoder) blockCount(what string, minItem int) (int, error) {
	n, err := d.long()
	if err != nil {
		return 0, err
	}
	if n < 0 {
		if n == -1<<63 {
			return 0, malformed("%s block count overflows at offset %d", what, d.off)
		}
		n = -n
		if _, err := d.long(); err != nil { // block size in bytes
			return 0, err
		}
	}
	if n > int64(d.remaining()/minItem) {
		return 0, malformed("%s block of %d items at offset %d cannot fit in the %d bytes left", what, n, d.off, d.remaining())
	}
	return int(n), nil
}

// stringMap reads map<string>; nil when empty, so that header-less events
// cost no allocation. Keys go through the decoder's intern table: header
// keys repeat in every event, and a batch of 1000 events would otherwise
// allocate 1000 copies of "timestamp".
func (d *decoder) stringMap(what string) (map[string]string, error) {
	var m map[string]string
	for {
		n, err := d.blockCount(what, 2)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return m, nil
		}
		if m == nil {
			m = make(map[string]string, n)
		}
		for i := 0; i < n; i++ {
			kb, err := d.bytes("map key")
			if err != nil {
				return nil, err
			}
			v, err := d.string("map value")
			if err != nil {
				return nil, err
			}
			m[d.intern(kb)] = v
		}
	}
}

// maxInterned bounds the intern table, so a peer sending random keys costs
// a bounded amount of memory; keys past it are simply allocated.
const (
	maxInterned    = 256
	maxInternedLen = 64
)

func (d *decoder) intern(b []byte) string {
	if d.keys == nil || len(b) > maxInternedLen {
		return string(b)
	}
	if s, ok := d.keys[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.keys) < maxInterned {
		d.keys[s] = s
	}
	return s
}

// bytesMap reads map<bytes> (call and handshake metadata).
func (d *decoder) bytesMap(what string) (map[string][]byte, error) {
	var m map[string][]byte
	for {
		n, err := d.blockCount(what, 2)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return m, nil
		}
		if m == nil {
			m = make(map[string][]byte, n)
		}
		for i := 0; i < n; i++ {
			k, err := d.string("map key")
			if err != nil {
				return nil, err
			}
			v, err := d.bytes("map value")
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
	}
}

func (d *decoder) event() (event.Event, error) {
	h, err := d.stringMap("event headers")
	if err != nil {
		return event.Event{}, err
	}
	body, err := d.bytes("event body")
	if err != nil {
		return event.Event{}, err
	}
	return event.Event{Headers: h, Body: body}, nil
}

// events reads array<AvroFlumeEvent>.
func (d *decoder) events() ([]event.Event, error) {
	var out []event.Event
	for {
		// The smallest event is 2 bytes: an empty map and an empty body.
		n, err := d.blockCount("event array", 2)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return out, nil
		}
		if out == nil {
			out = make([]event.Event, 0, n)
		}
		for i := 0; i < n; i++ {
			e, err := d.event()
			if err != nil {
				return nil, fmt.Errorf("event %d: %w", len(out), err)
			}
			out = append(out, e)
		}
	}
}
