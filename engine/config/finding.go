package config

import (
	"fmt"
	"sort"
)

// Severity ranks a finding.
type Severity int

const (
	Note Severity = iota
	Warning
	Error
)

func (s Severity) String() string {
	switch s {
	case Note:
		return "note"
	case Warning:
		return "warning"
	default:
		return "error"
	}
}

// MarshalText makes severities readable in JSON output.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (s *Severity) UnmarshalText(b []byte) error {
	switch string(b) {
	case "note":
		*s = Note
	case "warning":
		*s = Warning
	case "error":
		*s = Error
	default:
		return fmt.Errorf("unknown severity %q; use note, warning or error", b)
	}
	return nil
}

// Finding is one problem found in a configuration: where, how bad, what
// Flume would do, and how to fix it.
type Finding struct {
	Severity Severity `json:"severity"`
	Pos      Position `json:"-"`
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Key      string   `json:"key,omitempty"`
	Rule     string   `json:"rule"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix,omitempty"`
	// Component names what the finding is about ("sink group g1"), when
	// it is about one component.
	Component string `json:"component,omitempty"`
}

func (f Finding) String() string {
	s := fmt.Sprintf("%s: %s: [%s] %s", f.Pos, f.Severity, f.Rule, f.Message)
	if f.Fix != "" {
		s += " (fix: " + f.Fix + ")"
	}
	return s
}

// NewFinding builds a finding at pos.
func NewFinding(sev Severity, pos Position, key, rule, msg, fix string) Finding {
	return Finding{Severity: sev, Pos: pos, File: pos.File, Line: pos.Line, Key: key, Rule: rule, Message: msg, Fix: fix}
}

// FieldError is a configuration error on one key: components report bad
// values with it (through Reader.Errorf), so that the error can be shown at
// the key's own file and line and merged with a lint finding on that key.
type FieldError struct {
	Pos Position
	Key string // the full key as written, agent prefix included
	Msg string
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %s: %s", e.Pos, e.Key, e.Msg) }

// FieldErrors returns every FieldError in err's tree (errors.Join and %w
// wrapping both followed), in order.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if fe, ok := e.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// Rules that say what happened to a component rather than what is wrong
// with the configuration; a specific finding on the same key explains them.
const (
	RuleDropped    = "dropped"
	RuleUnknownKey = "unknown-key"
)

// explainsDrop are the lint rules whose finding says that Flume drops the
// component because of the key it is on.
var explainsDrop = map[string]bool{
	"txn-capacity": true, "batch-size": true, "default-group": true, "load-balance-group": true,
}

// Merge sorts findings by file, line and severity and removes the ones
// that say the same thing twice, so `sluice check` prints each problem once
// although the lint rules, Flume's drop rules and the components themselves
// may all notice it:
//   - findings with the same file, line, key and rule are one finding (the
//     most severe is kept);
//   - an unknown-key warning is dropped when another finding is about the
//     same key on the same line (kafka.flumeBatchSize has its own rule);
//   - a "dropped" finding caused by a bad value is folded into a lint error
//     on that same key and line that already says Flume drops the
//     component for it (txn-capacity, batch-size, ...), which then also says
//     Sluice does not start it. Other lint findings on the key (an inline
//     comment, say) keep the drop beside them: it tells what Sluice does.
func Merge(in []Finding) []Finding {
	out := append([]Finding(nil), in...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Severity > b.Severity
	})
	type at struct {
		file string
		line int
		key  string
	}
	var kept []Finding
	seen := map[at]map[string]bool{}
	specific := map[at]int{} // the first finding on a key that is not generic
	for _, f := range out {
		k := at{f.File, f.Line, f.Key}
		if seen[k] == nil {
			seen[k] = map[string]bool{}
		}
		if seen[k][f.Rule] {
			continue // the more severe one came first
		}
		seen[k][f.Rule] = true
		if _, ok := specific[k]; !ok && f.Rule != RuleDropped && f.Rule != RuleUnknownKey {
			specific[k] = len(kept)
		}
		kept = append(kept, f)
	}
	remove := make([]bool, len(kept))
	for i, f := range kept {
		j, ok := specific[at{f.File, f.Line, f.Key}]
		if !ok || f.Key == "" {
			continue
		}
		switch {
		case f.Rule == RuleUnknownKey:
			remove[i] = true
		case f.Rule == RuleDropped && kept[j].Severity == Error && explainsDrop[kept[j].Rule]:
			remove[i] = true
			if f.Component != "" {
				kept[j].Message += "; Sluice does not start " + f.Component
			}
		}
	}
	final := make([]Finding, 0, len(kept))
	for i, f := range kept {
		if !remove[i] {
			final = append(final, f)
		}
	}
	return final
}

// HasErrors reports whether any finding is an error.
func HasErrors(fs []Finding) bool {
	for _, f := range fs {
		if f.Severity == Error {
			return true
		}
	}
	return false
}
