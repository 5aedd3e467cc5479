package file

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/vfs"
)

func soak() bool { return os.Getenv("SLUICE_SOAK") == "1" }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// crashFS cuts the power after a chosen number of mutating operations: the
// operation runs (or not), the Mem disk crashes, and from then on every
// operation fails, as for a process that died at that instruction.
type crashFS struct {
	*vfs.Mem
	mu     sync.Mutex
	rng    *rand.Rand
	left   int // mutating operations until the crash; < 0: never
	dead   bool
	events int
}

var errDead = errors.New("process is dead (simulated power cut)")

// op is called before every mutating operation; it reports whether the
// operation may run and whether the disk crashes right after it.
func (c *crashFS) op() (run, crashAfter bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return false, false
	}
	if c.left < 0 {
		return true, false
	}
	if c.left > 0 {
		c.left--
		return true, false
	}
	c.dead = true
	if c.rng.IntN(2) == 0 {
		c.Mem.Crash(c.rng)
		return false, false
	}
	return true, true
}

func (c *crashFS) after(crash bool) error {
	if crash {
		c.Mem.Crash(c.rng)
		return errDead
	}
	return nil
}

func (c *crashFS) isDead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dead
}

func (c *crashFS) guard(f func() error) error {
	run, crash := c.op()
	if !run {
		return errDead
	}
	if err := f(); err != nil {
		c.after(crash)
		return err
	}
	return c.after(crash)
}

func (c *crashFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	var f vfs.File
	mut := flag&(os.O_CREATE|os.O_TRUNC) != 0
	open := func() error {
		var err error
		f, err = c.Mem.OpenFile(name, flag, perm)
		return err
	}
	var err error
	if mut {
		err = c.guard(open)
	} else if c.isDead() {
		err = errDead
	} else {
		err = open()
	}
	if err != nil {
		return nil, err
	}
	return &crashFile{File: f, c: c}, nil
}

func (c *crashFS) Rename(o, n string) error {
	return c.guard(func() error { return c.Mem.Rename(o, n) })
}
func (c *crashFS) Remove(n string) error  { return c.guard(func() error { return c.Mem.Remove(n) }) }
func (c *crashFS) SyncDir(n string) error { return c.guard(func() error { return c.Mem.SyncDir(n) }) }
func (c *crashFS) MkdirAll(p string, m fs.FileMode) error {
	return c.guard(func() error { return c.Mem.MkdirAll(p, m) })
}

type crashFile struct {
	vfs.File
	c *crashFS
}

func (f *crashFile) WriteAt(p []byte, off int64) (int, error) {
	var n int
	err := f.c.guard(func() error {
		var err error
		n, err = f.File.WriteAt(p, off)
		return err
	})
	return n, err
}

func (f *crashFile) Write(p []byte) (int, error) {
	var n int
	err := f.c.guard(func() error {
		var err error
		n, err = f.File.Write(p)
		return err
	})
	return n, err
}

func (f *crashFile) Sync() error { return f.c.guard(f.File.Sync) }
func (f *crashFile) Truncate(n int64) error {
	return f.c.guard(func() error { return f.File.Truncate(n) })
}

// peekAll returns the bodies of the queued events without taking them.
func peekAll(t testing.TB, c *Channel) []string {
	t.Helper()
	c.mu.Lock()
	ps := make([]ptr, c.q.len())
	c.q.copyTo(ps)
	c.mu.Unlock()
	evs, bad, err := c.read(ps)
	if len(bad) > 0 && os.Getenv("SIMTRACE") != "" {
		for _, i := range bad {
			p := ps[i]
			t.Logf("bad ptr %+v", p)
		}
		for id, sg := range c.segs {
			t.Logf("seg %d %+v", id, *sg)
		}
	}
	if err != nil || len(bad) > 0 {
		t.Fatalf("reading the queue: bad %v of %d, err %v", bad, len(ps), err)
	}
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = string(e.Body)
	}
	return out
}

type simTxn struct {
	tx    channel.Transaction
	puts  []string
	takes []string
	// suspect: the commit failed and the write could not be cut off again
	// before the next crash, so it may have reached the disk.
	suspect bool
}

type sim struct {
	t     *testing.T
	seed  uint64
	rng   *rand.Rand
	mem   *vfs.Mem
	crash *crashFS
	fault *vfs.Faulty
	clk   *clock.Manual
	cfg   Config
	ch    *Channel
	// model: committed events not yet committed-taken, with counts.
	model map[string]int
	open  []*simTxn
	// The commit in progress when the power was cut: its effect is unknown.
	uncertain *simTxn
	suspects  []*simTxn
	next      int
	crashes   int
}

func newSim(t *testing.T, seed uint64) *sim {
	s := &sim{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x5eed)), model: map[string]int{}}
	s.mem = vfs.NewMem(nil)
	s.clk = clock.NewManual(time.Unix(1e9, 0))
	s.cfg = testConfig("/sim", 300, 20)
	s.cfg.SegmentSize = 1024 + int64(s.rng.IntN(4096))
	s.cfg.CheckpointBytes = 2048 + int64(s.rng.IntN(8192))
	s.cfg.CheckpointInterval = 10 * time.Second
	if seed%3 == 0 {
		s.cfg.DataDirs = []string{"/sim/d1", "/sim/d2", "/sim/d3"}
	}
	if seed%5 == 1 {
		s.cfg.UseDualCheckpoints, s.cfg.BackupCheckpointDir = true, "/sim/backup"
	}
	return s
}

func (s *sim) fail(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("seed %d: "+format, append([]any{s.seed}, args...)...)
}

// start opens the channel, with a power cut armed at a random operation
// when armed is set (which may hit recovery itself).
func (s *sim) start(armed bool) {
	for attempt := 0; ; attempt++ {
		s.crash = &crashFS{Mem: s.mem, rng: s.rng, left: -1}
		if armed && attempt < 3 {
			s.crash.left = s.rng.IntN(400)
		}
		s.fault = vfs.NewFaulty(s.crash)
		lg := quiet
		if os.Getenv("SIMTRACE") != "" {
			lg = slog.New(slog.NewTextHandler(os.Stderr, nil))
		}
		s.ch = New("sim", s.cfg, Options{FS: s.fault, Clock: s.clk, Log: lg})
		err := s.ch.Start()
		if !s.crash.isDead() {
			if err != nil {
				s.fail("Start: %v", err)
			}
			s.verify()
			return
		}
		s.crashes++ // crashed during recovery; recover again
	}
}

// verify checks the recovered queue against the model: every committed
// event present exactly once, nothing else, and the commit that was in
// flight at the crash applied wholly or not at all.
func (s *sim) verify() {
	got := map[string]int{}
	for _, b := range peekAll(s.t, s.ch) {
		got[b]++
	}
	uncertain := s.suspects
	if s.uncertain != nil {
		uncertain = append(uncertain, s.uncertain)
	}
	s.uncertain, s.suspects = nil, nil
	for _, u := range uncertain {
		present := 0
		for _, id := range u.puts {
			present += got[id]
		}
		if present != 0 && present != len(u.puts) {
			s.fail("crash during a put commit: %d of its %d events survived, want all or none", present, len(u.puts))
		}
		gone := 0
		for _, id := range u.takes {
			if got[id] == 0 {
				gone++
			}
		}
		if gone != 0 && gone != len(u.takes) && !u.suspect {
			s.fail("crash during a take commit: %d of its %d events are gone, want all or none", gone, len(u.takes))
		}
		for _, id := range append(u.puts, u.takes...) {
			s.model[id] = got[id]
		}
	}
	for id, n := range s.model {
		if n != got[id] {
			s.fail("event %s: present %d times after recovery, want %d", id, got[id], n)
		}
	}
	for id, n := range got {
		if s.model[id] == 0 && n > 0 {
			s.fail("event %s present after recovery but never committed (or taken and committed)", id)
		}
	}
	if l := s.ch.Len(); l != len(got) {
		s.fail("Len %d, queue holds %d", l, len(got))
	}
	for id, n := range s.model {
		if n == 0 {
			delete(s.model, id)
		}
	}
}

// commit commits tx and updates the model. A commit that fails while the
// disk is alive must leave no trace; one cut short by the power cut is
// uncertain until recovery shows what happened.
func (s *sim) commit(x *simTxn) {
	err := x.tx.Commit()
	if os.Getenv("SIMTRACE") != "" {
		s.t.Logf("commit puts=%v takes=%v err=%v dead=%v", x.puts, x.takes, err, s.crash.isDead())
	}
	switch {
	case err == nil:
		for _, id := range x.puts {
			s.model[id]++
		}
		for _, id := range x.takes {
			s.model[id]--
		}
	case s.crash.isDead():
		s.uncertain = x
	default:
		if err := x.tx.Rollback(); err != nil {
			s.fail("Rollback after failed commit: %v", err)
		}
		if s.ch.broken.Load() > 0 {
			// FORMAT.md: a commit whose fsync failed and whose undo failed
			// too may reappear after a crash (never a committed one lost).
			x.suspect = true
			s.suspects = append(s.suspects, x)
		}
	}
	if s.ch.broken.Load() == 0 {
		s.suspects = nil // the failed writes were cut off after all
	}
}

func (s *sim) powerCut() {
	if os.Getenv("SIMTRACE") != "" {
		s.t.Logf("power cut (dead=%v)", s.crash.isDead())
	}
	if !s.crash.isDead() {
		s.mem.Crash(s.rng)
	}
	s.crashes++
	s.open = nil
	s.mem.SetCapacity(0)
	s.start(s.rng.IntN(3) == 0)
}

func (s *sim) step() {
	ch := s.ch
	switch r := s.rng.IntN(100); {
	case r < 30: // put
		tx, err := ch.Begin()
		if err != nil {
			s.powerCut()
			return
		}
		x := &simTxn{tx: tx}
		n := 1 + s.rng.IntN(10)
		evs := make([]event.Event, n)
		for i := range evs {
			id := fmt.Sprintf("s%d-%d", s.seed, s.next)
			s.next++
			x.puts = append(x.puts, id)
			evs[i] = event.Event{Body: []byte(id)}
			if s.rng.IntN(2) == 0 {
				evs[i].Headers = map[string]string{"id": id, "pad": strings.Repeat("x", s.rng.IntN(300))}
			}
		}
		if err := tx.Put(evs); err != nil {
			s.fail("Put: %v", err)
		}
		if s.rng.IntN(5) == 0 {
			s.open = append(s.open, x)
			return
		}
		s.commit(x)
	case r < 60: // take
		tx, err := ch.Begin()
		if err != nil {
			s.powerCut()
			return
		}
		x := &simTxn{tx: tx}
		faults := s.fault.Injected(vfs.OpRead) + s.fault.Injected(vfs.OpOpen)
		got, err := tx.Take(1 + s.rng.IntN(15))
		if err != nil {
			tx.Rollback()
			if !s.crash.isDead() && s.fault.Injected(vfs.OpRead)+s.fault.Injected(vfs.OpOpen) == faults {
				s.fail("Take: %v", err)
			}
			return
		}
		for _, e := range got {
			x.takes = append(x.takes, string(e.Body))
		}
		switch s.rng.IntN(6) {
		case 0:
			s.open = append(s.open, x)
		case 1:
			tx.Rollback()
		default:
			s.commit(x)
		}
	case r < 72: // finish an open transaction
		if len(s.open) == 0 {
			return
		}
		i := s.rng.IntN(len(s.open))
		x := s.open[i]
		s.open = slices.Delete(s.open, i, i+1)
		if s.rng.IntN(3) == 0 {
			x.tx.Rollback()
		} else {
			s.commit(x)
		}
	case r < 76:
		s.clk.Advance(time.Duration(s.rng.IntN(15)) * time.Second)
	case r < 79:
		ch.Checkpoint()
	case r < 84:
		ops := []vfs.Op{vfs.OpWrite, vfs.OpSync, vfs.OpSyncDir, vfs.OpOpen, vfs.OpRead, vfs.OpTruncate, vfs.OpRename}
		s.fault.Fail(ops[s.rng.IntN(len(ops))], "/sim", errors.New("injected"), 1+s.rng.IntN(2))
	case r < 86:
		s.mem.SetCapacity(s.mem.Used() + int64(s.rng.IntN(8192)))
	case r < 88:
		s.mem.SetCapacity(0)
		s.fault.Clear()
	case r < 94:
		s.powerCut()
	case r < 96: // arm a power cut a few operations ahead
		s.crash.mu.Lock()
		if !s.crash.dead {
			s.crash.left = s.rng.IntN(30)
		}
		s.crash.mu.Unlock()
	default: // clean restart
		s.mem.SetCapacity(0)
		s.fault.Clear()
		ch.Stop()
		for _, x := range s.open {
			if err := x.tx.Commit(); !errors.Is(err, channel.ErrClosed) {
				s.fail("Commit after Stop = %v, want ErrClosed", err)
			}
			x.tx.Rollback()
		}
		s.open = nil
		if s.crash.isDead() {
			s.powerCut()
			return
		}
		s.start(false)
	}
	if s.crash.isDead() {
		s.powerCut()
	}
}

func TestSimulatedPowerCuts(t *testing.T) {
	seeds, steps := 40, 400
	if soak() {
		seeds, steps = 2000, 1000
	}
	if testing.Short() {
		seeds = 10
	}
	first := uint64(1)
	if v := os.Getenv("SIMSEED"); v != "" {
		fmt.Sscan(v, &first)
		seeds = int(first)
	}
	for seed := first; seed <= uint64(seeds); seed++ {
		s := newSim(t, seed)
		s.start(false)
		for i := 0; i < steps; i++ {
			s.step()
		}
		// Drain everything through a final crash, and check the disk is
		// given back.
		s.powerCut()
		s.fault.Clear()
		s.crash.mu.Lock()
		s.crash.left = -1
		s.crash.mu.Unlock()
		for {
			tx, _ := s.ch.Begin()
			got, err := tx.Take(20)
			if err != nil {
				s.fail("drain: %v", err)
			}
			if len(got) == 0 {
				tx.Rollback()
				break
			}
			x := &simTxn{tx: tx}
			for _, e := range got {
				x.takes = append(x.takes, string(e.Body))
			}
			s.commit(x)
		}
		for id, n := range s.model {
			if n != 0 {
				s.fail("event %s left after the drain (%d)", id, n)
			}
		}
		if err := s.ch.Checkpoint(); err != nil {
			s.fail("checkpoint: %v", err)
		}
		if b := s.ch.logBytes.Load(); b > int64(len(s.cfg.DataDirs))*(max(s.cfg.SegmentSize, blockSize)+3*blockSize) {
			s.fail("%d log bytes on disk with an empty channel (segment size %d)", b, s.cfg.SegmentSize)
		}
		if files := segFiles(t, s.mem, s.cfg); len(files) > len(s.cfg.DataDirs) {
			s.fail("segments left with an empty channel: %v", files)
		}
		s.ch.Stop()
		if seed == 1 || seed%20 == 0 {
			t.Logf("seed %d: %d events, %d power cuts", seed, s.next, s.crashes)
		}
	}
}

func segFiles(t testing.TB, f vfs.FS, cfg Config) []string {
	var out []string
	for _, d := range cfg.DataDirs {
		ents, err := f.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if _, ok := parseSegName(e.Name()); ok {
				out = append(out, d+"/"+e.Name())
			}
		}
	}
	sort.Strings(out)
	return out
}
