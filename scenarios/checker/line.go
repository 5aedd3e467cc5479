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
	if len(line) == 0 || len(line) > MaxLine {
		return p, false
	}
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return p, false
	}
	id := line[:sp]
	dash := bytes.LastIndexByte(id, '-')
	if dash <= 0 || dash == len(id)-1 {
		return p, false
	}
	seq, err := strconv.ParseInt(string(id[dash+1:]), 10, 64)
	if err != nil || seq < 0 {
		return p, false
	}
	rest := line[sp+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	ts := rest
	var padding []byte
	if sp2 >= 0 {
		ts, padding = rest[:sp2], rest[sp2+1:]
		if len(padding) == 0 {
			return p, false
		}
	}
	nanos, err := strconv.ParseInt(string(ts), 10, 64)
	if err != nil {
		return p, false
	}
	for i, c := range padding {
		if c != pad(seq, i) {
			return p, false
		}
	}
	return Parsed{Writer: string(id[:dash]), Seq: seq, Nanos: nanos, Size: len(line)}, true
}
