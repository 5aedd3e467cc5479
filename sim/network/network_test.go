package network

import (
	"math/rand/v2"
	"testing"
	"time"
)

func newNet() (*Net, Host, Host, Host) {
	n := New(rand.New(rand.NewPCG(1, 1)), LAN)
	return n, n.AddHost("a"), n.AddHost("b"), n.AddHost("c")
}

func TestLatencyWithinDistribution(t *testing.T) {
	n, a, b, _ := newNet()
	for range 1000 {
		d, ok := n.Send(a, b, 100)
		if !ok || d < LAN.Latency.Base {
			t.Fatalf("LAN message: %v %v", d, ok)
		}
	}
}

func TestOneWayAndSymmetricPartitions(t *testing.T) {
	n, a, b, c := newNet()
	r := &Rule{Name: "a-/->b", Kind: Drop, From: NewSet(3, a), To: NewSet(3, b)}
	n.Add(r)
	if _, ok := n.Send(a, b, 1); ok {
		t.Fatal("a->b should be dropped")
	}
	if _, ok := n.Send(b, a, 1); !ok {
		t.Fatal("one-way partition dropped b->a")
	}
	if _, ok := n.Send(a, c, 1); !ok {
		t.Fatal("partition leaked to a->c")
	}
	n.Add(&Rule{Name: "b-/->a", Kind: Drop, From: NewSet(3, b), To: NewSet(3, a)})
	if _, ok := n.Send(b, a, 1); ok {
		t.Fatal("symmetric partition let b->a through")
	}
	n.Remove(r)
	if _, ok := n.Send(a, b, 1); !ok {
		t.Fatal("removed rule still drops")
	}
	n.Heal()
	if len(n.Rules()) != 0 {
		t.Fatal("heal left rules")
	}
}

func TestSlowLinkAndLoss(t *testing.T) {
	n, a, b, _ := newNet()
	n.Add(&Rule{Name: "clog", Kind: Slow, From: NewSet(3, a), To: NewSet(3, b),
		Link: Link{Latency: Latency{Base: time.Second}, Bandwidth: 1000}})
	d, ok := n.Send(a, b, 1000)
	if !ok || d < 2*time.Second {
		t.Fatalf("clogged link: %v %v, want >= 2s (1s latency + 1000B at 1000B/s)", d, ok)
	}
	n.Heal()
	n.Add(&Rule{Name: "lossy", Kind: Slow, From: NewSet(3, a), To: NewSet(3, b), Link: Link{Loss: 0.5}})
	slow := 0
	for range 200 {
		d, ok := n.Send(a, b, 100)
		if ok && d >= rto {
			slow++
		}
	}
	if slow < 50 {
		t.Fatalf("50%% loss delayed only %d of 200 messages by a retransmission", slow)
	}
	n.Heal()
	n.Add(&Rule{Name: "dead", Kind: Slow, From: NewSet(3, a), To: NewSet(3, b), Link: Link{Loss: 1}})
	if _, ok := n.Send(a, b, 1); ok {
		t.Fatal("total loss delivered")
	}
}

func TestResetProbability(t *testing.T) {
	n, a, b, _ := newNet()
	for range 100 {
		if n.Reset(a, b) {
			t.Fatal("LAN link reset")
		}
	}
	n.Add(&Rule{Kind: Slow, From: NewSet(3, a), To: NewSet(3, b), Link: Link{Reset: 1}})
	if !n.Reset(a, b) {
		t.Fatal("reset probability 1 did not reset")
	}
}
