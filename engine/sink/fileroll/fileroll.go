// Package fileroll is Flume's file_roll sink: events are written to files
// in a local directory, rolled every rollInterval seconds. Unlike Flume,
// Sluice fsyncs a batch before committing its take, so an event whose take
// committed is on disk (Flume only flushes).
package fileroll

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/sink"
	"github.com/sluicehq/sluice/engine/vfs"
)

// Config is the file_roll sink's configuration (flume-facts §6.4).
type Config struct {
	Directory     string
	RollInterval  time.Duration // 0: one file for the sink's lifetime
	BatchSize     int
	Serializer    string // TEXT or HEADER_AND_TEXT
	AppendNewline bool
	PathManager   string // DEFAULT or ROLLTIME
	Prefix        string
	Extension     string
}

// ParseConfig reads Flume's keys.
func ParseConfig(r *config.Reader) (Config, error) {
	c := Config{
		Directory:     r.Required("sink.directory", "the directory files are written to"),
		RollInterval:  r.Seconds("sink.rollInterval", 30*time.Second),
		BatchSize:     r.Int("sink.batchSize", 100),
		Serializer:    r.Enum("sink.serializer", "TEXT", "TEXT", "HEADER_AND_TEXT"),
		AppendNewline: r.Bool("sink.serializer.appendNewline", true),
		PathManager:   r.Enum("sink.pathManager", "DEFAULT", "DEFAULT", "ROLLTIME"),
		Prefix:        r.String("sink.pathManager.prefix", ""),
		Extension:     r.String("sink.pathManager.extension", ""),
	}
	if c.BatchSize <= 0 {
		r.Errorf("sink.batchSize", "must be > 0")
	}
	if c.RollInterval < 0 {
		r.Errorf("sink.rollInterval", "must be >= 0 (0 writes a single file)")
	}
	return c, r.Err()
}

// Sink writes events to rolling files.
type Sink struct {
	name    string
	cfg     Config
	ch      channel.Channel
	fs      vfs.FS
	clk     clock.Clock
	counter *metrics.SinkCounter

	mu       sync.Mutex
	series   int64 // the PathManager's creation time, in ms
	n        int   // file counter within the series
	f        vfs.File
	w        *bufio.Writer
	openedAt time.Time
}

// New returns a file_roll sink.
func New(name string, cfg Config, ch channel.Channel, fsys vfs.FS, clk clock.Clock, reg *metrics.Registry) *Sink {
	return &Sink{name: name, cfg: cfg, ch: ch, fs: fsys, clk: clk, counter: metrics.NewSinkCounter(reg, name)}
}

func (s *Sink) Name() string { return s.name }

func (s *Sink) Start(context.Context) error {
	s.counter.Start()
	if err := s.fs.MkdirAll(s.cfg.Directory, 0o755); err != nil {
		return fmt.Errorf("file_roll sink %s: %w", s.name, err)
	}
	s.series = s.clk.Now().UnixMilli()
	return nil
}

// Stop closes the current file.
func (s *Sink) Stop(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counter.Stop()
	return s.closeLocked()
}

func (s *Sink) closeLocked() error {
	if s.f == nil {
		return nil
	}
	err := s.w.Flush()
	if serr := s.f.Sync(); err == nil {
		err = serr
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.f, s.w = nil, nil
	s.counter.ConnectionClosedCount.Inc()
	if err != nil {
		return fmt.Errorf("file_roll sink %s: close: %w", s.name, err)
	}
	return nil
}

// fileName follows Flume's DefaultPathManager: <prefix><seriesMillis>-<n>[.<ext>];
// ROLLTIME names files by their roll time instead (yyyyMMddHHmmss).
func (s *Sink) fileName() string {
	s.n++
	var base string
	if s.cfg.PathManager == "ROLLTIME" {
		base = s.cfg.Prefix + s.clk.Now().Format("20060102150405")
	} else {
		base = s.cfg.Prefix + strconv.FormatInt(s.series, 10) + "-" + strconv.Itoa(s.n)
	}
	if s.cfg.Extension != "" {
		base += "." + s.cfg.Extension
	}
	return filepath.Join(s.cfg.Directory, base)
}

func (s *Sink) openLocked() error {
	name := s.fileName()
	f, err := s.fs.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		s.counter.ConnectionFailedCount.Inc()
		return fmt.Errorf("file_roll sink %s: open %s: %w", s.name, name, err)
	}
	// The new file's directory entry must survive a crash before any take
	// that wrote to it commits.
	if err := s.fs.SyncDir(s.cfg.Directory); err != nil {
		f.Close()
		s.counter.ConnectionFailedCount.Inc()
		return fmt.Errorf("file_roll sink %s: sync dir %s: %w", s.name, s.cfg.Directory, err)
	}
	s.f, s.w, s.openedAt = f, bufio.NewWriterSize(f, 256*1024), s.clk.Now()
	s.counter.ConnectionCreatedCount.Inc()
	return nil
}

func (s *Sink) Process(ctx context.Context) (sink.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil && s.cfg.RollInterval > 0 && s.clk.Now().Sub(s.openedAt) >= s.cfg.RollInterval {
		if err := s.closeLocked(); err != nil {
			return sink.Backoff, err
		}
	}
	return sink.Deliver(s.ch, s.cfg.BatchSize, s.counter, func(events []event.Event) error {
		if s.f == nil {
			if err := s.openLocked(); err != nil {
				return err
			}
		}
		for _, e := range events {
			s.serialize(e)
		}
		err := s.w.Flush()
		if err == nil {
			err = s.f.Sync()
		}
		if err != nil {
			// The file may now hold part of the batch; start a new file so the
			// retried batch is not interleaved with a torn one.
			s.f.Close()
			s.f, s.w = nil, nil
			return fmt.Errorf("file_roll sink %s: write: %w", s.name, err)
		}
		return nil
	})
}

func (s *Sink) serialize(e event.Event) {
	if s.cfg.Serializer == "HEADER_AND_TEXT" {
		keys := make([]string, 0, len(e.Headers))
		for k := range e.Headers {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + e.Headers[k]
		}
		s.w.WriteString("{" + strings.Join(parts, ", ") + "} ")
	}
	s.w.Write(e.Body)
	if s.cfg.AppendNewline {
		s.w.WriteByte('\n')
	}
}

var errNoDir = errors.New("sink.directory is required")

func init() {
	registry.Register(registry.Entry{
		Kind: registry.Sink, Name: "file_roll",
		Aliases:  []string{"org.apache.flume.sink.RollingFileSink"},
		BatchKey: "sink.batchSize", BatchDefault: 100,
		Factory: registry.SinkFactory(func(env registry.Env, r *config.Reader, ch channel.Channel) (sink.Sink, error) {
			cfg, err := ParseConfig(r)
			if err != nil {
				return nil, err
			}
			if cfg.Directory == "" {
				return nil, errNoDir
			}
			return New(r.Name(), cfg, ch, env.FS, env.Clock, env.Metrics), nil
		}),
	})
}
