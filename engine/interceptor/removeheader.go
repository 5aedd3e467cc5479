package interceptor

import (
	"regexp"

	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/source"
)

// RemoveHeader removes the header WithName, every header in FromList, and
// every header whose whole name matches Matching.
type RemoveHeader struct {
	WithName string
	FromList map[string]bool
	Matching *regexp.Regexp // anchored: Java's matches()
}

func (h *RemoveHeader) Intercept(events []event.Event) []event.Event {
	for _, e := range events {
		if e.Headers == nil {
			continue
		}
		if h.WithName != "" {
			delete(e.Headers, h.WithName)
		}
		if h.FromList == nil && h.Matching == nil {
			continue
		}
		for k := range e.Headers {
			if h.FromList[k] || (h.Matching != nil && h.Matching.MatchString(k)) {
				delete(e.Headers, k)
			}
		}
	}
	return events
}

// javaSplit is Java's String.split(regex): trailing empty strings are
// dropped, and so is a leading empty string produced by a match of
// positive width at the start.
func javaSplit(re *regexp.Regexp, s string) []string {
	parts := re.Split(s, -1)
	if loc := re.FindStringIndex(s); loc != nil && loc[0] == 0 && loc[1] > 0 && len(parts) > 0 && parts[0] == "" {
		parts = parts[1:]
	}
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}

func init() {
	register("remove_header", "org.apache.flume.interceptor.RemoveHeaderInterceptor$Builder",
		func(env registry.Env, r *config.Reader) (source.Interceptor, error) {
			h := &RemoveHeader{WithName: r.String("withName", "")}
			sep := compile(r, "fromListSeparator", r.String("fromListSeparator", `\s*,\s*`))
			if list, ok := r.Raw("fromList"); ok && sep != nil {
				h.FromList = map[string]bool{}
				for _, n := range javaSplit(sep, list) {
					h.FromList[n] = true
				}
			}
			if m, ok := r.Raw("matching"); ok {
				if re := compile(r, "matching", m); re != nil {
					h.Matching = regexp.MustCompile(`\A(?:` + m + `)\z`)
				}
			}
			return h, nil
		})
}
