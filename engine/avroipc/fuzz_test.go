package avroipc

import (
	"bufio"
	"bytes"
	"reflect"
	"testing"

	"github.com/sluicehq/sluice/engine/event"
)

// FuzzFrame: any byte stream either yields frames within the limits or an
// error; it never panics or buffers past the limit.
func FuzzFrame(f *testing.F) {
	f.Add(unhex(f, goldenFirstCall))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add(unhex(f, "00000001 00000002 00000001 41 00000000"))
	f.Add(unhex(f, "00000001 00000000"))
	f.Add(unhex(f, "00000001 00000001 7fffffff 00"))
	lim := Limits{MaxFrameBytes: 4096, MaxFrameBuffers: 16}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		for {
			_, payload, err := readFrame(r, lim, nil)
			if err != nil {
				return
			}
			if len(payload) > lim.MaxFrameBytes {
				t.Fatalf("payload of %d bytes passed a %d-byte limit", len(payload), lim.MaxFrameBytes)
			}
		}
	})
}

// FuzzHandshake: a decodable handshake request survives re-encoding
// (compared decoded, since Avro admits non-canonical varints such as 80 00
// for 0) and the server answers it without panicking.
func FuzzHandshake(f *testing.F) {
	text := ProtocolJSON
	for _, r := range []HandshakeRequest{
		{ClientHash: ProtocolHash, ServerHash: ProtocolHash},
		{ClientHash: [16]byte{1}, ClientProtocol: &text, ServerHash: ProtocolHash, Meta: map[string][]byte{"k": []byte("v")}},
	} {
		f.Add(AppendHandshakeRequest(nil, &r))
	}
	f.Add(unhex(f, goldenFirstCall)[12:])
	s, _ := NewServer(ServerConfig{Handler: HandlerFunc(func([]event.Event, bool) Status { return OK })})
	f.Fuzz(func(t *testing.T, data []byte) {
		req, n, err := DecodeHandshakeRequest(data)
		if err != nil {
			return
		}
		if n > len(data) {
			t.Fatalf("decoder used %d of %d bytes", n, len(data))
		}
		again, _, err := DecodeHandshakeRequest(AppendHandshakeRequest(nil, &req))
		if err != nil || !reflect.DeepEqual(again, req) {
			t.Fatalf("re-encoded handshake differs: %+v -> %+v (%v)", req, again, err)
		}
		resp, err := s.handshake(req)
		if err != nil {
			return
		}
		out := AppendHandshakeResponse(nil, &resp)
		back, m, err := DecodeHandshakeResponse(out)
		if err != nil || m != len(out) || back.Match != resp.Match {
			t.Fatalf("response does not round-trip: %+v %v", back, err)
		}
	})
}

// FuzzCall: a decodable call re-encodes to events that decode the same.
func FuzzCall(f *testing.F) {
	f.Add(AppendCall(nil, MsgAppendBatch, sampleEvents()[:3]))
	f.Add(AppendCall(nil, MsgAppend, sampleEvents()[2:3]))
	f.Add(AppendCall(nil, "", nil))
	f.Add([]byte{0x00, 0x16, 'a', 'p', 'p', 'e', 'n', 'd', 'B', 'a', 't', 'c', 'h', 0x03, 0x04, 0x02})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCall(data)
		if err != nil || c.Message == "" {
			return
		}
		again, err := DecodeCall(AppendCall(nil, c.Message, c.Events))
		if err != nil {
			t.Fatalf("re-encoded call does not decode: %v", err)
		}
		if len(again.Events) != len(c.Events) {
			t.Fatalf("%d events became %d", len(c.Events), len(again.Events))
		}
		for i := range c.Events {
			a, b := c.Events[i], again.Events[i]
			if !bytes.Equal(a.Body, b.Body) || (len(a.Headers)+len(b.Headers) > 0 && !reflect.DeepEqual(a.Headers, b.Headers)) {
				t.Fatalf("event %d changed: %+v -> %+v", i, a, b)
			}
		}
	})
}
