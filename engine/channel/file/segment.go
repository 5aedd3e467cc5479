package file

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/engine/vfs"
)

// Segment files are named wal-<10-digit id>; ids are unique across all data
// directories, so a pointer names a segment without naming its directory.
const segPrefix = "wal-"

func segName(id uint32) string { return fmt.Sprintf("%s%010d", segPrefix, id) }

func parseSegName(name string) (uint32, bool) {
	rest, ok := strings.CutPrefix(name, segPrefix)
	if !ok || len(rest) != 10 {
		return 0, false
	}
	id, err := strconv.ParseUint(rest, 10, 32)
	if err != nil || id == 0 {
		return 0, false
	}
	return uint32(id), true
}

// segment is a log file the channel knows of.
type segment struct {
	id   uint32
	dir  int // index into the data directories
	path string
	// applied is the end of the last record whose effect the in-memory
	// queue reflects; a checkpoint records it as the replay start.
	applied uint32
	// sealed is set once no writer appends to the segment; size is then
	// its final length and content the end of its last record that is not
	// padding.
	sealed  bool
	size    uint32
	content uint32
}

// complete reports whether every record of the segment is reflected in the
// queue, so that a checkpoint taken now makes the file unnecessary unless
// the queue still points into it.
func (s *segment) complete() bool { return s.sealed && s.applied >= s.content }

// segReader reads a segment file sequentially through a window, so that
// replaying a large segment needs neither the whole file in memory nor a
// system call per record.
type segReader struct {
	f      vfs.File
	size   int64
	buf    []byte
	bufOff int64
}

const readWindow = 4 << 20

// bytes returns the n bytes at off; the slice is valid until the next call.
func (r *segReader) bytes(off int64, n int) ([]byte, error) {
	if off < 0 || n < 0 || off+int64(n) > r.size {
		return nil, io.ErrUnexpectedEOF
	}
	if off >= r.bufOff && off+int64(n) <= r.bufOff+int64(len(r.buf)) {
		return r.buf[off-r.bufOff : off-r.bufOff+int64(n)], nil
	}
	want := max(n, readWindow)
	if rest := r.size - off; int64(want) > rest {
		want = int(rest)
	}
	if cap(r.buf) < want {
		r.buf = make([]byte, want)
	}
	r.buf = r.buf[:want]
	k, err := r.f.ReadAt(r.buf, off)
	if k < want {
		r.buf = r.buf[:0]
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	r.bufOff = off
	return r.buf[:n], nil
}

// record is a verified record found by scan.
type record struct {
	h       frame
	off     int64
	payload []byte // valid until the next record is read
}

// scanResult says how a segment scan ended.
type scanResult struct {
	end     int64 // end of the last whole record
	corrupt []span
	torn    *span // bytes after the last whole record, if any
}

type span struct{ from, to int64 }

// scan reads the records of segment id from offset from and calls fn for
// each valid one. A record that fails its checks is skipped when a valid
// record follows it (reported in corrupt) and otherwise ends the scan as a
// torn tail (reported in torn); scan never repairs anything itself.
func scan(f vfs.File, id uint32, from, size int64, fn func(record) error) (scanResult, error) {
	r := &segReader{f: f, size: size}
	res := scanResult{end: from}
	pos := from
	for pos < size {
		rec, err := r.recordAt(id, pos)
		if err == nil {
			if err := fn(rec); err != nil {
				return res, err
			}
			pos += frameHeaderSize + int64(rec.h.length)
			res.end = pos
			continue
		}
		if !errors.Is(err, errCorrupt) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return res, err
		}
		next, err := r.resync(id, pos+1)
		if err != nil {
			return res, err
		}
		if next < 0 {
			res.torn = &span{pos, size}
			return res, nil
		}
		res.corrupt = append(res.corrupt, span{pos, next})
		pos = next
	}
	return res, nil
}

// recordAt reads and verifies the record that should start at pos.
func (r *segReader) recordAt(id uint32, pos int64) (record, error) {
	hb, err := r.bytes(pos, frameHeaderSize)
	if err != nil {
		return record{}, err
	}
	h, err := parseFrame(hb)
	if err != nil {
		return record{}, err
	}
	if h.seg != id || int64(h.off) != pos {
		return record{}, fmt.Errorf("%w: record claims segment %d offset %d", errCorrupt, h.seg, h.off)
	}
	if (h.typ == recSegment) != (pos == 0) {
		return record{}, fmt.Errorf("%w: record type %d at offset %d", errCorrupt, h.typ, pos)
	}
	p, err := r.bytes(pos+frameHeaderSize, int(h.length))
	if err != nil {
		return record{}, err
	}
	if err := checkPayload(h, p); err != nil {
		return record{}, err
	}
	if h.typ == recSegment {
		if err := checkSegmentPayload(p); err != nil {
			return record{}, err
		}
	}
	return record{h: h, off: pos, payload: p}, nil
}

// resync finds the first valid record at or after pos, or -1. A record
// header names its own segment and offset, so a copy of a record inside an
// event body, or a stale record from another place, is never mistaken for
// the next record.
func (r *segReader) resync(id uint32, pos int64) (int64, error) {
	for ; pos+frameHeaderSize <= r.size; pos++ {
		hb, err := r.bytes(pos, frameHeaderSize)
		if err != nil {
			return -1, err
		}
		if uint32(pos) != leU32(hb[12:]) || leU32(hb[8:]) != id {
			continue
		}
		if _, err := r.recordAt(id, pos); err == nil {
			return pos, nil
		} else if !errors.Is(err, errCorrupt) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return -1, err
		}
	}
	return -1, nil
}

func leU32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// repairTail moves the bytes of a torn tail into a .corrupt file beside the
// segment and truncates the segment to its last whole record, syncing both
// so the repair is itself crash-safe. The bytes are copied in pieces: a
// damaged tail can be as long as the file.
func repairTail(fsys vfs.FS, f vfs.File, path string, torn span) (string, error) {
	name := fmt.Sprintf("%s.%d.corrupt", path, torn.from)
	tmp := name + ".tmp"
	out, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return "", fmt.Errorf("save torn tail of %s: %w", path, err)
	}
	buf := make([]byte, min(torn.to-torn.from, 1<<20))
	for off := torn.from; off < torn.to && err == nil; {
		n := min(int64(len(buf)), torn.to-off)
		var k int
		k, err = f.ReadAt(buf[:n], off)
		if errors.Is(err, io.EOF) && k > 0 {
			err = nil
		}
		if err == nil {
			_, err = out.Write(buf[:k])
		}
		off += int64(k)
		if k == 0 && err == nil {
			break
		}
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, name)
	}
	if err == nil {
		err = fsys.SyncDir(filepath.Dir(path))
	}
	if err != nil {
		fsys.Remove(tmp)
		return "", fmt.Errorf("save torn tail of %s: %w", path, err)
	}
	if err := f.Truncate(torn.from); err != nil {
		return "", fmt.Errorf("truncate %s to %d: %w", path, torn.from, err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("sync %s: %w", path, err)
	}
	return name, nil
}

// listSegments returns the segment files in dir, and the names of files
// left by Apache Flume's file channel, which Sluice cannot read.
func listSegments(fs vfs.FS, dir string) (segs map[uint32]string, flume []string, err error) {
	ents, err := fs.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	segs = map[uint32]string{}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		name := e.Name()
		if id, ok := parseSegName(name); ok {
			segs[id] = filepath.Join(dir, name)
			continue
		}
		if isFlumeLog(name) {
			flume = append(flume, name)
		}
	}
	return segs, flume, nil
}

func isFlumeLog(name string) bool {
	rest, ok := strings.CutPrefix(name, "log-")
	if !ok {
		return false
	}
	rest = strings.TrimSuffix(rest, ".meta")
	_, err := strconv.ParseUint(rest, 10, 32)
	return err == nil
}

// flumeCheckpointFiles are what Flume's file channel keeps in its
// checkpoint directory.
var flumeCheckpointFiles = []string{"checkpoint", "checkpoint.meta", "inflightputs", "inflighttakes"}

func openSegment(fs vfs.FS, path string, write bool) (vfs.File, error) {
	flag := os.O_RDONLY
	if write {
		flag = os.O_RDWR
	}
	return fs.OpenFile(path, flag, 0)
}
