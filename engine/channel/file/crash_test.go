package file

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/vfs"
)

// The crash test re-executes this test binary as a child that runs the
// channel on real directories: producers and consumers commit batches and
// report each step on stdout (before a commit, and after it returned). The
// parent kill -9s the child at random moments, restarts it on the same
// directories, and at the end drains the channel and checks the history:
// every reported put is present or was taken, no committed take comes
// back, nothing appears that was never put, and a put cut short by the
// kill is there wholly or not at all.

const childEnv = "SLUICE_FILECHANNEL_CRASH_CHILD"

func crashConfig(dir string) Config {
	c := DefaultConfig()
	c.CheckpointDir = filepath.Join(dir, "checkpoint")
	c.DataDirs = []string{filepath.Join(dir, "d1"), filepath.Join(dir, "d2")}
	c.Capacity, c.TransactionCapacity = 3000, 50
	c.KeepAlive = 50 * time.Millisecond
	c.SegmentSize = 32 << 10
	c.CheckpointBytes = 96 << 10
	c.CheckpointInterval = 40 * time.Millisecond
	c.MinimumRequiredSpace = 0
	return c
}

// TestCrashChild is the child's workload; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		t.Skip("the crash test's child process")
	}
	run := os.Getenv("SLUICE_CRASH_RUN")
	seed, _ := strconv.ParseUint(os.Getenv("SLUICE_CRASH_SEED"), 10, 64)
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		line := fmt.Sprintf(format+"\n", args...)
		outMu.Lock()
		os.Stdout.WriteString(line) // unbuffered: in the pipe before the next step
		outMu.Unlock()
	}
	say("opening")
	ch := New("crash", crashConfig(dir), Options{FS: vfs.OS{}, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err := ch.Start(); err != nil {
		say("error start: %v", err)
		os.Exit(3)
	}
	say("ready %d", ch.Len())
	var wg sync.WaitGroup
	for p := 0; p < 2; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(p)))
			for b := 0; ; b++ {
				id := fmt.Sprintf("%sp%d-%d", run, p, b)
				n := 1 + rng.IntN(50)
				evs := make([]event.Event, n)
				ids := make([]string, n)
				for i := range evs {
					ids[i] = fmt.Sprintf("%s.%d", id, i)
					body := append([]byte(ids[i]+"/"), bytes.Repeat([]byte{'x'}, rng.IntN(300))...)
					evs[i] = event.Event{Headers: map[string]string{"id": ids[i]}, Body: body}
				}
				tx, err := ch.Begin()
				if err != nil {
					say("error begin: %v", err)
					return
				}
				tx.Put(evs)
				say("p %s %s", id, strings.Join(ids, ","))
				if err := tx.Commit(); err != nil {
					tx.Rollback()
					say("F %s", id)
					continue
				}
				say("P %s", id)
			}
		}(p)
	}
	for c := 0; c < 2; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(100+c)))
			for b := 0; ; b++ {
				id := fmt.Sprintf("%sc%d-%d", run, c, b)
				tx, err := ch.Begin()
				if err != nil {
					say("error begin: %v", err)
					return
				}
				got, err := tx.Take(1 + rng.IntN(50))
				if err != nil {
					say("error take: %v", err)
					tx.Rollback()
					return
				}
				if len(got) == 0 {
					tx.Rollback()
					select {
					case <-ch.Notify():
					case <-time.After(5 * time.Millisecond):
					}
					continue
				}
				ids := make([]string, len(got))
				for i, e := range got {
					ids[i] = e.Headers["id"]
					if !bytes.HasPrefix(e.Body, []byte(ids[i]+"/")) {
						say("error body of %s: %q", ids[i], e.Body)
					}
				}
				say("t %s %s", id, strings.Join(ids, ","))
				if rng.IntN(5) == 0 {
					tx.Rollback()
					say("R %s", id)
					continue
				}
				if err := tx.Commit(); err != nil {
					tx.Rollback()
					say("R %s", id)
					continue
				}
				say("T %s", id)
			}
		}(c)
	}
	wg.Wait()
	os.Exit(4)
}

// history is what the children reported.
type history struct {
	puts      map[string][]string // batch -> ids, as announced before the commit
	putOK     map[string]bool
	putFailed map[string]bool
	takes     map[string][]string
	takeOK    map[string]bool
	takeBack  map[string]bool // rolled back (or failed, then rolled back)
	errors    []string
}

func newHistory() *history {
	return &history{puts: map[string][]string{}, putOK: map[string]bool{}, putFailed: map[string]bool{},
		takes: map[string][]string{}, takeOK: map[string]bool{}, takeBack: map[string]bool{}}
}

func (h *history) line(l string) {
	f := strings.SplitN(l, " ", 3)
	switch {
	case f[0] == "error":
		h.errors = append(h.errors, l)
	case f[0] == "p" && len(f) == 3:
		h.puts[f[1]] = strings.Split(f[2], ",")
	case f[0] == "P" && len(f) == 2:
		h.putOK[f[1]] = true
	case f[0] == "F" && len(f) == 2:
		h.putFailed[f[1]] = true
	case f[0] == "t" && len(f) == 3:
		h.takes[f[1]] = strings.Split(f[2], ",")
	case f[0] == "T" && len(f) == 2:
		h.takeOK[f[1]] = true
	case f[0] == "R" && len(f) == 2:
		h.takeBack[f[1]] = true
	}
}

// check compares the history with what was drained at the end.
func (h *history) check(t *testing.T, drained []string, seed uint64) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d: "+format, append([]any{seed}, args...)...)
	}
	if len(h.errors) > 0 {
		fail("the child reported errors: %v", h.errors)
	}
	queued := map[string]int{}
	for _, id := range drained {
		queued[id]++
		if queued[id] > 1 {
			fail("%s is in the channel twice", id)
		}
	}
	attempted := map[string]bool{}
	for _, ids := range h.puts {
		for _, id := range ids {
			attempted[id] = true
		}
	}
	for id := range queued {
		if !attempted[id] {
			fail("%s is in the channel but was never put", id)
		}
	}
	takenOK := map[string]string{} // id -> committed take batch
	touched := map[string]bool{}   // in any take, whatever became of it
	uncertain := map[string]bool{} // in a take whose outcome the kill hid
	for b, ids := range h.takes {
		for _, id := range ids {
			if !attempted[id] {
				fail("take %s returned %s, which was never put", b, id)
			}
			touched[id] = true
			switch {
			case h.takeOK[b]:
				if prev, dup := takenOK[id]; dup {
					fail("%s was taken and committed twice (%s and %s): a committed take came back", id, prev, b)
				}
				takenOK[id] = b
			case !h.takeBack[b]:
				uncertain[id] = true
			}
		}
	}
	for id, b := range takenOK {
		if queued[id] > 0 {
			fail("%s was taken and committed (%s) but is back in the channel", id, b)
		}
	}
	lost := 0
	for b := range h.putOK {
		for _, id := range h.puts[b] {
			if queued[id] == 0 && takenOK[id] == "" && !uncertain[id] {
				if lost < 10 {
					t.Errorf("seed %d: %s (put %s, committed) is lost: not in the channel and never taken", seed, id, b)
				}
				lost++
			}
		}
	}
	if lost > 0 {
		fail("%d committed events lost", lost)
	}
	for b, ids := range h.puts {
		if h.putOK[b] || h.putFailed[b] {
			continue
		}
		seen := 0
		for _, id := range ids {
			if queued[id] > 0 || touched[id] {
				seen++
			}
		}
		if seen != 0 && seen != len(ids) {
			fail("put %s was cut short by a kill and %d of its %d events survived; a commit is all or nothing", b, seen, len(ids))
		}
	}
}

func TestCrashKill9(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in the child")
	}
	kills := 50
	if soak() {
		kills = 1000
	}
	if testing.Short() {
		kills = 10
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SLUICE_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (replay with SLUICE_CRASH_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 9))
	dir := t.TempDir()
	h := newHistory()
	var stderr bytes.Buffer
	lines := 0
	for k := 0; k < kills; k++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+dir,
			"SLUICE_CRASH_RUN="+strconv.Itoa(k), fmt.Sprintf("SLUICE_CRASH_SEED=%d", rng.Uint64()))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		stderr.Reset()
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a random number of reported lines: 1 is during
		// recovery, more is during the workload.
		target := 1 + rng.IntN(300)
		hung := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		n, killed := 0, false
		for sc.Scan() {
			h.line(sc.Text())
			n++
			if !killed && n >= target {
				cmd.Process.Kill() // SIGKILL
				killed = true
			}
		}
		err = cmd.Wait()
		stopped := hung.Stop()
		lines += n
		if !stopped {
			t.Fatalf("seed %d: run %d hung (no kill after 60 s); stderr:\n%s", seed, k, stderr.String())
		}
		if !killed {
			t.Fatalf("seed %d: run %d exited by itself after %d lines (%v); stderr:\n%s", seed, k, n, err, stderr.String())
		}
		if len(h.errors) > 0 {
			t.Fatalf("seed %d: run %d: %v; stderr:\n%s", seed, k, h.errors, stderr.String())
		}
	}

	ch := New("crash", crashConfig(dir), Options{FS: vfs.OS{}, Log: quiet})
	if err := ch.Start(); err != nil {
		t.Fatalf("seed %d: final Start: %v", seed, err)
	}
	defer ch.Stop()
	var drained []string
	for {
		tx, err := ch.Begin()
		if err != nil {
			t.Fatal(err)
		}
		got, err := tx.Take(50)
		if err != nil {
			t.Fatalf("seed %d: drain: %v", seed, err)
		}
		if len(got) == 0 {
			tx.Rollback()
			break
		}
		for _, e := range got {
			drained = append(drained, e.Headers["id"])
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	h.check(t, drained, seed)
	if err := ch.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if files := segFiles(t, vfs.OS{}, ch.cfg); len(files) > len(ch.cfg.DataDirs) {
		t.Fatalf("seed %d: %d segments left after draining: %v", seed, len(files), files)
	}
	t.Logf("%d kills, %d reported steps, %d put batches (%d committed), %d take batches (%d committed), %d events drained at the end",
		kills, lines, len(h.puts), len(h.putOK), len(h.takes), len(h.takeOK), len(drained))
}
