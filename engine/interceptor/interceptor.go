// Package interceptor holds Flume's interceptors with Flume's keys,
// defaults and class names (flume-facts §7.2): timestamp, host, static,
// uuid, regex_filter, regex_extractor, remove_header and search_replace.
// Interceptors rewrite each event's header map in place, as Flume's do, and
// return the batch (shorter, for filters).
//
// Regular expressions are Go's RE2, not java.util.regex: the common syntax
// is the same, but look-around, back-references and possessive quantifiers
// are not available; such a pattern is a configuration error naming the key.
package interceptor

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/source"
)

// setHeader sets k to v on e, unless preserve is set and e already has k.
func setHeader(e *event.Event, k, v string, preserve bool) {
	if e.Headers == nil {
		e.Headers = map[string]string{}
	} else if _, ok := e.Headers[k]; ok && preserve {
		return
	}
	e.Headers[k] = v
}

// compile compiles a Java regular expression with RE2, explaining the
// usual reason when RE2 refuses it.
func compile(r *config.Reader, key, expr string) *regexp.Regexp {
	re, err := regexp.Compile(expr)
	if err != nil {
		hint := ""
		if strings.Contains(expr, "(?=") || strings.Contains(expr, "(?!") || strings.Contains(expr, "(?<=") || strings.Contains(expr, "(?<!") {
			hint = "; Sluice uses RE2 regular expressions, which have no look-ahead or look-behind"
		} else if strings.Contains(expr, "*+") || strings.Contains(expr, "++") || strings.Contains(expr, "?+") || strings.Contains(expr, "(?>") {
			hint = "; Sluice uses RE2 regular expressions, which have no possessive quantifiers or atomic groups"
		} else if backRef.MatchString(expr) {
			hint = "; Sluice uses RE2 regular expressions, which have no back-references"
		}
		r.Errorf(key, "%q is not a valid regular expression: %v%s", expr, err, hint)
		return nil
	}
	return re
}

var backRef = regexp.MustCompile(`\\[1-9]`)

// register adds an interceptor type under its Flume alias and Builder
// class name.
func register(name, class string, f func(env registry.Env, r *config.Reader) (source.Interceptor, error)) {
	aliases := []string{class}
	registry.Register(registry.Entry{
		Kind:    registry.Interceptor,
		Name:    name,
		Aliases: aliases,
		Factory: registry.InterceptorFactory(func(env registry.Env, r *config.Reader) (source.Interceptor, error) {
			r.Use("type")
			i, err := f(env, r)
			if err == nil {
				err = r.Err()
			}
			if err != nil {
				return nil, fmt.Errorf("%s interceptor: %w", name, err)
			}
			return i, nil
		}),
	})
}
