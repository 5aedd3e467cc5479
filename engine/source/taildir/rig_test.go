package taildir

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/selector"
	"github.com/sluicehq/sluice/engine/source"
	"github.com/sluicehq/sluice/engine/vfs"
)

// recorder is a channel that keeps every committed event, and refuses
// commits with ErrFull while full is set.
type recorder struct {
	mu      sync.Mutex
	events  []event.Event
	full    bool
	commits int
	refused int
	// onCommit, when set, runs after each accepted commit.
	onCommit func()
}

func (r *recorder) Name() string             { return "rec" }
func (r *recorder) Start() error             { return nil }
func (r *recorder) Stop() error              { return nil }
func (r *recorder) Len() int                 { r.mu.Lock(); defer r.mu.Unlock(); return len(r.events) }
func (r *recorder) Capacity() int            { return 1 << 30 }
func (r *recorder) TransactionCapacity() int { return 1 << 30 }
func (r *recorder) Begin() (channel.Transaction, error) {
	return &recTxn{r: r}, nil
}

func (r *recorder) setFull(v bool) { r.mu.Lock(); r.full = v; r.mu.Unlock() }

func (r *recorder) bodies() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.events))
	for i, e := range r.events {
		out[i] = string(e.Body)
	}
	return out
}

func (r *recorder) all() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Event(nil), r.events...)
}

type recTxn struct {
	r    *recorder
	puts []event.Event
}

func (t *recTxn) Put(evs []event.Event) error     { t.puts = append(t.puts, evs...); return nil }
func (t *recTxn) Take(int) ([]event.Event, error) { return nil, nil }
func (t *recTxn) Rollback() error                 { t.puts = nil; return nil }
func (t *recTxn) Commit() error {
	t.r.mu.Lock()
	defer t.r.mu.Unlock()
	if t.r.full {
		t.r.refused++
		return fmt.Errorf("recorder: %w", channel.ErrFull)
	}
	t.r.events = append(t.r.events, t.puts...)
	t.r.commits++
	if t.r.onCommit != nil {
		t.r.onCommit()
	}
	return nil
}

// rig runs a taildir source on an in-memory disk and a manual clock,
// polling by hand.
type rig struct {
	t   *testing.T
	fs  vfs.FS
	mem *vfs.Mem
	clk *clock.Manual
	rec *recorder
	reg *metrics.Registry
	cfg Config
	src *Source
}

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func quietLog() *slog.Logger {
	if testing.Verbose() {
		return slog.Default()
	}
	return slog.New(slog.NewTextHandler(discard{}, nil))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// newRig makes a rig with one group "g" over /logs/<pattern>.
func newRig(t *testing.T, pattern string, mutate ...func(*Config)) *rig {
	t.Helper()
	clk := clock.NewManual(epoch)
	mem := vfs.NewMem(clk.Now)
	r := &rig{t: t, fs: mem, mem: mem, clk: clk, rec: &recorder{}}
	if err := mem.MkdirAll("/logs", 0o755); err != nil {
		t.Fatal(err)
	}
	r.cfg = testConfig(t, "/logs/"+pattern, "/state/pos.json")
	for _, m := range mutate {
		m(&r.cfg)
	}
	return r
}

func testConfig(t *testing.T, path, posFile string) Config {
	t.Helper()
	g, err := NewGroup("g", path)
	if err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.Groups = []Group{g}
	c.PositionFile = posFile
	return c
}

func (r *rig) start() {
	r.t.Helper()
	r.reg = metrics.NewRegistry(r.clk)
	sel, _ := selector.NewReplicating([]channel.Channel{r.rec}, nil)
	cp := &source.ChannelProcessor{Selector: sel}
	r.src = New("r1", r.cfg, cp, registry.Env{Clock: r.clk, FS: r.fs, Log: quietLog(), Metrics: r.reg})
	if err := r.src.Start(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) stop() {
	r.t.Helper()
	if err := r.src.Stop(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) restart() { r.stop(); r.start() }

// poll advances the clock a little and runs one Process.
func (r *rig) poll() source.Status {
	r.t.Helper()
	r.clk.Advance(10 * time.Millisecond)
	st, err := r.src.Process(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return st
}

// write appends text; the clock moves on a millisecond first so that
// files written one after the other have distinct modification times.
func (r *rig) write(path, text string) {
	r.t.Helper()
	r.clk.Advance(time.Millisecond)
	f, err := r.fs.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := f.Write([]byte(text)); err != nil {
		r.t.Fatal(err)
	}
	f.Close()
}

func (r *rig) rename(from, to string) {
	r.t.Helper()
	if err := r.fs.Rename(from, to); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) remove(path string) {
	r.t.Helper()
	if err := r.fs.Remove(path); err != nil {
		r.t.Fatal(err)
	}
}

// copyTruncate does what logrotate's copytruncate does.
func (r *rig) copyTruncate(path, to string) {
	r.t.Helper()
	data, err := vfs.ReadFile(r.fs, path)
	if err != nil {
		r.t.Fatal(err)
	}
	r.write(to, string(data))
	r.copyTruncateInPlace(path)
}

// copyTruncateInPlace is copytruncate's truncation, the copy made already.
func (r *rig) copyTruncateInPlace(path string) {
	r.t.Helper()
	f, err := r.fs.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := f.Truncate(0); err != nil {
		r.t.Fatal(err)
	}
	f.Close()
}

func (r *rig) counter(name string) int64 {
	r.t.Helper()
	g, ok := r.reg.Lookup("SOURCE.r1")
	if !ok {
		r.t.Fatal("no SOURCE.r1 group")
	}
	v, ok := g.Get(name)
	if !ok {
		r.t.Fatalf("no attribute %s", name)
	}
	var n int64
	fmt.Sscan(v, &n)
	return n
}

// expect checks the bodies delivered so far, in order.
func (r *rig) expect(want ...string) {
	r.t.Helper()
	got := r.rec.bodies()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		r.t.Fatalf("delivered %d lines:\n  %q\nwant %d:\n  %q", len(got), got, len(want), want)
	}
}

// counts is how many times each body was delivered so far.
func (r *rig) counts() map[string]int {
	count := map[string]int{}
	for _, b := range r.rec.bodies() {
		count[b]++
	}
	return count
}

// expectOnce checks that each of want was delivered exactly once, in any
// order, and nothing else.
func (r *rig) expectOnce(want []string) {
	r.t.Helper()
	got := r.rec.bodies()
	count := r.counts()
	for _, w := range want {
		if count[w] != 1 {
			r.t.Fatalf("%s delivered %d times; got %d lines for %d wanted", w, count[w], len(got), len(want))
		}
	}
	if len(got) != len(want) {
		r.t.Fatalf("delivered %d lines, want %d", len(got), len(want))
	}
}

func lines(prefix string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

// padded returns a lines function whose lines carry 20 pad characters,
// so that a few of them fill a fingerprint.
func padded(pad string) func(prefix string, from, to int) []string {
	return func(prefix string, from, to int) []string {
		out := lines(prefix, from, to)
		for i := range out {
			out[i] += "-" + strings.Repeat(pad, 20)
		}
		return out
	}
}

func text(ls []string) string {
	if len(ls) == 0 {
		return ""
	}
	return strings.Join(ls, "\n") + "\n"
}

func statIno(t *testing.T, fsys vfs.FS, path string) uint64 {
	t.Helper()
	fi, err := fsys.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	_, ino, ok := vfs.Identity(fi)
	if !ok {
		t.Fatal("no inode")
	}
	return ino
}

var _ fs.FileInfo // keep io/fs for helpers in other test files
