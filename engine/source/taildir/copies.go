package taildir

import (
	"bytes"
	"io"

	"github.com/sluicehq/sluice/engine/vfs"
)

// Copies being written.
//
// logrotate's copytruncate copies a file with read and write calls, and a
// scan can list the copy at any moment of that: empty, or holding only the
// first part of the original. Such a copy is not recognised by startCopy
// (it is shorter than what was read of the original), and reading it as a
// new file would deliver again everything the original delivered. So a
// file found while running is not read until it is judged: if the bytes it
// has are the bytes a followed file has at the same offsets, it waits like
// a complete copy (release decides where to read it from once the original
// is truncated or forgotten); as it grows it is judged again, and read from
// its start only if its content turns out to be its own.
//
// The price: a new file whose every byte so far is also the start of a
// followed file (say, one identical banner line) is not read until it
// differs; and if that followed file is truncated meanwhile, those bytes are
// taken for already delivered. And a copy whose bytes so far are the first
// bytes of several followed files (every generation of a log begins alike)
// is not read until they tell which, or its original is truncated.

// judge decides, before f's first read, whether f (fresh, size bytes, open)
// is a copy of a followed file. It reports true when f is not to be read
// now: it waits as a copy, or it holds the first bytes of several followed
// files and stays fresh; an empty f stays fresh too, to be judged when it
// has bytes.
func (s *Source) judge(f *tailFile, size int64) bool {
	if f.pos != 0 || f.line != (lineState{}) {
		f.fresh = false
		return false
	}
	if size == 0 {
		return false
	}
	f.fresh = false
	t, partial, ambiguous := s.originalOf(f, f.h, size)
	for i := 0; t == nil && i < 4; i++ {
		// logrotate truncates the original as soon as the copy is
		// complete: a copy sized while still being written can find its
		// original truncated when compared with it, and is then known only
		// as the complete copy it has become (by what the original read).
		fi, err := f.h.Stat()
		if err != nil || fi.Size() == size {
			break
		}
		size = fi.Size()
		t, partial, ambiguous = s.originalOf(f, f.h, size)
	}
	if t == nil && s.fromUncopied(f, size) {
		return false
	}
	if ambiguous {
		// Not read, and judged again as it grows; if its original is
		// truncated first, release finds it a copy all the same.
		f.fresh = true
		return true
	}
	if t == nil {
		return false
	}
	s.wait(f, t, partial, size)
	return true
}

// wait makes f a copy of t that is not read until t is truncated or
// forgotten.
func (s *Source) wait(f, t *tailFile, partial bool, size int64) {
	f.copyOf, f.partial, f.judged = t, partial, size
	f.pos, f.line = 0, lineState{}
	if !partial {
		f.pos = t.pos
	}
	f.hdrPath = t.hdrPath
	s.closeFile(f)
	s.x.copied.Inc()
	if partial {
		s.log.Info("new file holds the first bytes of a followed file (a copy being written?); it is not read while it stays so", "file", f.path, "copy of", t.path, "size", size, "pos", t.pos)
	} else {
		s.log.Info("new file is a copy of a followed file; it is read once that file is truncated", "file", f.path, "copy of", t.path, "pos", t.pos)
	}
}

// rejudge looks again at f, waiting as a partial copy of f.copyOf, after
// it changed: still the original's bytes, a complete copy by now, or a file
// of its own after all (then it is read from its start, or waits on
// another original it copies).
func (s *Source) rejudge(f *tailFile) {
	t := f.copyOf
	if ok, err := s.openFile(f); !ok || err != nil {
		return
	}
	defer s.closeFile(f)
	fi, err := f.h.Stat()
	if err != nil {
		return
	}
	size := fi.Size()
	th, done := s.peek(t)
	if th == nil {
		f.judged = size // the original cannot be compared: release decides
		return
	}
	defer done()
	if !s.intact(t, th) {
		f.judged = size // the original was truncated: release decides
		return
	}
	if size >= t.pos {
		if t.fpLen >= minCopyPrint && t.isCopy(f.h, size, s.scratch) {
			f.partial, f.judged, f.pos = false, size, t.pos
			return
		}
	} else if s.samePrefix(f.h, size, th) || !s.intact(t, th) {
		// Still the original's bytes; or the original was truncated while
		// they were compared (release decides).
		f.judged = size
		return
	}
	f.copyOf, f.partial = nil, false
	o, partial, ambiguous := s.originalOf(f, f.h, size)
	if o != nil {
		s.wait(f, o, partial, size)
		return
	}
	if ambiguous {
		f.fresh = true // judged again before it is read (see judge)
		return
	}
	s.log.Info("new file is not a copy of a followed file after all; reading it from the start", "file", f.path, "size", size)
	f.pos, f.line = 0, lineState{}
	f.fp, f.fpLen, f.head = emptyPrint, 0, nil
	f.ctx, f.ctxEnd, f.ctxLen = 0, 0, 0
	f.hdrPath = f.path
	s.dirty = true
}

// originalOf finds the followed file that fh (f's content, size bytes) is
// a copy of: a complete copy (at least the original's position, same first
// bytes and bytes before the position), or a copy being written (fewer
// bytes than the original's position, each of them the original's).
//
// A copy being written is known by its bytes so far, which can be the first
// bytes of several followed files (lines that all begin alike, and a copy
// listed with a few bytes): then it is ambiguous, and no file is chosen.
func (s *Source) originalOf(f *tailFile, fh vfs.File, size int64) (t *tailFile, partial, ambiguous bool) {
	var hit *tailFile
	hits := 0
	partialHit := func(t *tailFile) {
		if hit != t {
			hits++
		}
		hit = t
	}
	var fp uint64
	haveFP := false
	if size >= fingerprintSize {
		var err error
		if fp, haveFP, err = hashAt(fh, 0, fingerprintSize, s.scratch); err != nil {
			haveFP = false
		}
	}
	head := make([]byte, min(size, headSize))
	if n, err := fh.ReadAt(head, 0); n < len(head) && err != nil && err != io.EOF {
		return nil, false, false
	} else {
		head = head[:n]
	}
	for _, t := range s.order {
		if t == f || t.copyOf != nil || t.gone || t.fpLen == 0 {
			continue
		}
		if t.pos == 0 {
			// t has not been read yet (found in this pass, or young), and
			// f, older, is serviced first: f is a copy of t being written
			// when its bytes are the first bytes of t and t has more. Read
			// as a new file, f would deliver what t delivers next.
			if h, done := s.peek(t); h != nil {
				fi, err := h.Stat()
				same := err == nil && fi.Size() > size && s.intact(t, h) && s.samePrefix(fh, size, h)
				done()
				if same {
					partialHit(t)
				}
			}
			continue
		}
		if haveFP && t.fpLen == fingerprintSize && t.fp != fp {
			continue
		}
		if size >= t.pos {
			// t's fingerprint may be shorter than a whole one (t was short
			// when last looked at); it then covers all t delivered.
			if t.fpLen >= minCopyPrint && t.isCopy(fh, size, s.scratch) {
				return t, false, false
			}
			continue
		}
		if !haveFP {
			th := s.headOf(t)
			n := min(len(th), len(head))
			if th == nil || !bytes.Equal(th[:n], head[:n]) {
				continue
			}
		}
		h, done := s.peek(t)
		if h == nil || !s.intact(t, h) {
			if done != nil {
				done()
			}
			// t no longer holds what it read (truncated, not yet seen as
			// such by service): a shorter copy of its old content is
			// known by the fingerprint only.
			if haveFP && t.fpLen == fingerprintSize {
				partialHit(t)
			}
			continue
		}
		same := s.samePrefix(fh, size, h)
		done()
		if same {
			partialHit(t)
		}
	}
	switch {
	case hits == 1:
		return hit, true, false
	case hits > 1:
		return nil, false, true
	}
	return nil, false, false
}

// peek returns a handle on t's file as it is now — t's own when open, else
// opened by its name and checked to be t's inode — and a function that
// releases it; nil when t cannot be opened.
func (s *Source) peek(t *tailFile) (vfs.File, func()) {
	if t.h != nil {
		return t.h, func() {}
	}
	if t.gone {
		return nil, nil
	}
	h, err := vfs.Open(s.fs, t.path)
	if err != nil {
		return nil, nil
	}
	fi, err := h.Stat()
	if err != nil {
		h.Close()
		return nil, nil
	}
	if k, ok := identity(fi); !ok || k != t.key {
		h.Close()
		return nil, nil
	}
	return h, func() { h.Close() }
}

// intact reports whether h, t's file, still holds what t read: at least
// t.pos bytes, starting with t's fingerprint.
func (s *Source) intact(t *tailFile, h vfs.File) bool {
	fi, err := h.Stat()
	if err != nil || fi.Size() < t.pos || fi.Size() < t.fpLen {
		return false
	}
	fp, ok, err := hashAt(h, 0, t.fpLen, s.scratch)
	return err == nil && ok && fp == t.fp
}

// headOf returns t's first bytes (up to headSize), read once and kept
// while t's content is the same.
func (s *Source) headOf(t *tailFile) []byte {
	want := min(t.fpLen, headSize)
	if int64(len(t.head)) >= want {
		return t.head[:want]
	}
	h, done := s.peek(t)
	if h == nil {
		return nil
	}
	defer done()
	if !s.intact(t, h) {
		return nil
	}
	buf := make([]byte, want)
	if n, _ := h.ReadAt(buf, 0); int64(n) < want {
		return nil
	}
	t.head = buf
	return buf
}

// samePrefix reports whether the size bytes of fh are the first size bytes
// of oh, comparing the first fingerprintSize and the last contextSize of
// them (the windows by which copies are recognised everywhere).
func (s *Source) samePrefix(fh vfs.File, size int64, oh vfs.File) bool {
	if s.cmpA == nil {
		s.cmpA, s.cmpB = make([]byte, fingerprintSize), make([]byte, fingerprintSize)
	}
	same := func(off, n int64) bool {
		a, b := s.cmpA[:n], s.cmpB[:n]
		if k, err := fh.ReadAt(a, off); int64(k) < n && err != nil {
			return false
		}
		if k, err := oh.ReadAt(b, off); int64(k) < n && err != nil {
			return false
		}
		return bytes.Equal(a, b)
	}
	n := min(size, fingerprintSize)
	if !same(0, n) {
		return false
	}
	if size > n {
		m := min(size-n, contextSize)
		return same(size-m, m)
	}
	return true
}

// resolve sets where c, a copy of orig, is read from, now that orig no
// longer holds its content (truncated) or is forgotten: from orig's
// position when c holds orig's content up to there; from c's end when c is
// a shorter copy (orig delivered all of it and more: lines written to orig
// after the copy was taken); from its start when c is not a copy of orig
// after all. verified is the size at which c's bytes were last found to be
// orig's (partial copies), or -1.
func (s *Source) resolve(c, orig *tailFile, verified int64) {
	c.pos, c.line = orig.pos, orig.line
	c.ctx, c.ctxEnd, c.ctxLen = orig.ctx, orig.ctxEnd, orig.ctxLen
	h, done := s.peek(c)
	if h == nil {
		return // gone: the next scan forgets it
	}
	defer done()
	fi, err := h.Stat()
	if err != nil {
		return
	}
	size := fi.Size()
	if orig.isCopy(h, size, s.scratch) {
		return
	}
	prefix := size == verified
	if !prefix && orig.fpLen > 0 && size >= orig.fpLen {
		fp, ok, err := hashAt(h, 0, orig.fpLen, s.scratch)
		prefix = err == nil && ok && fp == orig.fp
	}
	if prefix && size >= orig.pos && orig.ctxLen == 0 {
		return // nothing known of orig's bytes before its position: trust the first ones
	}
	if prefix && size < orig.pos {
		c.pos, c.line = size, lineState{}
		c.ctx, c.ctxEnd, c.ctxLen = 0, 0, 0
		if size > 0 {
			last := s.scratch[:1]
			if k, _ := h.ReadAt(last, size-1); k == 1 && last[0] != '\n' {
				c.line.Discard = true // the copy ends inside a line orig delivered whole
			}
		}
		return
	}
	s.log.Info("file taken for a copy is not one; reading it from the start", "file", c.path, "original", orig.path)
	c.pos, c.line = 0, lineState{}
	c.ctx, c.ctxEnd, c.ctxLen = 0, 0, 0
	c.fp, c.fpLen, c.head = emptyPrint, 0, nil
	c.hdrPath = c.path
}

// copies reports whether c, found but not read yet, holds orig's content
// as it was before orig was truncated: all of it up to orig's position, or
// (a copy taken before orig grew further) its first bytes.
func (s *Source) copies(c, orig *tailFile) bool {
	if orig.fpLen < minCopyPrint {
		return false
	}
	h, done := s.peek(c)
	if h == nil {
		return false
	}
	defer done()
	fi, err := h.Stat()
	if err != nil || fi.Size() == 0 {
		return false
	}
	if fi.Size() >= orig.pos {
		return orig.isCopy(h, fi.Size(), s.scratch)
	}
	if orig.fpLen != fingerprintSize || fi.Size() < fingerprintSize {
		return false
	}
	fp, ok, err := hashAt(h, 0, fingerprintSize, s.scratch)
	return err == nil && ok && fp == orig.fp
}
