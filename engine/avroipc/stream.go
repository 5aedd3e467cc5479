package avroipc

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/klauspost/compress/zlib"
	"io"
	"net"
	"sync"
	"time"

	"github.com/sluicehq/sluice/engine/clock"
)

// Layering of TLS and zlib (flume-facts §1.7). Flume 1.10+ (Netty 4) puts
// the zlib codec outside TLS: zlib(TLS(frames)). Flume 1.9 (Netty 3) puts
// TLS outside: TLS(zlib(frames)). The server tells them apart from the first
// byte (0x16 starts a TLS record, 0x78 a zlib stream) and so serves both;
// a client must be told which its peer speaks.

// Layering selects the order of TLS and zlib when both are on.
type Layering int

const (
	// ZlibOutside is Flume 1.10 and later: the TLS records are compressed.
	ZlibOutside Layering = iota
	// TLSOutside is Flume 1.9 and earlier: compressed frames are encrypted.
	TLSOutside
)

func (l Layering) String() string {
	if l == TLSOutside {
		return "flume-1.9"
	}
	return "flume-1.10"
}

// wallDeadline turns a timeout into a socket deadline. Socket deadlines are
// wall-clock by nature (the kernel and runtime poller keep them), so this is
// the one place the package reads the real clock; every other wait is
// the caller's Clock.
func wallDeadline(d time.Duration) time.Time { return clock.Real().Now().Add(d) }

// stream is one connection's message pipe after TLS and zlib are set up:
// frames are read from r and written with write, which flushes the
// compressor so each message is on the wire when it returns.
type stream struct {
	raw   net.Conn // deadlines and Close go here
	r     *bufio.Reader
	w     io.Writer
	flush func() error // nil without compression
	close func() error // closes every layer, then raw
}

func (s *stream) write(b []byte) error {
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	if s.flush != nil {
		return s.flush()
	}
	return nil
}

// zlibWriter compresses into w with one continuous stream, sync-flushed per
// message as Netty's JZlibEncoder does.
type zlibWriter struct {
	mu sync.Mutex
	z  *zlib.Writer
}

func newZlibWriter(w io.Writer, level int) (*zlibWriter, error) {
	z, err := zlib.NewWriterLevel(w, level)
	if err != nil {
		return nil, fmt.Errorf("compression-level %d: %w", level, err)
	}
	return &zlibWriter{z: z}, nil
}

func (z *zlibWriter) Write(b []byte) (int, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.z.Write(b)
}

func (z *zlibWriter) Flush() error {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.z.Flush()
}

// lazyZlibReader opens the zlib stream at the first read: zlib.NewReader
// reads the stream header, which the peer only sends with its first
// message.
type lazyZlibReader struct {
	src io.Reader
	z   io.ReadCloser
}

func (l *lazyZlibReader) Read(p []byte) (int, error) {
	if l.z == nil {
		z, err := zlib.NewReader(l.src)
		if err != nil {
			return 0, &ProtocolError{Reason: ReasonCompression, Err: fmt.Errorf("zlib stream header: %w", err)}
		}
		l.z = z
	}
	n, err := l.z.Read(p)
	if err != nil && err != io.EOF && !isNetErr(err) {
		err = &ProtocolError{Reason: ReasonCompression, Err: fmt.Errorf("zlib stream: %w", err)}
	}
	return n, err
}

func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}

// zconn presents a zlib-wrapped connection as a net.Conn so TLS can run
// inside it (Flume 1.10 layering). Each TLS record write is compressed and
// flushed.
type zconn struct {
	net.Conn
	r io.Reader
	w *zlibWriter
}

func (c *zconn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *zconn) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err != nil {
		return n, err
	}
	return n, c.w.Flush()
}

// peekConn is a net.Conn whose first bytes were already read into r.
type peekConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// streamConfig is what a connection's layers are built from.
type streamConfig struct {
	TLS      *tls.Config // nil for plaintext
	Deflate  bool
	Level    int      // compression level for what this side sends
	Layering Layering // client only; the server detects it
}

const readBufSize = 64 << 10

// serverStream sets up TLS and zlib on an accepted connection. With both
// on it waits for the client's first byte to learn the layering; timeout
// bounds everything after that byte (the TLS handshake).
func serverStream(raw net.Conn, cfg streamConfig, timeout time.Duration) (*stream, Layering, error) {
	br := bufio.NewReaderSize(raw, readBufSize)
	layering := ZlibOutside
	var base net.Conn = &peekConn{Conn: raw, r: br}
	if cfg.TLS != nil && cfg.Deflate {
		first, err := br.Peek(1)
		if err != nil {
			return nil, layering, err
		}
		if first[0] == 0x16 {
			layering = TLSOutside
		}
	}
	var err error
	var s *stream
	switch {
	case cfg.TLS == nil && !cfg.Deflate:
		s = &stream{raw: raw, r: br, w: raw, close: raw.Close}
	case cfg.TLS == nil:
		s, err = zlibStream(raw, base, cfg.Level)
	case !cfg.Deflate || layering == TLSOutside:
		tc := tls.Server(base, cfg.TLS)
		if err = tlsHandshake(raw, tc, timeout, br); err != nil {
			break
		}
		if cfg.Deflate {
			s, err = zlibStream(raw, tc, cfg.Level)
		} else {
			s = &stream{raw: raw, r: bufio.NewReaderSize(tc, readBufSize), w: tc, close: tc.Close}
		}
	default:
		zw, zerr := newZlibWriter(raw, cfg.Level)
		if zerr != nil {
			return nil, layering, zerr
		}
		zc := &zconn{Conn: raw, r: &lazyZlibReader{src: br}, w: zw}
		tc := tls.Server(zc, cfg.TLS)
		if err = tlsHandshake(raw, tc, timeout, br); err != nil {
			break
		}
		s = &stream{raw: raw, r: bufio.NewReaderSize(tc, readBufSize), w: tc, close: tc.Close}
	}
	if err != nil {
		return nil, layering, err
	}
	return s, layering, nil
}

// tlsHandshake runs the server's TLS handshake once the client has sent its
// first byte; a client that connects and says nothing is an idle
// connection, as in Flume, not a stalled handshake.
func tlsHandshake(raw net.Conn, tc *tls.Conn, timeout time.Duration, br *bufio.Reader) error {
	if _, err := br.Peek(1); err != nil {
		return err
	}
	raw.SetDeadline(wallDeadline(timeout))
	err := tc.Handshake()
	raw.SetDeadline(time.Time{})
	if err != nil {
		if isTimeout(err) {
			return &ProtocolError{Reason: ReasonStalled, Err: fmt.Errorf("TLS handshake not completed within %v: %w", timeout, err)}
		}
		if ReasonOf(err) != "" {
			return err
		}
		return &ProtocolError{Reason: ReasonTLS, Err: fmt.Errorf("TLS handshake: %w", err)}
	}
	return nil
}

// zlibStream layers one zlib stream per direction over inner.
func zlibStream(raw net.Conn, inner io.ReadWriteCloser, level int) (*stream, error) {
	zw, err := newZlibWriter(inner, level)
	if err != nil {
		return nil, err
	}
	zr := &lazyZlibReader{src: inner}
	return &stream{raw: raw, r: bufio.NewReaderSize(zr, readBufSize), w: zw, flush: zw.Flush, close: inner.Close}, nil
}

// clientStream sets up TLS and zlib on a dialled connection; the TLS
// handshake is bounded by ctx.
func clientStream(ctx context.Context, raw net.Conn, cfg streamConfig) (*stream, error) {
	switch {
	case cfg.TLS == nil && !cfg.Deflate:
		return &stream{raw: raw, r: bufio.NewReaderSize(raw, readBufSize), w: raw, close: raw.Close}, nil
	case cfg.TLS == nil:
		return zlibStream(raw, raw, cfg.Level)
	case !cfg.Deflate || cfg.Layering == TLSOutside:
		tc := tls.Client(raw, cfg.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		if cfg.Deflate {
			return zlibStream(raw, tc, cfg.Level)
		}
		return &stream{raw: raw, r: bufio.NewReaderSize(tc, readBufSize), w: tc, close: tc.Close}, nil
	default:
		zw, err := newZlibWriter(raw, cfg.Level)
		if err != nil {
			return nil, err
		}
		zc := &zconn{Conn: raw, r: &lazyZlibReader{src: raw}, w: zw}
		tc := tls.Client(zc, cfg.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		return &stream{raw: raw, r: bufio.NewReaderSize(tc, readBufSize), w: tc, close: tc.Close}, nil
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
