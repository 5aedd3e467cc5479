package taildir

import (
	"cmp"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"time"

	"github.com/sluicehq/sluice/engine/vfs"
)

// lister lists the names in a group's directory that match its pattern.
// With caching on it lists again only when the directory's modification
// time says an entry may have changed, by Flume's rule (TaildirMatcher): a
// change within the second of the last listing is not trusted to be seen.
type lister struct {
	g            *Group
	cache        bool
	lastDirMtime int64 // ms
	lastChecked  int64 // ms, rounded down to the second
	names        []string
	valid        bool
}

func (l *lister) list(fsys vfs.FS, now time.Time) ([]string, error) {
	fi, err := fsys.Stat(l.g.Dir)
	if err != nil {
		l.valid = false
		return nil, err
	}
	if !fi.IsDir() {
		l.valid = false
		return nil, errors.New("not a directory")
	}
	mtime := fi.ModTime().UnixMilli()
	checked := now.Unix() * 1000
	if l.valid && l.cache && mtime <= l.lastDirMtime && mtime < l.lastChecked {
		return l.names, nil
	}
	entries, err := fsys.ReadDir(l.g.Dir)
	if err != nil {
		l.valid = false
		return nil, err
	}
	names := l.names[:0]
	for _, e := range entries {
		if e.IsDir() || !l.g.Match(e.Name()) {
			continue
		}
		names = append(names, e.Name())
	}
	l.names, l.lastDirMtime, l.lastChecked, l.valid = names, mtime, checked, true
	return names, nil
}

// scan lists every group and brings the tracked set up to date: new
// files, renamed ones (same identity, new name) and files no group names
// any more (rotated away or deleted).
func (s *Source) scan(now time.Time) {
	s.scanWith(now, nil)
}

// scanWith is scan at start-up when pending holds the saved positions.
func (s *Source) scanWith(now time.Time, pending *restoring) {
	clear(s.seen)
	// Directories that could not be read this time: their files keep
	// their state (a failed listing is not a deleted file).
	unsure := map[string]bool{}
	var changed []*tailFile // known, closed, and changed since the last scan
	for i, l := range s.listers {
		g := &s.cfg.Groups[i]
		names, err := l.list(s.fs, now)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				unsure[g.Dir] = true
			}
			msg := err.Error()
			if s.dirErr[g.Dir] != msg {
				s.dirErr[g.Dir] = msg
				s.log.Error("cannot list file group directory; will keep trying", "group", g.Name, "dir", g.Dir, "err", err)
			}
			continue
		}
		if _, had := s.dirErr[g.Dir]; had {
			delete(s.dirErr, g.Dir)
			s.log.Info("file group directory is readable again", "group", g.Name, "dir", g.Dir)
		}
		for _, name := range names {
			path := join(g.Dir, name)
			fi, err := s.fs.Stat(path)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				unsure[g.Dir] = true
			}
			if err != nil || fi.IsDir() {
				continue // gone since the listing, or a link to a directory
			}
			key, ok := identity(fi)
			if !ok || s.seen[key] {
				continue
			}
			s.seen[key] = true
			f := s.follows(key)
			if f == nil {
				f = &tailFile{key: key, path: path, group: g, fp: emptyPrint}
				if pending == nil || !pending.adopt(s, f, fi) {
					s.identify(f)
					s.startCopy(f, pending)
					// Not read yet, and maybe a copy still being written:
					// judged before its first read.
					f.fresh = f.copyOf == nil && f.savedCopy == 0 && f.pos == 0
				}
				if f.h != nil && f.pos >= f.size && !f.line.Discard {
					// Nothing to read: keep the fingerprint, not the handle
					// (a reopen checks it), so that thousands of old matching
					// files do not hold thousands of descriptors.
					s.closeFile(f)
				}
				if pending == nil || !pending.carriesOn(f) {
					// A new file, also one found at start-up or at a saved
					// inode with other content: its identity is recorded
					// before any of it is delivered, or a copy of it made
					// after a kill would not be known (see tail).
					s.urgent = true
				}
				s.track(f)
			} else {
				if f.path != path && !s.stillNamed(f) {
					s.log.Info("file renamed; keeping its position", "from", f.path, "to", path, "pos", f.pos)
					s.x.renamed.Inc()
					f.path = path
					s.dirty = true
				}
				if pending == nil && f.h == nil && f.copyOf == nil && !f.fresh && (fi.Size() != f.statSize || !fi.ModTime().Equal(f.statMtime)) {
					changed = append(changed, f)
				}
			}
			f.matched, f.gone = true, false
			f.statSize, f.statMtime = fi.Size(), fi.ModTime()
		}
	}
	s.replaced(changed)
	for _, f := range s.order {
		if f.matched && !s.seen[f.key] && !unsure[filepath.Dir(f.path)] {
			f.matched = false
			s.locate(f)
		}
	}
}

// replaced finds, among closed files that changed since the last scan,
// those whose content is no longer what was read (truncated, or their
// inode number given to a new file: a deleted file's number reused by the
// copy copytruncate makes), and makes each a new file, judged before its
// first read like any file found while running. All of them are renewed
// before the copies of their old content are looked for: a copy may sit at
// another one's inode, and must be taken for a new file to be found as a
// copy (read from the old position) instead of read from its start.
func (s *Source) replaced(changed []*tailFile) {
	var olds []*tailFile
	for _, f := range changed {
		if s.sameContent(f) {
			continue
		}
		old := *f
		for _, c := range s.order {
			if c.copyOf == f {
				c.copyOf = &old
			}
		}
		if f.statSize < f.pos {
			s.log.Info("file truncated while closed (copytruncate?); reading it from the start", "file", f.path, "pos", f.pos, "size", f.statSize)
			s.x.truncated.Inc()
		} else {
			s.log.Info("file at a known inode has other content (inode reused, or rewritten while closed); reading it as a new file", "file", f.path, "pos", f.pos, "size", f.statSize)
			s.x.inodeReused.Inc()
		}
		s.restart(f)
		f.fresh = true
		f.size, f.mtime = -1, time.Time{}
		olds = append(olds, &old)
	}
	for _, old := range olds {
		s.leftFile(old)
	}
}

// sameContent reports whether f's file, closed, still holds what f read:
// at least f.pos bytes, beginning with f's fingerprint. It is intact with
// the opposite answer on errors: a file that cannot be opened or read now
// is left to the next look, not restarted from its start.
func (s *Source) sameContent(f *tailFile) bool {
	h, done := s.peek(f)
	if h == nil {
		return true
	}
	defer done()
	fi, err := h.Stat()
	if err != nil {
		return true
	}
	if fi.Size() < f.pos {
		return false
	}
	_, _, ok, err := checkPrint(h, fi.Size(), f.fp, f.fpLen, s.scratch)
	return err != nil || ok
}

// stillNamed reports whether f's recorded name still leads to f (a second
// hard link was listed first).
func (s *Source) stillNamed(f *tailFile) bool {
	fi, err := s.fs.Stat(f.path)
	if err != nil {
		return false
	}
	k, ok := identity(fi)
	return ok && k == f.key
}

// locate finds where a file went that no group names any more: renamed
// within its directory to a name the pattern does not match, or deleted.
// Either way, an open handle still reads it to the end.
func (s *Source) locate(f *tailFile) {
	dir := filepath.Dir(f.path)
	name, fi, ok, err := s.findInode(dir, f.key)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		f.matched = true // cannot tell where it went; look again next time
		return
	}
	if ok {
		path := join(dir, name)
		if path != f.path {
			s.log.Info("file renamed out of its file group; reading it to the end", "from", f.path, "to", path, "pos", f.pos)
			s.x.renamed.Inc()
			f.path = path
			s.dirty = true
		}
		f.statSize, f.statMtime = fi.Size(), fi.ModTime()
		return
	}
	f.gone = true
	s.dirty = true
	s.x.delete.Inc()
	if f.h != nil {
		s.log.Info("file deleted; reading what remains through the open handle", "file", f.path, "pos", f.pos)
	} else if f.statSize > f.pos {
		s.log.Warn("file deleted before it was read to the end; its remaining bytes are lost", "file", f.path, "pos", f.pos, "size", f.statSize)
	}
}

// findInode looks for key among the entries of dir.
func (s *Source) findInode(dir string, key fileKey) (string, fs.FileInfo, bool, error) {
	entries, err := s.fs.ReadDir(dir)
	if err != nil {
		return "", nil, false, err
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		if k, ok := identity(fi); ok && k == key {
			return e.Name(), fi, true, nil
		}
	}
	return "", nil, false, nil
}

// restoring matches saved positions to the files found at start-up.
type restoring struct {
	ps       []position
	used     []bool
	byIndex  map[int]*tailFile // saved index -> the file that resumed at its position
	byInode  map[uint64][]int
	skip     bool // skipToEnd applies to files without a position
	resumed  int
	restarts int
}

// restore is the first scan: saved positions are applied to the files they
// belong to, files without one start at 0 (or their end with skipToEnd),
// and saved files no group names any more are found and read to the end.
func (s *Source) restore(now time.Time, ld loaded) {
	r := &restoring{ps: ld.Positions, used: make([]bool, len(ld.Positions)), byInode: map[uint64][]int{}, byIndex: map[int]*tailFile{},
		skip: s.cfg.SkipToEnd && !ld.Unreliable}
	for i, p := range ld.Positions {
		r.byInode[p.Inode] = append(r.byInode[p.Inode], i)
	}
	s.scanWith(now, r)
	for _, f := range s.order {
		// A copy of a saved file that resumed where it was: the copy waits
		// for that file's truncation, as before the stop, rather than be
		// read beside it.
		if f.savedCopy == 0 {
			continue
		}
		t := r.byIndex[f.savedCopy-1]
		f.savedCopy = 0
		if t != nil && t != f && t.copyOf == nil && t.pos == f.pos && t.pos > 0 {
			f.copyOf = t
			s.closeFile(f)
			s.log.Info("the copy waits for its original's truncation", "file", f.path, "copy of", t.path)
		}
	}
	for i, p := range r.ps {
		if r.used[i] {
			continue
		}
		if !p.HasFP {
			s.log.Info("missing file", "file", p.File, "inode", p.Inode, "pos", p.Pos)
			continue
		}
		s.resumeUnmatched(p, r, i)
	}
	// Keep the saved order, so that positions written back unchanged are
	// byte for byte the file that was read (Flume's or Sluice's).
	rank := func(f *tailFile) int {
		if f.restoredAt > 0 {
			return f.restoredAt
		}
		return len(r.ps) + 1
	}
	slices.SortStableFunc(s.order, func(a, b *tailFile) int { return cmp.Compare(rank(a), rank(b)) })
	for i, f := range s.order {
		f.seq = uint64(i + 1)
	}
	s.log.Info("positions restored", "resumed", r.resumed, "restarted", r.restarts, "saved", len(r.ps))
}

// carriesOn reports whether f carries on at its saved position, under the
// identity that position was saved with.
func (r *restoring) carriesOn(f *tailFile) bool {
	return f.restoredAt > 0 && r.byIndex[f.restoredAt-1] == f
}

// adopt gives f, found by the first scan, its saved position if one is
// for this file: same inode (and device when known) and, when the save
// has a fingerprint, the same first bytes, wherever the file is now named.
// Positions only Flume wrote carry no fingerprint; for those Flume's own
// rule applies: same inode and same name.
// It reports whether a saved position was found and the file opened.
func (r *restoring) adopt(s *Source, f *tailFile, fi fs.FileInfo) bool {
	idx := -1
	for _, i := range r.byInode[f.key.ino] {
		p := r.ps[i]
		if r.used[i] || (p.HasDev && p.Dev != f.key.dev) || (!p.HasFP && p.File != f.path) {
			continue
		}
		if idx < 0 || p.File == f.path {
			idx = i
		}
	}
	if idx < 0 {
		if r.skip {
			f.pos = fi.Size()
		}
		return false
	}
	r.used[idx] = true
	f.restoredAt = idx + 1
	p := r.ps[idx]
	if ok, _ := s.openFile(f); !ok {
		return true // gone since the scan; the next scan decides
	}
	size := fi.Size()
	if st, err := f.h.Stat(); err == nil {
		size = st.Size()
	}
	fp, fpLen := uint64(emptyPrint), int64(0)
	if p.HasFP {
		fp, fpLen = p.FP, p.FPLen
	}
	nfp, nlen, ok, err := checkPrint(f.h, size, fp, fpLen, s.scratch)
	switch {
	case err != nil:
		s.log.Error("cannot read file to check its identity; reading it from the start", "file", f.path, "err", err)
		s.closeFile(f)
		r.restarts++
	case !ok:
		s.log.Info("file at the saved inode has different content (inode reused, or truncated and rewritten); reading it as a new file", "file", f.path, "saved", p.File)
		s.x.inodeReused.Inc()
		r.restarts++
		s.recoverCopy(saved(f, p))
		if r.skip {
			f.pos = size
		}
		if nfp, nlen, ok, _ = checkPrint(f.h, size, emptyPrint, 0, s.scratch); ok {
			f.fp, f.fpLen = nfp, nlen
		}
		f.fresh = f.pos == 0 // a new file, maybe a copy at a reused inode
	case p.Pos > size:
		s.log.Info("file shorter than its saved position (truncated); reading it from the start", "file", f.path, "pos", p.Pos, "size", size)
		s.x.truncated.Inc()
		r.restarts++
		if p.HasFP {
			s.recoverCopy(saved(f, p))
		}
		if nfp, nlen, ok, _ = checkPrint(f.h, size, emptyPrint, 0, s.scratch); ok {
			f.fp, f.fpLen = nfp, nlen
		}
		f.fresh = true
	default:
		f.pos, f.line = p.Pos, p.Line
		f.fp, f.fpLen = nfp, nlen
		f.ctx, f.ctxEnd, f.ctxLen = p.Ctx, p.CtxEnd, p.CtxLen
		r.resumed++
		r.byIndex[idx] = f
		if p.File != f.path {
			s.log.Info("file renamed while stopped; keeping its position", "from", p.File, "to", f.path, "pos", p.Pos)
			s.x.renamed.Inc()
		}
	}
	if f.h != nil {
		f.size, f.mtime = size, fi.ModTime()
	}
	return true
}

// startCopy recognises a new file that is a copy of a followed (or, at
// start-up, saved) file: logrotate's copytruncate names its copies like
// rotated files, so a pattern that follows rotated files finds them, and
// Flume reads each copy again from its start. A copy is recognised by a
// whole fingerprint and the bytes before the other file's position. A copy
// of a followed file waits (see release): while the original is read, the
// copy holds nothing new; once the original is truncated, the copy is the
// only place for what follows the original's last position. A copy of a
// saved file starts at the saved position.
func (s *Source) startCopy(f *tailFile, pending *restoring) {
	if f.h == nil || f.fpLen < fingerprintSize {
		return
	}
	for _, t := range s.order {
		if t.copyOf == nil && t.fpLen == fingerprintSize && t.fp == f.fp && t.pos > f.pos && t.isCopy(f.h, f.size, s.scratch) {
			f.copyOf, f.pos, f.hdrPath = t, t.pos, t.hdrPath
			s.closeFile(f)
			s.x.copied.Inc()
			s.log.Info("new file is a copy of a followed file; it is read once that file is truncated", "file", f.path, "copy of", t.path, "pos", t.pos)
			return
		}
	}
	if pending == nil {
		return
	}
	for i, p := range pending.ps {
		if pending.used[i] || !p.HasFP || p.FPLen != fingerprintSize || p.FP != f.fp {
			continue
		}
		if t := saved(f, p); t.isCopy(f.h, f.size, s.scratch) {
			f.pos, f.line = t.pos, t.line
			f.ctx, f.ctxEnd, f.ctxLen = t.ctx, t.ctxEnd, t.ctxLen
			f.hdrPath = t.hdrPath
			f.savedCopy = i + 1
			s.x.copied.Inc()
			s.log.Info("new file is a copy of a saved file; reading it from the saved position", "file", f.path, "copy of", p.File, "pos", f.pos)
			return
		}
	}
}

// release lets the copies waiting on orig be read from orig's committed
// position: orig was truncated (or is forgotten), and what it held beyond
// that position is now only in them.
//
// It reports how many copies it let be read.
func (s *Source) release(orig *tailFile) int {
	n := 0
	for _, c := range s.order {
		verified := int64(-1)
		switch {
		case c == orig:
			continue
		case c.copyOf == orig:
			if c.partial {
				verified = c.judged
			}
		case c.fresh && s.copies(c, orig):
			// Found but not judged yet (it was empty, or orig comes first
			// in this pass): a copy all the same.
			c.fresh = false
			s.x.copied.Inc()
		default:
			continue
		}
		c.copyOf, c.partial = nil, false
		s.resolve(c, orig, verified)
		c.size, c.mtime = -1, time.Time{}
		s.dirty, s.urgent = true, true
		s.log.Info("reading a copy from its original's last position", "file", c.path, "original", orig.path, "pos", c.pos)
		n++
	}
	return n
}

// identify opens a newly found file and takes its fingerprint at once, as
// Flume opens it: if the file is truncated before its first read, the
// truncation is still seen and its content looked for in a copy.
func (s *Source) identify(f *tailFile) {
	if ok, err := s.openFile(f); !ok || err != nil {
		return
	}
	fi, err := f.h.Stat()
	if err != nil {
		s.closeFile(f)
		return
	}
	if fp, n, ok, err := checkPrint(f.h, fi.Size(), emptyPrint, 0, s.scratch); err == nil && ok {
		f.fp, f.fpLen = fp, n
		f.size, f.mtime = fi.Size(), fi.ModTime()
	}
	f.active = s.clk.Now()
}

// saved is f as it was when p was saved, for recoverCopy.
func saved(f *tailFile, p position) *tailFile {
	return &tailFile{key: f.key, path: f.path, group: f.group, hdrPath: p.File, pos: p.Pos, line: p.Line,
		fp: p.FP, fpLen: p.FPLen, ctx: p.Ctx, ctxEnd: p.CtxEnd, ctxLen: p.CtxLen}
}

// resumeUnmatched finds a saved file that no group names any more (renamed
// out of its group, possibly several times, while Sluice was stopped) and
// follows it again to read what it has beyond its position. When that file
// no longer holds what was read of it (copytruncate while stopped, then the
// rename or a delete), the lines it held beyond the position are looked
// for in a copy, as for a followed file.
func (s *Source) resumeUnmatched(p position, r *restoring, idx int) {
	key := fileKey{p.Dev, p.Inode}
	if s.follows(key) != nil {
		return
	}
	f := &tailFile{key: key, path: p.File, fp: p.FP, fpLen: p.FPLen, group: s.groupOf(p.File)}
	fi, err := s.fs.Stat(p.File)
	if err == nil {
		if k, ok := identity(fi); !ok || k != key {
			err = fs.ErrNotExist // the name now belongs to another file
		}
	}
	if err != nil {
		dir := filepath.Dir(p.File)
		name, info, found, _ := s.findInode(dir, key)
		if !found {
			s.log.Info("saved file is gone", "file", p.File, "pos", p.Pos)
			s.recoverCopy(saved(f, p))
			return
		}
		f.path, fi = join(dir, name), info
	}
	if fi.Size() == p.Pos && p.Line == (lineState{}) && p.HasFP && p.FPLen == min(p.Pos, fingerprintSize) {
		return // read to its end, and its identity covers all of it
	}
	if ok, _ := s.openFile(f); !ok {
		return
	}
	size := fi.Size()
	if st, err := f.h.Stat(); err == nil {
		size = st.Size()
	}
	nfp, nlen, ok, err := checkPrint(f.h, size, p.FP, p.FPLen, s.scratch)
	if err != nil || !ok || size < p.Pos {
		s.log.Info("saved file's inode now holds other content; not resuming it", "file", f.path, "saved", p.File, "pos", p.Pos, "size", size)
		s.closeFile(f)
		if err == nil {
			s.recoverCopy(saved(f, p))
		}
		return
	}
	if size == p.Pos {
		s.closeFile(f)
		return
	}
	f.fp, f.fpLen = nfp, nlen
	f.pos, f.line = p.Pos, p.Line
	f.ctx, f.ctxEnd, f.ctxLen = p.Ctx, p.CtxEnd, p.CtxLen
	f.hdrPath = p.File
	f.statSize, f.statMtime = size, fi.ModTime()
	f.restoredAt = idx + 1
	s.track(f)
	r.resumed++
	s.log.Info("resuming a rotated file to read it to the end", "file", f.path, "saved", p.File, "pos", p.Pos, "size", size)
}

// groupOf finds the group whose directory held path (for its headers), or
// the first group.
func (s *Source) groupOf(path string) *Group {
	dir := filepath.Dir(path)
	for i := range s.cfg.Groups {
		if s.cfg.Groups[i].Dir == dir && s.cfg.Groups[i].Match(filepath.Base(path)) {
			return &s.cfg.Groups[i]
		}
	}
	for i := range s.cfg.Groups {
		if s.cfg.Groups[i].Dir == dir {
			return &s.cfg.Groups[i]
		}
	}
	return &s.cfg.Groups[0]
}
