package file

import (
	"errors"
	"fmt"
	"io/fs"
	"sync"

	"github.com/sluicehq/sluice/engine/vfs"
)

var errMissing = errors.New("segment file missing")

// maxReadFiles bounds the segment files kept open for takes, so that a
// backlog spread over thousands of segments does not exhaust descriptors.
const maxReadFiles = 64

// readCache keeps read handles on segments. Handles are reference counted
// because takes read outside the channel lock while a checkpoint may
// forget a segment.
type readCache struct {
	c     *Channel
	mu    sync.Mutex
	files map[uint32]*rfile
	tick  uint64
}

type rfile struct {
	f         vfs.File
	close     func() error
	refs      int
	used      uint64
	forgotten bool
}

func newReadCache(c *Channel) *readCache { return &readCache{c: c, files: map[uint32]*rfile{}} }

func (r *readCache) readAt(seg uint32, b []byte, off int64) (int, error) {
	rf, err := r.acquire(seg)
	if err != nil {
		return 0, err
	}
	n, err := rf.f.ReadAt(b, off)
	r.release(rf)
	return n, err
}

func (r *readCache) acquire(seg uint32) (*rfile, error) {
	r.mu.Lock()
	if rf := r.files[seg]; rf != nil {
		rf.refs++
		r.tick++
		rf.used = r.tick
		r.mu.Unlock()
		return rf, nil
	}
	r.mu.Unlock()
	r.c.mu.Lock()
	s := r.c.segs[seg]
	r.c.mu.Unlock()
	if s == nil {
		return nil, fmt.Errorf("%w: %s is not in any data directory", errMissing, segName(seg))
	}
	f, err := openSegment(r.c.fs, s.path, false)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %w", errMissing, err)
		}
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tick++
	if rf := r.files[seg]; rf != nil { // another reader opened it meanwhile
		f.Close()
		rf.refs++
		rf.used = r.tick
		return rf, nil
	}
	rf := &rfile{f: f, close: f.Close, refs: 1, used: r.tick}
	r.files[seg] = rf
	for len(r.files) > maxReadFiles {
		var lru uint32
		var best *rfile
		for id, x := range r.files {
			if x.refs == 0 && (best == nil || x.used < best.used) {
				lru, best = id, x
			}
		}
		if best == nil {
			break
		}
		delete(r.files, lru)
		best.close()
	}
	return rf, nil
}

func (r *readCache) release(rf *rfile) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rf.refs--
	if rf.refs == 0 && rf.forgotten {
		rf.close()
	}
}

// forget closes the handle on a segment about to be deleted.
func (r *readCache) forget(seg uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rf := r.files[seg]; rf != nil {
		delete(r.files, seg)
		r.drop(rf)
	}
}

func (r *readCache) drop(rf *rfile) {
	if rf.refs == 0 {
		rf.close()
	} else {
		rf.forgotten = true
	}
}

func (r *readCache) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rf := range r.files {
		r.drop(rf)
	}
	r.files = map[uint32]*rfile{}
}
