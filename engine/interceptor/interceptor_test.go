package interceptor

import (
	"context"
	"errors"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/source"
)

var t0 = time.UnixMilli(1700000000123)

// build configures interceptor "i" of source r1 from keys written under
// a.sources.r1.interceptors.i., through the registry, as the agent does.
func build(t *testing.T, keys string) (source.Interceptor, *config.Reader, error) {
	t.Helper()
	text := "a.sources = r1\na.sources.r1.type = seq\na.sources.r1.channels = c1\na.channels = c1\n" +
		"a.channels.c1.type = memory\na.sinks = k1\na.sinks.k1.type = null\na.sinks.k1.channel = c1\n" +
		"a.sources.r1.interceptors = i\n"
	for _, l := range strings.Split(strings.TrimSpace(keys), "\n") {
		text += "a.sources.r1.interceptors.i." + l + "\n"
	}
	props, err := config.ParseProperties("i.conf", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Build(props, "a", config.Options{})
	src := cfg.Component(config.KindSource, "r1")
	r := config.NewReader("a", src)
	sub := r.Sub("interceptors.i.")
	typ, _ := sub.Raw("type")
	e, ok := registry.Lookup(registry.Interceptor, typ)
	if !ok {
		t.Fatalf("interceptor type %q not registered", typ)
	}
	env := registry.Env{Agent: "a", Clock: clock.NewManual(t0), Hostname: "box1"}
	i, err := e.Factory.(registry.InterceptorFactory)(env, sub)
	return i, r, err
}

func mustBuild(t *testing.T, keys string) source.Interceptor {
	t.Helper()
	i, r, err := build(t, keys)
	if err != nil {
		t.Fatal(err)
	}
	r.Use("type", "channels", "interceptors")
	if u := r.Unused(); len(u) != 0 {
		t.Fatalf("keys not read: %v", u)
	}
	return i
}

func evs(bodies ...string) []event.Event {
	var out []event.Event
	for _, b := range bodies {
		out = append(out, event.New([]byte(b)))
	}
	return out
}

func withHeader(e event.Event, k, v string) event.Event {
	e.Headers = map[string]string{k: v}
	return e
}

func TestTimestamp(t *testing.T) {
	i := mustBuild(t, "type = timestamp")
	got := i.Intercept([]event.Event{event.New(nil), withHeader(event.New(nil), "timestamp", "1")})
	for _, e := range got {
		if e.Headers["timestamp"] != "1700000000123" {
			t.Errorf("timestamp = %q", e.Headers["timestamp"])
		}
	}
	i = mustBuild(t, "type = org.apache.flume.interceptor.TimestampInterceptor$Builder\nheaderName = ts\npreserveExisting = true")
	got = i.Intercept([]event.Event{event.New(nil), withHeader(event.New(nil), "ts", "1")})
	if got[0].Headers["ts"] != "1700000000123" || got[1].Headers["ts"] != "1" {
		t.Errorf("headers %v %v", got[0].Headers, got[1].Headers)
	}
}

func TestStatic(t *testing.T) {
	i := mustBuild(t, "type = static")
	got := i.Intercept([]event.Event{event.New(nil), withHeader(event.New(nil), "key", "mine")})
	if got[0].Headers["key"] != "value" || got[1].Headers["key"] != "mine" {
		t.Errorf("defaults: %v %v", got[0].Headers, got[1].Headers)
	}
	i = mustBuild(t, "type = STATIC\nkey = dc\nvalue = east\npreserveExisting = false")
	got = i.Intercept([]event.Event{withHeader(event.New(nil), "dc", "west")})
	if got[0].Headers["dc"] != "east" {
		t.Errorf("overwrite: %v", got[0].Headers)
	}
}

func TestUUID(t *testing.T) {
	i := mustBuild(t, "type = org.apache.flume.sink.solr.morphline.UUIDInterceptor$Builder\nprefix = web-")
	got := i.Intercept([]event.Event{event.New(nil), event.New(nil), withHeader(event.New(nil), "id", "keep")})
	pat := regexp.MustCompile(`^web-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if !pat.MatchString(got[0].Headers["id"]) || got[0].Headers["id"] == got[1].Headers["id"] {
		t.Errorf("ids %q %q", got[0].Headers["id"], got[1].Headers["id"])
	}
	if got[2].Headers["id"] != "keep" {
		t.Errorf("existing id overwritten: %q", got[2].Headers["id"])
	}
	u := mustBuild(t, "type = uuid\nheaderName = uid\npreserveExisting = false").(*UUID)
	u.random = func(b []byte) {
		for i := range b {
			b[i] = 0xff
		}
	}
	got = u.Intercept([]event.Event{withHeader(event.New(nil), "uid", "old")})
	if got[0].Headers["uid"] != "ffffffff-ffff-4fff-bfff-ffffffffffff" {
		t.Errorf("uid = %q", got[0].Headers["uid"])
	}
}

type fakeResolver struct {
	ips   []net.IPAddr
	names []string
	err   error
	calls int
}

func (f *fakeResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	f.calls++
	if host != "box1" {
		return nil, errors.New("unexpected host " + host)
	}
	return f.ips, f.err
}

func (f *fakeResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return f.names, nil
}

func TestHost(t *testing.T) {
	res := &fakeResolver{ips: []net.IPAddr{{IP: net.ParseIP("fe80::1")}, {IP: net.ParseIP("10.1.2.3")}}, names: []string{"box1.example.com."}}
	h := mustBuild(t, "type = host").(*Host)
	h.Resolver = res
	got := h.Intercept([]event.Event{event.New(nil), withHeader(event.New(nil), "host", "x")})
	if got[0].Headers["host"] != "10.1.2.3" || got[1].Headers["host"] != "10.1.2.3" {
		t.Errorf("useIP: %v %v", got[0].Headers, got[1].Headers)
	}
	h.Intercept(evs("again"))
	if res.calls != 1 {
		t.Errorf("resolved %d times", res.calls)
	}
	h = mustBuild(t, "type = host\nuseIP = false\nhostHeader = hn\npreserveExisting = true").(*Host)
	h.Resolver = res
	got = h.Intercept([]event.Event{event.New(nil), withHeader(event.New(nil), "hn", "x")})
	if got[0].Headers["hn"] != "box1.example.com" || got[1].Headers["hn"] != "x" {
		t.Errorf("canonical name: %v %v", got[0].Headers, got[1].Headers)
	}
	// A failed lookup sets nothing, as in Flume.
	h = mustBuild(t, "type = host").(*Host)
	h.Resolver = &fakeResolver{err: errors.New("no such host")}
	if got := h.Intercept(evs("x")); got[0].Headers != nil {
		t.Errorf("header set after a failed lookup: %v", got[0].Headers)
	}
}

func bodies(es []event.Event) string {
	var out []string
	for _, e := range es {
		out = append(out, string(e.Body))
	}
	return strings.Join(out, ",")
}

func TestRegexFilter(t *testing.T) {
	i := mustBuild(t, "type = regex_filter\nregex = err(or)?")
	if got := bodies(i.Intercept(evs("an error", "fine", "err", "ERROR"))); got != "an error,err" {
		t.Errorf("include: %s", got)
	}
	i = mustBuild(t, "type = regex_filter\nregex = ^DEBUG\nexcludeEvents = true")
	if got := bodies(i.Intercept(evs("DEBUG x", "INFO y", "x DEBUG"))); got != "INFO y,x DEBUG" {
		t.Errorf("exclude: %s", got)
	}
	i = mustBuild(t, "type = regex_filter")
	if got := bodies(i.Intercept(evs("", "a"))); got != ",a" {
		t.Errorf("default .* keeps everything: %s", got)
	}
	_, _, err := build(t, "type = regex_filter\nregex = foo(?=bar)")
	fes := config.FieldErrors(err)
	if len(fes) != 1 || fes[0].Key != "a.sources.r1.interceptors.i.regex" || fes[0].Pos.Line != 11 || !strings.Contains(fes[0].Msg, "look-ahead") {
		t.Errorf("Java-only regex: %v", err)
	}
}

func TestRegexExtractor(t *testing.T) {
	i := mustBuild(t, `type = regex_extractor
regex = (\\d+):(\\w+):(x)?
serializers = s1 s2 s3
serializers.s1.name = num
serializers.s2.name = word
serializers.s3.name = opt`)
	got := i.Intercept(evs("id 42:abc: rest", "none"))
	h := got[0].Headers
	if h["num"] != "42" || h["word"] != "abc" || len(h) != 2 {
		t.Errorf("headers %v", h)
	}
	if got[1].Headers != nil {
		t.Errorf("no match set headers: %v", got[1].Headers)
	}
	// Groups beyond the serializers are ignored; the millis serializer
	// parses a Joda pattern in the local zone.
	i = mustBuild(t, `type = regex_extractor
regex = ^(\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}\\.\\d{3}) (\\w+)
serializers = ts
serializers.ts.name = timestamp
serializers.ts.type = org.apache.flume.interceptor.RegexExtractorInterceptorMillisSerializer
serializers.ts.pattern = yyyy-MM-dd HH:mm:ss.SSS`)
	got = i.Intercept(evs("2024-03-05 07:08:09.250 INFO x", "2024-13-45 07:08:09.250 INFO bad"))
	want := time.Date(2024, 3, 5, 7, 8, 9, 250e6, time.Local).UnixMilli()
	if got[0].Headers["timestamp"] != strconv.FormatInt(want, 10) || len(got[0].Headers) != 1 {
		t.Errorf("millis: %v, want %d", got[0].Headers, want)
	}
	if _, ok := got[1].Headers["timestamp"]; ok {
		t.Errorf("unparsable date set a header: %v", got[1].Headers)
	}
	for _, bad := range []string{"type = regex_extractor\nserializers = s\nserializers.s.name = h",
		"type = regex_extractor\nregex = (a)", "type = regex_extractor\nregex = (a)\nserializers = s",
		"type = regex_extractor\nregex = (a)\nserializers = s\nserializers.s.name = h\nserializers.s.type = com.example.Mine",
		"type = regex_extractor\nregex = (a)\nserializers = s\nserializers.s.name = h\nserializers.s.type = " + millisSerializer + "\nserializers.s.pattern = GGG"} {
		if _, _, err := build(t, bad); len(config.FieldErrors(err)) == 0 {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}

func TestJodaLayout(t *testing.T) {
	cases := map[string]string{
		"yyyy-MM-dd HH:mm:ss":     "2006-01-02 15:04:05",
		"dd/MMM/yyyy:HH:mm:ss Z":  "02/Jan/2006:15:04:05 -0700",
		"yy.M.d h:m:s a":          "06.1.2 3:4:5 PM",
		"EEE, d MMMM yyyy":        "Mon, 2 January 2006",
		"yyyy-MM-dd'T'HH:mm:ssZZ": "2006-01-02T15:04:05-07:00",
		"HH:mm:ss,SSS":            "15:04:05,000",
		"''yyyy''":                "'2006'",
	}
	for in, want := range cases {
		if got, err := jodaLayout(in); err != nil || got != want {
			t.Errorf("jodaLayout(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"GG yyyy", "ww", "SSS", "'open"} {
		if _, err := jodaLayout(bad); err == nil {
			t.Errorf("jodaLayout(%q) accepted", bad)
		}
	}
}

func TestRemoveHeader(t *testing.T) {
	i := mustBuild(t, `type = remove_header
withName = secret
fromList = a, b ,c
matching = tmp\\..*`)
	e := event.New(nil)
	e.Headers = map[string]string{"secret": "1", "a": "1", "b": "1", "c": "1", "tmp.x": "1", "xtmp.y": "1", "keep": "1"}
	got := i.Intercept([]event.Event{e, event.New(nil)})
	var left []string
	for k := range got[0].Headers {
		left = append(left, k)
	}
	if len(left) != 2 || got[0].Headers["keep"] == "" || got[0].Headers["xtmp.y"] == "" {
		t.Errorf("left %v", left)
	}
	i = mustBuild(t, "type = remove_header\nfromList = x|y\nfromListSeparator = \\\\|")
	e = event.New(nil)
	e.Headers = map[string]string{"x": "", "y": "", "z": ""}
	if got := i.Intercept([]event.Event{e}); len(got[0].Headers) != 1 {
		t.Errorf("custom separator: %v", got[0].Headers)
	}
}

func TestJavaSplit(t *testing.T) {
	re := regexp.MustCompile(`\s*,\s*`)
	cases := map[string]string{"a, b ,c": "a|b|c", ",a,": "a", "a,,b": "a||b", "": ""}
	for in, want := range cases {
		if got := strings.Join(javaSplit(re, in), "|"); got != want {
			t.Errorf("javaSplit(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSearchReplace(t *testing.T) {
	cases := []struct {
		keys, in, want string
	}{
		{`searchPattern = \\d+` + "\nreplaceString = #", "a1b22c", "a#b#c"},
		{`searchPattern = (\\w+)@(\\w+)` + "\nreplaceString = $2 at $1", "me@home", "home at me"},
		{`searchPattern = (?<user>\\w+)@` + "\nreplaceString = ${user}:", "me@home", "me:home"},
		{"searchPattern = x\n" + `replaceString = \\$1\\\\`, "axb", "a$1\\b"},
		{"searchPattern = (a)\nreplaceString = $10", "a", "a0"},
		{`searchPattern = secret=\\S+`, "user=x secret=y z", "user=x  z"},
		{"searchPattern = é\nreplaceString = e\ncharset = ISO-8859-1", "caf\xe9", "cafe"},
		{"searchPattern = nomatch", "body", "body"},
	}
	for _, tc := range cases {
		i := mustBuild(t, "type = search_replace\n"+tc.keys)
		if got := string(i.Intercept(evs(tc.in))[0].Body); got != tc.want {
			t.Errorf("%q on %q = %q, want %q", tc.keys, tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"", "searchPattern = a\nreplaceString = $", "searchPattern = a\nreplaceString = $x",
		"searchPattern = (a)\nreplaceString = $2", "searchPattern = a\nreplaceString = ${n}", "searchPattern = a\nreplaceString = x\\\\",
		"searchPattern = a\ncharset = EBCDIC", "searchPattern = (?<!x)a"} {
		if _, _, err := build(t, "type = search_replace\n"+bad); len(config.FieldErrors(err)) == 0 {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}
