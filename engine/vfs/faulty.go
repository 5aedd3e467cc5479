package vfs

import (
	"fmt"
	"io/fs"
	"strings"
	"sync"
)

// Op names a file-system operation a Faulty FS can fail.
type Op string

const (
	OpOpen     Op = "open"
	OpRead     Op = "read"
	OpWrite    Op = "write"
	OpSync     Op = "sync"
	OpSyncDir  Op = "syncdir"
	OpRename   Op = "rename"
	OpRemove   Op = "remove"
	OpMkdir    Op = "mkdir"
	OpTruncate Op = "truncate"
)

// Faulty wraps an FS and fails chosen operations on chosen paths, and can
// report a chosen amount of free space. It is how tests give the OS or the
// Mem file system a failing disk.
type Faulty struct {
	FS
	mu     sync.Mutex
	rules  []*faultRule
	free   *uint64
	counts map[Op]int
}

type faultRule struct {
	op     Op
	prefix string
	err    error
	times  int // < 0: until cleared
}

// NewFaulty wraps base.
func NewFaulty(base FS) *Faulty { return &Faulty{FS: base, counts: map[Op]int{}} }

// Fail makes the next `times` calls of op on paths under prefix ("" for
// all) fail with err; times < 0 fails them until Clear.
func (f *Faulty) Fail(op Op, prefix string, err error, times int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = append(f.rules, &faultRule{op: op, prefix: prefix, err: err, times: times})
}

// SetFree makes Free report n bytes; nil restores the wrapped FS's answer.
func (f *Faulty) SetFree(n *uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.free = n
}

// Clear removes every rule and free-space override.
func (f *Faulty) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = nil
	f.free = nil
}

// Injected reports how many times a fault fired for op.
func (f *Faulty) Injected(op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[op]
}

func (f *Faulty) fault(op Op, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range f.rules {
		if r.op != op || (r.prefix != "" && !strings.HasPrefix(clean(name), clean(r.prefix))) {
			continue
		}
		if r.times > 0 {
			r.times--
			if r.times == 0 {
				f.rules = append(f.rules[:i], f.rules[i+1:]...)
			}
		}
		f.counts[op]++
		return &fs.PathError{Op: string(op), Path: name, Err: fmt.Errorf("injected fault: %w", r.err)}
	}
	return nil
}

func (f *Faulty) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if err := f.fault(OpOpen, name); err != nil {
		return nil, err
	}
	fh, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: fh, f: f, name: name}, nil
}

func (f *Faulty) Rename(o, n string) error {
	if err := f.fault(OpRename, o); err != nil {
		return err
	}
	return f.FS.Rename(o, n)
}

func (f *Faulty) Remove(name string) error {
	if err := f.fault(OpRemove, name); err != nil {
		return err
	}
	return f.FS.Remove(name)
}

func (f *Faulty) MkdirAll(p string, perm fs.FileMode) error {
	if err := f.fault(OpMkdir, p); err != nil {
		return err
	}
	return f.FS.MkdirAll(p, perm)
}

func (f *Faulty) SyncDir(name string) error {
	if err := f.fault(OpSyncDir, name); err != nil {
		return err
	}
	return f.FS.SyncDir(name)
}

func (f *Faulty) Free(p string) (uint64, error) {
	f.mu.Lock()
	free := f.free
	f.mu.Unlock()
	if free != nil {
		return *free, nil
	}
	return f.FS.Free(p)
}

type faultyFile struct {
	File
	f    *Faulty
	name string
}

func (h *faultyFile) Read(p []byte) (int, error) {
	if err := h.f.fault(OpRead, h.name); err != nil {
		return 0, err
	}
	return h.File.Read(p)
}

func (h *faultyFile) ReadAt(p []byte, off int64) (int, error) {
	if err := h.f.fault(OpRead, h.name); err != nil {
		return 0, err
	}
	return h.File.ReadAt(p, off)
}

func (h *faultyFile) Write(p []byte) (int, error) {
	if err := h.f.fault(OpWrite, h.name); err != nil {
		return 0, err
	}
	return h.File.Write(p)
}

func (h *faultyFile) WriteAt(p []byte, off int64) (int, error) {
	if err := h.f.fault(OpWrite, h.name); err != nil {
		return 0, err
	}
	return h.File.WriteAt(p, off)
}

func (h *faultyFile) Sync() error {
	if err := h.f.fault(OpSync, h.name); err != nil {
		return err
	}
	return h.File.Sync()
}

func (h *faultyFile) Truncate(size int64) error {
	if err := h.f.fault(OpTruncate, h.name); err != nil {
		return err
	}
	return h.File.Truncate(size)
}
