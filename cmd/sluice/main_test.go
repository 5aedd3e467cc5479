package main

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/cmd/sluice/testbin"
)

// sluiceBin is the sluice binary built once for the tests that run it as a
// real process.
var sluiceBin string

func TestMain(m *testing.M) {
	testbin.Main(m, &sluiceBin, true)
}

// proc is a running sluice process whose stderr is collected.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  strings.Builder
	seen chan struct{} // pulsed on every line
	done chan struct{}
	err  error
}

func startSluice(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(sluiceBin, args...), seen: make(chan struct{}, 1), done: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = io.Discard
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.seen <- struct{}{}:
			default:
			}
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("sluice %v log:\n%s", args, p.Log())
		}
	})
	return p
}

func (p *proc) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// waitLog waits until the log matches re and returns the first submatch.
func (p *proc) waitLog(t *testing.T, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		if m := re.FindStringSubmatch(p.Log()); m != nil {
			return m
		}
		select {
		case <-p.seen:
		case <-p.done:
			if m := re.FindStringSubmatch(p.Log()); m != nil {
				return m
			}
			t.Fatalf("sluice exited (%v) before logging %s", p.err, re)
		case <-ctx.Done():
			t.Fatalf("no log line matching %s within %v", re, timeout)
		}
	}
}

func (p *proc) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("sluice did not exit within %v", timeout)
		return nil
	}
}

var httpAddrRE = regexp.MustCompile(`http source listening.* addr=(\S+)`)
