package container

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/faults"
)

func TestMain(m *testing.M) {
	Prepare()
	os.Exit(m.Run())
}

type node struct {
	c    *Container
	addr string
}

func (n *node) TargetName() string    { return n.c.Name() }
func (n *node) Container() *Container { return n.c }
func (n *node) Restarted(ctx context.Context) error {
	for {
		a, err := n.c.Addr(ctx, "7000/tcp")
		if err == nil && echoes(a, time.Second) == nil {
			n.addr = a
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func echoes(addr string, d time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, d)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(d))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	l, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(l) != "ping" {
		return errors.New("bad echo " + l)
	}
	return nil
}

func TestContainerFaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e, err := Connect(ctx)
	if errors.Is(err, faults.ErrUnsupported) {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	bin := filepath.Join(t.TempDir(), "sluice")
	build := exec.Command("go", "build", "-o", bin, "./testdata/echo")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	img, err := e.Image(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := e.Image(ctx, bin); err != nil || again != img {
		t.Fatalf("second Image: %s, %v (want the cached %s)", again, err, img)
	}
	nw, err := e.Network(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer nw.Remove(context.WithoutCancel(ctx))
	c, err := e.Run(ctx, Spec{Name: "sluice-echo-" + filepath.Base(t.TempDir()), Image: img, Ports: []string{"7000/tcp"}, Network: nw.Name, Ready: "echo ready"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Terminate(context.WithoutCancel(ctx))
	n := &node{c: c}
	if err := n.Restarted(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(n.addr, "127.0.0.1:") {
		t.Fatalf("published on %s, want loopback", n.addr)
	}

	for _, f := range []faults.Fault{Kill(), Pause(), Disconnect()} {
		if err := f.Inject(ctx, n); err != nil {
			t.Fatalf("%s: %v", f.Name(), err)
		}
		if err := echoes(n.addr, 500*time.Millisecond); err == nil {
			t.Fatalf("%s: still echoing at %s", f.Name(), n.addr)
		}
		if f.Name() == "docker-pause" {
			if run, err := c.Running(ctx); err != nil || run {
				t.Fatalf("paused container reports running=%v (%v)", run, err)
			}
		}
		if err := f.Heal(ctx, n); err != nil {
			t.Fatalf("%s: heal: %v", f.Name(), err)
		}
		if err := n.Restarted(ctx); err != nil {
			t.Fatalf("%s: not back: %v", f.Name(), err)
		}
	}
}
