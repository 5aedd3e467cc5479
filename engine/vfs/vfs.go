// Package vfs is the seam through which engine code touches the file system.
//
// The WAL channel, taildir positions and file sinks do all file I/O through
// an FS, so that tests and the simulator can plug in a disk that fails
// writes or syncs, fills up, or crashes and loses what was never synced.
// OS is the production implementation; Mem is an in-memory disk with a crash
// model; Faulty wraps either with injected errors.
package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// FS is the file-system interface the engine uses.
type FS interface {
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	Stat(name string) (fs.FileInfo, error)
	Rename(oldpath, newpath string) error
	Remove(name string) error
	MkdirAll(path string, perm fs.FileMode) error
	// ReadDir lists a directory sorted by name.
	ReadDir(name string) ([]fs.DirEntry, error)
	// SyncDir makes the directory's entries (creates, renames, removes) durable.
	SyncDir(name string) error
	// Lock takes an exclusive lock on the file name (created if missing) and
	// holds it until the returned Locker is released. A second Lock, from this
	// or another process, fails with an error wrapping ErrLocked that names
	// the holder.
	Lock(name string) (Locker, error)
	// Free reports the bytes available to an unprivileged writer on the file
	// system holding path.
	Free(path string) (uint64, error)
}

// File is an open file.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Seeker
	io.Closer
	Name() string
	// Sync makes the file's data durable (fsync).
	Sync() error
	Stat() (fs.FileInfo, error)
	Truncate(size int64) error
}

// Locker releases a lock taken with FS.Lock.
type Locker interface{ Unlock() error }

// ErrLocked is wrapped by Lock when another holder has the lock.
var ErrLocked = errors.New("locked by another holder")

// ErrNoSpace is the error a full disk returns (it wraps syscall.ENOSPC).
var ErrNoSpace = fmt.Errorf("no space left on device: %w", syscall.ENOSPC)

// Open opens name read-only.
func Open(f FS, name string) (File, error) { return f.OpenFile(name, os.O_RDONLY, 0) }

// Create creates or truncates name for writing.
func Create(f FS, name string) (File, error) {
	return f.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
}

// ReadFile reads the whole file.
func ReadFile(f FS, name string) ([]byte, error) {
	fh, err := Open(f, name)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return io.ReadAll(fh)
}

// WriteFileAtomic replaces name with data so that after a crash the file
// holds either the old or the new content, never a mix: it writes a temp file
// beside it, syncs it, renames it over name and syncs the directory.
func WriteFileAtomic(f FS, name string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(name)
	tmp := name + ".tmp"
	fh, err := f.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := fh.Write(data); err != nil {
		fh.Close()
		f.Remove(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		f.Remove(tmp)
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := fh.Close(); err != nil {
		f.Remove(tmp)
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := f.Rename(tmp, name); err != nil {
		f.Remove(tmp)
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	if err := f.SyncDir(dir); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// Exists reports whether name exists.
func Exists(f FS, name string) bool {
	_, err := f.Stat(name)
	return err == nil
}

// Identity returns the device and inode of a file from its FileInfo, for
// the OS and the Mem file systems alike.
func Identity(fi fs.FileInfo) (dev, ino uint64, ok bool) {
	switch s := fi.Sys().(type) {
	case *syscall.Stat_t:
		return uint64(s.Dev), s.Ino, true
	case *MemStat:
		return s.Dev, s.Ino, true
	}
	return 0, 0, false
}
