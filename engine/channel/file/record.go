package file

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"

	"github.com/sluicehq/sluice/engine/event"
)

// The on-disk records; FORMAT.md is the specification.

const (
	frameHeaderSize = 24

	recSegment = 1 // first record of every segment: magic and version
	recCommit  = 2 // one committed transaction: its takes and its puts
	recPad     = 3 // zeros up to the next block boundary, before a sync

	// blockSize is the unit of alignment: every sync covers whole blocks,
	// so that the next write never shares a block with synced bytes (no
	// reliance on the disk rewriting a sector without damaging the synced
	// part of it).
	blockSize = 4096

	// maxRecordPayload caps one transaction's record, so that offsets stay
	// within 32 bits and a reader never allocates more than this for a
	// record whose header checksum is valid.
	maxRecordPayload = 1 << 30

	commitFixed = 16 // firstESN u64, puts u32, takeRuns u32
	takeRunSize = 12 // start ESN u64, count u32
	eventFixed  = 8  // crc u32, length u32

	segHeaderLen = frameHeaderSize + 12 // the segment record: magic and version
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// segMagic opens the payload of every segment's first record.
var segMagic = [8]byte{'S', 'L', 'U', 'I', 'C', 'E', 'W', 'L'}

const segVersion = 1

var errCorrupt = errors.New("corrupt record")

// frame is a record header.
type frame struct {
	length uint32 // payload bytes
	typ    uint8
	seg    uint32 // the segment the record was written to
	off    uint32 // the record's own offset in that segment
	crc    uint32 // CRC-32C of the payload
}

// putFrame writes h into b[:frameHeaderSize], sealing it with the header
// checksum.
func putFrame(b []byte, h frame) {
	binary.LittleEndian.PutUint32(b[0:], h.length)
	b[4], b[5], b[6], b[7] = h.typ, 0, 0, 0
	binary.LittleEndian.PutUint32(b[8:], h.seg)
	binary.LittleEndian.PutUint32(b[12:], h.off)
	binary.LittleEndian.PutUint32(b[16:], h.crc)
	binary.LittleEndian.PutUint32(b[20:], crc(b[:20]))
}

// parseFrame decodes a record header, checking its checksum and the fixed
// fields; it does not look at the payload.
func parseFrame(b []byte) (frame, error) {
	if len(b) < frameHeaderSize {
		return frame{}, fmt.Errorf("%w: %d bytes, a header needs %d", errCorrupt, len(b), frameHeaderSize)
	}
	if got, want := crc(b[:20]), binary.LittleEndian.Uint32(b[20:]); got != want {
		return frame{}, fmt.Errorf("%w: header checksum %08x, want %08x", errCorrupt, got, want)
	}
	h := frame{
		length: binary.LittleEndian.Uint32(b[0:]),
		typ:    b[4],
		seg:    binary.LittleEndian.Uint32(b[8:]),
		off:    binary.LittleEndian.Uint32(b[12:]),
		crc:    binary.LittleEndian.Uint32(b[16:]),
	}
	if b[5]|b[6]|b[7] != 0 || h.typ < recSegment || h.typ > recPad {
		return frame{}, fmt.Errorf("%w: unknown record type %d", errCorrupt, h.typ)
	}
	if h.length > maxRecordPayload {
		return frame{}, fmt.Errorf("%w: payload length %d over the %d limit", errCorrupt, h.length, maxRecordPayload)
	}
	return h, nil
}

// checkPayload verifies a payload against its header.
func checkPayload(h frame, p []byte) error {
	if len(p) != int(h.length) {
		return fmt.Errorf("%w: payload is %d bytes, header says %d", errCorrupt, len(p), h.length)
	}
	if got := crc(p); got != h.crc {
		return fmt.Errorf("%w: payload checksum %08x, want %08x", errCorrupt, got, h.crc)
	}
	return nil
}

// segmentRecord returns the complete first record of segment id.
func segmentRecord(id uint32) []byte {
	b := make([]byte, segHeaderLen)
	copy(b[frameHeaderSize:], segMagic[:])
	binary.LittleEndian.PutUint32(b[frameHeaderSize+8:], segVersion)
	putFrame(b, frame{length: 12, typ: recSegment, seg: id, off: 0, crc: crc(b[frameHeaderSize:])})
	return b
}

// padLen is the length of the padding record that takes off to the next
// block boundary, or 0 when off is on one.
func padLen(off int64) int64 {
	n := -off & (blockSize - 1)
	if n > 0 && n < frameHeaderSize {
		n += blockSize
	}
	return n
}

// padRecord is a complete padding record of n bytes at off in segment seg.
func padRecord(seg uint32, off int64, n int64) []byte {
	return appendPad(nil, seg, off, n)
}

// appendPad appends padRecord(seg, off, n) to b, so that a writer can pad
// every sync into the same buffer.
func appendPad(b []byte, seg uint32, off int64, n int64) []byte {
	start := len(b)
	b = append(b, make([]byte, n)...) // zeros, also over a reused buffer
	r := b[start:]
	putFrame(r, frame{length: uint32(n - frameHeaderSize), typ: recPad, seg: seg, off: uint32(off), crc: crc(r[frameHeaderSize:])})
	return b
}

func checkSegmentPayload(p []byte) error {
	if len(p) < 12 || [8]byte(p[:8]) != segMagic {
		return fmt.Errorf("%w: not a Sluice segment header", errCorrupt)
	}
	if v := binary.LittleEndian.Uint32(p[8:]); v != segVersion {
		return fmt.Errorf("segment format version %d; this Sluice reads version %d", v, segVersion)
	}
	return nil
}

// run is a range of consecutive event sequence numbers.
type run struct {
	start uint64
	count uint32
}

// takeRuns compresses the taken pointers' sequence numbers into runs.
func takeRuns(ps []ptr, out []run) []run {
	for _, p := range ps {
		if n := len(out); n > 0 && out[n-1].start+uint64(out[n-1].count) == p.esn && out[n-1].count < 1<<31 {
			out[n-1].count++
			continue
		}
		out = append(out, run{start: p.esn, count: 1})
	}
	return out
}

// eventSize is the encoded size of e.
func eventSize(e event.Event) int {
	n := eventFixed + uvarintLen(uint64(len(e.Headers))) + len(e.Body)
	for k, v := range e.Headers {
		n += uvarintLen(uint64(len(k))) + len(k) + uvarintLen(uint64(len(v))) + len(v)
	}
	return n
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// putEvent encodes e into b, which is exactly eventSize(e) long.
func putEvent(b []byte, e event.Event) {
	p := eventFixed
	p += binary.PutUvarint(b[p:], uint64(len(e.Headers)))
	for k, v := range e.Headers {
		p += binary.PutUvarint(b[p:], uint64(len(k)))
		p += copy(b[p:], k)
		p += binary.PutUvarint(b[p:], uint64(len(v)))
		p += copy(b[p:], v)
	}
	copy(b[p:], e.Body)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-eventFixed))
	binary.LittleEndian.PutUint32(b[0:], crc(b[eventFixed:]))
}

// decodeEvent decodes one encoded event. The body aliases b.
func decodeEvent(b []byte) (event.Event, error) {
	if len(b) < eventFixed {
		return event.Event{}, fmt.Errorf("%w: event of %d bytes", errCorrupt, len(b))
	}
	n := binary.LittleEndian.Uint32(b[4:])
	if uint64(n) != uint64(len(b)-eventFixed) {
		return event.Event{}, fmt.Errorf("%w: event length %d, pointer says %d", errCorrupt, n, len(b)-eventFixed)
	}
	if got, want := crc(b[eventFixed:]), binary.LittleEndian.Uint32(b); got != want {
		return event.Event{}, fmt.Errorf("%w: event checksum %08x, want %08x", errCorrupt, got, want)
	}
	d := b[eventFixed:]
	nh, k := binary.Uvarint(d)
	if k <= 0 || nh > uint64(len(d))/2 {
		return event.Event{}, fmt.Errorf("%w: bad header count", errCorrupt)
	}
	d = d[k:]
	var e event.Event
	if nh > 0 {
		e.Headers = make(map[string]string, nh)
	}
	for i := uint64(0); i < nh; i++ {
		var key, val []byte
		var ok bool
		if key, d, ok = lenPrefixed(d); !ok {
			return event.Event{}, fmt.Errorf("%w: bad header key", errCorrupt)
		}
		if val, d, ok = lenPrefixed(d); !ok {
			return event.Event{}, fmt.Errorf("%w: bad header value", errCorrupt)
		}
		e.Headers[string(key)] = string(val)
	}
	e.Body = d[:len(d):len(d)]
	return e, nil
}

func lenPrefixed(d []byte) (field, rest []byte, ok bool) {
	n, k := binary.Uvarint(d)
	if k <= 0 || n > uint64(len(d)-k) {
		return nil, nil, false
	}
	return d[k : k+int(n)], d[k+int(n):], true
}

// commitRec is a decoded commit payload: the runs of event sequence numbers
// it takes and the extents of the events it puts.
type commitRec struct {
	firstESN uint64
	takes    []run
	// events holds, per put event, its offset within the payload and its
	// encoded length.
	events []extent
}

type extent struct{ off, n uint32 }

// decodeCommit parses a commit payload whose checksum was verified. It
// checks every length against the payload, so that a record written by a
// buggy or hostile writer cannot make it read out of bounds or allocate
// more than the payload justifies.
func decodeCommit(p []byte, rec *commitRec) error {
	if len(p) < commitFixed {
		return fmt.Errorf("%w: commit payload of %d bytes", errCorrupt, len(p))
	}
	rec.firstESN = binary.LittleEndian.Uint64(p)
	nPuts := binary.LittleEndian.Uint32(p[8:])
	nRuns := binary.LittleEndian.Uint32(p[12:])
	pos := commitFixed
	if uint64(nRuns)*takeRunSize > uint64(len(p)-pos) {
		return fmt.Errorf("%w: %d take runs do not fit in the record", errCorrupt, nRuns)
	}
	if uint64(nPuts)*eventFixed > uint64(len(p)-pos) {
		return fmt.Errorf("%w: %d events do not fit in the record", errCorrupt, nPuts)
	}
	rec.takes = rec.takes[:0]
	for i := uint32(0); i < nRuns; i++ {
		r := run{start: binary.LittleEndian.Uint64(p[pos:]), count: binary.LittleEndian.Uint32(p[pos+8:])}
		if r.count == 0 || r.start+uint64(r.count) < r.start {
			return fmt.Errorf("%w: take run %d+%d", errCorrupt, r.start, r.count)
		}
		rec.takes = append(rec.takes, r)
		pos += takeRunSize
	}
	if nPuts > 0 && rec.firstESN+uint64(nPuts) < rec.firstESN {
		return fmt.Errorf("%w: event sequence overflows", errCorrupt)
	}
	rec.events = rec.events[:0]
	for i := uint32(0); i < nPuts; i++ {
		if len(p)-pos < eventFixed {
			return fmt.Errorf("%w: event %d truncated", errCorrupt, i)
		}
		n := binary.LittleEndian.Uint32(p[pos+4:])
		if uint64(n) > uint64(len(p)-pos-eventFixed) {
			return fmt.Errorf("%w: event %d length %d past the record end", errCorrupt, i, n)
		}
		rec.events = append(rec.events, extent{off: uint32(pos), n: n + eventFixed})
		pos += eventFixed + int(n)
	}
	if pos != len(p) {
		return fmt.Errorf("%w: %d bytes after the last event", errCorrupt, len(p)-pos)
	}
	return nil
}

// encodeCommit builds the complete record (header space included) for a
// transaction's takes and puts, assigning the puts sequence numbers from
// firstESN. It returns the extents of the events relative to the record
// start. The header is filled in by the writer, which alone knows where the
// record lands. The record is built in buf when it is large enough.
func encodeCommit(takes []run, puts []event.Event, firstESN uint64, sizes []int, ext []extent, buf []byte) ([]byte, []extent, error) {
	size := commitFixed + takeRunSize*len(takes)
	for _, s := range sizes {
		size += s
	}
	if size > maxRecordPayload {
		return nil, nil, fmt.Errorf("transaction of %d bytes is over the %d MiB limit of one record; commit smaller batches", size, maxRecordPayload>>20)
	}
	var b []byte
	if n := frameHeaderSize + size; cap(buf) >= n {
		b = buf[:n]
		clear(b)
	} else {
		b = make([]byte, n)
	}
	p := b[frameHeaderSize:]
	if cap(ext)-len(ext) < len(puts) {
		ext = slices.Grow(ext, len(puts))
	}
	binary.LittleEndian.PutUint64(p, firstESN)
	binary.LittleEndian.PutUint32(p[8:], uint32(len(puts)))
	binary.LittleEndian.PutUint32(p[12:], uint32(len(takes)))
	pos := commitFixed
	for _, r := range takes {
		binary.LittleEndian.PutUint64(p[pos:], r.start)
		binary.LittleEndian.PutUint32(p[pos+8:], r.count)
		pos += takeRunSize
	}
	for i, e := range puts {
		putEvent(p[pos:pos+sizes[i]], e)
		ext = append(ext, extent{off: uint32(frameHeaderSize + pos), n: uint32(sizes[i])})
		pos += sizes[i]
	}
	return b, ext, nil
}
