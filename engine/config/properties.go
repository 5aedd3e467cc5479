// Package config reads Flume's configuration: Java properties files, Flume's
// agent/component hierarchy with its validation and drop rules, typed access
// to component keys, and the lint rules behind `sluice check`.
package config

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"
)

// Position is where a key was written.
type Position struct {
	File string
	Line int
}

func (p Position) String() string {
	if p.File == "" && p.Line == 0 {
		return "<built-in>"
	}
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Property is one key = value pair of a properties file.
type Property struct {
	Key   string
	Value string
	Pos   Position
	// Latin1 is set when the file was not valid UTF-8 and was read as
	// ISO-8859-1, as Flume 1.10+ reads every file.
	Latin1 bool
	// Swallowed is the first escape in the value that Java reads as the
	// bare character, like \d (read "d") or \data in a Windows path,
	// when it is not one of the characters people escape on purpose.
	Swallowed string
}

// MaxLineBytes caps one logical line, and MaxFileBytes one file, so that a
// corrupt or hostile file cannot make the parser allocate without bound.
// Real Flume configurations are a few kilobytes.
const (
	MaxLineBytes = 1 << 20
	MaxFileBytes = 16 << 20
)

// ParseProperties reads a properties file exactly as java.util.Properties.load
// does (OpenJDK LineReader and load0):
//
//   - a logical line starts at its first character that is not ' ', '\t'
//     or '\f'; lines whose first such character is '#' or '!' are comments,
//     and a comment never continues onto the next line;
//   - a line ending in an odd number of backslashes continues on the next
//     line, whose leading whitespace is dropped; a blank line ends it;
//   - the key ends at the first unescaped '=', ':', ' ', '\t' or '\f';
//     whitespace and then at most one '=' or ':' (and more whitespace)
//     separate it from the value;
//   - \t \n \r \f and \uXXXX are escapes, any other escaped character
//     stands for itself, and a malformed \uXXXX fails the whole file;
//   - lines end in \n, \r or \r\n; trailing whitespace of a value is kept
//     (Flume trims it later), and a byte-order mark is an ordinary character.
//
// The input is UTF-8. A file that is not valid UTF-8 is read as ISO-8859-1,
// which is what Flume 1.10+ does with every file (Properties.load on an
// InputStream), so Latin-1 files keep working; each Property says so.
// Later duplicates are kept; Build resolves them as Java does (last wins).
func ParseProperties(file string, r io.Reader) ([]Property, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s: file is larger than %d bytes; a Flume configuration is a few kilobytes", file, MaxFileBytes)
	}
	latin1 := !utf8.Valid(data)
	if latin1 {
		data = latin1ToUTF8(data)
	}
	lr := newLineReader(data)
	var out []Property
	for {
		line, start, ok := lr.readLine()
		if !ok {
			break
		}
		if len(line) > MaxLineBytes {
			return out, fmt.Errorf("%s:%d: logical line longer than %d bytes", file, start, MaxLineBytes)
		}
		p, err := splitKeyValue(file, start, line)
		if err != nil {
			return out, err
		}
		p.Latin1 = latin1
		out = append(out, p)
	}
	return out, nil
}

func latin1ToUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/4)
	for _, c := range b {
		out = utf8.AppendRune(out, rune(c))
	}
	return out
}

// lineReader is Java's Properties.LineReader over a decoded file. Working on
// UTF-8 bytes is equivalent to Java's chars because every character the
// reader treats specially is ASCII, and UTF-8 never uses ASCII bytes inside
// a multi-byte character.
type lineReader struct {
	data       []byte
	off        int
	lineStarts []int // offset at which each physical line starts
	buf        []byte
}

func newLineReader(data []byte) *lineReader {
	starts := []int{0}
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '\n':
			starts = append(starts, i+1)
		case '\r':
			if i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
			starts = append(starts, i+1)
		}
	}
	return &lineReader{data: data, lineStarts: starts}
}

// lineOf returns the 1-based physical line holding offset.
func (lr *lineReader) lineOf(off int) int {
	return sort.Search(len(lr.lineStarts), func(i int) bool { return lr.lineStarts[i] > off })
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\f' }

// readLine returns the next logical line (continuations joined, the
// backslash-newline and the next line's leading whitespace removed) and the
// physical line its first character is on. It mirrors LineReader.readLine
// statement by statement, including its treatment of comments after a
// continuation that left the line empty.
func (lr *lineReader) readLine() ([]byte, int, bool) {
	lr.buf = lr.buf[:0]
	start := 0
	skipWS := true
	appendedLineBegin := false
	precedingBackslash := false
	skipLF := false
	for {
		if lr.off >= len(lr.data) {
			if len(lr.buf) == 0 {
				return nil, 0, false
			}
			if precedingBackslash {
				lr.buf = lr.buf[:len(lr.buf)-1]
			}
			return lr.buf, start, true
		}
		c := lr.data[lr.off]
		lr.off++
		if skipLF {
			skipLF = false
			if c == '\n' {
				continue
			}
		}
		if skipWS {
			if isWS(c) {
				continue
			}
			if !appendedLineBegin && (c == '\r' || c == '\n') {
				continue
			}
			skipWS = false
			appendedLineBegin = false
		}
		if len(lr.buf) == 0 && (c == '#' || c == '!') {
			// A comment: skip to the end of the physical line.
			for lr.off < len(lr.data) {
				b := lr.data[lr.off]
				lr.off++
				if b == '\n' || b == '\r' {
					break
				}
			}
			skipWS = true
			continue
		}
		if c != '\n' && c != '\r' {
			if len(lr.buf) == 0 {
				start = lr.lineOf(lr.off - 1)
			}
			if len(lr.buf) > MaxLineBytes {
				// Keep reading to the end of the logical line would be
				// unbounded; report it (the caller checks the length).
				return lr.buf, start, true
			}
			lr.buf = append(lr.buf, c)
			if c == '\\' {
				precedingBackslash = !precedingBackslash
			} else {
				precedingBackslash = false
			}
			continue
		}
		// End of a physical line.
		if len(lr.buf) == 0 {
			skipWS = true
			continue
		}
		if lr.off >= len(lr.data) {
			if precedingBackslash {
				lr.buf = lr.buf[:len(lr.buf)-1]
			}
			return lr.buf, start, true
		}
		if precedingBackslash {
			lr.buf = lr.buf[:len(lr.buf)-1]
			skipWS = true
			appendedLineBegin = true
			precedingBackslash = false
			if c == '\r' {
				skipLF = true
			}
			continue
		}
		return lr.buf, start, true
	}
}

// splitKeyValue is Properties.load0's split of a logical line.
func splitKeyValue(file string, line int, l []byte) (Property, error) {
	keyLen := 0
	valueStart := len(l)
	hasSep := false
	precedingBackslash := false
	for keyLen < len(l) {
		c := l[keyLen]
		if (c == '=' || c == ':') && !precedingBackslash {
			valueStart = keyLen + 1
			hasSep = true
			break
		} else if isWS(c) && !precedingBackslash {
			valueStart = keyLen + 1
			break
		}
		if c == '\\' {
			precedingBackslash = !precedingBackslash
		} else {
			precedingBackslash = false
		}
		keyLen++
	}
	for valueStart < len(l) {
		c := l[valueStart]
		if !isWS(c) {
			if !hasSep && (c == '=' || c == ':') {
				hasSep = true
			} else {
				break
			}
		}
		valueStart++
	}
	pos := Position{File: file, Line: line}
	key, _, err := unescape(l[:keyLen])
	if err != nil {
		return Property{}, fmt.Errorf("%s: key: %w", pos, err)
	}
	val, swallowed, err := unescape(l[valueStart:])
	if err != nil {
		return Property{}, fmt.Errorf("%s: value of %q: %w", pos, key, err)
	}
	return Property{Key: key, Value: val, Pos: pos, Swallowed: swallowed}, nil
}

// deliberateEscapes are characters people escape on purpose in properties
// files: separators, comment starters, spaces and the backslash itself.
const deliberateEscapes = " \t\f=:#!\\\"'"

// unescape is Properties.loadConvert. It also returns the first escape
// that stands for a plain letter or symbol (see Property.Swallowed).
func unescape(b []byte) (string, string, error) {
	i := 0
	for i < len(b) && b[i] != '\\' {
		i++
	}
	if i == len(b) {
		return string(b), "", nil
	}
	swallowed := ""
	var sb strings.Builder
	sb.Grow(len(b))
	sb.Write(b[:i])
	for ; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			sb.WriteByte(c)
			continue
		}
		i++
		if i >= len(b) {
			break // cannot happen after readLine; a lone backslash vanishes
		}
		switch b[i] {
		case 't':
			sb.WriteByte('\t')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 'f':
			sb.WriteByte('\f')
		case 'u':
			r, ok := hex4(b, i+1)
			if !ok {
				return "", "", fmt.Errorf("malformed \\uxxxx encoding (Java refuses the whole file); write four hex digits after \\u")
			}
			i += 4
			// Java strings are UTF-16: a surrogate pair written as two
			// escapes is one character.
			if r >= 0xD800 && r < 0xDC00 && i+2 < len(b) && b[i+1] == '\\' && b[i+2] == 'u' {
				if lo, ok := hex4(b, i+3); ok && lo >= 0xDC00 && lo < 0xE000 {
					r = (r-0xD800)<<10 + (lo - 0xDC00) + 0x10000
					i += 6
				}
			}
			sb.WriteRune(r)
		default:
			if swallowed == "" && !strings.ContainsRune(deliberateEscapes, rune(b[i])) {
				_, n := utf8.DecodeRune(b[i:])
				swallowed = "\\" + string(b[i:i+n])
			}
			sb.WriteByte(b[i])
		}
	}
	return sb.String(), swallowed, nil
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, h := range b[at : at+4] {
		switch {
		case h >= '0' && h <= '9':
			r = r<<4 | rune(h-'0')
		case h >= 'a' && h <= 'f':
			r = r<<4 | rune(h-'a'+10)
		case h >= 'A' && h <= 'F':
			r = r<<4 | rune(h-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// javaTrim is String.trim: it removes every character <= U+0020 from both
// ends and nothing else (no-break and ideographic spaces stay).
func javaTrim(s string) string {
	i, j := 0, len(s)
	for i < j && s[i] <= ' ' {
		i++
	}
	for j > i && s[j-1] <= ' ' {
		j--
	}
	return s[i:j]
}

// splitWS is Java's s.split("\\s+") on a trimmed string: the regex \s is
// [ \t\n\x0B\f\r], which is narrower than Go's strings.Fields.
func splitWS(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\v' || r == '\f' || r == '\r'
	})
}
