package interceptor

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/source"
)

// SearchReplace rewrites event bodies: every match of Search is replaced
// as Java's Matcher.replaceAll does ($n and ${name} are groups, a
// backslash escapes the next character).
type SearchReplace struct {
	Search  *regexp.Regexp
	Replace []replPart
	Latin1  bool // the body is ISO-8859-1 rather than UTF-8 (or ASCII)
}

type replPart struct {
	lit   string
	group int // -1 for a literal
}

// compileReplacement parses a Java replacement string, rejecting what
// Matcher.appendReplacement would throw on (Flume would fail every batch
// that has a match).
func compileReplacement(repl string, re *regexp.Regexp) ([]replPart, error) {
	var parts []replPart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, replPart{lit: lit.String(), group: -1})
			lit.Reset()
		}
	}
	for i := 0; i < len(repl); {
		c := repl[i]
		switch c {
		case '\\':
			i++
			if i == len(repl) {
				return nil, fmt.Errorf("ends with a lone backslash (the character to be escaped is missing)")
			}
			_, n := utf8.DecodeRuneInString(repl[i:])
			lit.WriteString(repl[i : i+n])
			i += n
		case '$':
			i++
			if i == len(repl) {
				return nil, fmt.Errorf("ends with $ (group index is missing); write \\$ for a dollar sign")
			}
			var ref int
			if repl[i] == '{' {
				j := i + 1
				for j < len(repl) && isASCIIAlnum(repl[j]) {
					j++
				}
				name := repl[i+1 : j]
				switch {
				case name == "":
					return nil, fmt.Errorf("${} names no group")
				case j == len(repl) || repl[j] != '}':
					return nil, fmt.Errorf("${%s is missing its closing }", name)
				case name[0] >= '0' && name[0] <= '9':
					return nil, fmt.Errorf("group name {%s} starts with a digit", name)
				}
				ref = re.SubexpIndex(name)
				if ref < 0 {
					return nil, fmt.Errorf("the pattern has no group named %s", name)
				}
				i = j + 1
			} else {
				if repl[i] < '0' || repl[i] > '9' {
					return nil, fmt.Errorf("$%c is not a group reference; write \\$ for a dollar sign", repl[i])
				}
				ref = int(repl[i] - '0')
				i++
				// Java takes the longest number that is still a group.
				for i < len(repl) && repl[i] >= '0' && repl[i] <= '9' {
					n := ref*10 + int(repl[i]-'0')
					if n > re.NumSubexp() {
						break
					}
					ref = n
					i++
				}
				if ref > re.NumSubexp() {
					return nil, fmt.Errorf("$%d: the pattern has only %d group(s)", ref, re.NumSubexp())
				}
			}
			flush()
			parts = append(parts, replPart{group: ref})
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	return parts, nil
}

func isASCIIAlnum(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

func (s *SearchReplace) Intercept(events []event.Event) []event.Event {
	for i := range events {
		body := events[i].Body
		if s.Latin1 {
			body = latin1ToUTF8(body)
		}
		matches := s.Search.FindAllSubmatchIndex(body, -1)
		if matches == nil {
			continue
		}
		out := make([]byte, 0, len(body))
		last := 0
		for _, m := range matches {
			out = append(out, body[last:m[0]]...)
			for _, p := range s.Replace {
				if p.group < 0 {
					out = append(out, p.lit...)
				} else if a := m[2*p.group]; a >= 0 {
					out = append(out, body[a:m[2*p.group+1]]...)
				}
			}
			last = m[1]
		}
		out = append(out, body[last:]...)
		if s.Latin1 {
			out = utf8ToLatin1(out)
		}
		events[i].Body = out
	}
	return events
}

func latin1ToUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/8)
	for _, c := range b {
		out = utf8.AppendRune(out, rune(c))
	}
	return out
}

// utf8ToLatin1 encodes as Java does, with '?' for what does not fit.
func utf8ToLatin1(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		if r > 0xFF {
			r = '?'
		}
		out = append(out, byte(r))
	}
	return out
}

func init() {
	register("search_replace", "org.apache.flume.interceptor.SearchAndReplaceInterceptor$Builder",
		func(env registry.Env, r *config.Reader) (source.Interceptor, error) {
			pat := r.Required("searchPattern", "the regular expression to replace")
			if pat == "" {
				return nil, r.Err()
			}
			s := &SearchReplace{Search: compile(r, "searchPattern", pat)}
			switch cs := strings.ToUpper(r.String("charset", "UTF-8")); cs {
			case "UTF-8", "UTF8", "US-ASCII", "ASCII":
			case "ISO-8859-1", "ISO8859_1", "LATIN1":
				s.Latin1 = true
			default:
				r.Errorf("charset", "%q is not supported; Sluice supports UTF-8, ISO-8859-1 and US-ASCII", cs)
			}
			if s.Search != nil {
				parts, err := compileReplacement(r.String("replaceString", ""), s.Search)
				if err != nil {
					r.Errorf("replaceString", "%v", err)
				}
				s.Replace = parts
			}
			return s, nil
		})
}
