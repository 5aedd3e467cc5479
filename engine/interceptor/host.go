package interceptor

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/source"
)

// Host sets a header (host) to this machine's IP address (useIP, the
// default) or canonical host name, as Flume's HostInterceptor does with
// InetAddress.getLocalHost(): the agent's host name is resolved, an IPv4
// address preferred, and for the name the address is looked up in reverse.
// The lookup happens once, at the first batch (factories do no I/O); if it
// fails the header is not set, as in Flume.
type Host struct {
	Header   string
	Preserve bool
	UseIP    bool
	Hostname string
	Log      *slog.Logger
	// Resolver does the lookups; nil uses net.DefaultResolver.
	Resolver interface {
		LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
		LookupAddr(ctx context.Context, addr string) ([]string, error)
	}

	once  sync.Once
	value string
}

// lookupTimeout bounds the one lookup; a wedged resolver must not hold the
// source's first batch for long.
const lookupTimeout = 5 * time.Second

func (h *Host) resolve() {
	res := h.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	addrs, err := res.LookupIPAddr(ctx, h.Hostname)
	if err != nil || len(addrs) == 0 {
		if h.Log != nil {
			h.Log.Warn("host interceptor: cannot resolve the local host name; the header is not set", "hostname", h.Hostname, "err", err)
		}
		return
	}
	ip := addrs[0].IP
	for _, a := range addrs {
		if a.IP.To4() != nil {
			ip = a.IP
			break
		}
	}
	h.value = ip.String()
	if h.UseIP {
		return
	}
	if names, err := res.LookupAddr(ctx, h.value); err == nil && len(names) > 0 {
		h.value = strings.TrimSuffix(names[0], ".")
	}
}

func (h *Host) Intercept(events []event.Event) []event.Event {
	h.once.Do(h.resolve)
	if h.value == "" {
		return events
	}
	for i := range events {
		setHeader(&events[i], h.Header, h.value, h.Preserve)
	}
	return events
}

func init() {
	register("host", "org.apache.flume.interceptor.HostInterceptor$Builder",
		func(env registry.Env, r *config.Reader) (source.Interceptor, error) {
			return &Host{
				Header:   r.String("hostHeader", "host"),
				Preserve: r.Bool("preserveExisting", false),
				UseIP:    r.Bool("useIP", true),
				Hostname: env.Hostname,
				Log:      env.Log,
			}, nil
		})
}
