// Package netcat is Flume's netcat source: each line received on a TCP
// connection is an event, acknowledged with "OK" once committed
// (flume-facts §5.3).
package netcat

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"

	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/source"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
)

// Config is the netcat source's configuration.
type Config struct {
	Bind          string
	Port          int
	MaxLineLength int  // characters, including the newline
	AckEveryEvent bool // reply OK per line
	Encoding      encoding.Encoding
	// MaxConnections caps concurrent clients (Sluice's addition).
	MaxConnections int
}

// Source is a netcat source.
type Source struct {
	name    string
	cfg     Config
	cp      *source.ChannelProcessor
	log     *slog.Logger
	counter *metrics.SourceCounter

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// New returns a netcat source.
func New(name string, cfg Config, cp *source.ChannelProcessor, log *slog.Logger, reg *metrics.Registry) *Source {
	return &Source{name: name, cfg: cfg, cp: cp, log: log, counter: metrics.NewSourceCounter(reg, name), conns: map[net.Conn]struct{}{}}
}

func (s *Source) Name() string { return s.name }

// Addr is the bound address.
func (s *Source) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

func (s *Source) Start(context.Context) error {
	addr := net.JoinHostPort(s.cfg.Bind, fmt.Sprint(s.cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("netcat source %s: listen %s: %w", s.name, addr, err)
	}
	s.counter.Start()
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.wg.Add(1)
	go s.accept(ln)
	s.log.Info("netcat source listening", "addr", ln.Addr().String())
	return nil
}

func (s *Source) accept(ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Warn("netcat source: accept", "err", err)
			}
			return
		}
		s.mu.Lock()
		if len(s.conns) >= s.cfg.MaxConnections {
			s.mu.Unlock()
			s.log.Warn("netcat source: too many connections; refusing one", "max", s.cfg.MaxConnections)
			c.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.counter.OpenConnectionCount.Set(int64(len(s.conns)))
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *Source) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.counter.OpenConnectionCount.Set(int64(len(s.conns)))
		s.mu.Unlock()
	}()
	r := bufio.NewReaderSize(c, 4096)
	w := bufio.NewWriter(c)
	var dec *encoding.Decoder
	if s.cfg.Encoding != nil {
		dec = s.cfg.Encoding.NewDecoder()
	}
	for {
		line, tooLong, err := readLine(r, s.cfg.MaxLineLength)
		if tooLong {
			s.counter.EventReadFail.Inc()
			fmt.Fprintf(w, "FAILED: Event exceeds the maximum length (%d chars, including newline)\n", s.cfg.MaxLineLength)
			w.Flush()
			return
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("netcat source: read", "err", err)
			}
			return
		}
		body := line
		if dec != nil {
			if b, derr := dec.Bytes(line); derr == nil {
				body = b
			}
		}
		s.counter.EventReceivedCount.Inc()
		s.counter.AppendReceivedCount.Inc()
		if err := s.cp.ProcessBatch([]event.Event{{Body: body}}); err != nil {
			s.counter.ChannelWriteFail.Inc()
			if s.cfg.AckEveryEvent {
				fmt.Fprintf(w, "FAILED: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
			}
		} else {
			s.counter.EventAcceptedCount.Inc()
			s.counter.AppendAcceptedCount.Inc()
			if s.cfg.AckEveryEvent {
				w.WriteString("OK\n")
			}
		}
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

// readLine reads one line without its terminator, as Flume's netcat does
// (a trailing \r is kept out too). Lines of max characters or more,
// counting the newline, are refused without buffering them.
func readLine(r *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	var buf []byte
	chars := 0
	for {
		b, err := r.ReadByte()
		if err != nil {
			return nil, false, err
		}
		if b == '\n' {
			if n := len(buf); n > 0 && buf[n-1] == '\r' {
				buf = buf[:n-1]
			}
			return buf, false, nil
		}
		if b < 0x80 || b >= 0xC0 {
			chars++
		}
		if chars >= max {
			return nil, true, nil
		}
		buf = append(buf, b)
	}
}

// Stop closes the listener and every connection and waits for them.
func (s *Source) Stop(ctx context.Context) error {
	s.mu.Lock()
	ln := s.ln
	s.ln = nil
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	if ln == nil {
		return nil
	}
	ln.Close()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.counter.Stop()
	return nil
}

func init() {
	registry.Register(registry.Entry{
		Kind: registry.Source, Name: "netcat",
		Aliases: []string{"org.apache.flume.source.NetcatSource"},
		Factory: registry.SourceFactory(func(env registry.Env, r *config.Reader, cp *source.ChannelProcessor) (source.Source, error) {
			cfg := Config{
				Bind:           r.Required("bind", "the address to listen on"),
				Port:           r.IntRange("port", 0, 0, 65535),
				MaxLineLength:  r.Int("max-line-length", 512),
				AckEveryEvent:  r.Bool("ack-every-event", true),
				MaxConnections: r.Int("maxConnections", 1024),
			}
			if !r.Has("port") {
				r.Errorf("port", "is required")
			}
			if cfg.MaxLineLength <= 1 {
				r.Errorf("max-line-length", "must be > 1")
			}
			if enc := r.String("encoding", "utf-8"); !strings.EqualFold(enc, "utf-8") {
				e, err := htmlindex.Get(enc)
				if err != nil {
					r.Errorf("encoding", "unknown encoding %q", enc)
				}
				cfg.Encoding = e
			}
			if err := r.Err(); err != nil {
				return nil, err
			}
			return New(r.Name(), cfg, cp, env.Log, env.Metrics), nil
		}),
	})
}
