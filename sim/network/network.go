// Package network simulates the links between the simulator's hosts:
// latency distributions, packet loss (as TCP retransmission delay), clogged
// links, connection resets, and symmetric or one-way partitions.
//
// It answers one question, deterministically from its random stream: a
// message of n bytes sent from a to b now — does it arrive, and after how
// long? Callers (the simulated Avro hop) compose request and response
// messages into an RPC outcome.
package network

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Host identifies a simulated host.
type Host int

// Latency is a one-way latency distribution: Base plus a uniform jitter in
// [0, Jitter), and with probability TailP an exponential tail of mean Tail
// (the rare slow packet that makes a p99).
type Latency struct {
	Base   time.Duration
	Jitter time.Duration
	TailP  float64
	Tail   time.Duration
}

func (l Latency) sample(r *rand.Rand) time.Duration {
	d := l.Base
	if l.Jitter > 0 {
		d += time.Duration(r.Int64N(int64(l.Jitter)))
	}
	if l.TailP > 0 && l.Tail > 0 && r.Float64() < l.TailP {
		d += time.Duration(r.ExpFloat64() * float64(l.Tail))
	}
	return d
}

// Link describes a direction of travel between hosts.
type Link struct {
	Latency Latency
	// Bandwidth in bytes per second; 0 is unlimited.
	Bandwidth float64
	// Loss is the probability that a segment is lost; TCP recovers it after
	// a retransmission timeout, so loss shows as delay, and a link losing
	// nearly everything as a timeout.
	Loss float64
	// Reset is the probability that an RPC's connection is reset.
	Reset float64
}

// LAN is a data-centre link: 0.2–0.5 ms one way, a rare 20 ms tail, 1 Gb/s.
var LAN = Link{
	Latency:   Latency{Base: 200 * time.Microsecond, Jitter: 300 * time.Microsecond, TailP: 0.001, Tail: 20 * time.Millisecond},
	Bandwidth: 125e6,
}

const (
	segment = 64 << 10 // bytes per TCP burst considered for loss
	rto     = 200 * time.Millisecond
)

// Net is the network of a simulation.
type Net struct {
	rng   *rand.Rand
	names []string
	link  Link
	rules []*Rule
}

// New returns a network whose links all behave like def until rules say
// otherwise.
func New(rng *rand.Rand, def Link) *Net { return &Net{rng: rng, link: def} }

// AddHost registers a host and returns its id.
func (n *Net) AddHost(name string) Host {
	n.names = append(n.names, name)
	return Host(len(n.names) - 1)
}

// Name is a host's name.
func (n *Net) Name(h Host) string { return n.names[h] }

// Hosts is the number of hosts.
func (n *Net) Hosts() int { return len(n.names) }

// Kind is what a rule does to the messages it matches.
type Kind int

const (
	// Drop black-holes messages (a partition; one-way when only one
	// direction matches).
	Drop Kind = iota
	// Slow replaces the link with Rule.Link (added latency, low bandwidth,
	// loss, resets: a clogged or flaky link).
	Slow
)

// Rule applies to messages from a host in From to a host in To.
type Rule struct {
	Name     string
	Kind     Kind
	From, To Set
	Link     Link // for Slow
}

// Set is a set of hosts.
type Set []bool

// NewSet returns the set of hosts hs among n hosts.
func NewSet(n int, hs ...Host) Set {
	s := make(Set, n)
	for _, h := range hs {
		s[h] = true
	}
	return s
}

func (s Set) has(h Host) bool { return int(h) < len(s) && s[h] }

// Add installs a rule; Remove takes it away again.
func (n *Net) Add(r *Rule) { n.rules = append(n.rules, r) }

// Remove uninstalls r.
func (n *Net) Remove(r *Rule) {
	for i, x := range n.rules {
		if x == r {
			n.rules = append(n.rules[:i], n.rules[i+1:]...)
			return
		}
	}
}

// Heal removes every rule.
func (n *Net) Heal() { n.rules = nil }

// Rules lists the rules in force.
func (n *Net) Rules() []*Rule { return n.rules }

// path returns the link from a to b and whether messages get through.
func (n *Net) path(a, b Host) (Link, bool) {
	l := n.link
	for _, r := range n.rules {
		if !r.From.has(a) || !r.To.has(b) {
			continue
		}
		switch r.Kind {
		case Drop:
			return l, false
		case Slow:
			l = r.Link
		}
	}
	return l, true
}

// Send reports whether n bytes sent from a to b arrive, and after how long.
func (n *Net) Send(a, b Host, bytes int) (time.Duration, bool) {
	l, ok := n.path(a, b)
	if !ok {
		return 0, false
	}
	d := l.Latency.sample(n.rng)
	if l.Bandwidth > 0 {
		d += time.Duration(float64(bytes) / l.Bandwidth * float64(time.Second))
	}
	if l.Loss > 0 {
		if l.Loss >= 1 {
			return 0, false
		}
		// Each lost burst costs a retransmission timeout, doubling as TCP
		// backs off; a link that loses most bursts never delivers in time.
		segs := 1 + bytes/segment
		backoff := rto
		for range segs {
			for n.rng.Float64() < l.Loss {
				d += backoff
				backoff = min(backoff*2, 60*time.Second)
				if backoff >= 60*time.Second {
					return 0, false
				}
			}
		}
	}
	return d, true
}

// Reset reports whether the connection from a to b is reset during an RPC.
func (n *Net) Reset(a, b Host) bool {
	l, ok := n.path(a, b)
	return ok && l.Reset > 0 && n.rng.Float64() < l.Reset
}

// Float is a draw from the network's stream, for callers deciding where in
// an RPC a reset lands.
func (n *Net) Float() float64 { return n.rng.Float64() }

func (r *Rule) String() string {
	switch r.Kind {
	case Drop:
		return fmt.Sprintf("%s: drop", r.Name)
	default:
		return fmt.Sprintf("%s: slow %v+%v loss %.2g reset %.2g bw %s", r.Name, r.Link.Latency.Base, r.Link.Latency.Jitter, r.Link.Loss, r.Link.Reset, bw(r.Link.Bandwidth))
	}
}

func bw(b float64) string {
	if b <= 0 || math.IsInf(b, 1) {
		return "unlimited"
	}
	return fmt.Sprintf("%.0fB/s", b)
}
