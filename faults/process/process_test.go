package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/faults"
)

// The test binary doubles as the child process when this is set.
const helperEnv = "SLUICE_PROCESS_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		helper(mode)
		return
	}
	os.Exit(m.Run())
}

// helper prints a ready line, then ticks; on SIGTERM it says goodbye and
// exits 0 (or, in mode "stubborn", ignores it).
func helper(mode string) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	fmt.Printf("ready pid=%d\n", os.Getpid())
	fmt.Fprintln(os.Stderr, "on stderr")
	tick := time.NewTicker(20 * time.Millisecond)
	for n := 0; ; n++ {
		select {
		case <-sigs:
			if mode == "stubborn" {
				continue
			}
			fmt.Println("bye")
			os.Exit(0)
		case <-tick.C:
			fmt.Printf("tick %d\n", n)
		}
	}
}

func start(t *testing.T, mode string) *Proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(Spec{Name: "child", Path: exe, Env: []string{helperEnv + "=" + mode}, LogFile: filepath.Join(t.TempDir(), "child.log")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	waitReady(t, p)
	return p
}

var readyRE = regexp.MustCompile(`ready pid=(\d+)`)

func waitReady(t *testing.T, p *Proc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := p.WaitLog(ctx, readyRE)
	if err != nil {
		t.Fatal(err)
	}
	if m[1] != fmt.Sprint(p.Pid()) {
		t.Fatalf("ready line from pid %s, current pid %d", m[1], p.Pid())
	}
}

// node adapts a Proc to the fault Target.
type node struct {
	t *testing.T
	p *Proc
}

func (n node) TargetName() string { return "child" }
func (n node) Proc() *Proc        { return n.p }
func (n node) Start(ctx context.Context) error {
	if err := n.p.Restart(); err != nil {
		return err
	}
	_, err := n.p.WaitLog(ctx, readyRE)
	return err
}

func TestKillAndRestart(t *testing.T) {
	p := start(t, "normal")
	n := node{t, p}
	pid := p.Pid()
	f := Kill()
	if err := f.Inject(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if p.Running() {
		t.Fatal("running after kill -9")
	}
	var ee *exec.ExitError
	if !errors.As(p.Err(), &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("exit status %v, want killed by SIGKILL", p.Err())
	}
	if err := f.Heal(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if !p.Running() || p.Pid() == pid || p.Incarnation() != 2 {
		t.Fatalf("after heal: running %v pid %d (was %d) incarnation %d", p.Running(), p.Pid(), pid, p.Incarnation())
	}
	// The log file holds both incarnations and stderr. The helper writes
	// to stderr just after its ready line, and the first incarnation may
	// have been killed between the two: wait for the second's.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.WaitLog(ctx, regexp.MustCompile(`on stderr`)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p.spec.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	if strings.Count(log, "ready pid=") != 2 || !strings.Contains(log, "incarnation 2") || !strings.Contains(log, "on stderr") || !strings.Contains(log, "signal: killed") {
		t.Fatalf("log file:\n%s", log)
	}
}

func TestFreezeAndThaw(t *testing.T) {
	p := start(t, "normal")
	n := node{t, p}
	f := Freeze()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.Inject(ctx, n); err != nil {
		t.Fatal(err)
	}
	if s, err := p.Stopped(); err != nil || !s {
		t.Fatalf("stopped = %v, %v", s, err)
	}
	if err := f.Heal(ctx, n); err != nil {
		t.Fatal(err)
	}
	// Thawed: it ticks again.
	before := strings.Count(p.Tail(maxLines), "tick")
	for strings.Count(p.Tail(maxLines), "tick") <= before {
		select {
		case <-ctx.Done():
			t.Fatal("no tick after SIGCONT")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestGracefulRestart(t *testing.T) {
	p := start(t, "normal")
	n := node{t, p}
	f := Restart(10 * time.Second)
	if err := f.Inject(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if p.Err() != nil || !strings.Contains(p.Tail(3), "bye") {
		t.Fatalf("graceful stop: %v\n%s", p.Err(), p.Tail(3))
	}
	if err := f.Heal(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if !p.Running() {
		t.Fatal("not running after heal")
	}
}

func TestTerminateKillsStubborn(t *testing.T) {
	p := start(t, "stubborn")
	err := Restart(200*time.Millisecond).Inject(context.Background(), node{t, p})
	if err == nil || !strings.Contains(err.Error(), "did not exit") {
		t.Fatalf("stubborn process: %v", err)
	}
	if p.Running() {
		t.Fatal("still running")
	}
}

func TestWaitLogFailsWhenProcessExits(t *testing.T) {
	p := start(t, "normal")
	go p.Kill()
	_, err := p.WaitLog(context.Background(), regexp.MustCompile("never printed"))
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("WaitLog on an exiting process: %v", err)
	}
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := p.Restart(); err == nil {
		t.Fatal("Restart of a running process succeeded")
	}
}

type bare struct{}

func (bare) TargetName() string { return "bare" }

func TestWrongTarget(t *testing.T) {
	for _, f := range []faults.Fault{Kill(), Freeze(), Restart(time.Second)} {
		if err := f.Inject(context.Background(), bare{}); !errors.Is(err, faults.ErrTarget) {
			t.Errorf("%s on a target without a process: %v", f.Name(), err)
		}
	}
}
