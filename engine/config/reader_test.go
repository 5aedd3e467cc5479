package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestReader(t *testing.T) {
	a := build(t, base+"a.sinks.k1.n = 100  # one hundred\na.sinks.k1.ok = 7\na.sinks.k1.selector.header = h\na.sinks.k1.b = yes\na.sinks.k1.e = TEXT\n")
	k1 := a.Component(KindSink, "k1")
	r := NewReader("a", k1)
	if got := r.Int("ok", 1); got != 7 {
		t.Errorf("Int(ok) = %d", got)
	}
	if got := r.Int("missing", 3); got != 3 {
		t.Errorf("Int(missing) = %d", got)
	}
	if got := r.Int("n", 5); got != 5 {
		t.Errorf("Int(n) = %d, want the default", got)
	}
	if got := r.Bool("b", true); !got {
		t.Errorf("Bool(b) = false, want the default")
	}
	if got := r.Enum("e", "x", "text", "avro_event"); got != "text" {
		t.Errorf("Enum = %q", got)
	}
	if got := r.Millis("ok", time.Second); got != 7*time.Millisecond {
		t.Errorf("Millis = %v", got)
	}
	sub := r.Sub("selector.")
	if sub.String("header", "") != "h" {
		t.Errorf("Sub read failed")
	}
	r.Use("type", "channel")
	if got := strings.Join(r.Unused(), " "); got != "" {
		t.Errorf("Unused = %q", got)
	}
	fes := FieldErrors(r.Err())
	if len(fes) != 2 {
		t.Fatalf("errors: %v", r.Err())
	}
	if fes[0].Pos.Line != 9 || fes[0].Key != "a.sinks.k1.n" || !strings.Contains(fes[0].Msg, "no end-of-line comments") {
		t.Errorf("first error %+v", fes[0])
	}
	if fes[1].Pos.Line != 12 || !strings.Contains(fes[1].Msg, "true or false") {
		t.Errorf("second error %+v", fes[1])
	}
	if !strings.Contains(r.Err().Error(), "a.conf:9: a.sinks.k1.n:") {
		t.Errorf("error text %q", r.Err())
	}
	// Wrapped errors keep their field errors.
	if len(FieldErrors(errors.Join(errors.New("x"), wrap(r.Err())))) != 2 {
		t.Errorf("FieldErrors lost wrapped errors")
	}
	sub.Notef(Note, "header", "r", "fix", "note %d", 1)
	if n := r.Notes(); len(n) != 1 || n[0].Key != "a.sinks.k1.selector.header" || n[0].Line != 11 || n[0].Component != "sink k1" {
		t.Errorf("notes %+v", n)
	}
}

func wrap(err error) error { return errors.Join(err) }

func TestSuggest(t *testing.T) {
	cases := map[string]string{"batchsize": "batchSize", "batchSzie": "batchSize", "hostnme": "hostname", "zzz": ""}
	for in, want := range cases {
		if got := Suggest(in, []string{"batchSize", "hostname", "port"}); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", in, got, want)
		}
	}
}
