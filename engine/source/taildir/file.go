package taildir

import (
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/sluicehq/sluice/engine/vfs"
)

// fileKey is a file's identity on the machine: device and inode.
type fileKey struct{ dev, ino uint64 }

func identity(fi fs.FileInfo) (fileKey, bool) {
	dev, ino, ok := vfs.Identity(fi)
	return fileKey{dev, ino}, ok
}

// tailFile is one file being followed. Everything here is owned by the
// goroutine that calls Process.
type tailFile struct {
	key   fileKey
	path  string // current name; for a deleted file, its last name
	group *Group
	// hdrPath is the name the file had when first seen, which is what
	// Flume's fileHeader reports (a rotated file keeps the live name).
	hdrPath string
	seq     uint64 // tracking order, which is position-file order
	// restoredAt is 1 + the index of the saved position applied at start.
	restoredAt int
	// copyOf is the followed file this one is a copy of; it is not read
	// until that file is truncated or forgotten (see Source.release).
	copyOf *tailFile
	// partial: copyOf was chosen while this file was still shorter than
	// copyOf's position (a copy being written), by comparing the bytes it
	// had with copyOf's at the same offsets; judged is its size then.
	partial bool
	judged  int64
	// fresh: found while running (or not in the saved positions) and not
	// read yet. Before its first read it is checked for being a copy of a
	// followed file that is still being written (see Source.judge).
	fresh bool
	// savedCopy is 1 + the index of the saved position this file was
	// found to copy at start-up (see Source.restore).
	savedCopy int
	// head caches the first bytes of the file (up to headSize) while its
	// fingerprint holds, to tell cheaply which files a new one may copy.
	head []byte

	h vfs.File // nil while closed

	pos  int64     // committed: every line before it is in the channel
	line lineState // committed long-line state at pos

	// The first fpLen bytes of the file hash to fp. A file whose first
	// bytes differ is not the file the position belongs to.
	fp    uint64
	fpLen int64

	// ctxLen bytes ending at ctxEnd (a committed position) hash to ctx:
	// with fp, what identifies a copy of this file's content (copytruncate).
	ctx    uint64
	ctxEnd int64
	ctxLen int64

	size  int64     // size and mtime when last checked through the handle
	mtime time.Time // (zero: not checked since opened)

	statSize  int64 // size and mtime seen by the last directory scan
	statMtime time.Time

	matched bool // named by a file group at the last scan
	gone    bool // unmatched and not found in its directory: deleted
	active  time.Time
}

// fingerprintSize is how many leading bytes identify a file's content, as
// in Grafana Alloy's file tailer: enough to tell apart two log files that
// reuse an inode, few enough to read on every change.
const fingerprintSize = 1024

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// fnv64a continues an FNV-1a hash; it is stable across processes, which
// the persisted fingerprints need.
func fnv64a(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

// checkPrint reads the first bytes of h and compares them with the
// fingerprint (fp over fpLen bytes). When they match and the file has grown
// past the fingerprint it returns the longer fingerprint. ok is false when
// the content differs or the file is now shorter than the fingerprint.
func checkPrint(h vfs.File, size int64, fp uint64, fpLen int64, scratch []byte) (nfp uint64, nlen int64, ok bool, err error) {
	n := min(size, fingerprintSize)
	if n < fpLen {
		return fp, fpLen, false, nil
	}
	if n == 0 {
		return fnvOffset, 0, true, nil
	}
	buf := scratch[:n]
	k, err := h.ReadAt(buf, 0)
	if k < len(buf) {
		if err != nil && err != io.EOF {
			return fp, fpLen, false, fmt.Errorf("read fingerprint: %w", err)
		}
		buf = buf[:k] // shrank since the stat
		if int64(k) < fpLen {
			return fp, fpLen, false, nil
		}
	}
	h1 := fnv64a(fnvOffset, buf[:fpLen])
	if h1 != fp {
		return fp, fpLen, false, nil
	}
	return fnv64a(h1, buf[fpLen:]), int64(len(buf)), true, nil
}

// headSize is how many first bytes of a followed file are kept in memory.
const headSize = 64

// emptyPrint is the fingerprint of no bytes, which every file matches.
const emptyPrint = fnvOffset

// contextSize is how many bytes before a position are remembered to
// recognise a copy of the file up to that position.
const contextSize = 256

// hashAt hashes n bytes of h at off; ok is false when they are not all there.
func hashAt(h vfs.File, off, n int64, scratch []byte) (uint64, bool, error) {
	buf := scratch[:n]
	k, err := h.ReadAt(buf, off)
	if k < len(buf) {
		if err != nil && err != io.EOF {
			return 0, false, err
		}
		return 0, false, nil
	}
	return fnv64a(fnvOffset, buf), true, nil
}

// isCopy reports whether h, a file of size bytes, holds the content f had
// when it was last remembered: same first bytes, same bytes before the
// remembered position, and at least f.pos bytes.
func (f *tailFile) isCopy(h vfs.File, size int64, scratch []byte) bool {
	if size < f.pos || f.fpLen == 0 || (f.pos > f.fpLen && f.ctxLen == 0) || size < f.fpLen {
		return false // not enough known about the content up to f.pos
	}
	if fp, ok, err := hashAt(h, 0, f.fpLen, scratch); err != nil || !ok || fp != f.fp {
		return false
	}
	if f.ctxLen > 0 {
		if c, ok, err := hashAt(h, f.ctxEnd-f.ctxLen, f.ctxLen, scratch); err != nil || !ok || c != f.ctx {
			return false
		}
	}
	return true
}
