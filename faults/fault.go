// Package faults is the nemesis: one interface for every fault the
// scenarios inject, after CockroachDB's failover "failer" and Jepsen's
// nemesis (set up once, inject on a target, heal, clean up).
//
// The implementations live in subpackages so that a caller links only what
// it uses: network (an in-process toxiproxy in front of every hop),
// process (kill -9, SIGSTOP/SIGCONT, graceful restart), container (Docker
// kill, pause, network disconnect) and disk (a full disk on a size-limited
// tmpfs).
package faults

import (
	"context"
	"errors"
	"fmt"
)

// Kind is a fault's family.
type Kind string

const (
	Network   Kind = "network"
	Process   Kind = "process"
	Container Kind = "container"
	Disk      Kind = "disk"
)

// Target is what a fault acts on: a node of the topology. Each fault
// asserts the richer interface it needs (a network fault wants the node's
// proxies, a process fault its process) and fails with ErrTarget when the
// target does not offer it.
type Target interface {
	TargetName() string
}

// Fault is one kind of failure.
type Fault interface {
	// Name is the fault as a scenario names it ("blackhole", "kill-9").
	Name() string
	Kind() Kind
	// Action is what Inject does, for the run record ("kill", "timeout").
	Action() string
	// Params are the fault's settings, for the run record.
	Params() map[string]string
	// Setup prepares the fault once, before the run (mount a tmpfs, check
	// a Docker engine). A fault that cannot run here returns an error
	// wrapping ErrUnsupported, and the scenario skips.
	Setup(ctx context.Context) error
	// Inject applies the fault to t; it returns once the fault is in
	// effect.
	Inject(ctx context.Context, t Target) error
	// Heal undoes Inject on t; it returns once t works again (a killed
	// process is running and ready).
	Heal(ctx context.Context, t Target) error
	// Cleanup releases what Setup took.
	Cleanup(ctx context.Context) error
}

// ErrUnsupported marks a fault that cannot run in this environment (not
// root, no Docker engine); scenarios skip with the error's message.
var ErrUnsupported = errors.New("fault not supported here")

// ErrTarget is returned when a fault is injected on a target that does not
// offer what the fault acts on.
var ErrTarget = errors.New("fault does not apply to this target")

// TargetError says which target lacks what.
func TargetError(f Fault, t Target, want string) error {
	return fmt.Errorf("%s on %s: target has no %s: %w", f.Name(), t.TargetName(), want, ErrTarget)
}

// Base implements Setup and Cleanup as no-ops, Params as none.
type Base struct{}

func (Base) Setup(context.Context) error   { return nil }
func (Base) Cleanup(context.Context) error { return nil }
func (Base) Params() map[string]string     { return nil }
