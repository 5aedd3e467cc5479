package taildir

import "bytes"

// lineState is what the scanner must remember between reads of a file
// when a long line straddles them. It is committed with the position.
type lineState struct {
	// Split is the number of pieces of the current long line already
	// delivered (Split policy); 0 when at the start of a line.
	Split int `json:"split,omitempty"`
	// Discard is true inside a truncated long line: bytes up to its newline
	// are dropped (Truncate policy).
	Discard bool `json:"discard,omitempty"`
}

type unitKind uint8

const (
	kindLine      unitKind = iota // a whole line
	kindPartial                   // a last line without newline, flushed on close
	kindSplit                     // a piece of a long line that continues
	kindSplitLast                 // the final piece of a split line
	kindTruncated                 // the kept head of a truncated line
	kindDropped                   // bytes consumed without an event
)

// unit is one thing the scanner found: usually a line. Offsets are
// relative to the slice given to scan.
type unit struct {
	start, end int // the event body
	next       int // where the next unit starts
	kind       unitKind
	part       int // the piece number for kindSplit and kindSplitLast
}

// scan finds the next unit in buf, which starts at a unit boundary. more
// is false at the end of the data available now (end of file); flush
// says a last line without newline is delivered anyway (the file is being
// closed). ok is false when buf holds no complete unit: with more=true the
// caller must supply more bytes (buf is shorter than max+1, so room
// exists); with more=false there is nothing to deliver for now.
//
// A line's limit counts every byte before its '\n'. A line longer than max
// is split into pieces of max bytes or truncated to max bytes, so scan
// never needs more than max+1 bytes to make progress.
func scan(buf []byte, st *lineState, max int, policy LongLinePolicy, more, flush bool) (u unit, ok bool) {
	if st.Discard {
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			st.Discard = false
			return unit{next: i + 1, kind: kindDropped}, true
		}
		if len(buf) == 0 {
			return unit{}, false
		}
		if !more && flush {
			// The file is closing: the truncated line ends here.
			st.Discard = false
		}
		return unit{next: len(buf), kind: kindDropped}, true
	}
	window := buf
	if len(window) > max+1 {
		window = window[:max+1]
	}
	if i := bytes.IndexByte(window, '\n'); i >= 0 {
		end := i
		if end > 0 && buf[end-1] == '\r' {
			end--
		}
		u = unit{start: 0, end: end, next: i + 1, kind: kindLine}
		if st.Split > 0 {
			u.kind, u.part = kindSplitLast, st.Split+1
			st.Split = 0
		}
		return u, true
	}
	if len(window) > max {
		// max+1 bytes and no newline: the line is too long.
		if policy == Truncate {
			st.Discard = true
			return unit{start: 0, end: max, next: max, kind: kindTruncated}, true
		}
		st.Split++
		return unit{start: 0, end: max, next: max, kind: kindSplit, part: st.Split}, true
	}
	if more || !flush || len(buf) == 0 {
		return unit{}, false
	}
	// A last line without newline, delivered because the file is closing,
	// as Flume does on idle close.
	u = unit{start: 0, end: len(buf), next: len(buf), kind: kindPartial}
	if st.Split > 0 {
		u.kind, u.part = kindSplitLast, st.Split+1
		st.Split = 0
	}
	return u, true
}
