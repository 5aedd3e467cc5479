package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/faults"
	"github.com/sluicehq/sluice/faults/network"
	"github.com/sluicehq/sluice/faults/process"
	"github.com/sluicehq/sluice/reports/record"
)

// Node is an agent or collector of a running scenario. It is the target
// faults act on: its proxies (every hop towards it), its process, or its
// container.
type Node struct {
	h        *harness
	Name     string
	Role     record.Role
	Tier     string
	Dir      string
	ConfPath string
	conf     func() string // renders the config for the current ports

	proc *process.Proc
	ctr  ContainerNode
	disk faults.Fault // a disk fault bound to one of its directories

	// faulted counts process and container faults in effect (the node may
	// be down on purpose); stopping is set when the harness stops it.
	faulted  atomic.Int32
	stopping atomic.Bool
	reported int // the last incarnation whose unexpected exit was reported

	mu          sync.Mutex
	proxies     []*network.Proxy // in front of this node
	metricsAddr string
	sourceAddr  string // where its source listens now
	sourcePort  int    // the port its config asks for (process nodes)
	groups      []record.SinkGroup
	down        bool
}

// TargetName is the node's name.
func (n *Node) TargetName() string { return n.Name }

// Proxies are the proxies every hop towards the node goes through.
func (n *Node) Proxies() []*network.Proxy {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*network.Proxy(nil), n.proxies...)
}

// Proc is the node's process (nil for a container node).
func (n *Node) Proc() *process.Proc { return n.proc }

// LogPath is where the node's output is kept.
func (n *Node) LogPath() string { return filepath.Join(n.h.nodeLogDir, n.Name+".log") }

// MetricsAddr is where its /metrics is served now ("" while down).
func (n *Node) MetricsAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.metricsAddr
}

// SourceAddr is where its source listens now ("" while down).
func (n *Node) SourceAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.down {
		return ""
	}
	return n.sourceAddr
}

var (
	metricsRE = regexp.MustCompile(`msg="metrics server listening".* addr=(\S+)`)
	startedRE = regexp.MustCompile(`msg="agent started"`)
	httpRE    = regexp.MustCompile(`msg="http source listening".* addr=(\S+)`)
)

// freePort asks the OS for a loopback port that is free now. Process
// nodes keep their source on one port across restarts (the proxies and
// writers point at it); if it is taken by the time a node restarts, Start
// picks another and re-points the proxies.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts the node (again) and returns once it is ready: its
// metrics are served, its components started, its source listens, and
// the proxies in front of it point at it.
func (n *Node) Start(ctx context.Context) error {
	if n.ctr != nil {
		return n.Restarted(ctx)
	}
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			// The port was taken meanwhile: take another one.
			p, err := freePort()
			if err != nil {
				return err
			}
			n.mu.Lock()
			n.sourcePort = p
			n.mu.Unlock()
		}
		if err := os.WriteFile(n.ConfPath, []byte(n.conf()), 0o644); err != nil {
			return err
		}
		var err error
		if n.proc == nil {
			n.proc, err = process.Start(process.Spec{
				Name: n.Name, Path: n.h.opts.Binary,
				Args: []string{"agent", "-n", n.Name, "-f", n.ConfPath, "--metrics-addr", "127.0.0.1:0",
					"--no-reload-conf", "--drain-timeout", "10s"},
				LogFile: n.LogPath(),
			})
		} else {
			err = n.proc.Restart()
		}
		if err != nil {
			return err
		}
		if last = n.ready(ctx); last == nil {
			return nil
		}
		if n.proc.Running() || ctx.Err() != nil {
			return last
		}
	}
	return last
}

func (n *Node) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	m, err := n.proc.WaitLog(ctx, metricsRE)
	if err != nil {
		return err
	}
	if _, err := n.proc.WaitLog(ctx, startedRE); err != nil {
		return err
	}
	n.mu.Lock()
	src := net.JoinHostPort("127.0.0.1", strconv.Itoa(n.sourcePort))
	n.mu.Unlock()
	if n.Role == record.RoleAgent && n.h.sc.source() == "http" {
		hm, err := n.proc.WaitLog(ctx, httpRE)
		if err != nil {
			return err
		}
		src = hm[1]
	}
	return n.up(ctx, m[1], src)
}

// up records the node's addresses, waits until its source accepts
// connections and points the proxies in front of it there.
func (n *Node) up(ctx context.Context, metrics, src string) error {
	if n.sourcePortWanted() {
		for {
			c, err := net.DialTimeout("tcp", src, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: source at %s never accepted a connection: %w", n.Name, src, err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	n.mu.Lock()
	n.metricsAddr, n.sourceAddr, n.down = metrics, src, false
	ps := n.proxies
	n.mu.Unlock()
	for _, p := range ps {
		if p.Upstream() != src {
			if err := p.SetUpstream(src); err != nil {
				return err
			}
		}
	}
	return nil
}

func (n *Node) sourcePortWanted() bool {
	return n.Role == record.RoleCollector || n.h.sc.source() == "http"
}

// markDown notes that the node is not reachable (killed, stopped).
func (n *Node) markDown() {
	n.mu.Lock()
	n.down = true
	n.mu.Unlock()
}

// Restarted is called for a container node after it was started again or
// reconnected: its published ports have moved.
func (n *Node) Restarted(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		m, err1 := n.ctr.MetricsAddr(ctx)
		s, err2 := n.ctr.SourceAddr(ctx)
		if err := errors.Join(err1, err2); err == nil {
			return n.up(ctx, m, s)
		} else if ctx.Err() != nil {
			return fmt.Errorf("%s: not reachable again: %w", n.Name, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop stops the node gracefully (SIGTERM, then kill after grace).
func (n *Node) Stop(ctx context.Context, grace time.Duration) error {
	n.stopping.Store(true)
	n.markDown()
	if n.ctr != nil {
		return n.ctr.Terminate(ctx)
	}
	if n.proc == nil {
		return nil
	}
	_, err := n.proc.Terminate(grace)
	return err
}

// metrics is one /metrics?extended=1 reading.
type metrics map[string]map[string]string

func (n *Node) fetch(ctx context.Context, client *http.Client) (metrics, error) {
	addr := n.MetricsAddr()
	if addr == "" {
		return nil, errors.New("down")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics?extended=1", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	var m metrics
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

func (m metrics) int(key, attr string) int64 {
	v, err := strconv.ParseInt(m[key][attr], 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// ContainerNode is a node running as a container (scenarios/containers
// provides it); the harness only needs its addresses and an end.
type ContainerNode interface {
	faults.Target
	MetricsAddr(ctx context.Context) (string, error)
	SourceAddr(ctx context.Context) (string, error)
	Terminate(ctx context.Context) error
}
