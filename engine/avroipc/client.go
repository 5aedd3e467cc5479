package avroipc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/sluicehq/sluice/engine/event"
)

// ErrFailed is returned when the server answered FAILED (or UNKNOWN): it
// did not take the batch, typically because its channel is full.
var ErrFailed = errors.New("next hop answered FAILED")

// ErrClosed is returned by calls on a client that was closed, or broken by
// an earlier failure (it must be redialled).
var ErrClosed = errors.New("avro client connection closed")

// ClientConfig configures a Client.
type ClientConfig struct {
	Addr     string      // host:port
	TLS      *tls.Config // nil for plaintext
	Deflate  bool
	Level    int      // compression level 0-9 when Deflate
	Layering Layering // TLS and zlib order when both are on
	// ConnectTimeout bounds the TCP connect and TLS handshake, and the Avro
	// handshake carried by the first call (as Flume's connect-timeout does).
	ConnectTimeout time.Duration
	// RequestTimeout bounds each call from send to reply.
	RequestTimeout time.Duration
}

// Client is the requestor side: one connection to an avro source. Calls
// are serialised; any failure breaks the client, which must then be closed
// and redialled, because the connection's state (handshake, zlib stream,
// serials) can no longer be trusted.
type Client struct {
	cfg ClientConfig

	mu          sync.Mutex
	st          *stream
	serial      uint32
	established bool
	sendText    bool     // the server answered NONE: send the protocol text
	serverHash  [16]byte // Java's guess: the server speaks our protocol
	buf         []byte
	broken      error
	matches     []Match // handshake replies received, in order
}

// clientLimits bound replies, which are tiny unless a server misbehaves.
var clientLimits = Limits{MaxFrameBytes: 16 << 20, MaxFrameBuffers: 4096}

// Dial connects (TCP, then TLS) within cfg.ConnectTimeout. A refused
// connection fails at once.
func Dial(ctx context.Context, cfg ClientConfig) (*Client, error) {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 20 * time.Second
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 20 * time.Second
	}
	if cfg.Deflate && (cfg.Level < 0 || cfg.Level > 9) {
		return nil, fmt.Errorf("compression-level %d: valid levels are 0 to 9", cfg.Level)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	d := net.Dialer{KeepAlive: 30 * time.Second}
	raw, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", cfg.Addr, err)
	}
	st, err := clientStream(ctx, raw, streamConfig{TLS: cfg.TLS, Deflate: cfg.Deflate, Level: cfg.Level, Layering: cfg.Layering})
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("connect to %s: %w", cfg.Addr, err)
	}
	return &Client{cfg: cfg, st: st, serverHash: ProtocolHash}, nil
}

// RemoteAddr is the server's address.
func (c *Client) RemoteAddr() net.Addr { return c.st.raw.RemoteAddr() }

// Close closes the connection.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken == nil {
		c.broken = ErrClosed
	}
	return c.st.close()
}

// AppendBatch sends events in one appendBatch call and returns nil only
// when the server answered OK.
func (c *Client) AppendBatch(ctx context.Context, events []event.Event) error {
	return c.call(ctx, MsgAppendBatch, events)
}

// Append sends one event with the append message.
func (c *Client) Append(ctx context.Context, e event.Event) error {
	return c.call(ctx, MsgAppend, []event.Event{e})
}

// Ping sends a handshake ping (an empty message name) and waits for the
// handshake reply; it establishes the connection without sending events.
func (c *Client) Ping(ctx context.Context) error { return c.call(ctx, "", nil) }

// Handshakes returns the handshake replies the server sent, in order: one
// BOTH is a Java-compatible first round trip; NONE then CLIENT means the
// server did not recognise Flume's protocol hash.
func (c *Client) Handshakes() []Match {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Match(nil), c.matches...)
}

// Usable reports whether the client can still make calls; a client that
// failed or was closed must be redialled.
func (c *Client) Usable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.broken == nil
}

// Established reports whether the Avro handshake has completed.
func (c *Client) Established() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.established
}

func (c *Client) call(ctx context.Context, msg string, events []event.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return fmt.Errorf("%s to %s: %w", msg, c.cfg.Addr, ErrClosed)
	}
	timeout := c.cfg.RequestTimeout
	if !c.established {
		timeout += c.cfg.ConnectTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Socket I/O does not watch a context; expire the connection's deadline
	// when ctx ends so a black-holed peer cannot hold the caller.
	stop := context.AfterFunc(ctx, func() { c.st.raw.SetDeadline(time.Unix(1, 0)) })
	err := c.roundTrip(msg, events)
	fired := !stop()
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			if errors.Is(cerr, context.DeadlineExceeded) {
				err = fmt.Errorf("no reply within %v (request-timeout): %w", timeout, cerr)
			} else {
				err = cerr
			}
		}
		if !errors.Is(err, ErrFailed) {
			// The stream may be mid-frame or the server in an unknown state.
			c.broken = err
			c.st.close()
		}
		return fmt.Errorf("%s of %d events to %s: %w", msgName(msg), len(events), c.cfg.Addr, err)
	}
	if fired {
		// The reply arrived just as ctx ended: the call succeeded, but the
		// connection's deadline is now in the past.
		c.broken = fmt.Errorf("connection deadline expired: %w", ctx.Err())
		c.st.close()
	}
	return nil
}

func msgName(m string) string {
	if m == "" {
		return "handshake ping"
	}
	return m
}

func (c *Client) roundTrip(msg string, events []event.Event) error {
	for attempt := 0; ; attempt++ {
		c.serial++
		b := newFrame(c.buf)
		if !c.established {
			req := HandshakeRequest{ClientHash: ProtocolHash, ServerHash: c.serverHash}
			if c.sendText {
				text := ProtocolJSON
				req.ClientProtocol = &text
			}
			b = AppendHandshakeRequest(b, &req)
		}
		b = AppendCall(b, msg, events)
		b = sealFrame(b, c.serial)
		c.buf = b[:0]
		if err := c.st.write(b); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		serial, payload, err := readFrame(c.st.r, clientLimits, nil)
		if err != nil {
			return fmt.Errorf("read reply: %w", err)
		}
		if serial != c.serial {
			return fmt.Errorf("reply has serial %d, expected %d", serial, c.serial)
		}
		d := decoder{b: payload}
		if !c.established {
			hr, err := d.handshakeResponse()
			if err != nil {
				return fmt.Errorf("handshake reply: %w", err)
			}
			c.matches = append(c.matches, hr.Match)
			if hr.ServerHash != nil {
				c.serverHash = *hr.ServerHash
			}
			switch hr.Match {
			case MatchNone:
				if attempt > 0 || c.sendText {
					return fmt.Errorf("server refused the handshake twice (NONE); it does not speak Flume's AvroSourceProtocol")
				}
				c.sendText = true
				continue
			case MatchClient:
				if hr.ServerProtocol == nil {
					return fmt.Errorf("handshake reply CLIENT without the server's protocol")
				}
				if err := checkProtocolText(*hr.ServerProtocol); err != nil {
					return fmt.Errorf("server protocol: %w", err)
				}
			}
			c.established = true
			if msg == "" {
				return nil
			}
		}
		if msg == "" {
			return nil // a ping after the handshake is answered with nothing more
		}
		r, err := d.response()
		if err != nil {
			return fmt.Errorf("reply: %w", err)
		}
		if r.SystemError != nil {
			return fmt.Errorf("server error: %s", *r.SystemError)
		}
		if r.Status != OK {
			return fmt.Errorf("%w (%s): it keeps nothing, the batch must be resent", ErrFailed, r.Status)
		}
		return nil
	}
}
