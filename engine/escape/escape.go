// Package escape implements Flume's BucketPath escape sequences, used by the
// HDFS sink's path and file prefix and by the Kafka sink's topic
// (flume-facts §6.2):
//
//	%{hdr}        the value of header hdr ("" when missing)
//	%[localhost]  the agent's host name; %[IP] its address; %[FQDN] its canonical name
//	%a %A %b %B %c %d %e %D %H %I %j %k %l %m %n %M %p %S %y %Y %z
//	              date fields of the event's timestamp, as Java SimpleDateFormat prints them
//	%s            epoch seconds of the (rounded) timestamp
//	%t            the raw timestamp header in milliseconds, never rounded
//	%%            a literal %
//
// A template is compiled once; Expand is then allocation-light and safe for
// concurrent use.
package escape

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrNoTimestamp means a time escape needed the event's "timestamp" header
// and the event has none. Flume throws here and so retries the event
// forever; callers of Expand decide what to do instead.
var ErrNoTimestamp = errors.New(`event has no "timestamp" header`)

// ErrBadTimestamp means the "timestamp" header is not a decimal number of
// milliseconds.
var ErrBadTimestamp = errors.New(`"timestamp" header is not a number of milliseconds`)

// TimestampHeader is the header the time escapes read.
const TimestampHeader = "timestamp"

type kind uint8

const (
	literal kind = iota
	header
	host
	timeField
)

type segment struct {
	kind kind
	text string // literal text, header name, or host key
	c    byte   // time escape character
}

// Template is a compiled escape string.
type Template struct {
	src      string
	segs     []segment
	needTime bool
}

// Host is what the %[...] escapes expand to.
type Host struct {
	Name string // %[localhost]
	IP   string // %[IP]
	FQDN string // %[FQDN]
}

// RoundUnit is the unit of hdfs.roundUnit.
type RoundUnit int

const (
	Second RoundUnit = iota
	Minute
	Hour
)

// Options control how a template is expanded.
type Options struct {
	// Location is the time zone of the date escapes (hdfs.timeZone); nil is UTC.
	Location *time.Location
	// Round floors the timestamp to a multiple of RoundValue RoundUnits
	// (hdfs.round, hdfs.roundValue, hdfs.roundUnit) before formatting.
	Round      bool
	RoundValue int
	RoundUnit  RoundUnit
	// UseLocalTime takes the timestamp from Now instead of the event
	// (hdfs.useLocalTimeStamp).
	UseLocalTime bool
	Host         Host
}

// Compile parses s. It fails only on a %[name] that is not localhost, IP or
// FQDN, which Flume rejects at run time for every event.
func Compile(s string) (*Template, error) {
	t := &Template{src: s}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.segs = append(t.segs, segment{kind: literal, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 >= len(s) {
			lit.WriteByte(s[i])
			continue
		}
		c := s[i+1]
		switch {
		case c == '%':
			lit.WriteByte('%')
			i++
		case c == '{':
			end := strings.IndexByte(s[i+2:], '}')
			name := ""
			if end >= 0 {
				name = s[i+2 : i+2+end]
			}
			if end < 0 || name == "" || !isHeaderName(name) {
				lit.WriteByte('%') // not an escape: Flume's regex leaves it as is
				continue
			}
			flush()
			t.segs = append(t.segs, segment{kind: header, text: name})
			i += 2 + end
		case c == '[':
			end := strings.IndexByte(s[i+2:], ']')
			name := ""
			if end >= 0 {
				name = s[i+2 : i+2+end]
			}
			if end < 0 || name == "" || !isWord(name) {
				lit.WriteByte('%')
				continue
			}
			switch strings.ToLower(name) {
			case "localhost", "ip", "fqdn":
			default:
				return nil, fmt.Errorf("escape %%[%s] in %q: unknown host escape; use %%[localhost], %%[IP] or %%[FQDN]", name, s)
			}
			flush()
			t.segs = append(t.segs, segment{kind: host, text: strings.ToLower(name)})
			i += 2 + end
		case isWordByte(c):
			flush()
			t.segs = append(t.segs, segment{kind: timeField, c: c})
			t.needTime = true
			i++
		default:
			lit.WriteByte('%')
		}
	}
	flush()
	return t, nil
}

// MustCompile is Compile for constant templates.
func MustCompile(s string) *Template {
	t, err := Compile(s)
	if err != nil {
		panic(err)
	}
	return t
}

// String returns the source text.
func (t *Template) String() string { return t.src }

// NeedsTime reports whether expanding needs a timestamp.
func (t *Template) NeedsTime() bool { return t.needTime }

// Static reports whether the template expands to the same string for every
// event (no header, host or time escapes).
func (t *Template) Static() bool {
	for _, s := range t.segs {
		if s.kind != literal {
			return false
		}
	}
	return true
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isWordByte(s[i]) {
			return false
		}
	}
	return true
}

func isHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isWordByte(c) && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// Expand substitutes the escapes for one event. now is the local time, used
// when o.UseLocalTime is set. A time escape on an event without a usable
// timestamp header fails with an error wrapping ErrNoTimestamp or
// ErrBadTimestamp.
func (t *Template) Expand(headers map[string]string, now time.Time, o *Options) (string, error) {
	if len(t.segs) == 1 && t.segs[0].kind == literal {
		return t.segs[0].text, nil
	}
	var ts time.Time
	var raw string
	if t.needTime {
		var err error
		ts, raw, err = Timestamp(headers, now, o.UseLocalTime)
		if err != nil {
			return "", err
		}
		if o.Round {
			ts = RoundDown(ts, o.RoundValue, o.RoundUnit, loc(o))
		}
		ts = ts.In(loc(o))
	}
	var b strings.Builder
	b.Grow(len(t.src) + 16)
	for _, s := range t.segs {
		switch s.kind {
		case literal:
			b.WriteString(s.text)
		case header:
			b.WriteString(headers[s.text])
		case host:
			switch s.text {
			case "localhost":
				b.WriteString(o.Host.Name)
			case "ip":
				b.WriteString(o.Host.IP)
			case "fqdn":
				b.WriteString(o.Host.FQDN)
			}
		case timeField:
			if s.c == 't' {
				b.WriteString(raw)
				continue
			}
			formatTime(&b, s.c, ts)
		}
	}
	return b.String(), nil
}

func loc(o *Options) *time.Location {
	if o.Location == nil {
		return time.UTC
	}
	return o.Location
}

// Timestamp returns the event's time: now when useLocal, else the
// "timestamp" header, with the raw millisecond string %t prints.
func Timestamp(headers map[string]string, now time.Time, useLocal bool) (time.Time, string, error) {
	if useLocal {
		ms := now.UnixMilli()
		return time.UnixMilli(ms), strconv.FormatInt(ms, 10), nil
	}
	raw, ok := headers[TimestampHeader]
	if !ok {
		return time.Time{}, "", ErrNoTimestamp
	}
	ms, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("%w: %q", ErrBadTimestamp, raw)
	}
	return time.UnixMilli(ms), raw, nil
}

// RoundDown floors t to a multiple of value units in loc, as Flume's
// TimestampRoundDownUtil does: the unit's field is floored to a multiple of
// value and every smaller field is zeroed. value <= 0 means 1.
func RoundDown(t time.Time, value int, unit RoundUnit, loc *time.Location) time.Time {
	if value <= 0 {
		value = 1
	}
	t = t.In(loc)
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	switch unit {
	case Second:
		s = s / value * value
	case Minute:
		mi, s = mi/value*value, 0
	case Hour:
		h, mi, s = h/value*value, 0, 0
	}
	return time.Date(y, mo, d, h, mi, s, 0, loc)
}

var (
	shortDays   = [...]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	longDays    = [...]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	shortMonths = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
	longMonths  = [...]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
)

func pad(b *strings.Builder, n, width int) {
	s := strconv.Itoa(n)
	for i := len(s); i < width; i++ {
		b.WriteByte('0')
	}
	b.WriteString(s)
}

func hour12(h int) int {
	if h%12 == 0 {
		return 12
	}
	return h % 12
}

// formatTime writes what Java's SimpleDateFormat prints for the pattern
// Flume maps c to (English locale).
func formatTime(b *strings.Builder, c byte, t time.Time) {
	switch c {
	case 'a': // EEE
		b.WriteString(shortDays[t.Weekday()])
	case 'A': // EEEE
		b.WriteString(longDays[t.Weekday()])
	case 'b': // MMM
		b.WriteString(shortMonths[t.Month()-1])
	case 'B': // MMMM
		b.WriteString(longMonths[t.Month()-1])
	case 'c': // EEE MMM d HH:mm:ss yyyy
		formatTime(b, 'a', t)
		b.WriteByte(' ')
		formatTime(b, 'b', t)
		b.WriteByte(' ')
		pad(b, t.Day(), 1)
		b.WriteByte(' ')
		pad(b, t.Hour(), 2)
		b.WriteByte(':')
		pad(b, t.Minute(), 2)
		b.WriteByte(':')
		pad(b, t.Second(), 2)
		b.WriteByte(' ')
		pad(b, t.Year(), 4)
	case 'd': // dd
		pad(b, t.Day(), 2)
	case 'e': // d
		pad(b, t.Day(), 1)
	case 'D': // MM/dd/yy
		pad(b, int(t.Month()), 2)
		b.WriteByte('/')
		pad(b, t.Day(), 2)
		b.WriteByte('/')
		pad(b, t.Year()%100, 2)
	case 'H': // HH
		pad(b, t.Hour(), 2)
	case 'I': // hh
		pad(b, hour12(t.Hour()), 2)
	case 'j': // DDD
		pad(b, t.YearDay(), 3)
	case 'k': // H
		pad(b, t.Hour(), 1)
	case 'l': // h
		pad(b, hour12(t.Hour()), 1)
	case 'm': // MM
		pad(b, int(t.Month()), 2)
	case 'n': // M
		pad(b, int(t.Month()), 1)
	case 'M': // mm
		pad(b, t.Minute(), 2)
	case 'p': // a
		if t.Hour() < 12 {
			b.WriteString("AM")
		} else {
			b.WriteString("PM")
		}
	case 's':
		b.WriteString(strconv.FormatInt(t.Unix(), 10))
	case 'S': // ss
		pad(b, t.Second(), 2)
	case 'y': // yy
		pad(b, t.Year()%100, 2)
	case 'Y': // yyyy
		pad(b, t.Year(), 4)
	case 'z': // ZZZ: RFC 822 zone, e.g. -0800
		_, off := t.Zone()
		sign := byte('+')
		if off < 0 {
			sign, off = '-', -off
		}
		b.WriteByte(sign)
		pad(b, off/3600, 2)
		pad(b, off%3600/60, 2)
	default:
		// Flume replaces an unknown %x with nothing.
	}
}
