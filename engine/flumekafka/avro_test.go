package flumekafka

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sluicehq/sluice/engine/event"
)

// The bytes Java's direct binary encoder writes for {headers:{a:b}, body:"hi"}
// (flume-facts §1.4).
func TestFlumeEventBytes(t *testing.T) {
	got := AppendEvent(nil, event.Event{Headers: map[string]string{"a": "b"}, Body: []byte("hi")})
	want := []byte{0x02, 0x02, 'a', 0x02, 'b', 0x00, 0x04, 'h', 'i'}
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x want % x", got, want)
	}
	e, err := DecodeEvent(want)
	if err != nil || e.Headers["a"] != "b" || string(e.Body) != "hi" {
		t.Fatalf("decode: %+v %v", e, err)
	}
	if got := AppendEvent(nil, event.Event{}); !bytes.Equal(got, []byte{0, 0}) {
		t.Fatalf("empty event % x", got)
	}
	// A negative block count is followed by the block's byte size.
	neg := []byte{0x01, 0x0a, 0x02, 'a', 0x02, 'b', 0x00, 0x04, 'h', 'i'}
	if e, err := DecodeEvent(neg); err != nil || e.Headers["a"] != "b" {
		t.Fatalf("negative block: %+v %v", e, err)
	}
}

func TestDecodeRejectsCorruptInput(t *testing.T) {
	for _, b := range [][]byte{
		{},
		{0x02},
		{0x7e, 0x00, 0x00}, // 63 headers in 2 bytes
		{0x00, 0x7e, 'x'},  // body longer than the input
		{0x00, 0x02, 'h', 'x'},
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00, 0x00, 0x00}, // count MinInt64
	} {
		if _, err := DecodeEvent(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("% x: %v, want ErrCorrupt", b, err)
		}
	}
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte{0x02, 0x02, 'a', 0x02, 'b', 0x00, 0x04, 'h', 'i'})
	f.Add([]byte{0x00, 0x00})
	f.Add([]byte{0x01, 0x0a, 0x02, 'a', 0x02, 'b', 0x00, 0x04, 'h', 'i'})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEvent(b)
		if err != nil {
			return
		}
		again, err := DecodeEvent(AppendEvent(nil, e))
		if err != nil || !bytes.Equal(again.Body, e.Body) || len(again.Headers) != len(e.Headers) {
			t.Fatalf("round trip of %+v: %+v %v", e, again, err)
		}
	})
}
