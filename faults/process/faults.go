package process

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/faults"
)

// Target is a node running as a process. Start brings it back after a
// kill or a stop and returns once it is ready (listening, observable),
// doing whatever else the node needs (re-pointing proxies at new ports).
type Target interface {
	faults.Target
	Proc() *Proc
	Start(ctx context.Context) error
}

func target(f faults.Fault, t faults.Target) (Target, error) {
	pt, ok := t.(Target)
	if !ok {
		return nil, faults.TargetError(f, t, "process")
	}
	return pt, nil
}

type kill struct{ faults.Base }

// Kill is kill -9: Inject sends SIGKILL and waits for the process to be
// gone; Heal starts it again.
func Kill() faults.Fault { return kill{} }

func (kill) Name() string      { return "kill-9" }
func (kill) Kind() faults.Kind { return faults.Process }
func (kill) Action() string    { return "SIGKILL" }

func (f kill) Inject(_ context.Context, t faults.Target) error {
	pt, err := target(f, t)
	if err != nil {
		return err
	}
	return pt.Proc().Kill()
}

func (f kill) Heal(ctx context.Context, t faults.Target) error {
	pt, err := target(f, t)
	if err != nil {
		return err
	}
	if pt.Proc().Running() {
		return nil
	}
	return pt.Start(ctx)
}

type freeze struct{ faults.Base }

// Freeze stops the process with SIGSTOP (it keeps its sockets open and
// answers nothing: a hung peer) and thaws it with SIGCONT.
func Freeze() faults.Fault { return freeze{} }

func (freeze) Name() string      { return "freeze" }
func (freeze) Kind() faults.Kind { return faults.Process }
func (freeze) Action() string    { return "SIGSTOP" }

func (f freeze) Inject(ctx context.Context, t faults.Target) error {
	pt, err := target(f, t)
	if err != nil {
		return err
	}
	p := pt.Proc()
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	// SIGSTOP is asynchronous; the fault is in effect once the kernel
	// reports the process stopped.
	for {
		stopped, err := p.Stopped()
		if err != nil {
			return fmt.Errorf("freeze %s: %w", t.TargetName(), err)
		}
		if stopped {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("freeze %s: not stopped: %w", t.TargetName(), ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func (f freeze) Heal(_ context.Context, t faults.Target) error {
	pt, err := target(f, t)
	if err != nil {
		return err
	}
	return pt.Proc().Signal(syscall.SIGCONT)
}

type restart struct {
	faults.Base
	grace time.Duration
}

// Restart is a graceful restart: Inject sends SIGTERM and waits up to
// grace for the process to drain and exit (then kills it); Heal starts it
// again.
func Restart(grace time.Duration) faults.Fault { return restart{grace: grace} }

func (restart) Name() string      { return "restart" }
func (restart) Kind() faults.Kind { return faults.Process }
func (restart) Action() string    { return "SIGTERM" }
func (f restart) Params() map[string]string {
	return map[string]string{"grace": f.grace.String()}
}

func (f restart) Inject(_ context.Context, t faults.Target) error {
	pt, err := target(f, t)
	if err != nil {
		return err
	}
	clean, err := pt.Proc().Terminate(f.grace)
	if err != nil {
		return err
	}
	if !clean {
		return fmt.Errorf("restart %s: did not exit within %v of SIGTERM; killed", t.TargetName(), f.grace)
	}
	return nil
}

func (f restart) Heal(ctx context.Context, t faults.Target) error {
	pt, err := target(f, t)
	if err != nil {
		return err
	}
	if pt.Proc().Running() {
		return nil
	}
	return pt.Start(ctx)
}
