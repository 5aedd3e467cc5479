// Package config reads Flume's configuration: Java properties files, Flume's
// agent/component hierarchy with its validation and drop rules, typed access
// to component keys, and the lint rules behind `sluice check`.
package config

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
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
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Property is one key = value pair of a properties file.
type Property struct {
	Key   string
	Value string
	Pos   Position
}

// MaxLineBytes caps one logical line of a properties file, so that a
// corrupt or hostile file cannot make the parser allocate without bound.
const MaxLineBytes = 1 << 20

// ParseProperties reads a properties file exactly as java.util.Properties.load
// does: "#" and "!" comment lines, "=", ":" or whitespace between key and
// value, backslash line continuations (leading whitespace of the next line
// dropped), and the escapes \t \n \r \f \uXXXX (any other escaped character
// stands for itself). Values are not trimmed at the end, as in Java. The
// input is UTF-8. Later duplicates are kept; Flatten resolves them.
func ParseProperties(file string, r io.Reader) ([]Property, error) {
	br := bufio.NewReaderSize(r, 64*1024)
	var out []Property
	lineNo := 0
	var logical []byte
	startLine := 0
	continuing := false
	for {
		raw, err := readNaturalLine(br)
		if err != nil && err != io.EOF {
			return out, fmt.Errorf("%s:%d: %w", file, lineNo+1, err)
		}
		if raw == nil && err == io.EOF {
			break
		}
		lineNo++
		if !utf8.Valid(raw) {
			return out, fmt.Errorf("%s:%d: line is not valid UTF-8", file, lineNo)
		}
		line := raw
		if continuing {
			line = bytes.TrimLeft(line, " \t\f")
		} else {
			line = bytes.TrimLeft(line, " \t\f")
			if len(line) == 0 {
				if err == io.EOF {
					break
				}
				continue
			}
			if line[0] == '#' || line[0] == '!' {
				if err == io.EOF {
					break
				}
				continue
			}
			startLine = lineNo
			logical = logical[:0]
		}
		if len(logical)+len(line) > MaxLineBytes {
			return out, fmt.Errorf("%s:%d: logical line longer than %d bytes", file, startLine, MaxLineBytes)
		}
		// A line ending in an odd number of backslashes continues.
		bs := 0
		for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
			bs++
		}
		if bs%2 == 1 {
			logical = append(logical, line[:len(line)-1]...)
			continuing = true
			if err == io.EOF {
				// Java treats a continuation at end of input as the end.
				p, perr := splitKeyValue(file, startLine, logical)
				if perr != nil {
					return out, perr
				}
				out = append(out, p)
				break
			}
			continue
		}
		logical = append(logical, line...)
		continuing = false
		p, perr := splitKeyValue(file, startLine, logical)
		if perr != nil {
			return out, perr
		}
		out = append(out, p)
		if err == io.EOF {
			break
		}
	}
	return out, nil
}

// readNaturalLine returns one line without its terminator (\n, \r or \r\n).
// It returns (nil, io.EOF) at the end.
func readNaturalLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		b, err := br.ReadByte()
		if err == io.EOF {
			if line == nil {
				return nil, io.EOF
			}
			return line, io.EOF
		}
		if err != nil {
			return nil, err
		}
		switch b {
		case '\n':
			if line == nil {
				line = []byte{}
			}
			return line, nil
		case '\r':
			if nb, err := br.Peek(1); err == nil && nb[0] == '\n' {
				br.ReadByte()
			}
			if line == nil {
				line = []byte{}
			}
			return line, nil
		}
		if len(line) > MaxLineBytes {
			return nil, fmt.Errorf("line longer than %d bytes", MaxLineBytes)
		}
		line = append(line, b)
	}
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\f' }

func splitKeyValue(file string, line int, l []byte) (Property, error) {
	keyEnd := len(l)
	valStart := len(l)
	hasSep := false
	for i := 0; i < len(l); i++ {
		c := l[i]
		if c == '\\' {
			i++ // the escaped char is part of the key
			continue
		}
		if c == '=' || c == ':' {
			keyEnd, valStart, hasSep = i, i+1, true
			break
		}
		if isWS(c) {
			keyEnd, valStart = i, i+1
			break
		}
	}
	// After whitespace, skip more whitespace and at most one '=' or ':'.
	for valStart < len(l) && isWS(l[valStart]) {
		valStart++
	}
	if !hasSep && valStart < len(l) && (l[valStart] == '=' || l[valStart] == ':') {
		valStart++
		for valStart < len(l) && isWS(l[valStart]) {
			valStart++
		}
	}
	pos := Position{File: file, Line: line}
	key, err := unescape(l[:keyEnd])
	if err != nil {
		return Property{}, fmt.Errorf("%s: key: %w", pos, err)
	}
	val, err := unescape(l[valStart:])
	if err != nil {
		return Property{}, fmt.Errorf("%s: value of %q: %w", pos, key, err)
	}
	return Property{Key: key, Value: val, Pos: pos}, nil
}

func unescape(b []byte) (string, error) {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b), nil
	}
	var sb strings.Builder
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			sb.WriteByte(c)
			continue
		}
		i++
		if i >= len(b) {
			break // a lone trailing backslash vanishes, as in Java
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
				return "", fmt.Errorf("malformed \\uxxxx encoding")
			}
			i += 4
			// Java strings are UTF-16: join a surrogate pair written as two escapes.
			if r >= 0xD800 && r < 0xDC00 && i+2 < len(b) && b[i+1] == '\\' && b[i+2] == 'u' {
				if lo, ok := hex4(b, i+3); ok && lo >= 0xDC00 && lo < 0xE000 {
					r = (r-0xD800)<<10 + (lo - 0xDC00) + 0x10000
					i += 6
				}
			}
			sb.WriteRune(r)
		default:
			sb.WriteByte(b[i])
		}
	}
	return sb.String(), nil
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
