package escape

import (
	"errors"
	"testing"
	"time"
)

// 2026-03-05 14:07:09.123 UTC, a Thursday, day 64 of the year.
const tsMillis = "1772719629123"

func expand(t *testing.T, tmpl string, h map[string]string, o Options) string {
	t.Helper()
	tp, err := Compile(tmpl)
	if err != nil {
		t.Fatalf("Compile(%q): %v", tmpl, err)
	}
	out, err := tp.Expand(h, time.Time{}, &o)
	if err != nil {
		t.Fatalf("Expand(%q): %v", tmpl, err)
	}
	return out
}

func TestEveryEscape(t *testing.T) {
	h := map[string]string{"timestamp": tsMillis, "host": "web-1", "a.b-c": "dotted"}
	o := Options{Location: time.UTC, Host: Host{Name: "box", IP: "10.0.0.7", FQDN: "box.example.com"}}
	cases := map[string]string{
		"%a": "Thu", "%A": "Thursday", "%b": "Mar", "%B": "March",
		"%c": "Thu Mar 5 14:07:09 2026",
		"%d": "05", "%e": "5", "%D": "03/05/26",
		"%H": "14", "%I": "02", "%j": "064", "%k": "14", "%l": "2",
		"%m": "03", "%n": "3", "%M": "07", "%p": "PM",
		"%s": "1772719629", "%S": "09", "%t": tsMillis,
		"%y": "26", "%Y": "2026", "%z": "+0000",
		"%%": "%", "%q": "", "%5": "",
		"%{host}": "web-1", "%{a.b-c}": "dotted", "%{missing}": "",
		"%[localhost]": "box", "%[IP]": "10.0.0.7", "%[FQDN]": "box.example.com", "%[fqdn]": "box.example.com",
		// Not escapes under Flume's regex: left as they are.
		"%{a b}": "%{a b}", "%{}": "%{}", "%-": "%-", "50%": "50%", "%[x y]": "%[x y]",
		"/logs/%{host}/%Y-%m-%d/%H%M": "/logs/web-1/2026-03-05/1407",
	}
	for tmpl, want := range cases {
		if got := expand(t, tmpl, h, o); got != want {
			t.Errorf("%q = %q, want %q", tmpl, got, want)
		}
	}
}

func TestTimeZoneAndTwelveHourClock(t *testing.T) {
	h := map[string]string{"timestamp": tsMillis}
	pst := time.FixedZone("PST", -8*3600)
	o := Options{Location: pst}
	if got, want := expand(t, "%Y-%m-%d %H:%M %z %I%p %l", h, o), "2026-03-05 06:07 -0800 06AM 6"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	ist := time.FixedZone("IST", 5*3600+1800)
	if got, want := expand(t, "%z %H:%M", h, Options{Location: ist}), "+0530 19:37"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	// Midnight and noon in 12-hour form.
	mid := map[string]string{"timestamp": "1772668800000"} // 2026-03-05 00:00 UTC
	if got := expand(t, "%I %l %p", mid, Options{}); got != "12 12 AM" {
		t.Fatalf("midnight = %q", got)
	}
}

func TestRounding(t *testing.T) {
	h := map[string]string{"timestamp": tsMillis} // 14:07:09
	for _, c := range []struct {
		unit  RoundUnit
		value int
		want  string
	}{
		{Second, 1, "14:07:09"}, {Second, 10, "14:07:00"}, {Second, 5, "14:07:05"},
		{Minute, 1, "14:07:00"}, {Minute, 5, "14:05:00"}, {Minute, 10, "14:00:00"},
		{Hour, 1, "14:00:00"}, {Hour, 6, "12:00:00"}, {Hour, 0, "14:00:00"},
	} {
		o := Options{Round: true, RoundValue: c.value, RoundUnit: c.unit}
		if got := expand(t, "%H:%M:%S", h, o); got != c.want {
			t.Errorf("round %d unit %d = %q, want %q", c.value, c.unit, got, c.want)
		}
		// %t is never rounded; %s is.
		if got := expand(t, "%t", h, o); got != tsMillis {
			t.Errorf("%%t rounded: %q", got)
		}
	}
	o := Options{Round: true, RoundValue: 10, RoundUnit: Minute}
	if got := expand(t, "%s", h, o); got != "1772719200" {
		t.Errorf("%%s with rounding = %q", got)
	}
	// Rounding happens in the configured zone: 6-hour buckets of IST.
	ist := time.FixedZone("IST", 5*3600+1800) // 19:37 local
	o = Options{Round: true, RoundValue: 6, RoundUnit: Hour, Location: ist}
	if got := expand(t, "%H:%M", h, o); got != "18:00" {
		t.Errorf("IST 6-hour bucket = %q", got)
	}
}

func TestLocalTimestamp(t *testing.T) {
	tp := MustCompile("%Y%m%d-%t")
	now := time.Date(2030, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	got, err := tp.Expand(map[string]string{}, now, &Options{UseLocalTime: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := "20300102-1893553445006"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestTimestampErrors(t *testing.T) {
	tp := MustCompile("/x/%Y")
	if _, err := tp.Expand(map[string]string{}, time.Time{}, &Options{}); !errors.Is(err, ErrNoTimestamp) {
		t.Fatalf("missing timestamp: %v", err)
	}
	if _, err := tp.Expand(map[string]string{"timestamp": "yesterday"}, time.Time{}, &Options{}); !errors.Is(err, ErrBadTimestamp) {
		t.Fatalf("bad timestamp: %v", err)
	}
	// A template without time escapes never needs one.
	hp := MustCompile("/x/%{h}")
	if hp.NeedsTime() {
		t.Fatal("NeedsTime for a header-only template")
	}
	if got, err := hp.Expand(map[string]string{"h": "v"}, time.Time{}, &Options{}); err != nil || got != "/x/v" {
		t.Fatalf("got %q, %v", got, err)
	}
	if !MustCompile("/plain").Static() || MustCompile("%{h}").Static() {
		t.Fatal("Static wrong")
	}
}

func TestUnknownHostEscapeIsAConfigError(t *testing.T) {
	if _, err := Compile("/x/%[hostname]"); err == nil {
		t.Fatal("want an error naming the valid host escapes")
	}
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{"%Y/%{h}/%[localhost]", "%", "%{", "%[", "%{a}%%%c", "abc%[IP]%z"} {
		f.Add(s, tsMillis)
	}
	f.Fuzz(func(t *testing.T, tmpl, ts string) {
		tp, err := Compile(tmpl)
		if err != nil {
			return
		}
		out, err := tp.Expand(map[string]string{"timestamp": ts, "h": "v"}, time.Time{}, &Options{Round: true, RoundValue: 7, RoundUnit: Minute})
		if err == nil && !tp.NeedsTime() && tp.Static() && out != tp.segsText() {
			t.Fatalf("static template %q expanded to %q", tmpl, out)
		}
	})
}

func (t *Template) segsText() string {
	s := ""
	for _, g := range t.segs {
		s += g.text
	}
	return s
}
