// Package process runs the nodes of a scenario as real child processes and
// injects process faults into them: kill -9, a freeze (SIGSTOP, then
// SIGCONT), and a graceful restart (SIGTERM, then start again).
package process

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Spec is how to start a process.
type Spec struct {
	Name string
	Path string
	Args []string
	Env  []string // added to the parent's environment
	Dir  string
	// LogFile, if set, receives the process's stdout and stderr across
	// every incarnation, each headed by a marker line.
	LogFile string
}

// maxLines caps the log lines kept in memory per incarnation (the log
// file has them all).
const maxLines = 20000

// Proc is a child process that can be killed, frozen and started again.
type Proc struct {
	spec Spec

	mu    sync.Mutex
	cmd   *exec.Cmd
	gen   int
	lines []string
	drop  int // lines dropped from the front of lines
	pulse chan struct{}
	done  chan struct{}
	err   error
	logf  *os.File
}

// Start starts a process from spec.
func Start(spec Spec) (*Proc, error) {
	p := &Proc{spec: spec}
	if spec.LogFile != "" {
		f, err := os.OpenFile(spec.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("%s: log file: %w", spec.Name, err)
		}
		p.logf = f
	}
	if err := p.Restart(); err != nil {
		if p.logf != nil {
			p.logf.Close()
		}
		return nil, err
	}
	return p, nil
}

// Name is the spec's name.
func (p *Proc) Name() string { return p.spec.Name }

// Restart starts the process again; the previous incarnation must have
// exited.
func (p *Proc) Restart() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("%s: still running (pid %d)", p.spec.Name, p.cmd.Process.Pid)
		}
	}
	cmd := exec.Command(p.spec.Path, p.spec.Args...)
	cmd.Dir = p.spec.Dir
	cmd.Env = append(os.Environ(), p.spec.Env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout // one pipe, one ordered stream
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start %s: %w", p.spec.Name, p.spec.Path, err)
	}
	p.gen++
	p.cmd, p.lines, p.drop, p.err = cmd, nil, 0, nil
	p.pulse, p.done = make(chan struct{}), make(chan struct{})
	if p.logf != nil {
		fmt.Fprintf(p.logf, "=== %s incarnation %d, pid %d, %s\n", p.spec.Name, p.gen, cmd.Process.Pid, time.Now().UTC().Format(time.RFC3339Nano))
	}
	go p.collect(cmd, out, p.done)
	return nil
}

// collect reads the output of one incarnation until it exits.
func (p *Proc) collect(cmd *exec.Cmd, out io.Reader, done chan struct{}) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		if p.cmd == cmd {
			p.lines = append(p.lines, line)
			if len(p.lines) > maxLines {
				n := len(p.lines) - maxLines/2
				p.lines = append(p.lines[:0:0], p.lines[n:]...)
				p.drop += n
			}
			close(p.pulse)
			p.pulse = make(chan struct{})
		}
		if p.logf != nil {
			p.logf.WriteString(line + "\n")
		}
		p.mu.Unlock()
	}
	io.Copy(io.Discard, out)
	err := cmd.Wait()
	p.mu.Lock()
	if p.cmd == cmd {
		p.err = err
	}
	if p.logf != nil {
		fmt.Fprintf(p.logf, "=== %s pid %d exited: %v\n", p.spec.Name, cmd.Process.Pid, err)
	}
	p.mu.Unlock()
	close(done)
}

// Pid is the current incarnation's process id.
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// Incarnation counts starts: 1 for the first.
func (p *Proc) Incarnation() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gen
}

// Done is closed when the current incarnation has exited.
func (p *Proc) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// Running reports whether the current incarnation has not exited.
func (p *Proc) Running() bool {
	select {
	case <-p.Done():
		return false
	default:
		return true
	}
}

// Err is how the last incarnation exited (nil while running).
func (p *Proc) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Signal sends sig to the current incarnation.
func (p *Proc) Signal(sig os.Signal) error {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("%s: signal %v: %w", p.spec.Name, sig, err)
	}
	return nil
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() error {
	done := p.Done()
	select {
	case <-done:
		return nil
	default:
	}
	if err := p.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-done
	return nil
}

// Terminate asks the process to stop (SIGTERM, and SIGCONT in case it is
// frozen) and waits up to grace before killing it. It reports whether the
// process exited on its own.
func (p *Proc) Terminate(grace time.Duration) (bool, error) {
	done := p.Done()
	select {
	case <-done:
		return true, nil
	default:
	}
	if err := p.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return false, err
	}
	p.Signal(syscall.SIGCONT)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		return true, nil
	case <-t.C:
		return false, p.Kill()
	}
}

// Stopped reports whether the process is stopped by a signal (state T in
// /proc), which is how a freeze is confirmed.
func (p *Proc) Stopped() (bool, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid()))
	if err != nil {
		return false, err
	}
	// pid (comm) state ...: comm may contain spaces; the state follows
	// the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false, fmt.Errorf("unexpected /proc stat %q", s)
	}
	return s[i+2] == 'T' || s[i+2] == 't', nil
}

// WaitLog waits until a line of the current incarnation's output matches
// re and returns the match's submatches. It fails if the process exits
// first or ctx ends.
func (p *Proc) WaitLog(ctx context.Context, re *regexp.Regexp) ([]string, error) {
	next := 0
	for {
		p.mu.Lock()
		if next < p.drop {
			next = p.drop
		}
		for ; next-p.drop < len(p.lines); next++ {
			if m := re.FindStringSubmatch(p.lines[next-p.drop]); m != nil {
				p.mu.Unlock()
				return m, nil
			}
		}
		pulse, done := p.pulse, p.done
		p.mu.Unlock()
		select {
		case <-pulse:
		case <-done:
			// Lines may still be buffered before the exit was seen.
			p.mu.Lock()
			for ; next-p.drop < len(p.lines); next++ {
				if m := re.FindStringSubmatch(p.lines[next-p.drop]); m != nil {
					p.mu.Unlock()
					return m, nil
				}
			}
			err := p.err
			p.mu.Unlock()
			return nil, fmt.Errorf("%s exited (%v) before logging %s:\n%s", p.spec.Name, err, re, p.Tail(20))
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: no line matching %s: %w\n%s", p.spec.Name, re, ctx.Err(), p.Tail(20))
		}
	}
}

// Tail returns the last n lines of the current incarnation's output.
func (p *Proc) Tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ls := p.lines
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// Close kills the process if it runs and closes the log file.
func (p *Proc) Close() error {
	p.Signal(syscall.SIGCONT)
	err := p.Kill()
	<-p.Done()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.logf != nil {
		p.logf.Close()
		p.logf = nil
	}
	return err
}
