// Package containers runs scenario collectors as Docker containers (built
// FROM scratch around the static sluice binary) and registers scenario 8:
// Docker kill, pause and network disconnect of the primary collector.
// It is a package of its own so that the sluice binary links the Docker
// client only when built with -tags containers.
package containers

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"github.com/sluicehq/sluice/faults"
	"github.com/sluicehq/sluice/faults/container"
	"github.com/sluicehq/sluice/faults/network"
	"github.com/sluicehq/sluice/reports/record"
	"github.com/sluicehq/sluice/scenarios"
)

// Runtime starts collectors as containers of one image on one network.
type Runtime struct {
	e     *container.Engine
	image string
	net   *testcontainers.DockerNetwork

	mu    sync.Mutex
	nodes []*node
}

// New connects to the Docker engine and builds the image around binary
// (which must be static: CGO_ENABLED=0). Without a usable engine it
// returns an error wrapping faults.ErrUnsupported.
func New(ctx context.Context, binary string) (*Runtime, error) {
	e, err := container.Connect(ctx)
	if err != nil {
		return nil, err
	}
	img, err := e.Image(ctx, binary)
	if err != nil {
		e.Close()
		return nil, err
	}
	nw, err := e.Network(ctx)
	if err != nil {
		e.Close()
		return nil, err
	}
	return &Runtime{e: e, image: img, net: nw}, nil
}

// Close removes every container and the network.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	ns := r.nodes
	r.nodes = nil
	r.mu.Unlock()
	for _, n := range ns {
		n.Terminate(ctx)
	}
	err := r.net.Remove(ctx)
	r.e.Close()
	return err
}

// node is a collector in a container: the target of container faults
// (and of network faults, through the scenario node's proxies).
type node struct {
	n               *scenarios.Node
	c               *container.Container
	source, metrics string
	rt              *Runtime
	once            sync.Once
}

// Start runs n as a container: its directory is bind-mounted at the same
// path, so its configuration file and stores are where the harness
// expects them.
func (r *Runtime) Start(ctx context.Context, n *scenarios.Node, sourcePort, metricsPort int) (scenarios.ContainerNode, error) {
	src := strconv.Itoa(sourcePort) + "/tcp"
	met := strconv.Itoa(metricsPort) + "/tcp"
	c, err := r.e.Run(ctx, container.Spec{
		Name:  fmt.Sprintf("sluice-%s-%d", n.Name, time.Now().UnixNano()),
		Image: r.image,
		Cmd: []string{"agent", "-n", n.Name, "-f", n.ConfPath, "--metrics-addr", "0.0.0.0:" + strconv.Itoa(metricsPort),
			"--no-reload-conf", "--drain-timeout", "10s"},
		Ports:   []string{src, met},
		Binds:   []string{n.Dir + ":" + n.Dir},
		Network: r.net.Name,
		Ready:   `msg="agent started"`,
	})
	if err != nil {
		return nil, err
	}
	cn := &node{n: n, c: c, source: src, metrics: met, rt: r}
	r.mu.Lock()
	r.nodes = append(r.nodes, cn)
	r.mu.Unlock()
	return cn, nil
}

func (cn *node) TargetName() string              { return cn.n.Name }
func (cn *node) Container() *container.Container { return cn.c }
func (cn *node) Proxies() []*network.Proxy       { return cn.n.Proxies() }

// Restarted waits until the node serves again and re-points its proxies.
func (cn *node) Restarted(ctx context.Context) error { return cn.n.Restarted(ctx) }

func (cn *node) MetricsAddr(ctx context.Context) (string, error) { return cn.c.Addr(ctx, cn.metrics) }
func (cn *node) SourceAddr(ctx context.Context) (string, error)  { return cn.c.Addr(ctx, cn.source) }

// Terminate keeps the container's output as the node's log, then stops
// and removes the container.
func (cn *node) Terminate(ctx context.Context) error {
	var err error
	cn.once.Do(func() {
		if out, lerr := cn.c.Logs(ctx); lerr == nil {
			os.WriteFile(cn.n.LogPath(), []byte(out), 0o644)
		}
		err = cn.c.Terminate(ctx)
	})
	return err
}

var (
	_ container.Target        = (*node)(nil)
	_ network.Target          = (*node)(nil)
	_ scenarios.ContainerNode = (*node)(nil)
	_ scenarios.Containers    = (*Runtime)(nil)
)

func init() {
	dkill := func(*scenarios.Node) faults.Fault { return container.Kill() }
	pause := func(*scenarios.Node) faults.Fault { return container.Pause() }
	disconnect := func(*scenarios.Node) faults.Fault { return container.Disconnect() }
	scenarios.Register(&scenarios.Scenario{
		Name: "containers", Number: 8,
		Description: "collectors as Docker containers (FROM scratch around the static binary): docker kill, docker pause (longer than request-timeout) and a network disconnect of the primary, one after the other; nothing is lost, traffic fails over each time and comes back.",
		Agents:      3, Collectors: 3, Group: "failover", Priorities: []int{100, 80, 60},
		AgentChannel: "file", CollectorChannel: "file", Containers: true,
		Short: scenarios.Variant{Load: 40 * time.Second, Drain: 90 * time.Second, Rate: 200},
		Long:  scenarios.Variant{Load: 6 * time.Minute, Drain: 3 * time.Minute, Rate: 500},
		Nemesis: func(p *scenarios.Plan) {
			slot := p.Load / 4
			p.Add(scenarios.Step{Name: "docker-kill-primary", Target: "collector1", At: slot / 2, For: slot / 2, Fault: dkill})
			p.Add(scenarios.Step{Name: "docker-pause-primary", Target: "collector1", At: slot*3/2 + slot/4, For: max(slot/2, 2*time.Duration(p.RequestTimeout)*time.Millisecond), Fault: pause})
			p.Add(scenarios.Step{Name: "docker-disconnect-primary", Target: "collector1", At: slot*5/2 + slot/4, For: slot / 2, Fault: disconnect})
		},
		Expect: func(r *record.Run) []record.Expectation {
			return append(scenarios.FailedOverTo(r, "collector1", "collector2"), scenarios.FailedBack(r, "collector1")...)
		},
	})
}
