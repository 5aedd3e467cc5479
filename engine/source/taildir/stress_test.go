package taildir

// The rotation stress test, after Grafana Alloy's (anchors D5): writers
// append numbered lines to several files and rotate them by rename, by
// copytruncate and by delete-and-recreate, while the agent — a child
// process running the real source — is killed with SIGKILL and restarted at
// random moments. A checker then validates every file's sequence.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
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

const childEnv = "SLUICE_TAILDIR_STRESS_CHILD"

// childSpec is what the parent tells a child agent.
type childSpec struct {
	Pattern    string
	PosFile    string
	Out        string // committed lines go here, fsynced before the commit returns
	Ready      string // created once the source has started
	IdleMs     int
	WritePosMs int
}

// durable is a test channel whose commit appends the batch's bodies to a
// file and fsyncs it before returning: a commit that returned survives a
// kill, so the source's position may move past it.
type durable struct {
	mu sync.Mutex
	f  *os.File
}

func (d *durable) Name() string                        { return "durable" }
func (d *durable) Start() error                        { return nil }
func (d *durable) Stop() error                         { return nil }
func (d *durable) Len() int                            { return 0 }
func (d *durable) Capacity() int                       { return 1 << 30 }
func (d *durable) TransactionCapacity() int            { return 1 << 30 }
func (d *durable) Begin() (channel.Transaction, error) { return &durableTxn{d: d}, nil }

type durableTxn struct {
	d   *durable
	buf []byte
}

func (t *durableTxn) Put(evs []event.Event) error {
	for _, e := range evs {
		t.buf = append(append(t.buf, e.Body...), '\n')
	}
	return nil
}
func (t *durableTxn) Take(int) ([]event.Event, error) { return nil, nil }
func (t *durableTxn) Rollback() error                 { t.buf = nil; return nil }
func (t *durableTxn) Commit() error {
	t.d.mu.Lock()
	defer t.d.mu.Unlock()
	if _, err := t.d.f.Write(t.buf); err != nil {
		return err
	}
	return t.d.f.Sync()
}

// TestRotationStressChild is the agent the stress test kills; it does
// nothing unless started by TestRotationStress.
func TestRotationStressChild(t *testing.T) {
	raw := os.Getenv(childEnv)
	if raw == "" {
		t.Skip("helper process for TestRotationStress")
	}
	var spec childSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatal(err)
	}
	out, err := os.OpenFile(spec.Out, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	d := &durable{f: out}
	sel, _ := selector.NewReplicating([]channel.Channel{d}, nil)
	cfg := testConfig(t, spec.Pattern, spec.PosFile)
	cfg.IdleTimeout = time.Duration(spec.IdleMs) * time.Millisecond
	cfg.WritePosInterval = time.Duration(spec.WritePosMs) * time.Millisecond
	src := New("r1", cfg, &source.ChannelProcessor{Selector: sel},
		registry.Env{Clock: clock.Real(), FS: vfs.OS{}, Metrics: metrics.NewRegistry(nil)})
	run := &source.PollingRunner{S: src, Clock: clock.Real(), Wake: src.Wake}
	if err := run.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(spec.Ready, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Run until killed; exit if the parent test died.
	ppid := os.Getppid()
	for os.Getppid() == ppid {
		time.Sleep(100 * time.Millisecond)
	}
	os.Exit(3)
}

// ctWindow is a copytruncate: lines First..Last were in the file when it
// was truncated. Lines of it the agent had not read by then are only in
// the copy, which the group does not match: copytruncate's inherent loss.
type ctWindow struct {
	First, Last int
	At          time.Time
}

// rotation ends a generation of a writer's file: lines up to Last were
// written to the generation it ended.
type rotation struct {
	Kind string
	Last int
	At   time.Time
}

type stressWriter struct {
	rots   []rotation
	n      int
	dir    string
	path   string
	f      *os.File
	seq    int
	gen    int
	first  int // first line of the current generation
	rng    *rand.Rand
	ct     []ctWindow
	counts map[string]int
}

func (w *stressWriter) open(t *testing.T) {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Error(err)
		return
	}
	w.f = f
	w.first = w.seq + 1
}

// line appends one line in one write, as a logger does.
func (w *stressWriter) line(t *testing.T) {
	w.seq++
	if _, err := fmt.Fprintf(w.f, "file%d-line%08d\n", w.n, w.seq); err != nil {
		t.Error(err)
	}
}

type stress struct {
	t       *testing.T
	dir     string
	spec    childSpec
	up      sync.RWMutex // held exclusively while the agent is down
	mu      sync.Mutex
	child   *exec.Cmd
	run     int
	kills   int
	keep    bool           // SLUICE_TAILDIR_KEEP: the directory is kept, with position snapshots
	down    [][2]time.Time // agent down (killed) to up (ready)
	tracker *tracker
}

func (s *stress) start() {
	t := s.t
	s.run++
	spec := s.spec
	spec.Out = filepath.Join(s.dir, "out", fmt.Sprintf("run-%03d.out", s.run))
	spec.Ready = filepath.Join(s.dir, "out", fmt.Sprintf("run-%03d.ready", s.run))
	raw, _ := json.Marshal(spec)
	cmd := exec.Command(os.Args[0], "-test.run=^TestRotationStressChild$", "-test.timeout=30m")
	cmd.Env = append(os.Environ(), childEnv+"="+string(raw))
	logf, err := os.OpenFile(filepath.Join(s.dir, "agent.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(spec.Ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("agent run %d not ready after 60s; see %s", s.run, filepath.Join(s.dir, "agent.log"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.mu.Lock()
	s.child = cmd
	if n := len(s.down); n > 0 && s.down[n-1][1].IsZero() {
		s.down[n-1][1] = time.Now()
	}
	s.mu.Unlock()
	s.tracker.add(spec.Out)
}

func (s *stress) kill() {
	s.mu.Lock()
	cmd := s.child
	s.child = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	s.mu.Lock()
	s.down = append(s.down, [2]time.Time{time.Now()})
	s.mu.Unlock()
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	s.kills++
	if s.keep {
		s.snapshotPositions()
	}
}

// snapshotPositions keeps the position files as the killed agent left
// them (state/kill-NNN.json*), to tell afterwards what a restart started
// from.
func (s *stress) snapshotPositions() {
	for _, suf := range []string{"", sidecarSuffix} {
		if b, err := os.ReadFile(filepath.Join(s.dir, "state", "pos.json"+suf)); err == nil {
			os.WriteFile(filepath.Join(s.dir, "state", fmt.Sprintf("kill-%03d.json%s", s.kills, suf)), b, 0o644)
		}
	}
}

// holds reports whether the agent has path open (Linux /proc).
func (s *stress) holds(path string) bool {
	s.mu.Lock()
	cmd := s.child
	s.mu.Unlock()
	if cmd == nil {
		return false
	}
	fdDir := fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid)
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(fdDir, e.Name())); err == nil && l == path {
			return true
		}
	}
	return false
}

// tracker reads the agents' output files as they grow.
type tracker struct {
	mu    sync.Mutex
	files []string
	offs  map[string]int64
	part  map[string][]byte
	seen  map[string]bool
}

func (tr *tracker) add(path string) {
	tr.mu.Lock()
	tr.files = append(tr.files, path)
	tr.mu.Unlock()
}

// refresh reads what the agents wrote since the last call.
func (tr *tracker) refresh() {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, p := range tr.files {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		f.Seek(tr.offs[p], io.SeekStart)
		data, _ := io.ReadAll(f)
		f.Close()
		tr.offs[p] += int64(len(data))
		data = append(tr.part[p], data...)
		i := bytes.LastIndexByte(data, '\n')
		for _, l := range strings.Split(string(data[:i+1]), "\n") {
			if l != "" {
				tr.seen[l] = true
			}
		}
		tr.part[p] = append([]byte(nil), data[i+1:]...)
	}
}

func (tr *tracker) has(line string) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.seen[line]
}

func (tr *tracker) delivered(line string) bool {
	tr.refresh()
	return tr.has(line)
}

func (s *stress) waitDelivered(line string, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for !s.tracker.delivered(line) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

func TestRotationStress(t *testing.T) {
	if testing.Short() {
		t.Skip("kills agent processes; skipped with -short")
	}
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs Linux /proc to see which files the agent holds")
	}
	duration, writers := 12*time.Second, 4
	if os.Getenv("SLUICE_SOAK") == "1" {
		duration, writers = 5*time.Minute, 6
	}
	// Knobs for reproducing: SLUICE_TAILDIR_DURATION (a Go duration) and
	// SLUICE_TAILDIR_WRITERS.
	if v := os.Getenv("SLUICE_TAILDIR_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SLUICE_TAILDIR_DURATION: %v", err)
		}
		duration = d
	}
	if v := os.Getenv("SLUICE_TAILDIR_WRITERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("SLUICE_TAILDIR_WRITERS=%q: want a positive number", v)
		}
		writers = n
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("SLUICE_TAILDIR_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("SLUICE_TAILDIR_SEED=%d (the schedule is random; timing is not reproducible)", seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	dir, keep := t.TempDir(), os.Getenv("SLUICE_TAILDIR_KEEP") == "1"
	if keep {
		dir, _ = os.MkdirTemp("", "taildir-stress-")
		t.Logf("keeping %s", dir)
	}
	for _, d := range []string{"logs", "state", "out"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	s := &stress{t: t, dir: dir, keep: keep, tracker: &tracker{offs: map[string]int64{}, part: map[string][]byte{}, seen: map[string]bool{}},
		spec: childSpec{Pattern: filepath.Join(dir, "logs", `file\d+\.log(\.\d+)?`), PosFile: filepath.Join(dir, "state", "pos.json"),
			IdleMs: 1500, WritePosMs: 1000}}
	defer func() {
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "agent.log")); err == nil {
				t.Logf("agent log (last 4 KiB):\n%s", b[max(0, len(b)-4096):])
			}
		}
	}()
	s.start()
	defer s.kill()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	ws := make([]*stressWriter, writers)
	for i := range ws {
		w := &stressWriter{n: i, dir: filepath.Join(dir, "logs"), rng: rand.New(rand.NewPCG(rng.Uint64(), uint64(i))), counts: map[string]int{}}
		w.path = filepath.Join(w.dir, fmt.Sprintf("file%d.log", i))
		w.open(t)
		ws[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.write(w, stop)
		}()
	}

	end := time.Now().Add(duration)
	for time.Now().Before(end) {
		time.Sleep(time.Duration(500+rng.IntN(2500)) * time.Millisecond)
		s.up.Lock()
		s.kill()
		time.Sleep(time.Duration(rng.IntN(1000)) * time.Millisecond) // down: writers rotate on
		s.start()
		s.up.Unlock()
	}
	close(stop)
	wg.Wait()
	t.Logf("workload done after %v", time.Since(end.Add(-duration)).Round(time.Millisecond))
	for _, w := range ws {
		w.f.Close()
	}

	// Drain: wait until every line is delivered but those in copytruncate
	// windows, which may never be.
	deadline := time.Now().Add(90 * time.Second)
	for {
		if s.allDelivered(ws) {
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("drained after %v", time.Since(end.Add(-duration)).Round(time.Millisecond))
	s.kill()
	s.check(ws)
}

// write is one writer's workload: bursts of lines with random gaps, and a
// rotation every few hundred lines.
func (s *stress) write(w *stressWriter, stop chan struct{}) {
	t := s.t
	next := 200 + w.rng.IntN(1500)
	for {
		select {
		case <-stop:
			return
		default:
		}
		for range 1 + w.rng.IntN(10) {
			w.line(t)
		}
		if w.seq >= next {
			next = w.seq + 200 + w.rng.IntN(1500)
			switch w.rng.IntN(3) {
			case 0:
				s.renameRotate(w)
			case 1:
				s.copyTruncate(w)
			default:
				if !s.deleteRotate(w) {
					s.renameRotate(w)
				}
			}
		}
		time.Sleep(time.Duration(w.rng.IntN(10000)) * time.Microsecond)
	}
}

func (s *stress) renameRotate(w *stressWriter) {
	t := s.t
	w.gen++
	if err := os.Rename(w.path, fmt.Sprintf("%s.%d", w.path, w.gen)); err != nil {
		t.Error(err)
	}
	for range w.rng.IntN(3) {
		w.line(t) // the logger still writes to its old handle for a moment
	}
	w.f.Close()
	time.Sleep(time.Duration(5+w.rng.IntN(45)) * time.Millisecond)
	w.open(t)
	w.counts["rename"]++
	w.rots = append(w.rots, rotation{"rename", w.first - 1, time.Now()})
}

func (s *stress) copyTruncate(w *stressWriter) {
	t := s.t
	w.gen++
	data, err := os.ReadFile(w.path)
	if err != nil {
		t.Error(err)
	}
	// Even writers name copies as logrotate does, inside the file group
	// (recognised as copies); odd ones outside it (found at truncation).
	name := fmt.Sprintf("file%d.log.%d", w.n, w.gen)
	if w.n%2 == 1 {
		name = fmt.Sprintf("file%d.copy.%d", w.n, w.gen)
	}
	// The copy is written a piece at a time, as logrotate copies, so that
	// the agent often lists it empty or half written.
	cf, err := os.OpenFile(filepath.Join(w.dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Error(err)
		return
	}
	for len(data) > 0 {
		if w.rng.IntN(2) == 0 {
			time.Sleep(time.Duration(w.rng.IntN(3000)) * time.Microsecond)
		}
		n := min(len(data), 1+w.rng.IntN(8192))
		if _, err := cf.Write(data[:n]); err != nil {
			t.Error(err)
		}
		data = data[n:]
	}
	cf.Close()
	if err := w.f.Truncate(0); err != nil {
		t.Error(err)
	}
	w.ct = append(w.ct, ctWindow{w.first, w.seq, time.Now()})
	w.first = w.seq + 1
	w.counts["copytruncate"]++
	kind := "copytruncate (copy in group)"
	if w.n%2 == 1 {
		kind = "copytruncate (copy outside group)"
	}
	w.rots = append(w.rots, rotation{kind, w.seq, time.Now()})
}

// deleteRotate deletes the file while the agent has lines of it unread,
// then recreates it. A deleted file can be read only through a handle the
// agent already has, and only while it lives: so this happens only while
// the agent is up and holds the file, and the agent is not killed before
// it has read the deleted file's last line. It reports false when those
// conditions could not be had; the caller rotates another way.
func (s *stress) deleteRotate(w *stressWriter) bool {
	t := s.t
	if !s.up.TryRLock() {
		return false
	}
	defer s.up.RUnlock()
	deadline := time.Now().Add(2 * time.Second)
	for !s.holds(w.path) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	w.gen++
	for range 1 + w.rng.IntN(3) {
		w.line(t)
	}
	if err := os.Remove(w.path); err != nil {
		t.Error(err)
	}
	for range w.rng.IntN(3) {
		w.line(t)
	}
	w.f.Close()
	last := fmt.Sprintf("file%d-line%08d", w.n, w.seq)
	if !s.waitDelivered(last, 20*time.Second) {
		t.Errorf("agent did not read %s from the deleted file within 20s", last)
	}
	time.Sleep(time.Duration(5+w.rng.IntN(45)) * time.Millisecond)
	w.open(t)
	w.counts["delete"]++
	w.rots = append(w.rots, rotation{"delete", w.first - 1, time.Now()})
	return true
}

func (s *stress) allDelivered(ws []*stressWriter) bool {
	s.tracker.refresh()
	for _, w := range ws {
		for i := w.seq; i >= 1; i-- {
			if !inWindow(w, i) && !s.tracker.has(fmt.Sprintf("file%d-line%08d", w.n, i)) {
				return false
			}
		}
	}
	return true
}

// when places t relative to the agent's kills and restarts.
func (s *stress) when(t time.Time) string {
	for _, d := range s.down {
		if !t.Before(d[0]) && (d[1].IsZero() || t.Before(d[1])) {
			return "while down"
		}
	}
	out := "while up"
	for _, d := range s.down {
		if !d[1].IsZero() && t.After(d[1]) {
			out = fmt.Sprintf("%v after a restart", t.Sub(d[1]).Round(10*time.Millisecond))
		}
	}
	for _, d := range s.down {
		if d[0].After(t) {
			return out + fmt.Sprintf(", %v before a kill", d[0].Sub(t).Round(10*time.Millisecond))
		}
	}
	return out
}

func windowOf(w *stressWriter, i int) ctWindow {
	for _, c := range w.ct {
		if c.First <= i && i <= c.Last {
			return c
		}
	}
	return ctWindow{}
}

func inWindow(w *stressWriter, i int) bool {
	for _, c := range w.ct {
		if c.First <= i && i <= c.Last {
			return true
		}
	}
	return false
}

// parseLine reads "file<N>-line<8 digits>".
func parseLine(l string) (n, seq int, ok bool) {
	rest, found := strings.CutPrefix(l, "file")
	if !found {
		return 0, 0, false
	}
	ns, ss, found := strings.Cut(rest, "-line")
	if !found || len(ss) != 8 {
		return 0, 0, false
	}
	var err1, err2 error
	n, err1 = strconv.Atoi(ns)
	seq, err2 = strconv.Atoi(ss)
	return n, seq, err1 == nil && err2 == nil
}

// check reads every run's output and classifies each written line.
func (s *stress) check(ws []*stressWriter) {
	t := s.t
	outs, _ := filepath.Glob(filepath.Join(s.dir, "out", "run-*.out"))
	sort.Strings(outs)
	total := make([][]int, len(ws)) // deliveries per writer and line
	for i, w := range ws {
		total[i] = make([]int, w.seq+1)
	}
	withinRunDups := 0
	var dupRecs []dupRec
	unexpected := 0
	for _, p := range outs {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.LastIndexByte(data, '\n'); i+1 < len(data) {
			data = data[:i+1] // a batch torn by the kill was never committed
		}
		inRun := make([][]int, len(ws)) // output line number + 1 of the first delivery
		for i, w := range ws {
			inRun[i] = make([]int, w.seq+1)
		}
		for k, l := range strings.Split(string(data), "\n") {
			if l == "" {
				continue
			}
			n, seq, ok := parseLine(l)
			if !ok || n >= len(ws) || seq < 1 || seq > ws[n].seq {
				unexpected++
				continue
			}
			if inRun[n][seq] > 0 {
				withinRunDups++
				dupRecs = append(dupRecs, dupRec{filepath.Base(p), n, seq, inRun[n][seq] - 1, k})
			} else {
				inRun[n][seq] = k + 1
			}
			total[n][seq]++
		}
	}
	written, lost, windowLost, unseenLost, dups := 0, 0, 0, 0, 0
	windowLog := map[string]int{}
	var lostSample []string
	rotations := map[string]int{}
	for n, w := range ws {
		for k, v := range w.counts {
			rotations[k] += v
		}
		written += w.seq
		got := total[n]
		// A missing line is copytruncate's only if the agent delivered
		// nothing of its truncated generation after it (a missing suffix);
		// the whole generation missing means the agent never saw it.
		excused := make([]bool, w.seq+1)
		for _, c := range w.ct {
			last := c.First - 1 // the last line of the generation delivered
			for j := c.First; j <= c.Last; j++ {
				if got[j] > 0 {
					last = j
				}
			}
			missing := 0
			for j := last + 1; j <= c.Last; j++ {
				excused[j] = true
				missing++
			}
			if missing == 0 {
				continue
			}
			if last < c.First {
				unseenLost += missing
			} else {
				windowLost += missing
			}
			windowLog[fmt.Sprintf("file%d %d-%d %s", w.n, c.First, c.Last, s.when(c.At))] += missing
		}
		for i := 1; i <= w.seq; i++ {
			switch c := got[i]; {
			case c == 0 && !excused[i]:
				lost++
				if len(lostSample) < 20 {
					lostSample = append(lostSample, fmt.Sprintf("file%d-line%08d", w.n, i))
				}
			case c > 1:
				dups += c - 1
			}
		}
	}
	// Lines written between the copy and the truncation are copytruncate's
	// own loss; this writer writes none there. What remains in the two
	// copytruncate counts is content only the copy holds (its name is
	// outside the file group): a generation the agent never saw because it
	// was born and truncated while the agent was down (no one could know
	// of it: reported, not a failure), and a tail the agent had begun
	// reading and did not find in the copy (a failure).
	t.Logf("runs %d (kills %d); rotations %v; lines written %d; lost %d; copytruncate: generations never seen %d lines, unread tails not recovered %d lines; duplicates across kills %d; within a run %d; unexpected %d",
		s.run, s.kills, rotations, written, lost, unseenLost, windowLost, dups, withinRunDups, unexpected)
	if len(windowLog) > 0 {
		t.Logf("copytruncate generations with lines not delivered (lines missing): %v", windowLog)
	}
	if lost > 0 {
		sort.Strings(lostSample)
		t.Errorf("%d lines lost, e.g. %v", lost, lostSample)
	}
	if withinRunDups > 0 {
		for _, r := range s.describeDups(ws, dupRecs) {
			t.Logf("within-run duplicate: %s", r)
		}
		t.Errorf("%d lines delivered twice by one agent run: only a kill may cause duplicates", withinRunDups)
	}
	if windowLost > 0 {
		// The harness never deletes a copy, so a tail the agent had begun
		// reading is always in one.
		t.Errorf("%d lines of copytruncated generations the agent had begun reading were not recovered from their copies", windowLost)
	}
	if unexpected > 0 {
		t.Errorf("%d delivered lines were never written", unexpected)
	}
	if s.kills < 2 {
		t.Errorf("only %d kills happened", s.kills)
	}
}

// dupRec is a line one agent run delivered twice: at output lines First
// and Again of its run's file.
type dupRec struct {
	Run          string
	Writer, Seq  int
	First, Again int
}

// generation places line seq of w: the generation it was written to
// (0-based), its first line, and the rotations that began and ended it
// (Kind "" when none).
func generation(w *stressWriter, seq int) (gen, first int, began, ended rotation) {
	first = 1
	for i, r := range w.rots {
		if seq <= r.Last {
			return i, first, began, r
		}
		began, first = r, r.Last+1
	}
	return len(w.rots), first, began, rotation{}
}

// describeDups groups within-run duplicates into ranges of consecutive
// lines of one file delivered twice by one run, and says where each range
// sits: generation, byte offsets in it, the rotations around it, and where
// in the run's output the two deliveries are.
func (s *stress) describeDups(ws []*stressWriter, recs []dupRec) []string {
	var out []string
	flush := func(a, b dupRec) {
		w := ws[a.Writer]
		gen, first, began, ended := generation(w, a.Seq)
		lineLen := len(fmt.Sprintf("file%d-line%08d\n", w.n, 0))
		off := func(seq int) int { return (seq - first) * lineLen }
		rot := func(r rotation) string {
			if r.Kind == "" {
				return "none"
			}
			return fmt.Sprintf("%s after line %d at %s (%s)", r.Kind, r.Last, r.At.Format("15:04:05.000"), s.when(r.At))
		}
		out = append(out, fmt.Sprintf("%s file%d lines %d-%d (%d): generation %d (lines %d-), bytes %d-%d of it; began by %s; ended by %s; delivered at output lines %d-%d and again at %d-%d",
			a.Run, w.n, a.Seq, b.Seq, b.Seq-a.Seq+1, gen, first, off(a.Seq), off(b.Seq)+lineLen, rot(began), rot(ended),
			a.First+1, b.First+1, a.Again+1, b.Again+1))
	}
	for i := 0; i < len(recs) && len(out) < 30; {
		j := i
		for j+1 < len(recs) && recs[j+1].Run == recs[i].Run && recs[j+1].Writer == recs[i].Writer &&
			recs[j+1].Seq == recs[j].Seq+1 && recs[j+1].Again == recs[j].Again+1 {
			j++
		}
		flush(recs[i], recs[j])
		i = j + 1
	}
	if len(out) == 30 {
		out = append(out, "(more left out)")
	}
	return out
}
