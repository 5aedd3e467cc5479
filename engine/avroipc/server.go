package avroipc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/event"
)

// Handler receives the events of each append (batch false, one event) and
// appendBatch call and returns the Status to reply with. It must return OK
// only once the events are committed: the sender drops its copy on OK.
type Handler interface {
	Handle(events []event.Event, batch bool) Status
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(events []event.Event, batch bool) Status

func (f HandlerFunc) Handle(events []event.Event, batch bool) Status { return f(events, batch) }

// Observer is told about connections, rejections and handshakes, for
// counters. Any field may be nil.
type Observer struct {
	Opened    func()
	Closed    func()
	Rejected  func(Reason)
	Handshake func(Match)
	// BadCall is a call that could not be decoded; it was answered with a
	// system error and the connection kept.
	BadCall func()
}

// ServerConfig configures a Server.
type ServerConfig struct {
	Addr    string      // host:port to listen on
	TLS     *tls.Config // nil for plaintext
	Deflate bool        // compression-type = deflate
	Limits  Limits
	// FrameTimeout bounds reading one frame once its first byte is in,
	// writing one reply, and the TLS handshake. A connection may idle
	// between frames for ever, as Flume allows.
	FrameTimeout time.Duration
	Filter       *IPFilter
	// MaxConcurrent caps calls being handled at once (0: no cap).
	MaxConcurrent int
	Handler       Handler
	Observer      Observer
	Log           *slog.Logger
	Clock         clock.Clock // for the accept-error backoff
}

// DefaultFrameTimeout is generous for a 64 MiB frame on a slow link and
// still frees a stalled peer's goroutine within a minute.
const DefaultFrameTimeout = 60 * time.Second

// Server is the responder side of Flume's Avro RPC: the avro source.
type Server struct {
	cfg ServerConfig
	ln  net.Listener
	sem chan struct{}
	// ctx ends when Close begins: it interrupts backoffs and DNS lookups.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closing bool
	conns   map[*serverConn]struct{}
	known   map[[16]byte]bool // client protocol hashes learnt from NONE resends
}

type serverConn struct {
	raw  net.Conn
	busy bool // a call is in progress: shutdown lets it finish
}

// maxKnownProtocols bounds the cache of client protocols; a client past it
// still works, it just sends its protocol text on every new connection.
const maxKnownProtocols = 64

// NewServer validates cfg; Start listens.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Handler == nil {
		return nil, errors.New("avroipc: server needs a Handler")
	}
	if cfg.Limits == (Limits{}) {
		cfg.Limits = DefaultLimits
	}
	if cfg.FrameTimeout <= 0 {
		cfg.FrameTimeout = DefaultFrameTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	s := &Server{cfg: cfg, conns: map[*serverConn]struct{}{}, known: map[[16]byte]bool{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if cfg.MaxConcurrent > 0 {
		s.sem = make(chan struct{}, cfg.MaxConcurrent)
	}
	return s, nil
}

// Start binds the address and starts accepting.
func (s *Server) Start() error {
	lc := net.ListenConfig{KeepAlive: 30 * time.Second}
	ln, err := lc.Listen(context.Background(), "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	s.wg.Add(1)
	go s.accept()
	return nil
}

// Addr is the bound address (useful with port 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops accepting, closes idle connections, lets calls in progress
// finish and reply, then closes their connections. When ctx ends first the
// remaining connections are closed under them (a call whose reply is lost
// is resent by its client, so nothing is lost, at worst duplicated).
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	s.cancel()
	for c := range s.conns {
		if !c.busy {
			c.raw.Close()
		}
	}
	s.mu.Unlock()
	var err error
	if s.ln != nil {
		err = s.ln.Close()
	}
	finished := make(chan struct{})
	go func() { s.wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.raw.Close()
		}
		s.mu.Unlock()
		<-finished
	}
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			// Out of file descriptors and the like: wait and retry rather
			// than spin or give up on the port.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.cfg.Log.Warn("avro server: accept failed", "err", err, "retry_in", backoff)
			s.cfg.Clock.Sleep(s.ctx, backoff)
			continue
		}
		backoff = 0
		sc := &serverConn{raw: c}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[sc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(sc)
	}
}

func (s *Server) reject(c net.Conn, err error) {
	r := ReasonOf(err)
	if r == "" {
		return
	}
	s.cfg.Log.Warn("avro server: closing connection", "remote", c.RemoteAddr().String(), "reason", string(r), "err", err)
	if f := s.cfg.Observer.Rejected; f != nil {
		f(r)
	}
}

// setBusy marks the connection busy (true) or idle (false); it reports
// false when the server is shutting down and the connection must end.
func (s *Server) setBusy(c *serverConn, busy bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.busy = busy
	return !s.closing
}

func (s *Server) serve(c *serverConn) {
	defer s.wg.Done()
	obs := s.cfg.Observer
	if obs.Opened != nil {
		obs.Opened()
	}
	var st *stream
	defer func() {
		if st != nil {
			st.close()
		}
		c.raw.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		if obs.Closed != nil {
			obs.Closed()
		}
	}()
	if f := s.cfg.Filter; f != nil {
		if ok, rule := f.Allow(s.ctx, c.raw.RemoteAddr()); !ok {
			s.reject(c.raw, protoErr(ReasonIPFilter, "refused by ipFilter rule %q", rule))
			return
		}
	}
	var err error
	st, _, err = serverStream(c.raw, streamConfig{TLS: s.cfg.TLS, Deflate: s.cfg.Deflate, Level: 6}, s.cfg.FrameTimeout)
	if err != nil {
		s.reject(c.raw, err)
		return
	}
	established := false
	var out []byte
	keys := map[string]string{}
	for {
		if !s.setBusy(c, false) {
			return
		}
		started := func() {
			s.setBusy(c, true)
			c.raw.SetReadDeadline(wallDeadline(s.cfg.FrameTimeout))
		}
		serial, payload, err := readFrame(st.r, s.cfg.Limits, started)
		if err != nil {
			if isTimeout(err) {
				err = protoErr(ReasonStalled, "frame not completed within %v: %w", s.cfg.FrameTimeout, err)
			}
			s.reject(c.raw, err)
			return
		}
		c.raw.SetReadDeadline(time.Time{})
		out = newFrame(out)
		d := decoder{b: payload, keys: keys}
		if !established {
			req, err := d.handshakeRequest()
			if err == nil {
				var resp HandshakeResponse
				resp, err = s.handshake(req)
				if err == nil {
					out = AppendHandshakeResponse(out, &resp)
					if obs.Handshake != nil {
						obs.Handshake(resp.Match)
					}
					if resp.Match == MatchNone {
						// The client resends with its protocol text.
						if err := s.reply(c, st, out, serial); err != nil {
							return
						}
						continue
					}
					established = true
				}
			}
			if err != nil {
				s.reject(c.raw, &ProtocolError{Reason: ReasonBadHandshake, Err: err})
				return
			}
		}
		call, err := d.call()
		switch {
		case err != nil:
			// The frame was intact, so the stream is still in step: answer
			// with a system error as Java's Responder does and go on.
			s.cfg.Log.Warn("avro server: undecodable call", "remote", c.raw.RemoteAddr().String(), "err", err)
			if obs.BadCall != nil {
				obs.BadCall()
			}
			out = AppendSystemError(out, javaError(err))
		case call.Message == "":
			// Handshake ping: the handshake reply alone.
		default:
			out = AppendStatus(out, s.handle(call))
		}
		if err := s.reply(c, st, out, serial); err != nil {
			return
		}
	}
}

func (s *Server) handle(call Call) Status {
	if s.sem != nil {
		select {
		case s.sem <- struct{}{}:
		case <-s.ctx.Done():
			return Failed
		}
		defer func() { <-s.sem }()
	}
	return s.cfg.Handler.Handle(call.Events, call.Message == MsgAppendBatch)
}

func (s *Server) reply(c *serverConn, st *stream, out []byte, serial uint32) error {
	c.raw.SetWriteDeadline(wallDeadline(s.cfg.FrameTimeout))
	err := st.write(sealFrame(out, serial))
	c.raw.SetWriteDeadline(time.Time{})
	if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
		s.cfg.Log.Debug("avro server: reply not sent", "remote", c.raw.RemoteAddr().String(), "err", err)
	}
	return err
}

// handshake answers a handshake as Java's Responder.handshake does
// (flume-facts §1.3).
func (s *Server) handshake(r HandshakeRequest) (HandshakeResponse, error) {
	var resp HandshakeResponse
	known := r.ClientHash == ProtocolHash
	if !known {
		s.mu.Lock()
		known = s.known[r.ClientHash]
		s.mu.Unlock()
	}
	if !known && r.ClientProtocol != nil {
		if err := checkProtocolText(*r.ClientProtocol); err != nil {
			return resp, err
		}
		known = true
		s.mu.Lock()
		if len(s.known) < maxKnownProtocols {
			s.known[r.ClientHash] = true
		}
		s.mu.Unlock()
	}
	switch {
	case !known:
		resp.Match = MatchNone
	case r.ServerHash == ProtocolHash:
		resp.Match = MatchBoth
	default:
		resp.Match = MatchClient
	}
	if resp.Match != MatchBoth {
		text, hash := ProtocolJSON, ProtocolHash
		resp.ServerProtocol, resp.ServerHash = &text, &hash
	}
	return resp, nil
}

// javaError renders err the way a Java peer logs a system error.
func javaError(err error) string {
	var pe *ProtocolError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return "org.apache.avro.AvroRuntimeException: " + err.Error()
}
