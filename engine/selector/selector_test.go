package selector

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/channel/channeltest"
	"github.com/sluicehq/sluice/engine/channel/memory"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/source"
)

func memChannels(t testing.TB, capacity int, names ...string) []channel.Channel {
	t.Helper()
	var out []channel.Channel
	for _, n := range names {
		c := memory.DefaultConfig()
		c.Capacity, c.TransactionCapacity, c.KeepAlive = capacity, capacity, 0
		ch := memory.New(n, c, nil, nil, slog.New(slog.DiscardHandler))
		if err := ch.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ch.Stop() })
		out = append(out, ch)
	}
	return out
}

func chNames(chs []channel.Channel) string { return names(chs) }

func ev(headers ...string) event.Event {
	e := event.New([]byte("x"))
	if len(headers) > 0 {
		e.Headers = map[string]string{}
		for i := 0; i+1 < len(headers); i += 2 {
			e.Headers[headers[i]] = headers[i+1]
		}
	}
	return e
}

// selectorFrom builds a source's selector from config text through the
// registry, as the agent does; it returns the selector, the reader (for
// notes and unused keys) and the error.
func selectorFrom(t *testing.T, selectorKeys string, chs []channel.Channel) (source.Selector, *config.Reader, error) {
	t.Helper()
	var list []string
	for _, c := range chs {
		list = append(list, c.Name())
	}
	text := "a.sources = r1\na.sources.r1.type = seq\na.sources.r1.channels = " + strings.Join(list, " ") + "\n" +
		"a.sinks = k1\na.sinks.k1.type = null\na.sinks.k1.channel = " + list[0] + "\na.channels = " + strings.Join(list, " ") + "\n"
	for _, n := range list {
		text += "a.channels." + n + ".type = memory\n"
	}
	text += selectorKeys
	props, err := config.ParseProperties("s.conf", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Build(props, "a", config.Options{})
	src := cfg.Component(config.KindSource, "r1")
	if src == nil {
		t.Fatalf("source dropped: %v", cfg.Findings)
	}
	r := config.NewReader("a", src)
	typ := r.String("selector.type", "replicating")
	e, ok := registry.Lookup(registry.Selector, typ)
	if !ok {
		t.Fatalf("selector type %q not registered", typ)
	}
	sub := r.Sub("selector.")
	sel, err := e.Factory.(registry.SelectorFactory)(registry.Env{Agent: "a"}, sub, chs)
	return sel, r, err
}

func TestReplicating(t *testing.T) {
	chs := memChannels(t, 10, "c1", "c2", "c3")
	sel, r, err := selectorFrom(t, "a.sources.r1.selector.optional = c3 c9\n", chs)
	if err != nil {
		t.Fatal(err)
	}
	req, opt := sel.Select(ev())
	if chNames(req) != "c1 c2" || chNames(opt) != "c3" || chNames(sel.Channels()) != "c1 c2 c3" {
		t.Errorf("required %q optional %q", chNames(req), chNames(opt))
	}
	notes := r.Notes()
	if len(notes) != 1 || notes[0].Rule != "selector-unknown-channel" || notes[0].Line != 11 || !strings.Contains(notes[0].Message, "c9") {
		t.Errorf("notes %+v", notes)
	}
	// Without any selector keys every channel is required.
	sel, _, err = selectorFrom(t, "", chs)
	if err != nil {
		t.Fatal(err)
	}
	if req, opt := sel.Select(ev()); chNames(req) != "c1 c2 c3" || len(opt) != 0 {
		t.Errorf("default replicating: %q %q", chNames(req), chNames(opt))
	}
}

func TestMultiplexingRouting(t *testing.T) {
	chs := memChannels(t, 10, "c1", "c2", "c3", "c4")
	keys := `a.sources.r1.selector.type = multiplexing
a.sources.r1.selector.header = state
a.sources.r1.selector.mapping.CZ = c1
a.sources.r1.selector.mapping.US = c2 c3
a.sources.r1.selector.optional.US = c3 c4
a.sources.r1.selector.optional.XX = c1 c4
a.sources.r1.selector.default = c1
`
	sel, r, err := selectorFrom(t, keys, chs)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		e        event.Event
		req, opt string
	}{
		{"mapped", ev("state", "CZ"), "c1", ""},
		{"mapped to two", ev("state", "US"), "c2 c3", "c4"},
		{"unmapped value goes to default", ev("state", "DE"), "c1", ""},
		{"header missing goes to default", ev(), "c1", ""},
		{"blank header goes to default", ev("state", " \t"), "c1", ""},
		{"values are case-sensitive", ev("state", "us"), "c1", ""},
		{"optional of an unmapped value excludes the default", ev("state", "XX"), "c1", "c4"},
		{"other headers do not matter", ev("flume.selector.header", "US"), "c1", ""},
	}
	for _, tc := range cases {
		req, opt := sel.Select(tc.e)
		if chNames(req) != tc.req || chNames(opt) != tc.opt {
			t.Errorf("%s: required %q optional %q, want %q %q", tc.name, chNames(req), chNames(opt), tc.req, tc.opt)
		}
	}
	r.Use("type", "channels")
	if u := r.Unused(); len(u) != 0 {
		t.Errorf("selector keys left unread: %v", u)
	}
	// The default header is flume.selector.header, and a selector without
	// a default sends unmapped events nowhere.
	sel, r, err = selectorFrom(t, "a.sources.r1.selector.type = MULTIPLEXING\na.sources.r1.selector.mapping.a = c2\n", chs)
	if err != nil {
		t.Fatal(err)
	}
	if req, _ := sel.Select(ev(DefaultHeader, "a")); chNames(req) != "c2" {
		t.Errorf("default header: %q", chNames(req))
	}
	if req, opt := sel.Select(ev(DefaultHeader, "b")); len(req)+len(opt) != 0 {
		t.Errorf("unmapped without default: %q %q", chNames(req), chNames(opt))
	}
	if len(r.Notes()) != 0 {
		t.Errorf("notes: %v", r.Notes())
	}
	_, r, err = selectorFrom(t, "a.sources.r1.selector.type = multiplexing\n", chs)
	if err != nil || len(r.Notes()) != 1 || r.Notes()[0].Rule != "selector-routes-nothing" {
		t.Errorf("no mapping, no default: %v %v", err, r.Notes())
	}
}

func TestMultiplexingErrors(t *testing.T) {
	chs := memChannels(t, 10, "c1", "c2")
	cases := []struct {
		name, keys, key, contains string
	}{
		{"unknown channel in a mapping", "a.sources.r1.selector.mapping.x = c1 c9\n", "a.sources.r1.selector.mapping.x", `"c9" is not one of the source's channels`},
		{"two spaces in a row", "a.sources.r1.selector.mapping.x = c1  c2\n", "a.sources.r1.selector.mapping.x", "two spaces in a row"},
		{"tab between channels", "a.sources.r1.selector.default = c1\tc2\n", "a.sources.r1.selector.default", `"c1\tc2" is not one of`},
		{"unknown optional channel", "a.sources.r1.selector.optional.x = c3\n", "a.sources.r1.selector.optional.x", `"c3"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := selectorFrom(t, "a.sources.r1.selector.type = multiplexing\n"+tc.keys, chs)
			fes := config.FieldErrors(err)
			if len(fes) != 1 || fes[0].Key != tc.key || fes[0].Pos.Line != 11 || !strings.Contains(fes[0].Msg, tc.contains) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestLoadBalancing(t *testing.T) {
	chs := memChannels(t, 10, "c1", "c2", "c3")
	sel, _, err := selectorFrom(t, "a.sources.r1.selector.type = load_balancing\n", chs)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := 0; i < 7; i++ {
		req, opt := sel.Select(ev())
		if len(req) != 1 || len(opt) != 0 {
			t.Fatalf("select %d: %q %q", i, chNames(req), chNames(opt))
		}
		got = append(got, req[0].Name())
	}
	if strings.Join(got, " ") != "c1 c2 c3 c1 c2 c3 c1" {
		t.Errorf("round robin order %v", got)
	}
	sel, _, err = selectorFrom(t, "a.sources.r1.selector.type = load_balancing\na.sources.r1.selector.policy = Random\n", chs)
	if err != nil {
		t.Fatal(err)
	}
	lb := sel.(*LoadBalancing)
	picks := []int{2, 0}
	lb.intn = func(n int) int { p := picks[0]; picks = picks[1:]; return p }
	a, _ := lb.Select(ev())
	b, _ := lb.Select(ev())
	if a[0].Name() != "c3" || b[0].Name() != "c1" {
		t.Errorf("random picks %s %s", a[0].Name(), b[0].Name())
	}
	_, _, err = selectorFrom(t, "a.sources.r1.selector.type = load_balancing\na.sources.r1.selector.policy = fastest\n", chs)
	if fes := config.FieldErrors(err); len(fes) != 1 || !strings.Contains(fes[0].Msg, "round_robin or random") {
		t.Errorf("bad policy: %v", err)
	}
}

// TestChannelProcessor checks the delivery contract of §7.1 with real
// channels: one transaction per required channel, committed in order; a
// failure fails the batch (channels already committed keep it); optional
// channels are best effort.
func TestChannelProcessor(t *testing.T) {
	chs := memChannels(t, 3, "c1", "c2", "opt")
	sel, _ := NewReplicating(chs, []string{"opt"})
	cp := &source.ChannelProcessor{Selector: sel}
	batch := []event.Event{ev("n", "1"), ev("n", "2")}
	if err := cp.ProcessBatch(batch); err != nil {
		t.Fatal(err)
	}
	for _, c := range chs {
		if c.Len() != 2 {
			t.Errorf("%s holds %d events, want 2", c.Name(), c.Len())
		}
	}
	// The optional channel is full now: the batch still succeeds.
	channeltest.Take(t, chs[0], 2)
	channeltest.Take(t, chs[1], 2)
	if err := cp.ProcessBatch(batch[:1]); err != nil {
		t.Fatalf("a full optional channel failed the batch: %v", err)
	}
	if chs[2].Len() != 3 {
		t.Fatalf("opt holds %d", chs[2].Len())
	}
	if err := cp.ProcessBatch(batch[:1]); err != nil {
		t.Fatalf("a full optional channel failed the batch: %v", err)
	}
	if chs[0].Len() != 2 || chs[1].Len() != 2 || chs[2].Len() != 3 {
		t.Fatalf("lens %d %d %d", chs[0].Len(), chs[1].Len(), chs[2].Len())
	}
	// A required channel that is full fails the batch with back-pressure;
	// the channel before it already committed (Flume does the same, so the
	// retry duplicates there), the one that failed holds nothing new.
	channeltest.Take(t, chs[0], 2)
	if err := cp.ProcessBatch(batch); !errors.Is(err, channel.ErrFull) {
		t.Fatalf("err = %v, want ErrFull", err)
	}
	if chs[0].Len() != 2 || chs[1].Len() != 2 {
		t.Errorf("after the failed batch: c1 %d, c2 %d", chs[0].Len(), chs[1].Len())
	}
}

// TestChannelProcessorRoutesAfterInterceptors: the selector sees what the
// interceptors made of the event.
func TestChannelProcessorRoutesAfterInterceptors(t *testing.T) {
	chs := memChannels(t, 10, "c1", "c2")
	sel, err := NewMultiplexing(chs, MultiplexingConfig{Header: "dc", Mapping: map[string]string{"east": "c2"}, Default: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	tag := interceptorFunc(func(es []event.Event) []event.Event {
		for i := range es {
			if es[i].Headers == nil {
				es[i].Headers = map[string]string{}
			}
			es[i].Headers["dc"] = "east"
		}
		return es
	})
	cp := &source.ChannelProcessor{Selector: sel, Interceptors: source.Chain{tag}}
	if err := cp.ProcessBatch([]event.Event{ev(), ev()}); err != nil {
		t.Fatal(err)
	}
	if chs[0].Len() != 0 || chs[1].Len() != 2 {
		t.Errorf("c1 %d c2 %d", chs[0].Len(), chs[1].Len())
	}
	drop := interceptorFunc(func(es []event.Event) []event.Event { return es[:0] })
	cp.Interceptors = source.Chain{drop}
	if err := cp.ProcessBatch([]event.Event{ev()}); err != nil || chs[0].Len()+chs[1].Len() != 2 {
		t.Errorf("a batch the interceptors emptied: %v", err)
	}
}

type interceptorFunc func([]event.Event) []event.Event

func (f interceptorFunc) Intercept(es []event.Event) []event.Event { return f(es) }
