package checker

import (
	"bytes"
	"strconv"
)

// The workload's lines are "<writer>-<seq> <unix-nanos> <padding>": a
// unique id, the write time, and padding whose every byte is derived from
// the sequence number, so the checker can tell an intact line from an
// altered one without keeping what was written.

// MaxLine caps a line the checker accepts; longer input is not a workload
// line.
const MaxLine = 1 << 20

// Line appends the workload line for (writer, seq) written at nanos,
// padded to size bytes when size exceeds the id and timestamp. The writer
// name must not contain spaces or newlines.
func Line(dst []byte, writer string, seq, nanos int64, size int) []byte {
	start := len(dst)
	dst = append(dst, writer...)
	dst = append(dst, '-')
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, nanos, 10)
	if n := size - (len(dst) - start) - 1; n > 0 && size <= MaxLine {
		dst = append(dst, ' ')
		for i := 0; i < n; i++ {
			dst = append(dst, pad(seq, i))
		}
	}
	return dst
}

func pad(seq int64, i int) byte {
	return 'a' + byte((uint64(seq)*7+uint64(i))%26)
}

// Parsed is a parsed workload line.
type Parsed struct {
	Writer string
	Seq    int64
	Nanos  int64
	Size   int // the whole line's length
}

// Parse splits a workload line and verifies its padding. ok is false for
// anything that is not an intact line written by Line.
func Parse(line []byte) (p Parsed, ok bool) {
	w, seq, nanos, ok := parse(line)
	if !ok {
		return p, false
	}
	return Parsed{Writer: string(w), Seq: seq, Nanos: nanos, Size: len(line)}, true
}

// parse is Parse without allocating: the writer is a slice of line.
func parse(line []byte) (writer []byte, seq, nanos int64, ok bool) {
	if len(line) == 0 || len(line) > MaxLine {
		return nil, 0, 0, false
	}
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return nil, 0, 0, false
	}
	id := line[:sp]
	dash := bytes.LastIndexByte(id, '-')
	if dash <= 0 || dash == len(id)-1 {
		return nil, 0, 0, false
	}
	seq, ok = canonical(id[dash+1:])
	if !ok || seq < 0 {
		return nil, 0, 0, false
	}
	rest := line[sp+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	ts := rest
	var padding []byte
	if sp2 >= 0 {
		ts, padding = rest[:sp2], rest[sp2+1:]
		if len(padding) == 0 {
			return nil, 0, 0, false
		}
	}
	if nanos, ok = canonical(ts); !ok {
		return nil, 0, 0, false
	}
	for i, c := range padding {
		if c != pad(seq, i) {
			return nil, 0, 0, false
		}
	}
	return id[:dash], seq, nanos, true
}

// canonical parses a decimal written as strconv.FormatInt writes it (an
// optional '-', no '+', no leading zeros, within int64), so that only lines
// Line could have written are accepted.
func canonical(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 || (b[0] == '0' && (len(b) > 1 || neg)) {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > 1<<63-1 {
		return 0, false
	}
	return int64(n), true
}
