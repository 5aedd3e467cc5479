package interceptor

import (
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/source"
)

// RegexExtractor copies the groups of the first match of Regex in the body
// into headers: group i goes to Serializers[i-1], groups beyond the list
// are ignored. A serializer either passes the text through or parses it as
// a date into epoch milliseconds.
type RegexExtractor struct {
	Regex       *regexp.Regexp
	Serializers []Serializer
	Log         *slog.Logger
	failures    atomic.Int64
}

// Serializer names the header a group goes to and how it is written.
type Serializer struct {
	Header string
	// Layout, when set, parses the group as a time (Go layout, converted
	// from the Joda pattern) into epoch milliseconds.
	Layout string
	Loc    *time.Location
}

const millisSerializer = "org.apache.flume.interceptor.RegexExtractorInterceptorMillisSerializer"

func (x *RegexExtractor) Intercept(events []event.Event) []event.Event {
	for i := range events {
		m := x.Regex.FindSubmatchIndex(events[i].Body)
		if m == nil {
			continue
		}
		body := events[i].Body
		for g := 1; g <= x.Regex.NumSubexp() && g <= len(x.Serializers); g++ {
			a, b := m[2*g], m[2*g+1]
			if a < 0 {
				continue // the group did not take part; Flume would store a null
			}
			s := x.Serializers[g-1]
			v := string(body[a:b])
			if s.Layout != "" {
				t, err := time.ParseInLocation(s.Layout, v, s.Loc)
				if err != nil {
					// Flume throws here and fails the whole batch, again on
					// every retry; Sluice leaves the header unset.
					if x.failures.Add(1) == 1 && x.Log != nil {
						x.Log.Warn("regex_extractor: cannot parse a date; the header is not set (logged once)", "header", s.Header, "value", v, "err", err)
					}
					continue
				}
				v = strconv.FormatInt(t.UnixMilli(), 10)
			}
			setHeader(&events[i], s.Header, v, false)
		}
	}
	return events
}

// jodaLayout converts a Joda-Time pattern (DateTimeFormat.forPattern) to a
// Go time layout, for the letters Go can parse.
func jodaLayout(p string) (string, error) {
	var out strings.Builder
	for i := 0; i < len(p); {
		c := p[i]
		if c == '\'' {
			j := strings.IndexByte(p[i+1:], '\'')
			if j < 0 {
				return "", fmt.Errorf("unterminated quote in %q", p)
			}
			if j == 0 {
				out.WriteByte('\'') // '' is a quote
			} else {
				out.WriteString(p[i+1 : i+1+j])
			}
			i += j + 2
			continue
		}
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			out.WriteByte(c)
			i++
			continue
		}
		n := 1
		for i+n < len(p) && p[i+n] == c {
			n++
		}
		i += n
		var l string
		switch {
		case c == 'y' && n == 2:
			l = "06"
		case c == 'y':
			l = "2006"
		case c == 'M' && n >= 4:
			l = "January"
		case c == 'M' && n == 3:
			l = "Jan"
		case c == 'M' && n == 2:
			l = "01"
		case c == 'M':
			l = "1"
		case c == 'd' && n >= 2:
			l = "02"
		case c == 'd':
			l = "2"
		case c == 'H':
			l = "15"
		case c == 'h' && n >= 2:
			l = "03"
		case c == 'h':
			l = "3"
		case c == 'm' && n >= 2:
			l = "04"
		case c == 'm':
			l = "4"
		case c == 's' && n >= 2:
			l = "05"
		case c == 's':
			l = "5"
		case c == 'S':
			l = strings.Repeat("0", n)
			if s := out.String(); !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, ",") {
				return "", fmt.Errorf("fractions of a second (S) must follow a '.' or ',' in %q", p)
			}
		case c == 'a':
			l = "PM"
		case c == 'E' && n >= 4:
			l = "Monday"
		case c == 'E':
			l = "Mon"
		case c == 'D':
			l = "002"
		case c == 'Z' && n == 1:
			l = "-0700"
		case c == 'Z' && n == 2:
			l = "-07:00"
		case c == 'z':
			l = "MST"
		default:
			return "", fmt.Errorf("pattern letter %q of %q is not supported by Sluice", strings.Repeat(string(c), n), p)
		}
		out.WriteString(l)
	}
	return out.String(), nil
}

func init() {
	register("regex_extractor", "org.apache.flume.interceptor.RegexExtractorInterceptor$Builder",
		func(env registry.Env, r *config.Reader) (source.Interceptor, error) {
			x := &RegexExtractor{Log: env.Log}
			if expr := r.Required("regex", "the regular expression whose groups become headers"); expr != "" {
				x.Regex = compile(r, "regex", expr)
			}
			list := r.List("serializers")
			if len(list) == 0 {
				r.Errorf("serializers", "must name at least one serializer, e.g. serializers = s1 with serializers.s1.name = <header>")
			}
			for _, s := range list {
				sub := r.Sub("serializers." + s + ".")
				ser := Serializer{Header: sub.String("name", "")}
				if ser.Header == "" {
					sub.Errorf("name", "the serializer needs the name of the header to write")
				}
				switch typ := sub.String("type", "DEFAULT"); typ {
				case "DEFAULT", "org.apache.flume.interceptor.RegexExtractorInterceptorPassThroughSerializer":
				case millisSerializer:
					pattern := sub.String("pattern", "")
					if pattern == "" {
						sub.Errorf("pattern", "the millis serializer needs a Joda-Time pattern, e.g. yyyy-MM-dd HH:mm:ss")
						break
					}
					layout, err := jodaLayout(pattern)
					if err != nil {
						sub.Errorf("pattern", "%v", err)
						break
					}
					ser.Layout, ser.Loc = layout, time.Local
				default:
					sub.Errorf("type", "%q is not a serializer Sluice knows; use DEFAULT or %s", typ, millisSerializer)
				}
				x.Serializers = append(x.Serializers, ser)
			}
			return x, nil
		})
}
