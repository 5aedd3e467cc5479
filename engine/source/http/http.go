// Package http is Flume's HTTP source with its default JSONHandler: a POST
// of a JSON array of {"headers":{...},"body":"..."} is one batch, committed
// in one go; 200 means committed, 400 a malformed request, 503 a full or
// failing channel (retry later), 500 anything else (flume-facts §5.3).
package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/source"
	"golang.org/x/text/encoding/htmlindex"
)

// Config is the HTTP source's configuration.
type Config struct {
	Bind string
	Port int
	// MaxRequestBytes caps a request body (Sluice's addition; Flume has no
	// cap and buffers whatever it is sent). Larger requests get 413.
	MaxRequestBytes int64
	// MaxBatch caps the events in one request; larger requests get 400.
	MaxBatch int
}

// Source is an HTTP source.
type Source struct {
	name    string
	cfg     Config
	cp      *source.ChannelProcessor
	log     *slog.Logger
	counter *metrics.SourceCounter

	mu   sync.Mutex
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// New returns an HTTP source.
func New(name string, cfg Config, cp *source.ChannelProcessor, log *slog.Logger, reg *metrics.Registry) *Source {
	return &Source{name: name, cfg: cfg, cp: cp, log: log, counter: metrics.NewSourceCounter(reg, name)}
}

func (s *Source) Name() string { return s.name }

// Addr is the bound address (useful with port 0).
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
		return fmt.Errorf("http source %s: listen %s: %w", s.name, addr, err)
	}
	s.counter.Start()
	srv := &http.Server{Handler: s, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	s.mu.Lock()
	s.srv, s.ln, s.done = srv, ln, make(chan struct{})
	done := s.done
	s.mu.Unlock()
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http source stopped serving", "err", err)
		}
	}()
	s.log.Info("http source listening", "addr", ln.Addr().String())
	return nil
}

// Stop stops accepting requests and waits for those in flight, whose
// batches are committed or refused before their reply.
func (s *Source) Stop(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	<-done
	s.counter.Stop()
	return err
}

type jsonEvent struct {
	Headers map[string]string `json:"headers"`
	Body    *string           `json:"body"`
}

func (s *Source) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodTrace || r.Method == http.MethodOptions {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "POST a JSON array of events", http.StatusMethodNotAllowed)
		return
	}
	s.counter.AppendBatchReceivedCount.Inc()
	events, status, err := s.decode(w, r)
	if err != nil {
		s.counter.EventReadFail.Inc()
		s.log.Warn("http source: bad request", "remote", r.RemoteAddr, "err", err)
		http.Error(w, err.Error(), status)
		return
	}
	s.counter.EventReceivedCount.Add(int64(len(events)))
	if err := s.cp.ProcessBatch(events); err != nil {
		s.counter.ChannelWriteFail.Inc()
		if errors.Is(err, channel.ErrFull) || errors.Is(err, channel.ErrClosed) || errors.Is(err, channel.ErrTxnCapacity) {
			http.Error(w, "channel unavailable, retry: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		http.Error(w, "channel error, retry: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	s.counter.AppendBatchAcceptedCount.Inc()
	s.counter.EventAcceptedCount.Add(int64(len(events)))
	w.WriteHeader(http.StatusOK)
}

// decode parses the JSONHandler format, reading the body's charset from
// Content-Type (UTF-8 by default) as Flume does.
func (s *Source) decode(w http.ResponseWriter, r *http.Request) ([]event.Event, int, error) {
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBytes)
	raw, err := io.ReadAll(body)
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("request body over %d bytes (maxRequestBytes)", s.cfg.MaxRequestBytes)
		}
		return nil, http.StatusBadRequest, fmt.Errorf("reading request: %w", err)
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if _, params, err := mime.ParseMediaType(ct); err == nil {
			if cs := params["charset"]; cs != "" && !strings.EqualFold(cs, "utf-8") {
				enc, err := htmlindex.Get(cs)
				if err != nil {
					return nil, http.StatusBadRequest, fmt.Errorf("unsupported charset %q", cs)
				}
				if raw, err = enc.NewDecoder().Bytes(raw); err != nil {
					return nil, http.StatusBadRequest, fmt.Errorf("decoding %s: %w", cs, err)
				}
			}
		}
	}
	if !utf8.Valid(raw) {
		return nil, http.StatusBadRequest, errors.New("request body is not valid UTF-8 (set charset in Content-Type)")
	}
	var in []jsonEvent
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("request must be a JSON array of {\"headers\":{...},\"body\":\"...\"}: %w", err)
	}
	if len(in) > s.cfg.MaxBatch {
		return nil, http.StatusBadRequest, fmt.Errorf("%d events in one request; at most %d (maxBatch)", len(in), s.cfg.MaxBatch)
	}
	out := make([]event.Event, len(in))
	for i, e := range in {
		out[i].Headers = e.Headers
		if e.Body != nil {
			out[i].Body = []byte(*e.Body)
		} else {
			out[i].Body = []byte{}
		}
	}
	return out, 0, nil
}

func init() {
	registry.Register(registry.Entry{
		Kind: registry.Source, Name: "http",
		Aliases: []string{"org.apache.flume.source.http.HTTPSource"},
		Factory: registry.SourceFactory(func(env registry.Env, r *config.Reader, cp *source.ChannelProcessor) (source.Source, error) {
			cfg := Config{
				Bind:            r.String("bind", "0.0.0.0"),
				Port:            r.IntRange("port", -1, 0, 65535),
				MaxRequestBytes: r.Int64("maxRequestBytes", 64<<20),
				MaxBatch:        r.Int("maxBatch", 100000),
			}
			if !r.Has("port") {
				r.Errorf("port", "is required")
			}
			h := r.String("handler", "org.apache.flume.source.http.JSONHandler")
			if h != "org.apache.flume.source.http.JSONHandler" && !strings.EqualFold(h, "json") {
				r.Errorf("handler", "%q is not supported; Sluice implements org.apache.flume.source.http.JSONHandler", h)
			}
			if r.Bool("ssl", false) {
				r.Errorf("ssl", "TLS on the HTTP source is not supported by Sluice; terminate TLS in front of it or use the avro source with ssl")
			}
			if cfg.MaxRequestBytes <= 0 || cfg.MaxBatch <= 0 {
				r.Errorf("maxRequestBytes", "maxRequestBytes and maxBatch must be > 0")
			}
			if err := r.Err(); err != nil {
				return nil, err
			}
			return New(r.Name(), cfg, cp, env.Log, env.Metrics), nil
		}),
	})
}
