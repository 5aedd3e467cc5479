// Package network injects network faults through an in-process toxiproxy
// placed in front of every hop: a proxy down (connections refused), a
// black hole (toxiproxy's timeout toxic: bytes vanish, nothing is closed),
// reset_peer (TCP RST), latency with jitter, bandwidth, slicer and
// limit_data.
package network

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// Server owns the proxies of one run.
type Server struct {
	api *toxiproxy.ApiServer

	mu      sync.Mutex
	proxies []*Proxy
}

// NewServer returns a toxiproxy server that runs in this process; it does
// not listen on an API port (proxies are driven directly).
func NewServer() *Server {
	// toxiproxy's toxics log through zerolog's global logger (trace lines
	// on every interrupted bandwidth toxic); nothing else here uses
	// zerolog, so it is switched off for the process.
	zerolog.SetGlobalLevel(zerolog.Disabled)
	return &Server{api: toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())}
}

// Proxy is one toxiproxy proxy: clients connect to Addr, the proxy
// connects to the upstream.
type Proxy struct {
	name string
	s    *Server
	p    *toxiproxy.Proxy
}

// NewProxy starts a proxy on an OS-picked loopback port in front of
// upstream.
func (s *Server) NewProxy(name, upstream string) (*Proxy, error) {
	p := toxiproxy.NewProxy(s.api, name, "127.0.0.1:0", upstream)
	if err := s.api.Collection.Add(p, true); err != nil {
		return nil, fmt.Errorf("proxy %s -> %s: %w", name, upstream, err)
	}
	px := &Proxy{name: name, s: s, p: p}
	s.mu.Lock()
	s.proxies = append(s.proxies, px)
	s.mu.Unlock()
	return px, nil
}

// Close stops every proxy.
func (s *Server) Close() {
	s.mu.Lock()
	ps := s.proxies
	s.proxies = nil
	s.mu.Unlock()
	for _, p := range ps {
		s.api.Collection.Remove(p.name)
	}
}

// Name is the proxy's name.
func (p *Proxy) Name() string { return p.name }

// Addr is where clients connect; it stays the same across Disable/Enable
// and SetUpstream.
func (p *Proxy) Addr() string {
	p.p.Lock()
	defer p.p.Unlock()
	return p.p.Listen
}

// Upstream is the address the proxy forwards to.
func (p *Proxy) Upstream() string {
	p.p.Lock()
	defer p.p.Unlock()
	return p.p.Upstream
}

// SetUpstream points the proxy at a new upstream (a restarted node on a
// new port). Open connections are closed.
func (p *Proxy) SetUpstream(addr string) error {
	in := &toxiproxy.Proxy{Listen: p.Addr(), Upstream: addr, Enabled: p.Enabled()}
	if err := p.p.Update(in); err != nil {
		return fmt.Errorf("proxy %s: upstream %s: %w", p.name, addr, err)
	}
	return nil
}

// Enabled reports whether the proxy accepts connections.
func (p *Proxy) Enabled() bool {
	p.p.Lock()
	defer p.p.Unlock()
	return p.p.Enabled
}

// Disable closes the listener and every connection: clients are refused.
func (p *Proxy) Disable() { p.p.Stop() }

// Enable listens again on the same address.
func (p *Proxy) Enable() error {
	if p.Enabled() {
		return nil
	}
	if err := p.p.Start(); err != nil && !errors.Is(err, toxiproxy.ErrProxyAlreadyStarted) {
		return fmt.Errorf("proxy %s: enable: %w", p.name, err)
	}
	return nil
}

// Toxic is a toxiproxy toxic as its API describes one.
type Toxic struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream"` // upstream (client to server) or downstream
	Toxicity   float32        `json:"toxicity"`
	Attributes map[string]any `json:"attributes"`
}

// AddToxic adds t to the proxy; it applies to open connections too.
func (p *Proxy) AddToxic(t Toxic) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if _, err := p.p.Toxics.AddToxicJson(bytes.NewReader(b)); err != nil {
		return fmt.Errorf("proxy %s: add toxic %s (%s): %w", p.name, t.Name, t.Type, err)
	}
	return nil
}

// RemoveToxic removes the named toxic; removing one that is not there is
// not an error.
func (p *Proxy) RemoveToxic(name string) error {
	err := p.p.Toxics.RemoveToxic(context.Background(), name)
	if err != nil && !errors.Is(err, toxiproxy.ErrToxicNotFound) {
		return fmt.Errorf("proxy %s: remove toxic %s: %w", p.name, name, err)
	}
	return nil
}
