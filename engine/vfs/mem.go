package vfs

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
)

// SectorSize is the granularity at which Mem tears unsynced writes on a crash.
const SectorSize = 512

// MemStat is what Mem's FileInfo.Sys returns; Identity reads it.
type MemStat struct{ Dev, Ino uint64 }

// Mem is an in-memory file system with a crash model, for tests and the
// simulator. Each file keeps two images: what the process sees, and what is
// durable (as of its last Sync). Both are lists of sectors that share every
// sector not written since the last Sync (a write copies a shared sector
// first), and a sector never written with anything but zeros takes no
// memory, so a file costs about what it holds once: a log padded with zeros
// to its sync boundaries costs what it logged. Each directory likewise keeps
// its current entries and its durable entries (as of its last SyncDir; MkdirAll is
// durable at once). Crash reverts everything to the durable images, keeping
// at random a whole-sector prefix of each file's unsynced writes with the last
// kept sector possibly torn, the way FoundationDB's AsyncFileNonDurable and
// TigerBeetle's storage simulator model a power cut.
//
// Paths are slash-separated; relative paths are taken from "/".
type Mem struct {
	mu       sync.Mutex
	root     *memNode
	nextIno  uint64
	capacity int64 // 0: unlimited
	used     int64
	gen      uint64 // bumped by Crash; handles of an older generation are dead
	locks    map[string]bool
	now      func() time.Time
}

type memNode struct {
	ino     uint64
	dir     bool
	mode    fs.FileMode
	modTime time.Time

	// A file's bytes: size bytes in sectors of SectorSize, nil for zeros;
	// the bytes of the last sector past size are zero. dsize and dsecs are
	// the durable image; dsecs has its own array but shares the sectors
	// that were not written since the last Sync (the same pointer in both).
	size      int
	secs      []*sector
	dsize     int
	dsecs     []*sector
	dirtyFrom int // lowest offset changed since the last Sync; -1 when clean

	entries        map[string]*memNode
	durableEntries map[string]*memNode
}

// NewMem returns an empty in-memory file system whose modification times are
// read from now (for example a clock.Clock's Now); nil uses a counter that
// advances one millisecond per change.
func NewMem(now func() time.Time) *Mem {
	m := &Mem{locks: map[string]bool{}}
	if now == nil {
		t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		now = func() time.Time { t = t.Add(time.Millisecond); return t }
	}
	m.now = now
	m.root = m.newDir()
	return m
}

var _ FS = (*Mem)(nil)

func (m *Mem) newDir() *memNode {
	m.nextIno++
	return &memNode{ino: m.nextIno, dir: true, mode: fs.ModeDir | 0o755, modTime: m.now(),
		entries: map[string]*memNode{}, durableEntries: map[string]*memNode{}}
}

// SetCapacity limits the total bytes of file data; writes past it fail with
// ErrNoSpace. 0 removes the limit.
func (m *Mem) SetCapacity(bytes int64) {
	m.mu.Lock()
	m.capacity = bytes
	m.mu.Unlock()
}

// Used reports the bytes of file data currently stored.
func (m *Mem) Used() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.used
}

func clean(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	return path.Clean(name)
}

func split(name string) []string {
	name = clean(name)
	if name == "/" {
		return nil
	}
	return strings.Split(name[1:], "/")
}

func (m *Mem) lookup(name string) (*memNode, error) {
	n := m.root
	for _, part := range split(name) {
		if !n.dir {
			return nil, syscallErr("stat", name, fs.ErrNotExist)
		}
		c, ok := n.entries[part]
		if !ok {
			return nil, syscallErr("stat", name, fs.ErrNotExist)
		}
		n = c
	}
	return n, nil
}

func (m *Mem) parent(op, name string) (*memNode, string, error) {
	parts := split(name)
	if len(parts) == 0 {
		return nil, "", syscallErr(op, name, fs.ErrInvalid)
	}
	dir, err := m.lookup("/" + strings.Join(parts[:len(parts)-1], "/"))
	if err != nil || !dir.dir {
		return nil, "", syscallErr(op, name, fs.ErrNotExist)
	}
	return dir, parts[len(parts)-1], nil
}

func syscallErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// OpenFile opens a file; O_CREATE, O_EXCL, O_TRUNC, O_APPEND, O_RDONLY,
// O_WRONLY and O_RDWR are honoured.
func (m *Mem) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent("open", name)
	if err != nil {
		return nil, err
	}
	n, ok := dir.entries[base]
	switch {
	case ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, syscallErr("open", name, fs.ErrExist)
	case !ok && flag&os.O_CREATE == 0:
		return nil, syscallErr("open", name, fs.ErrNotExist)
	case !ok:
		m.nextIno++
		n = &memNode{ino: m.nextIno, mode: perm, modTime: m.now(), dirtyFrom: -1}
		dir.entries[base] = n
		dir.modTime = m.now()
	case n.dir && flag&(os.O_WRONLY|os.O_RDWR) != 0:
		return nil, syscallErr("open", name, fmt.Errorf("is a directory"))
	}
	if flag&os.O_TRUNC != 0 && !n.dir && n.size > 0 {
		m.used -= int64(n.size)
		n.resize(0)
		n.markDirty(0)
		n.modTime = m.now()
	}
	return &memFile{m: m, n: n, name: clean(name), flag: flag, gen: m.gen}, nil
}

func (n *memNode) markDirty(off int) {
	if n.dirtyFrom < 0 || off < n.dirtyFrom {
		n.dirtyFrom = off
	}
}

func (m *Mem) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(name)
	if err != nil {
		return nil, err
	}
	return n.info(path.Base(clean(name))), nil
}

func (n *memNode) info(name string) fs.FileInfo {
	return memInfo{name: name, size: int64(n.size), mode: n.mode, mod: n.modTime, sys: &MemStat{Dev: 1, Ino: n.ino}}
}

func (m *Mem) Rename(oldpath, newpath string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	od, ob, err := m.parent("rename", oldpath)
	if err != nil {
		return err
	}
	n, ok := od.entries[ob]
	if !ok {
		return syscallErr("rename", oldpath, fs.ErrNotExist)
	}
	nd, nb, err := m.parent("rename", newpath)
	if err != nil {
		return err
	}
	if old, ok := nd.entries[nb]; ok && old != n {
		if old.dir {
			return syscallErr("rename", newpath, fs.ErrExist)
		}
		m.used -= int64(old.size)
	}
	delete(od.entries, ob)
	nd.entries[nb] = n
	od.modTime, nd.modTime = m.now(), m.now()
	return nil
}

func (m *Mem) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent("remove", name)
	if err != nil {
		return err
	}
	n, ok := dir.entries[base]
	if !ok {
		return syscallErr("remove", name, fs.ErrNotExist)
	}
	if n.dir && len(n.entries) > 0 {
		return syscallErr("remove", name, fmt.Errorf("directory not empty"))
	}
	delete(dir.entries, base)
	dir.modTime = m.now()
	m.used -= int64(n.size)
	return nil
}

// MkdirAll creates directories; unlike files, new directories are durable at once.
func (m *Mem) MkdirAll(p string, perm fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.root
	for i, part := range split(p) {
		c, ok := n.entries[part]
		if !ok {
			c = m.newDir()
			n.entries[part] = c
			n.durableEntries[part] = c
		} else if !c.dir {
			return syscallErr("mkdir", "/"+strings.Join(split(p)[:i+1], "/"), fmt.Errorf("not a directory"))
		}
		n = c
	}
	return nil
}

func (m *Mem) ReadDir(name string) ([]fs.DirEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(name)
	if err != nil {
		return nil, err
	}
	if !n.dir {
		return nil, syscallErr("readdir", name, fmt.Errorf("not a directory"))
	}
	out := make([]fs.DirEntry, 0, len(n.entries))
	for k, c := range n.entries {
		out = append(out, fs.FileInfoToDirEntry(c.info(k)))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func (m *Mem) SyncDir(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(name)
	if err != nil {
		return err
	}
	if !n.dir {
		return syscallErr("syncdir", name, fmt.Errorf("not a directory"))
	}
	n.durableEntries = make(map[string]*memNode, len(n.entries))
	for k, v := range n.entries {
		n.durableEntries[k] = v
	}
	return nil
}

func (m *Mem) Lock(name string) (Locker, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := clean(name)
	if m.locks[key] {
		return nil, fmt.Errorf("lock %s: %w: held by this process; close the other user first", name, ErrLocked)
	}
	m.locks[key] = true
	return memLock{m: m, key: key, gen: m.gen}, nil
}

type memLock struct {
	m   *Mem
	key string
	gen uint64
}

func (l memLock) Unlock() error {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	if l.gen == l.m.gen {
		delete(l.m.locks, l.key)
	}
	return nil
}

func (m *Mem) Free(string) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.capacity == 0 {
		return 1 << 50, nil
	}
	if m.used >= m.capacity {
		return 0, nil
	}
	return uint64(m.capacity - m.used), nil
}

// Crash simulates a power cut: every open handle dies, locks are released,
// directories revert to their durable entries and files to their durable
// data. With rng == nil all unsynced data is lost; otherwise each file keeps a
// random whole-sector prefix of its unsynced writes, and the last kept sector
// may be torn (cut at a random byte).
func (m *Mem) Crash(rng *rand.Rand) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	m.locks = map[string]bool{}
	seen := map[*memNode]bool{}
	var walk func(n *memNode)
	walk = func(n *memNode) {
		if seen[n] {
			return
		}
		seen[n] = true
		if n.dir {
			n.entries = make(map[string]*memNode, len(n.durableEntries))
			for k, v := range n.durableEntries {
				n.entries[k] = v
			}
			names := make([]string, 0, len(n.entries))
			for k := range n.entries {
				names = append(names, k)
			}
			sort.Strings(names) // deterministic order for the rng
			for _, k := range names {
				walk(n.entries[k])
			}
			return
		}
		n.crashFile(rng)
	}
	walk(m.root)
	m.used = 0
	for n := range seen {
		m.used += int64(n.size)
	}
}

func (n *memNode) crashFile(rng *rand.Rand) {
	from, end := 0, 0 // the unsynced bytes that reached the disk
	if n.dirtyFrom >= 0 && rng != nil && n.dirtyFrom < n.size {
		unsynced := n.size - n.dirtyFrom
		sectors := (unsynced + SectorSize - 1) / SectorSize
		keep := rng.IntN(sectors+1) * SectorSize
		if keep > unsynced {
			keep = unsynced
		}
		if keep > 0 && rng.IntN(2) == 0 {
			// Tear the last kept sector: only a prefix of it reached the platter.
			last := (keep - 1) / SectorSize * SectorSize
			keep = last + rng.IntN(keep-last+1)
		}
		from, end = n.dirtyFrom, n.dirtyFrom+keep
	}
	var kept []byte
	if end > from {
		kept = make([]byte, end-from)
		n.readAt(kept, from)
	}
	clear(n.secs)
	n.secs = append([]*sector(nil), n.dsecs...)
	n.size = n.dsize
	if end > n.size {
		n.resize(end) // unsynced writes past the durable end leave zeros up to them
	}
	n.writeAt(kept, from)
	n.dsecs = append([]*sector(nil), n.secs...)
	n.dsize = n.size
	n.dirtyFrom = -1
}

// sector is SectorSize bytes of a file.
type sector [SectorSize]byte

// resize makes the file size bytes long: new bytes are zeros (nil sectors),
// and the bytes cut off a kept sector are zeroed.
func (n *memNode) resize(size int) {
	want := (size + SectorSize - 1) / SectorSize
	if size > n.size {
		for len(n.secs) < want {
			n.secs = append(n.secs, nil)
		}
		n.size = size
		return
	}
	clear(n.secs[want:])
	n.secs = n.secs[:want]
	n.size = size
	if o := size % SectorSize; o != 0 {
		if s := n.writable(want-1, false); s != nil {
			clear(s[o:])
		}
	}
}

// writable returns sector i ready to be written: a copy if the durable
// image shares it, a new one if it is nil unless zeros (all that is to be
// written) leave it nil.
func (n *memNode) writable(i int, zeros bool) *sector {
	s := n.secs[i]
	switch {
	case s == nil && zeros:
		return nil
	case s == nil:
		s = new(sector)
	case i < len(n.dsecs) && n.dsecs[i] == s:
		c := *s
		s = &c
	default:
		return s
	}
	n.secs[i] = s
	return s
}

// writeAt writes p at off, growing the file as needed.
func (n *memNode) writeAt(p []byte, off int) {
	if end := off + len(p); end > n.size {
		n.resize(end)
	}
	for len(p) > 0 {
		i, o := off/SectorSize, off%SectorSize
		k := min(SectorSize-o, len(p))
		if s := n.writable(i, allZero(p[:k])); s != nil {
			copy(s[o:], p[:k])
		}
		p, off = p[k:], off+k
	}
}

// readAt reads from off into p, which must fit in the file.
func (n *memNode) readAt(p []byte, off int) {
	for len(p) > 0 {
		i, o := off/SectorSize, off%SectorSize
		k := min(SectorSize-o, len(p))
		if s := n.secs[i]; s != nil {
			copy(p[:k], s[o:])
		} else {
			clear(p[:k])
		}
		p, off = p[k:], off+k
	}
}

var zeroSector sector

// allZero reports whether p, at most a sector long, is all zeros.
func allZero(p []byte) bool { return bytes.Equal(p, zeroSector[:len(p)]) }

type memFile struct {
	m      *Mem
	n      *memNode
	name   string
	flag   int
	pos    int64
	gen    uint64
	closed bool
}

func (f *memFile) check(op string) error {
	if f.closed {
		return syscallErr(op, f.name, fs.ErrClosed)
	}
	if f.gen != f.m.gen {
		return syscallErr(op, f.name, fmt.Errorf("handle lost in a simulated crash"))
	}
	return nil
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) Read(p []byte) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("read"); err != nil {
		return 0, err
	}
	n, err := f.readAtLocked(p, f.pos)
	f.pos += int64(n)
	return n, err
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("read"); err != nil {
		return 0, err
	}
	n, err := f.readAtLocked(p, off)
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

func (f *memFile) readAtLocked(p []byte, off int64) (int, error) {
	if f.flag&os.O_WRONLY != 0 {
		return 0, syscallErr("read", f.name, fs.ErrPermission)
	}
	if off >= int64(f.n.size) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	k := min(len(p), f.n.size-int(off))
	f.n.readAt(p[:k], int(off))
	return k, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("write"); err != nil {
		return 0, err
	}
	if f.flag&os.O_APPEND != 0 {
		f.pos = int64(f.n.size)
	}
	n, err := f.writeAtLocked(p, f.pos)
	f.pos += int64(n)
	return n, err
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("write"); err != nil {
		return 0, err
	}
	return f.writeAtLocked(p, off)
}

func (f *memFile) writeAtLocked(p []byte, off int64) (int, error) {
	if f.flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		return 0, syscallErr("write", f.name, fs.ErrPermission)
	}
	end := off + int64(len(p))
	grow := end - int64(f.n.size)
	written := len(p)
	if grow > 0 && f.m.capacity > 0 && f.m.used+grow > f.m.capacity {
		// A full disk accepts what fits, then fails, as write(2) does.
		room := f.m.capacity - f.m.used
		if room < 0 {
			room = 0
		}
		written = int(int64(f.n.size) - off + room)
		if written < 0 {
			written = 0
		}
		end = off + int64(written)
		grow = end - int64(f.n.size)
	}
	if grow > 0 {
		f.n.resize(int(end))
		f.m.used += grow
	}
	if written > 0 {
		f.n.writeAt(p[:written], int(off))
		f.n.markDirty(int(off))
		f.n.modTime = f.m.now()
	}
	if written < len(p) {
		return written, syscallErr("write", f.name, ErrNoSpace)
	}
	return written, nil
}

func (f *memFile) Seek(offset int64, whence int) (int64, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("seek"); err != nil {
		return 0, err
	}
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.pos
	case io.SeekEnd:
		offset += int64(f.n.size)
	}
	if offset < 0 {
		return 0, syscallErr("seek", f.name, fs.ErrInvalid)
	}
	f.pos = offset
	return offset, nil
}

func (f *memFile) Close() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return syscallErr("close", f.name, fs.ErrClosed)
	}
	f.closed = true
	return nil
}

func (f *memFile) Sync() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("sync"); err != nil {
		return err
	}
	n := f.n
	if n.dirtyFrom < 0 {
		return nil
	}
	// The sectors before the first one changed are the same in both images,
	// so a sync costs what changed, not the whole file.
	from := min(n.dirtyFrom, n.dsize, n.size) / SectorSize
	old := n.dsecs
	n.dsecs = append(n.dsecs[:from], n.secs[from:]...)
	if len(n.dsecs) < len(old) {
		clear(old[len(n.dsecs):]) // release the sectors cut off
	}
	n.dsize = n.size
	n.dirtyFrom = -1
	return nil
}

func (f *memFile) Stat() (fs.FileInfo, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("stat"); err != nil {
		return nil, err
	}
	return f.n.info(path.Base(f.name)), nil
}

func (f *memFile) Truncate(size int64) error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.check("truncate"); err != nil {
		return err
	}
	if size < 0 {
		return syscallErr("truncate", f.name, fs.ErrInvalid)
	}
	cur := int64(f.n.size)
	if size > cur {
		if f.m.capacity > 0 && f.m.used+size-cur > f.m.capacity {
			return syscallErr("truncate", f.name, ErrNoSpace)
		}
		f.n.markDirty(int(cur))
	} else {
		f.n.markDirty(int(size))
	}
	f.n.resize(int(size))
	f.m.used += size - cur
	f.n.modTime = f.m.now()
	return nil
}

type memInfo struct {
	name string
	size int64
	mode fs.FileMode
	mod  time.Time
	sys  *MemStat
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return i.mode }
func (i memInfo) ModTime() time.Time { return i.mod }
func (i memInfo) IsDir() bool        { return i.mode.IsDir() }
func (i memInfo) Sys() any           { return i.sys }
