package config

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Reader gives a component typed access to its keys. Every read records the
// key as used, so that `sluice check` can report keys no component reads
// ("unknown key ... did you mean"). Parse errors name the file, line and
// key and say what is valid; they accumulate and Err returns them joined.
type Reader struct {
	parent     *Reader // a Sub reader reports usage and errors to its parent
	prefix     string  // relative to parent
	fullPrefix string  // relative to the component
	agent      string
	c          *Component
	used       map[string]bool
	errs       []error
	notes      []Finding
}

// NewReader returns a Reader over c's keys; agent is used in messages.
func NewReader(agent string, c *Component) *Reader {
	return &Reader{agent: agent, c: c, used: map[string]bool{}}
}

// Component is the component being read.
func (r *Reader) Component() *Component { return r.c }

// Name is the component's name.
func (r *Reader) Name() string { return r.c.Name }

func (r *Reader) full(key string) string { return r.c.FullKey(r.agent, r.fullPrefix+key) }

// Errorf records a configuration error on key, as a *FieldError naming the
// key's file and line.
func (r *Reader) Errorf(key, format string, args ...any) {
	r.addErr(&FieldError{Pos: r.c.KeyPos(key), Key: r.full(key), Msg: fmt.Sprintf(format, args...)})
}

func (r *Reader) addErr(err error) {
	// A Sub reader keeps its own errors (its factory returns them) and
	// reports them to its parent (the component as a whole fails).
	r.errs = append(r.errs, err)
	if r.parent != nil {
		r.parent.addErr(err)
	}
}

// Notef records a note or warning on key for `sluice check` (for example
// where Sluice deliberately differs from Flume).
func (r *Reader) Notef(sev Severity, key, rule, fix, format string, args ...any) {
	pos := r.c.KeyPos(key)
	f := NewFinding(sev, pos, r.full(key), rule, fmt.Sprintf(format, args...), fix)
	f.Component = r.c.String()
	for r.parent != nil {
		r = r.parent
	}
	r.notes = append(r.notes, f)
}

// Err returns every error recorded so far through this reader (and its
// Sub readers), or nil.
func (r *Reader) Err() error { return errors.Join(r.errs...) }

// Notes returns the findings recorded with Notef.
func (r *Reader) Notes() []Finding { return r.notes }

func (r *Reader) markUsed(key string) {
	r.used[key] = true
	if r.parent != nil {
		r.parent.markUsed(r.prefix + key)
	}
}

// Has reports whether key is set (and marks it used).
func (r *Reader) Has(key string) bool {
	r.markUsed(key)
	_, ok := r.c.Props[key]
	return ok
}

// Raw returns key's value and whether it is set, marking it used.
func (r *Reader) Raw(key string) (string, bool) {
	r.markUsed(key)
	p, ok := r.c.Props[key]
	return p.Value, ok
}

// String returns key's value or def.
func (r *Reader) String(key, def string) string {
	if v, ok := r.Raw(key); ok {
		return v
	}
	return def
}

// Required returns key's value, recording an error when it is missing.
func (r *Reader) Required(key, what string) string {
	v, ok := r.Raw(key)
	if !ok {
		r.addErr(&FieldError{Pos: r.c.Pos, Key: r.full(key), Msg: fmt.Sprintf("is required (%s)", what)})
	}
	return v
}

// Int returns key as an int, or def. A value that is not an integer is an
// error that quotes it (a trailing "# comment" is part of a Java properties
// value, which is how "100  # primary" ends up here).
func (r *Reader) Int(key string, def int) int {
	return int(r.Int64(key, int64(def)))
}

// Int64 is Int for 64-bit values.
func (r *Reader) Int64(key string, def int64) int64 {
	v, ok := r.Raw(key)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(javaTrim(v), 10, 64)
	if err != nil {
		hint := "an integer"
		if strings.Contains(v, "#") {
			hint = "an integer; Java properties have no end-of-line comments, so \"# ...\" is part of the value — move the comment to its own line"
		}
		r.Errorf(key, "%q is not %s", v, hint)
		return def
	}
	return n
}

// IntRange is Int with bounds, recording an error outside [min, max].
func (r *Reader) IntRange(key string, def, min, max int) int {
	n := r.Int(key, def)
	if n < min || n > max {
		r.Errorf(key, "%d is out of range; valid values are %d to %d", n, min, max)
		return def
	}
	return n
}

// Float returns key as a float64, or def.
func (r *Reader) Float(key string, def float64) float64 {
	v, ok := r.Raw(key)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(javaTrim(v), 64)
	if err != nil {
		r.Errorf(key, "%q is not a number", v)
		return def
	}
	return f
}

// Bool returns key as a bool, or def. Flume reads any value other than
// "true" as false; Sluice accepts true/false in any case and calls anything
// else an error rather than guess.
func (r *Reader) Bool(key string, def bool) bool {
	v, ok := r.Raw(key)
	if !ok {
		return def
	}
	switch strings.ToLower(javaTrim(v)) {
	case "true":
		return true
	case "false":
		return false
	}
	r.Errorf(key, "%q is not a boolean; use true or false", v)
	return def
}

// Millis reads an integer number of milliseconds.
func (r *Reader) Millis(key string, def time.Duration) time.Duration {
	return time.Duration(r.Int64(key, int64(def/time.Millisecond))) * time.Millisecond
}

// Seconds reads an integer number of seconds.
func (r *Reader) Seconds(key string, def time.Duration) time.Duration {
	return time.Duration(r.Int64(key, int64(def/time.Second))) * time.Second
}

// Enum returns key's value, which must be one of valid (compared without
// case), or def. It returns the canonical spelling from valid.
func (r *Reader) Enum(key, def string, valid ...string) string {
	v, ok := r.Raw(key)
	if !ok {
		return def
	}
	for _, x := range valid {
		if strings.EqualFold(javaTrim(v), x) {
			return x
		}
	}
	r.Errorf(key, "%q is not valid; use one of %s", v, strings.Join(valid, ", "))
	return def
}

// List splits key's value on whitespace (Flume's list syntax).
func (r *Reader) List(key string) []string {
	v, _ := r.Raw(key)
	return strings.Fields(v)
}

// Prefix returns every key under prefix (with the prefix removed) and
// marks them used; it is how pass-through groups like kafka.producer.* and
// per-name keys like priority.<sink> are read.
func (r *Reader) Prefix(prefix string) map[string]string {
	out := map[string]string{}
	for k, p := range r.c.Props {
		if rest, ok := strings.CutPrefix(k, prefix); ok {
			out[rest] = p.Value
			r.markUsed(k)
		}
	}
	return out
}

// Sub returns a Reader over the keys under prefix, sharing usage tracking,
// so that a selector or interceptor can be configured from its own keys.
func (r *Reader) Sub(prefix string) *Reader {
	c := &Component{Kind: r.c.Kind, Name: r.c.Name, Type: r.c.Type, Pos: r.c.Pos, Props: map[string]Property{}}
	for k, p := range r.c.Props {
		if rest, ok := strings.CutPrefix(k, prefix); ok {
			c.Props[rest] = p
		}
	}
	sub := &Reader{agent: r.agent, c: c, used: map[string]bool{}}
	sub.parent, sub.prefix, sub.fullPrefix = r, prefix, r.fullPrefix+prefix
	return sub
}

// Use marks keys as read without reading them (keys a component accepts
// for Flume compatibility but ignores, such as AvroSource's threads).
func (r *Reader) Use(keys ...string) {
	for _, k := range keys {
		r.markUsed(k)
	}
}

// Unused lists the keys nobody read, sorted.
func (r *Reader) Unused() []string {
	var out []string
	for k := range r.c.Props {
		if !r.used[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// UsedKeys lists the keys the component asked for, set or not; they are the
// candidates for "did you mean".
func (r *Reader) UsedKeys() []string {
	out := make([]string, 0, len(r.used))
	for k := range r.used {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
