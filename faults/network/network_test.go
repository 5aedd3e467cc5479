package network

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/faults"
)

// echo is a line echo server on a loopback port, prefixing each reply
// with its tag.
func echo(t *testing.T, tag string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					if _, err := io.WriteString(c, tag+sc.Text()+"\n"); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

type node struct {
	ps []*Proxy
}

func (n node) TargetName() string { return "node" }
func (n node) Proxies() []*Proxy  { return n.ps }

func setup(t *testing.T) (*Server, *Proxy) {
	t.Helper()
	s := NewServer()
	t.Cleanup(s.Close)
	p, err := s.NewProxy("p1", echo(t, "a:"))
	if err != nil {
		t.Fatal(err)
	}
	return s, p
}

// roundTrip sends one line on c and reads the reply within d.
func roundTrip(c net.Conn, line string, d time.Duration) (string, error) {
	c.SetDeadline(time.Now().Add(d))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	r, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(r), err
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustEcho(t *testing.T, p *Proxy, want string) {
	t.Helper()
	c := dial(t, p)
	got, err := roundTrip(c, "x", 5*time.Second)
	if err != nil || got != want+"x" {
		t.Fatalf("echo through %s: %q, %v", p.Addr(), got, err)
	}
}

func TestPassThroughAndUpstreamChange(t *testing.T) {
	_, p := setup(t)
	addr := p.Addr()
	mustEcho(t, p, "a:")
	if err := p.SetUpstream(echo(t, "b:")); err != nil {
		t.Fatal(err)
	}
	if p.Addr() != addr {
		t.Fatalf("address moved: %s -> %s", addr, p.Addr())
	}
	mustEcho(t, p, "b:")
}

func TestBlackholeIsSilent(t *testing.T) {
	_, p := setup(t)
	n := node{[]*Proxy{p}}
	c := dial(t, p)
	if _, err := roundTrip(c, "before", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	f := Blackhole()
	if err := f.Inject(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	// An open connection neither answers nor closes: the read times out.
	_, err := roundTrip(c, "during", 300*time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("open connection during a black hole: %v, want a timeout", err)
	}
	// A new connection is accepted, and is just as silent.
	c2 := dial(t, p)
	if _, err := roundTrip(c2, "new", 300*time.Millisecond); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("new connection during a black hole: %v, want a timeout", err)
	}
	if err := f.Heal(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	mustEcho(t, p, "a:")
}

func TestDownRefusesThenComesBack(t *testing.T) {
	_, p := setup(t)
	n := node{[]*Proxy{p}}
	c := dial(t, p)
	f := Down()
	if err := f.Inject(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(c, "x", 5*time.Second); err == nil {
		t.Fatal("open connection survived the proxy going down")
	}
	if c, err := net.DialTimeout("tcp", p.Addr(), 2*time.Second); err == nil {
		c.Close()
		t.Fatal("connection accepted while down")
	}
	if err := f.Heal(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	mustEcho(t, p, "a:")
}

func TestResetPeer(t *testing.T) {
	_, p := setup(t)
	n := node{[]*Proxy{p}}
	f := ResetPeer(0)
	if err := f.Inject(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	c := dial(t, p)
	if got, err := roundTrip(c, "x", 5*time.Second); err == nil {
		t.Fatalf("got %q through reset_peer", got)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("reset_peer timed out instead of resetting: %v", err)
	}
	if err := f.Heal(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	mustEcho(t, p, "a:")
}

func TestLatencyDelays(t *testing.T) {
	_, p := setup(t)
	n := node{[]*Proxy{p}}
	f := Latency(150*time.Millisecond, 0)
	if err := f.Inject(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	c := dial(t, p)
	start := time.Now()
	if _, err := roundTrip(c, "x", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// Both directions are delayed: a round trip takes at least twice the latency.
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("round trip took %v under 150ms latency each way", d)
	}
	if err := f.Heal(context.Background(), n); err != nil {
		t.Fatal(err)
	}
}

func TestLimitDataCloses(t *testing.T) {
	_, p := setup(t)
	n := node{[]*Proxy{p}}
	f := LimitData(4)
	if err := f.Inject(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	c := dial(t, p)
	// "0123456789\n" is over the limit: the proxy forwards 4 bytes and
	// closes, so no full line ever comes back.
	if got, err := roundTrip(c, "0123456789", 5*time.Second); err == nil {
		t.Fatalf("got %q past limit_data", got)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("limit_data did not close the connection: %v", err)
	}
	if err := f.Heal(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	mustEcho(t, p, "a:")
}

func TestOtherToxicsApplyAndHeal(t *testing.T) {
	_, p := setup(t)
	n := node{[]*Proxy{p}}
	for _, f := range []faults.Fault{Bandwidth(1000), Slicer(4, 2, time.Millisecond), Slow(10*time.Millisecond, 5*time.Millisecond, 1000)} {
		if err := f.Inject(context.Background(), n); err != nil {
			t.Fatalf("%s: %v", f.Name(), err)
		}
		mustEcho(t, p, "a:") // slowed, still delivered
		if err := f.Heal(context.Background(), n); err != nil {
			t.Fatalf("%s: heal: %v", f.Name(), err)
		}
		for _, x := range p.p.Toxics.GetToxicArray() {
			if typ := fmt.Sprintf("%T", x); typ != "*toxics.NoopToxic" {
				t.Fatalf("%s: toxic %s left after heal", f.Name(), typ)
			}
		}
	}
}

type target struct{}

func (target) TargetName() string { return "nothing" }

func TestWrongTarget(t *testing.T) {
	if err := Blackhole().Inject(context.Background(), target{}); !errors.Is(err, faults.ErrTarget) {
		t.Fatalf("blackhole on a target without proxies: %v", err)
	}
}
