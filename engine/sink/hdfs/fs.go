package hdfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"time"

	"github.com/sluicehq/sluice/engine/vfs"
)

// FileSystem is what the sink needs from a store: create a new file (and
// its directories), rename it, and make both durable. Everything above it —
// bucketing, rolling, naming — is the same for hdfs:// and file://.
type FileSystem interface {
	// Create creates name, which must not exist, with its parent
	// directories, durably (the new entry survives a crash).
	Create(name string, deadline time.Time) (File, error)
	// Rename renames a closed file durably.
	Rename(oldpath, newpath string, deadline time.Time) error
	// Exists reports whether name exists.
	Exists(name string) (bool, error)
	Close() error
}

// File is an open file being written.
type File interface {
	Write(p []byte) (int, error)
	// Sync makes everything written so far durable at the store: fsync on
	// a local disk, hflush to the datanodes on HDFS.
	Sync(deadline time.Time) error
	Close(deadline time.Time) error
}

// errExist is returned by Create when the file exists.
var errExist = fs.ErrExist

// localFS is file:// through engine/vfs, so that tests and the simulator can
// give it a full or failing disk.
type localFS struct{ fs vfs.FS }

func (l localFS) Create(name string, _ time.Time) (File, error) {
	dir := path.Dir(name)
	if _, err := l.fs.Stat(dir); err != nil {
		if err := l.fs.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create directory %s: %w", dir, err)
		}
		// A new directory is durable only once its parent's entry is.
		if err := l.fs.SyncDir(path.Dir(dir)); err != nil {
			return nil, fmt.Errorf("sync directory %s: %w", path.Dir(dir), err)
		}
	}
	f, err := l.fs.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	if err := l.fs.SyncDir(dir); err != nil {
		f.Close()
		return nil, fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return localFile{f}, nil
}

func (l localFS) Rename(oldpath, newpath string, _ time.Time) error {
	if err := l.fs.Rename(oldpath, newpath); err != nil {
		return err
	}
	if err := l.fs.SyncDir(path.Dir(newpath)); err != nil {
		return fmt.Errorf("sync directory %s: %w", path.Dir(newpath), err)
	}
	return nil
}

func (l localFS) Exists(name string) (bool, error) {
	_, err := l.fs.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (localFS) Close() error { return nil }

type localFile struct{ f vfs.File }

func (l localFile) Write(p []byte) (int, error) { return l.f.Write(p) }
func (l localFile) Sync(time.Time) error        { return l.f.Sync() }

func (l localFile) Close(time.Time) error {
	return errors.Join(l.f.Sync(), l.f.Close())
}
