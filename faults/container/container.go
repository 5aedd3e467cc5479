// Package container runs scenario nodes as Docker containers through
// testcontainers-go and injects container faults through the Docker API:
// kill (SIGKILL), pause (the cgroup freezer) and network disconnect.
//
// Images are built FROM scratch around a static sluice binary, so nothing
// is ever pulled: testcontainers' reaper (Ryuk, an image from a registry)
// is disabled, and containers are removed by Terminate. Without a
// reachable Docker engine, Connect returns an error wrapping
// faults.ErrUnsupported and callers skip.
package container

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/sluicehq/sluice/faults"
)

// Prepare sets what testcontainers reads once, on its first use: no
// reaper (its image would have to be pulled) and 127.0.0.1 as the host of
// mapped ports. Call it before anything else touches testcontainers
// (TestMain does); Connect calls it too.
func Prepare() {
	for k, v := range map[string]string{
		"TESTCONTAINERS_RYUK_DISABLED":  "true",
		"TESTCONTAINERS_HOST_OVERRIDE":  "127.0.0.1",
		"TESTCONTAINERS_CHECKS_DISABLE": "true",
	} {
		if _, ok := os.LookupEnv(k); !ok {
			os.Setenv(k, v)
		}
	}
	// Its progress lines are noise in test output; errors come back as
	// errors.
	tclog.SetDefault(tclog.NewNoopLogger())
}

// Engine is a reachable Docker engine.
type Engine struct {
	p   *testcontainers.DockerProvider
	cli client.APIClient
}

// Connect finds the Docker engine, or says why it cannot.
func Connect(ctx context.Context) (e *Engine, err error) {
	Prepare()
	if err := reachable(); err != nil {
		return nil, err
	}
	// testcontainers panics on some host-detection failures; a skip is
	// the right answer there too.
	defer func() {
		if r := recover(); r != nil {
			e, err = nil, fmt.Errorf("no usable Docker engine (%v): %w", r, faults.ErrUnsupported)
		}
	}()
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return nil, fmt.Errorf("no usable Docker engine (%v): %w", err, faults.ErrUnsupported)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := p.Client().Ping(cctx, client.PingOptions{}); err != nil {
		p.Close()
		return nil, fmt.Errorf("Docker engine does not answer (%v): %w", err, faults.ErrUnsupported)
	}
	return &Engine{p: p, cli: p.Client()}, nil
}

// reachable checks the engine's socket before testcontainers is asked.
func reachable() error {
	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	if path, ok := strings.CutPrefix(host, "unix://"); ok {
		c, err := net.DialTimeout("unix", path, 2*time.Second)
		if err != nil {
			return fmt.Errorf("no Docker engine at %s (%v): %w", host, err, faults.ErrUnsupported)
		}
		c.Close()
	}
	return nil
}

// Close releases the engine client.
func (e *Engine) Close() error { return e.p.Close() }

// Client is the Docker API client.
func (e *Engine) Client() client.APIClient { return e.cli }

// Image builds (once per binary content) an image FROM scratch holding
// binary as /sluice, and returns its tag. No base image is pulled and no
// "# syntax" line is used, so the build works offline.
func (e *Engine) Image(ctx context.Context, binary string) (string, error) {
	b, err := os.ReadFile(binary)
	if err != nil {
		return "", fmt.Errorf("image: %w", err)
	}
	sum := sha256.Sum256(b)
	tag := hex.EncodeToString(sum[:6])
	ref := "sluice-scenario:" + tag
	if _, err := e.cli.ImageInspect(ctx, ref); err == nil {
		return ref, nil
	}
	dockerfile := "FROM scratch\nCOPY sluice /sluice\nENTRYPOINT [\"/sluice\"]\n"
	var archive bytes.Buffer
	tw := tar.NewWriter(&archive)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte(dockerfile)}, {"sluice", 0o755, b}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	req := &testcontainers.ContainerRequest{FromDockerfile: testcontainers.FromDockerfile{
		ContextArchive: bytes.NewReader(archive.Bytes()),
		Repo:           "sluice-scenario", Tag: tag, KeepImage: true,
		BuildLogWriter: io.Discard,
	}}
	if _, err := e.p.BuildImage(ctx, req); err != nil {
		return "", fmt.Errorf("build %s FROM scratch: %w", ref, err)
	}
	return ref, nil
}

// Network creates a bridge network for one run.
func (e *Engine) Network(ctx context.Context) (*testcontainers.DockerNetwork, error) {
	n, err := tcnetwork.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("create network: %w", err)
	}
	return n, nil
}

// Spec is a container to run.
type Spec struct {
	Name    string
	Image   string
	Cmd     []string
	Ports   []string          // container ports to publish on 127.0.0.1, "4141/tcp"
	Binds   []string          // "host:container"
	Network string            // network name to join
	Ready   string            // a log line (regexp) that says the node is ready
	Env     map[string]string // environment
}

// Container is a running container.
type Container struct {
	e    *Engine
	spec Spec
	c    testcontainers.Container

	mu sync.Mutex
}

// Run starts a container and waits until it logs spec.Ready.
func (e *Engine) Run(ctx context.Context, spec Spec) (*Container, error) {
	req := testcontainers.ContainerRequest{
		Image:        spec.Image,
		Name:         spec.Name,
		Cmd:          spec.Cmd,
		Env:          spec.Env,
		ExposedPorts: spec.Ports,
		HostConfigModifier: func(hc *container.HostConfig) {
			hc.Binds = append(hc.Binds, spec.Binds...)
			hc.PortBindings = network.PortMap{}
			for _, p := range spec.Ports {
				hc.PortBindings[network.MustParsePort(p)] = []network.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1")}}
			}
		},
	}
	if spec.Network != "" {
		req.Networks = []string{spec.Network}
	}
	if spec.Ready != "" {
		req.WaitingFor = wait.ForLog(spec.Ready).AsRegexp().WithStartupTimeout(60 * time.Second)
	}
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{ContainerRequest: req, Started: true})
	if err != nil {
		if c != nil {
			c.Terminate(context.WithoutCancel(ctx))
		}
		return nil, fmt.Errorf("run container %s: %w", spec.Name, err)
	}
	return &Container{e: e, spec: spec, c: c}, nil
}

// ID is the container id.
func (c *Container) ID() string { return c.c.GetContainerID() }

// Name is the spec's name.
func (c *Container) Name() string { return c.spec.Name }

// Addr is the 127.0.0.1 address a container port is published on now (it
// changes when the container is restarted or reconnected).
func (c *Container) Addr(ctx context.Context, port string) (string, error) {
	res, err := c.e.cli.ContainerInspect(ctx, c.ID(), client.ContainerInspectOptions{})
	if err != nil {
		return "", fmt.Errorf("inspect %s: %w", c.spec.Name, err)
	}
	ns := res.Container.NetworkSettings
	if ns == nil {
		return "", fmt.Errorf("%s: no network settings", c.spec.Name)
	}
	for _, b := range ns.Ports[network.MustParsePort(port)] {
		if b.HostPort != "" && (!b.HostIP.IsValid() || b.HostIP.Is4()) {
			return net.JoinHostPort("127.0.0.1", b.HostPort), nil
		}
	}
	return "", fmt.Errorf("%s: port %s is not published (container stopped or disconnected?)", c.spec.Name, port)
}

// Running reports whether the container runs (and is not paused).
func (c *Container) Running(ctx context.Context) (bool, error) {
	res, err := c.e.cli.ContainerInspect(ctx, c.ID(), client.ContainerInspectOptions{})
	if err != nil {
		return false, err
	}
	st := res.Container.State
	return st != nil && st.Running && !st.Paused, nil
}

// Logs returns the container's output so far.
func (c *Container) Logs(ctx context.Context) (string, error) {
	rc, err := c.c.Logs(ctx)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 16<<20))
	return string(b), err
}

// Terminate stops and removes the container.
func (c *Container) Terminate(ctx context.Context) error {
	return c.c.Terminate(ctx)
}

// Target is a node running as a container. Restarted is called after the
// container was started again or reconnected, and returns once the node
// is ready and reachable again (its published ports have moved).
type Target interface {
	faults.Target
	Container() *Container
	Restarted(ctx context.Context) error
}

func target(f faults.Fault, t faults.Target) (Target, error) {
	ct, ok := t.(Target)
	if !ok {
		return nil, faults.TargetError(f, t, "container")
	}
	return ct, nil
}

type kill struct{ faults.Base }

// Kill is docker kill (SIGKILL); Heal starts the container again.
func Kill() faults.Fault { return kill{} }

func (kill) Name() string      { return "docker-kill" }
func (kill) Kind() faults.Kind { return faults.Container }
func (kill) Action() string    { return "kill" }

func (f kill) Inject(ctx context.Context, t faults.Target) error {
	ct, err := target(f, t)
	if err != nil {
		return err
	}
	c := ct.Container()
	if _, err := c.e.cli.ContainerKill(ctx, c.ID(), client.ContainerKillOptions{Signal: "SIGKILL"}); err != nil {
		return fmt.Errorf("docker kill %s: %w", c.spec.Name, err)
	}
	// The kill is asynchronous: the fault is in effect once the engine
	// reports the container stopped.
	for {
		res, err := c.e.cli.ContainerInspect(ctx, c.ID(), client.ContainerInspectOptions{})
		if err != nil {
			return fmt.Errorf("docker kill %s: %w", c.spec.Name, err)
		}
		if st := res.Container.State; st != nil && !st.Running {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (f kill) Heal(ctx context.Context, t faults.Target) error {
	ct, err := target(f, t)
	if err != nil {
		return err
	}
	c := ct.Container()
	if _, err := c.e.cli.ContainerStart(ctx, c.ID(), client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("docker start %s: %w", c.spec.Name, err)
	}
	return ct.Restarted(ctx)
}

type pause struct{ faults.Base }

// Pause freezes every process of the container (docker pause, the cgroup
// freezer); Heal unpauses it.
func Pause() faults.Fault { return pause{} }

func (pause) Name() string      { return "docker-pause" }
func (pause) Kind() faults.Kind { return faults.Container }
func (pause) Action() string    { return "pause" }

func (f pause) Inject(ctx context.Context, t faults.Target) error {
	ct, err := target(f, t)
	if err != nil {
		return err
	}
	c := ct.Container()
	if _, err := c.e.cli.ContainerPause(ctx, c.ID(), client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("docker pause %s: %w", c.spec.Name, err)
	}
	return nil
}

func (f pause) Heal(ctx context.Context, t faults.Target) error {
	ct, err := target(f, t)
	if err != nil {
		return err
	}
	c := ct.Container()
	if _, err := c.e.cli.ContainerUnpause(ctx, c.ID(), client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("docker unpause %s: %w", c.spec.Name, err)
	}
	return nil
}

type disconnect struct{ faults.Base }

// Disconnect takes the container off its network (its published ports
// close with it); Heal connects it again.
func Disconnect() faults.Fault { return disconnect{} }

func (disconnect) Name() string      { return "docker-disconnect" }
func (disconnect) Kind() faults.Kind { return faults.Container }
func (disconnect) Action() string    { return "network disconnect" }

func (f disconnect) Inject(ctx context.Context, t faults.Target) error {
	ct, err := target(f, t)
	if err != nil {
		return err
	}
	c := ct.Container()
	if c.spec.Network == "" {
		return fmt.Errorf("docker network disconnect %s: the container joined no network of its own", c.spec.Name)
	}
	if _, err := c.e.cli.NetworkDisconnect(ctx, c.spec.Network, client.NetworkDisconnectOptions{Container: c.ID(), Force: true}); err != nil {
		return fmt.Errorf("docker network disconnect %s: %w", c.spec.Name, err)
	}
	return nil
}

func (f disconnect) Heal(ctx context.Context, t faults.Target) error {
	ct, err := target(f, t)
	if err != nil {
		return err
	}
	c := ct.Container()
	if _, err := c.e.cli.NetworkConnect(ctx, c.spec.Network, client.NetworkConnectOptions{Container: c.ID()}); err != nil {
		return fmt.Errorf("docker network connect %s: %w", c.spec.Name, err)
	}
	return ct.Restarted(ctx)
}
