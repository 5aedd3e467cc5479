package network

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/faults"
)

// Target is a node reached through proxies: a network fault on it acts on
// every proxy in front of it (every hop towards it).
type Target interface {
	faults.Target
	Proxies() []*Proxy
}

var seq atomic.Int64

type toxicFault struct {
	faults.Base
	name, action string
	params       map[string]string
	toxics       []Toxic
}

func (f *toxicFault) Name() string              { return f.name }
func (f *toxicFault) Kind() faults.Kind         { return faults.Network }
func (f *toxicFault) Action() string            { return f.action }
func (f *toxicFault) Params() map[string]string { return f.params }

func proxiesOf(f faults.Fault, t faults.Target) ([]*Proxy, error) {
	nt, ok := t.(Target)
	if !ok {
		return nil, faults.TargetError(f, t, "proxies")
	}
	ps := nt.Proxies()
	if len(ps) == 0 {
		return nil, fmt.Errorf("%s on %s: no proxy in front of it", f.Name(), t.TargetName())
	}
	return ps, nil
}

func (f *toxicFault) Inject(_ context.Context, t faults.Target) error {
	ps, err := proxiesOf(f, t)
	if err != nil {
		return err
	}
	for _, p := range ps {
		for _, x := range f.toxics {
			if err := p.AddToxic(x); err != nil {
				f.Heal(context.Background(), t)
				return fmt.Errorf("%s on %s: %w", f.name, t.TargetName(), err)
			}
		}
	}
	return nil
}

func (f *toxicFault) Heal(_ context.Context, t faults.Target) error {
	ps, err := proxiesOf(f, t)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range ps {
		for _, x := range f.toxics {
			errs = append(errs, p.RemoveToxic(x.Name))
		}
	}
	return errors.Join(errs...)
}

// newToxic builds a fault adding one toxic of typ per stream.
func newToxic(name, typ string, toxicity float32, attrs map[string]any, params map[string]string, streams ...string) *toxicFault {
	id := seq.Add(1)
	f := &toxicFault{name: name, action: typ, params: params}
	for _, s := range streams {
		f.toxics = append(f.toxics, Toxic{Name: fmt.Sprintf("sluice-%s-%s-%d", typ, s, id), Type: typ, Stream: s, Toxicity: toxicity, Attributes: attrs})
	}
	return f
}

func ms(d time.Duration) int64 { return d.Milliseconds() }

// Blackhole makes every byte vanish in both directions while connections
// stay open (toxiproxy's timeout toxic with timeout 0): a silent, unplugged
// peer. Senders notice only through their own request timeouts.
func Blackhole() faults.Fault {
	return newToxic("blackhole", "timeout", 1, map[string]any{"timeout": 0}, nil, "upstream", "downstream")
}

// ResetPeer resets every connection (TCP RST) after timeout once data
// flows, and every new one likewise, until healed.
func ResetPeer(timeout time.Duration) faults.Fault {
	return newToxic("reset_peer", "reset_peer", 1, map[string]any{"timeout": ms(timeout)},
		map[string]string{"timeout": timeout.String()}, "upstream")
}

// Latency delays data by latency ± jitter, in both directions.
func Latency(latency, jitter time.Duration) faults.Fault {
	return newToxic("latency", "latency", 1, map[string]any{"latency": ms(latency), "jitter": ms(jitter)},
		map[string]string{"latency": latency.String(), "jitter": jitter.String()}, "upstream", "downstream")
}

// Bandwidth limits each direction to kbps kilobytes per second.
func Bandwidth(kbps int64) faults.Fault {
	return newToxic("bandwidth", "bandwidth", 1, map[string]any{"rate": kbps},
		map[string]string{"rate": strconv.FormatInt(kbps, 10) + "KB/s"}, "upstream", "downstream")
}

// Slow combines latency and bandwidth in one fault (a congested link).
func Slow(latency, jitter time.Duration, kbps int64) faults.Fault {
	l := Latency(latency, jitter).(*toxicFault)
	b := Bandwidth(kbps).(*toxicFault)
	f := &toxicFault{name: "slow", action: "latency+bandwidth", toxics: append(l.toxics, b.toxics...), params: map[string]string{}}
	for k, v := range l.params {
		f.params[k] = v
	}
	for k, v := range b.params {
		f.params[k] = v
	}
	return f
}

// Slicer cuts data into pieces of about avg ± variation bytes, delayed by
// delay each (towards the upstream: a fragmenting network).
func Slicer(avg, variation int, delay time.Duration) faults.Fault {
	return newToxic("slicer", "slicer", 1, map[string]any{"average_size": avg, "size_variation": variation, "delay": delay.Microseconds()},
		map[string]string{"average_size": strconv.Itoa(avg), "size_variation": strconv.Itoa(variation), "delay": delay.String()}, "upstream")
}

// LimitData closes each connection after n bytes towards the upstream.
func LimitData(n int64) faults.Fault {
	return newToxic("limit_data", "limit_data", 1, map[string]any{"bytes": n},
		map[string]string{"bytes": strconv.FormatInt(n, 10)}, "upstream")
}

type down struct{ faults.Base }

// Down disables the proxies: open connections are closed and new ones
// refused, as if the peer's host were gone.
func Down() faults.Fault { return down{} }

func (down) Name() string      { return "down" }
func (down) Kind() faults.Kind { return faults.Network }
func (down) Action() string    { return "disable" }

func (f down) Inject(_ context.Context, t faults.Target) error {
	ps, err := proxiesOf(f, t)
	if err != nil {
		return err
	}
	for _, p := range ps {
		p.Disable()
	}
	return nil
}

func (f down) Heal(_ context.Context, t faults.Target) error {
	ps, err := proxiesOf(f, t)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range ps {
		errs = append(errs, p.Enable())
	}
	return errors.Join(errs...)
}
