package avroipc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/avroipc/avrotest"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/vfs"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goldenFirstCall is flume-facts §1.4: the first appendBatch of a Java
// client on a new connection, one event {a:b}/"hi".
const goldenFirstCall = `
00 00 00 01  00 00 00 01  00 00 00 3a
86 aa da e2 c4 54 74 c0 fe 93 ff d0 f2 35 0a 65
00
86 aa da e2 c4 54 74 c0 fe 93 ff d0 f2 35 0a 65
00
00
16 61 70 70 65 6e 64 42 61 74 63 68
02  02 02 61 02 62 00  04 68 69  00`

func TestProtocolHash(t *testing.T) {
	if got := hex.EncodeToString(ProtocolHash[:]); got != "86aadae2c45474c0fe93ffd0f2350a65" {
		t.Fatalf("MD5 of the protocol text = %s, want Java's 86aadae2c45474c0fe93ffd0f2350a65", got)
	}
	if err := checkProtocolText(ProtocolJSON); err != nil {
		t.Fatal(err)
	}
}

func TestGoldenFirstCallFrame(t *testing.T) {
	b := newFrame(nil)
	b = AppendHandshakeRequest(b, &HandshakeRequest{ClientHash: ProtocolHash, ServerHash: ProtocolHash})
	b = AppendCall(b, MsgAppendBatch, []event.Event{{Headers: map[string]string{"a": "b"}, Body: []byte("hi")}})
	b = sealFrame(b, 1)
	if want := unhex(t, goldenFirstCall); !bytes.Equal(b, want) {
		t.Fatalf("first-call frame\n got % x\nwant % x", b, want)
	}
}

type sink struct {
	mu     sync.Mutex
	events []event.Event
	calls  []bool
	status Status
}

func (s *sink) Handle(events []event.Event, batch bool) Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range events {
		// Bodies alias the frame buffer; keep a private copy as a channel would.
		e.Body = append([]byte(nil), e.Body...)
		s.events = append(s.events, e)
	}
	s.calls = append(s.calls, batch)
	return s.status
}

func (s *sink) got() []event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]event.Event(nil), s.events...)
}

type counts struct {
	opened, closed atomic.Int64
	mu             sync.Mutex
	rejected       map[Reason]int
	matches        []Match
	badCalls       atomic.Int64
}

func (c *counts) observer() Observer {
	c.rejected = map[Reason]int{}
	return Observer{
		Opened: func() { c.opened.Add(1) },
		Closed: func() { c.closed.Add(1) },
		Rejected: func(r Reason) {
			c.mu.Lock()
			c.rejected[r]++
			c.mu.Unlock()
		},
		Handshake: func(m Match) {
			c.mu.Lock()
			c.matches = append(c.matches, m)
			c.mu.Unlock()
		},
		BadCall: func() { c.badCalls.Add(1) },
	}
}

func (c *counts) reason(r Reason) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rejected[r]
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startServer(t *testing.T, cfg ServerConfig) (*Server, *sink, *counts) {
	t.Helper()
	h := &sink{}
	c := &counts{}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Handler == nil {
		cfg.Handler = h
	}
	cfg.Observer = c.observer()
	if cfg.Log == nil {
		cfg.Log = quietLog()
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(ctx)
		if o, cl := c.opened.Load(), c.closed.Load(); o != cl {
			t.Errorf("server opened %d connections and closed %d: a connection goroutine outlived Close", o, cl)
		}
	})
	return s, h, c
}

func dialRaw(t *testing.T, addr net.Addr) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

func readRawFrame(t *testing.T, c net.Conn) (uint32, []byte) {
	t.Helper()
	serial, payload, err := readFrame(bufio.NewReader(c), DefaultLimits, nil)
	if err != nil {
		t.Fatalf("reading reply frame: %v", err)
	}
	return serial, payload
}

// Java's reply to the golden first call, and to a second call on the same
// connection (flume-facts §1.4).
func TestGoldenJavaReply(t *testing.T) {
	s, h, c := startServer(t, ServerConfig{})
	conn := dialRaw(t, s.Addr())
	br := bufio.NewReader(conn)
	if _, err := conn.Write(unhex(t, goldenFirstCall)); err != nil {
		t.Fatal(err)
	}
	serial, payload, err := readFrame(br, DefaultLimits, nil)
	if err != nil {
		t.Fatal(err)
	}
	if serial != 1 || !bytes.Equal(payload, unhex(t, "00 00 00 00  00 00 00")) {
		t.Fatalf("reply serial %d payload % x; want serial 1, 00 00 00 00 00 00 00 (BOTH, OK)", serial, payload)
	}
	second := sealFrame(AppendCall(newFrame(nil), MsgAppendBatch, []event.Event{{Body: []byte("x")}}), 2)
	conn.Write(second)
	serial, payload, err = readFrame(br, DefaultLimits, nil)
	if err != nil {
		t.Fatal(err)
	}
	if serial != 2 || !bytes.Equal(payload, []byte{0, 0, 0}) {
		t.Fatalf("second reply serial %d payload % x; want 2, 00 00 00", serial, payload)
	}
	got := h.got()
	if len(got) != 2 || got[0].Headers["a"] != "b" || string(got[0].Body) != "hi" || string(got[1].Body) != "x" {
		t.Fatalf("handler got %+v", got)
	}
	if c.matches[0] != MatchBoth {
		t.Fatalf("handshake %v, want BOTH", c.matches)
	}
}

func sampleEvents() []event.Event {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: many reads, many zlib blocks
	bin := make([]byte, 256)
	for i := range bin {
		bin[i] = byte(i)
	}
	return []event.Event{
		{Headers: map[string]string{"a": "b"}, Body: []byte("hi")},
		{Body: []byte{}},
		{Headers: map[string]string{"host": "web-01", "timestamp": "1700000000000", "ünïcode": "値 ✓", "empty": ""}, Body: bin},
		{Headers: map[string]string{"k": "v"}, Body: big},
	}
}

func equalEvents(t *testing.T, got, want []event.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].Body, want[i].Body) {
			t.Fatalf("event %d body differs (len %d vs %d)", i, len(got[i].Body), len(want[i].Body))
		}
		if len(got[i].Headers)+len(want[i].Headers) > 0 && !reflect.DeepEqual(got[i].Headers, want[i].Headers) {
			t.Fatalf("event %d headers %v, want %v", i, got[i].Headers, want[i].Headers)
		}
	}
}

type mode struct {
	name     string
	tls      bool
	deflate  bool
	layering Layering
}

var modes = []mode{
	{"plain", false, false, ZlibOutside},
	{"deflate", false, true, ZlibOutside},
	{"tls", true, false, ZlibOutside},
	{"tls+deflate/1.10", true, true, ZlibOutside},
	{"tls+deflate/1.9", true, true, TLSOutside},
}

func tlsConfigs(t *testing.T) (server, client *tls.Config) {
	f := avrotest.Certs(t, t.TempDir())
	var err error
	server, err = TLSOptions{Keystore: f.ServerJKS, KeystorePassword: avrotest.Password}.ServerConfig(vfs.OS{})
	if err != nil {
		t.Fatal(err)
	}
	client, err = TLSOptions{Truststore: f.TrustJKS, TruststorePassword: avrotest.Password}.ClientConfig(vfs.OS{})
	if err != nil {
		t.Fatal(err)
	}
	return server, client
}

func TestRoundTrip(t *testing.T) {
	stls, ctls := tlsConfigs(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			cfg := ServerConfig{Deflate: m.deflate}
			ccfg := ClientConfig{Deflate: m.deflate, Level: 6, Layering: m.layering}
			if m.tls {
				cfg.TLS, ccfg.TLS = stls, ctls
			}
			s, h, c := startServer(t, cfg)
			ccfg.Addr = s.Addr().String()
			cl, err := Dial(context.Background(), ccfg)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			want := sampleEvents()
			for round := 0; round < 3; round++ {
				if err := cl.AppendBatch(context.Background(), want); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if err := cl.Append(context.Background(), want[2]); err != nil {
				t.Fatal(err)
			}
			if err := cl.Ping(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := cl.AppendBatch(context.Background(), nil); err != nil {
				t.Fatalf("empty batch: %v", err)
			}
			got := h.got()
			all := append(append(append(append([]event.Event{}, want...), want...), want...), want[2])
			equalEvents(t, got, all)
			if want := []bool{true, true, true, false, true}; !reflect.DeepEqual(h.calls, want) {
				t.Fatalf("calls (batch?) %v, want %v", h.calls, want)
			}
			if !reflect.DeepEqual(c.matches, []Match{MatchBoth}) {
				t.Fatalf("handshakes %v, want one BOTH", c.matches)
			}
		})
	}
}

func TestCompressionLevels(t *testing.T) {
	s, h, _ := startServer(t, ServerConfig{Deflate: true})
	for lvl := 0; lvl <= 9; lvl++ {
		cl, err := Dial(context.Background(), ClientConfig{Addr: s.Addr().String(), Deflate: true, Level: lvl})
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.AppendBatch(context.Background(), []event.Event{{Body: []byte(fmt.Sprint("level ", lvl))}}); err != nil {
			t.Fatalf("level %d: %v", lvl, err)
		}
		cl.Close()
	}
	if n := len(h.got()); n != 10 {
		t.Fatalf("got %d events, want 10", n)
	}
	if _, err := Dial(context.Background(), ClientConfig{Addr: s.Addr().String(), Deflate: true, Level: 10}); err == nil || !strings.Contains(err.Error(), "0 to 9") {
		t.Fatalf("level 10: %v; want an error naming the valid range", err)
	}
}

func TestFailedStatus(t *testing.T) {
	s, h, _ := startServer(t, ServerConfig{})
	h.status = Failed
	cl, err := Dial(context.Background(), ClientConfig{Addr: s.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.AppendBatch(context.Background(), sampleEvents()[:1]); !errors.Is(err, ErrFailed) {
		t.Fatalf("AppendBatch = %v, want ErrFailed", err)
	}
}

func handshakeFrame(serial uint32, req HandshakeRequest, msg string, events []event.Event) []byte {
	b := AppendHandshakeRequest(newFrame(nil), &req)
	return sealFrame(AppendCall(b, msg, events), serial)
}

// The server's handshake follows Java's Responder (flume-facts §1.3).
func TestHandshakeMatches(t *testing.T) {
	s, h, c := startServer(t, ServerConfig{})
	other := [16]byte{1, 2, 3}
	pyText := strings.ReplaceAll(ProtocolJSON, `":`, `": `) // same protocol, other bytes (as Python prints it)
	ev := []event.Event{{Body: []byte("e")}}
	type step struct {
		req       HandshakeRequest
		wantMatch Match
		wantCall  bool
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"java", []step{{HandshakeRequest{ClientHash: ProtocolHash, ServerHash: ProtocolHash}, MatchBoth, true}}},
		{"client guessed another server hash", []step{{HandshakeRequest{ClientHash: ProtocolHash, ServerHash: other}, MatchClient, true}}},
		{"unknown client, then its text", []step{
			{HandshakeRequest{ClientHash: other, ServerHash: ProtocolHash}, MatchNone, false},
			{HandshakeRequest{ClientHash: other, ClientProtocol: &pyText, ServerHash: ProtocolHash}, MatchBoth, true},
		}},
		{"learnt client on a new connection", []step{{HandshakeRequest{ClientHash: other, ServerHash: other}, MatchClient, true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn := dialRaw(t, s.Addr())
			br := bufio.NewReader(conn)
			before := len(h.got())
			for i, st := range tc.steps {
				conn.Write(handshakeFrame(uint32(i+1), st.req, MsgAppendBatch, ev))
				_, payload, err := readFrame(br, DefaultLimits, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp, n, err := DecodeHandshakeResponse(payload)
				if err != nil {
					t.Fatal(err)
				}
				if resp.Match != st.wantMatch {
					t.Fatalf("step %d: match %v, want %v", i, resp.Match, st.wantMatch)
				}
				if st.wantMatch != MatchBoth && (resp.ServerProtocol == nil || *resp.ServerProtocol != ProtocolJSON || *resp.ServerHash != ProtocolHash) {
					t.Fatalf("step %d: a non-BOTH reply must carry the server protocol and hash", i)
				}
				rest := payload[n:]
				if !st.wantCall {
					if len(rest) != 0 {
						t.Fatalf("NONE reply carries % x after the handshake; Java sends the handshake only", rest)
					}
					continue
				}
				r, err := DecodeResponse(rest)
				if err != nil || r.Status != OK {
					t.Fatalf("step %d: response %+v, %v", i, r, err)
				}
			}
			if len(h.got()) != before+1 {
				t.Fatalf("handler got %d events, want exactly 1 (a NONE reply must not run the call)", len(h.got())-before)
			}
		})
	}
	_ = c
}

// A Java-like client whose server answers NONE sends its protocol text and
// accepts the server's (CLIENT).
func TestClientResendsTextOnNone(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	errc := make(chan error, 1)
	go func() {
		errc <- func() error {
			c, err := ln.Accept()
			if err != nil {
				return err
			}
			defer c.Close()
			br := bufio.NewReader(c)
			text := strings.ReplaceAll(ProtocolJSON, `":`, `": `)
			other := [16]byte{9}
			for i := 0; i < 2; i++ {
				serial, payload, err := readFrame(br, DefaultLimits, nil)
				if err != nil {
					return err
				}
				req, n, err := DecodeHandshakeRequest(payload)
				if err != nil {
					return err
				}
				out := newFrame(nil)
				if i == 0 {
					if req.ClientProtocol != nil {
						return errors.New("first request carried the protocol text")
					}
					out = AppendHandshakeResponse(out, &HandshakeResponse{Match: MatchNone, ServerProtocol: &text, ServerHash: &other})
				} else {
					if req.ClientProtocol == nil || *req.ClientProtocol != ProtocolJSON || req.ServerHash != other {
						return fmt.Errorf("resend lacks the protocol text or the learnt server hash: %+v", req)
					}
					call, err := DecodeCall(payload[n:])
					if err != nil || len(call.Events) != 1 {
						return fmt.Errorf("resent call %+v, %v", call, err)
					}
					out = AppendStatus(AppendHandshakeResponse(out, &HandshakeResponse{Match: MatchClient, ServerProtocol: &text, ServerHash: &other}), OK)
				}
				if _, err := c.Write(sealFrame(out, serial)); err != nil {
					return err
				}
			}
			return nil
		}()
	}()
	cl, err := Dial(context.Background(), ClientConfig{Addr: ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.AppendBatch(context.Background(), []event.Event{{Body: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !cl.Established() {
		t.Fatal("client not established after CLIENT")
	}
}

// Hostile or broken peers: each closes only its own connection, with a
// counted reason, and the server keeps serving.
func TestHostilePeers(t *testing.T) {
	stls, _ := tlsConfigs(t)
	cases := []struct {
		name   string
		cfg    ServerConfig
		send   []byte
		reason Reason
	}{
		{"http health check", ServerConfig{}, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), ReasonTooManyBuffers},
		{"random bytes", ServerConfig{}, []byte{0x13, 0x37, 0xbe, 0xef, 0x7f, 0xff, 0xff, 0xff}, ReasonTooManyBuffers},
		{"zero buffers", ServerConfig{}, unhex(t, "00000001 00000000"), ReasonBadFrame},
		{"negative length", ServerConfig{}, unhex(t, "00000001 00000001 ffffffff"), ReasonBadFrame},
		{"oversized buffer", ServerConfig{Limits: Limits{MaxFrameBytes: 1024, MaxFrameBuffers: 8}}, unhex(t, "00000001 00000001 7fffffff"), ReasonFrameTooLarge},
		{"buffers add up too large", ServerConfig{Limits: Limits{MaxFrameBytes: 1024, MaxFrameBuffers: 8}},
			append(append(unhex(t, "00000001 00000002 00000200"), make([]byte, 512)...), unhex(t, "00000201")...), ReasonFrameTooLarge},
		{"garbage handshake", ServerConfig{}, unhex(t, "00000001 00000001 00000003 010203"), ReasonBadHandshake},
		{"bad protocol text", ServerConfig{}, handshakeFrame(1, HandshakeRequest{ClientHash: [16]byte{7}, ClientProtocol: ptr("{not json"), ServerHash: ProtocolHash}, MsgAppendBatch, nil), ReasonBadHandshake},
		{"plaintext on a TLS port", ServerConfig{TLS: stls}, unhex(t, goldenFirstCall), ReasonTLS},
		{"TLS on a plaintext port", ServerConfig{}, unhex(t, "16030100a5010000a10303"), ReasonBadFrame},
		{"not zlib on a deflate port", ServerConfig{Deflate: true}, unhex(t, goldenFirstCall), ReasonCompression},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _, c := startServer(t, tc.cfg)
			conn := dialRaw(t, s.Addr())
			conn.Write(tc.send)
			// The server closes the connection: the read ends with EOF or a
			// reset, never by our 20 s deadline.
			_, err := io.ReadAll(conn)
			if isTimeout(err) {
				t.Fatal("server did not close the connection")
			}
			waitFor(t, func() bool { return c.reason(tc.reason) == 1 }, "rejection counted as "+string(tc.reason))
			// The server still serves well-behaved clients.
			cl, err := Dial(context.Background(), ClientConfig{Addr: s.Addr().String(), TLS: clientTLSFor(tc.cfg), Deflate: tc.cfg.Deflate})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if err := cl.AppendBatch(context.Background(), []event.Event{{Body: []byte("ok")}}); err != nil {
				t.Fatalf("a good client after the bad one: %v", err)
			}
		})
	}
}

func clientTLSFor(cfg ServerConfig) *tls.Config {
	if cfg.TLS == nil {
		return nil
	}
	return &tls.Config{InsecureSkipVerify: true}
}

func ptr[T any](v T) *T { return &v }

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A peer that stops mid-frame is cut off after FrameTimeout; one that idles
// between frames is not.
func TestStalledPeer(t *testing.T) {
	s, _, c := startServer(t, ServerConfig{FrameTimeout: 200 * time.Millisecond})
	idle := dialRaw(t, s.Addr())
	staller := dialRaw(t, s.Addr())
	frame := unhex(t, goldenFirstCall)
	staller.Write(frame[:20]) // header and part of the body, then nothing
	if _, err := io.ReadAll(staller); isTimeout(err) {
		t.Fatal("stalled connection was not closed")
	}
	waitFor(t, func() bool { return c.reason(ReasonStalled) == 1 }, "stall counted")
	// The idle connection outlived the stall timeout and still works.
	idle.Write(frame)
	if _, payload := readRawFrame(t, idle); !bytes.Equal(payload, unhex(t, "00 00 00 00 00 00 00")) {
		t.Fatalf("idle connection reply % x", payload)
	}
}

// A peer that declares a huge buffer and sends little costs memory only
// for what it sent; the stall timeout then frees it.
func TestLyingLengthAllocatesLittle(t *testing.T) {
	r := io.MultiReader(bytes.NewReader(unhex(t, "00000001 00000001 03ffffff")), bytes.NewReader(make([]byte, 100)))
	_, payload, err := readFrame(bufio.NewReader(r), DefaultLimits, nil)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want unexpected EOF", err)
	}
	if cap(payload) > 1<<20 {
		t.Fatalf("a 100-byte frame body made the reader allocate %d bytes", cap(payload))
	}
}

// An undecodable call on an established connection gets a system error and
// the connection stays usable, as with Java's Responder.
func TestBadCallGetsSystemError(t *testing.T) {
	s, h, c := startServer(t, ServerConfig{})
	conn := dialRaw(t, s.Addr())
	conn.Write(unhex(t, goldenFirstCall))
	readRawFrame(t, conn)
	for i, body := range [][]byte{
		AppendCall(nil, "nosuch", nil),
		{0x00, 0x16, 'a', 'p', 'p', 'e', 'n', 'd', 'B', 'a', 't', 'c', 'h', 0x02, 0x7f}, // truncated event
	} {
		conn.Write(sealFrame(append(newFrame(nil), body...), uint32(10+i)))
		_, payload := readRawFrame(t, conn)
		r, err := DecodeResponse(payload)
		if err != nil || r.SystemError == nil || !strings.HasPrefix(*r.SystemError, "org.apache.avro.AvroRuntimeException: ") {
			t.Fatalf("reply %+v, %v; want a system error", r, err)
		}
	}
	conn.Write(sealFrame(AppendCall(newFrame(nil), MsgAppendBatch, []event.Event{{Body: []byte("after")}}), 12))
	if _, payload := readRawFrame(t, conn); !bytes.Equal(payload, []byte{0, 0, 0}) {
		t.Fatalf("call after the errors: % x", payload)
	}
	if c.badCalls.Load() != 2 || len(h.got()) != 2 {
		t.Fatalf("bad calls %d, events %d; want 2 and 2", c.badCalls.Load(), len(h.got()))
	}
}

// A black-holed server (accepts, never answers) fails the call after the
// request timeout instead of holding the sink.
func TestClientRequestTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	cl, err := Dial(context.Background(), ClientConfig{Addr: ln.Addr().String(), ConnectTimeout: 100 * time.Millisecond, RequestTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	err = cl.AppendBatch(context.Background(), []event.Event{{Body: []byte("x")}})
	if err == nil || !strings.Contains(err.Error(), "request-timeout") {
		t.Fatalf("AppendBatch to a black hole = %v, want a request-timeout error", err)
	}
	if err := cl.AppendBatch(context.Background(), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("a timed-out client must be redialled; second call = %v", err)
	}
	// Cancelling the caller's context aborts a call too.
	cl2, err := Dial(context.Background(), ClientConfig{Addr: ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if err := cl2.AppendBatch(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call = %v", err)
	}
}

func TestConnectRefusedFailsAtOnce(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	_, err := Dial(context.Background(), ClientConfig{Addr: addr, ConnectTimeout: time.Hour})
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Dial to a closed port = %v, want connection refused", err)
	}
}

// Close lets a call in progress commit and reply before closing.
func TestServerCloseFinishesCallInProgress(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	var once sync.Once
	s, _, _ := startServer(t, ServerConfig{Handler: HandlerFunc(func(events []event.Event, batch bool) Status {
		once.Do(func() { close(entered) })
		<-release
		return OK
	})})
	cl, err := Dial(context.Background(), ClientConfig{Addr: s.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	idle := dialRaw(t, s.Addr())
	res := make(chan error, 1)
	go func() { res <- cl.AppendBatch(context.Background(), []event.Event{{Body: []byte("x")}}) }()
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- s.Close(context.Background()) }()
	// The idle connection is closed at once; the busy one is not.
	if _, err := io.ReadAll(idle); isTimeout(err) {
		t.Fatal("idle connection not closed by Close")
	}
	select {
	case <-closed:
		t.Fatal("Close returned while a call was in progress")
	default:
	}
	close(release)
	if err := <-res; err != nil {
		t.Fatalf("the call in progress during Close: %v", err)
	}
	<-closed
}

func TestIPFilter(t *testing.T) {
	for _, bad := range []string{"", "allow", "permit:ip:*", "allow:host:*", "allow:ip"} {
		if _, err := ParseIPFilter(bad); err == nil {
			t.Errorf("ParseIPFilter(%q) accepted", bad)
		}
	}
	f, err := ParseIPFilter("allow:ip:10.0.*, deny:name:*.evil.com,allow:name:*.example.com,deny:ip:*")
	if err != nil {
		t.Fatal(err)
	}
	f.LookupAddr = func(_ context.Context, addr string) ([]string, error) {
		return map[string][]string{"192.0.2.1": {"a.example.com."}, "192.0.2.2": {"b.evil.com."}}[addr], nil
	}
	for addr, want := range map[string]bool{"10.0.3.4": true, "10.1.0.1": false, "192.0.2.1": true, "192.0.2.2": false, "192.0.2.3": false} {
		got, _ := f.Allow(context.Background(), &net.TCPAddr{IP: net.ParseIP(addr)})
		if got != want {
			t.Errorf("Allow(%s) = %v, want %v", addr, got, want)
		}
	}
	f, _ = ParseIPFilter("deny:ip:10.*")
	if ok, _ := f.Allow(context.Background(), &net.TCPAddr{IP: net.ParseIP("192.0.2.9")}); !ok {
		t.Error("an address no rule matches must be allowed (Netty's default)")
	}
	f, _ = ParseIPFilter("allow:name:localhost,deny:ip:*")
	if ok, _ := f.Allow(context.Background(), &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}); !ok {
		t.Error("name:localhost must match loopback")
	}
	// A server with a deny rule for loopback closes our connection.
	deny, _ := ParseIPFilter("deny:ip:127.*")
	s, _, c := startServer(t, ServerConfig{Filter: deny})
	conn := dialRaw(t, s.Addr())
	io.ReadAll(conn)
	waitFor(t, func() bool { return c.reason(ReasonIPFilter) == 1 }, "ip-filter rejection")
}

func TestTLSStores(t *testing.T) {
	f := avrotest.Certs(t, t.TempDir())
	for _, ks := range []string{f.ServerPEM, f.ServerP12, f.ServerJKS} {
		if _, err := LoadKeystore(vfs.OS{}, ks, avrotest.Password, ""); err != nil {
			t.Errorf("keystore %s: %v", ks, err)
		}
	}
	if _, err := LoadKeystore(vfs.OS{}, f.ServerJKS, "wrong", "JKS"); err == nil || !strings.Contains(err.Error(), "keystore-password") {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := LoadKeystore(vfs.OS{}, f.CAPEM, "", "PEM"); err == nil {
		t.Error("a PEM with no key loaded as a keystore")
	}
	for _, ts := range []string{f.CAPEM, f.TrustP12, f.TrustJKS, f.ServerP12} {
		if _, err := LoadTruststore(vfs.OS{}, ts, avrotest.Password, ""); err != nil {
			t.Errorf("truststore %s: %v", ts, err)
		}
	}

	// Client-certificate authentication, and trust, end to end.
	srv := func(auth string) *tls.Config {
		c, err := TLSOptions{Keystore: f.ServerP12, KeystorePassword: avrotest.Password, ClientAuth: auth, Truststore: f.CAPEM}.ServerConfig(vfs.OS{})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cli := func(o TLSOptions) *tls.Config {
		c, err := o.ClientConfig(vfs.OS{})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	trusted := TLSOptions{Truststore: f.CAPEM}
	withCert := TLSOptions{Truststore: f.CAPEM, Keystore: f.ClientJKS, KeystorePassword: avrotest.Password}
	cases := []struct {
		name string
		auth string
		cl   TLSOptions
		ok   bool
	}{
		{"trusted", "none", trusted, true},
		{"untrusted server", "none", TLSOptions{Truststore: f.OtherCAPEM}, false},
		{"trust-all", "none", TLSOptions{TrustAll: true}, true},
		{"hostname verified", "none", TLSOptions{Truststore: f.CAPEM, VerifyHostname: true, ServerName: "localhost"}, true},
		{"hostname mismatch", "none", TLSOptions{Truststore: f.CAPEM, VerifyHostname: true, ServerName: "collector.example.com"}, false},
		{"client cert required, none sent", "required", trusted, false},
		{"client cert required and sent", "required", withCert, true},
		{"client cert optional, none sent", "optional", trusted, true},
		{"TLS 1.2 only", "none", TLSOptions{Truststore: f.CAPEM, IncludeProtocols: []string{"TLSv1.2"}, IncludeCiphers: []string{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _ := startServer(t, ServerConfig{TLS: srv(tc.auth)})
			cl, err := Dial(context.Background(), ClientConfig{Addr: s.Addr().String(), TLS: cli(tc.cl)})
			if err == nil {
				// With TLS 1.3 a refused client certificate shows on the
				// first read, not in the handshake.
				err = cl.AppendBatch(context.Background(), []event.Event{{Body: []byte("x")}})
				cl.Close()
			}
			if (err == nil) != tc.ok {
				t.Fatalf("ok=%v err=%v", tc.ok, err)
			}
		})
	}
}

func TestProtocolAndCipherNames(t *testing.T) {
	lo, hi, err := protocolRange([]string{"TLSv1.2", "TLSv1.3"}, []string{"SSLv3"}, true)
	if err != nil || lo != tls.VersionTLS12 || hi != tls.VersionTLS13 {
		t.Fatalf("range %x-%x %v", lo, hi, err)
	}
	if lo, hi, _ := protocolRange(nil, nil, true); lo != tls.VersionTLS12 || hi != tls.VersionTLS12 {
		t.Errorf("server default %x-%x, want TLS 1.2 only (Flume 1.9 clients on Java 11+ fail on TLS 1.3)", lo, hi)
	}
	if lo, hi, _ := protocolRange(nil, nil, false); lo != tls.VersionTLS12 || hi != tls.VersionTLS13 {
		t.Errorf("client default %x-%x, want TLS 1.2-1.3", lo, hi)
	}
	if _, _, err := protocolRange(nil, []string{"TLSv1.2", "TLSv1.3"}, false); err == nil {
		t.Error("excluding every version accepted")
	}
	if _, _, err := protocolRange([]string{"TLSv1.1", "TLSv1.3"}, nil, false); err == nil {
		t.Error("a gap in the versions accepted")
	}
	if _, _, err := protocolRange([]string{"TLSv9"}, nil, false); err == nil || !strings.Contains(err.Error(), "TLSv1.2") {
		t.Errorf("unknown protocol: %v", err)
	}
	ids, err := cipherSuites([]string{"SSL_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_AES_128_GCM_SHA256"}, nil)
	if err != nil || len(ids) != 1 || ids[0] != tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA {
		t.Errorf("Java SSL_ name: %v %v", ids, err)
	}
	if _, err := cipherSuites(nil, []string{"TLS_AES_128_GCM_SHA256"}); err == nil {
		t.Error("excluding a TLS 1.3 suite accepted")
	}
	if _, err := cipherSuites([]string{"TLS_NOPE"}, nil); err == nil {
		t.Error("unknown suite accepted")
	}
}

func TestDecoderRefusesHugeCounts(t *testing.T) {
	// appendBatch claiming 2^40 events in a 20-byte message.
	b := AppendCall(nil, MsgAppendBatch, nil)
	b = append(b[:len(b)-1], binary.AppendUvarint(nil, 1<<41)...)
	if _, err := DecodeCall(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("huge count: %v", err)
	}
}
