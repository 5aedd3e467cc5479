package taildir

import (
	"io/fs"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/engine/vfs"
)

// reuseFS is a Mem file system that reports some inodes as others, to
// model a kernel handing a freed inode number to a new file (vfs.Mem never
// reuses one).
type reuseFS struct {
	*vfs.Mem
	alias map[uint64]uint64
}

func (r *reuseFS) mapInfo(fi fs.FileInfo) fs.FileInfo {
	dev, ino, ok := vfs.Identity(fi)
	if !ok {
		return fi
	}
	if to, ok := r.alias[ino]; ok {
		return aliasInfo{FileInfo: fi, st: &vfs.MemStat{Dev: dev, Ino: to}}
	}
	return fi
}

func (r *reuseFS) Stat(name string) (fs.FileInfo, error) {
	fi, err := r.Mem.Stat(name)
	if err != nil {
		return nil, err
	}
	return r.mapInfo(fi), nil
}

func (r *reuseFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f, err := r.Mem.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return aliasFile{File: f, r: r}, nil
}

func (r *reuseFS) ReadDir(name string) ([]fs.DirEntry, error) {
	es, err := r.Mem.ReadDir(name)
	if err != nil {
		return nil, err
	}
	out := make([]fs.DirEntry, len(es))
	for i, e := range es {
		fi, err := e.Info()
		if err != nil {
			out[i] = e
			continue
		}
		out[i] = fs.FileInfoToDirEntry(r.mapInfo(fi))
	}
	return out, nil
}

type aliasFile struct {
	vfs.File
	r *reuseFS
}

func (f aliasFile) Stat() (fs.FileInfo, error) {
	fi, err := f.File.Stat()
	if err != nil {
		return nil, err
	}
	return f.r.mapInfo(fi), nil
}

type aliasInfo struct {
	fs.FileInfo
	st *vfs.MemStat
}

func (a aliasInfo) Sys() any           { return a.st }
func (a aliasInfo) ModTime() time.Time { return a.FileInfo.ModTime() }

// blindFS is a Mem file system whose directory listings and stats fail
// with EIO while blind is set, as a flaky disk or an exhausted descriptor
// table would make them.
type blindFS struct {
	*vfs.Mem
	blind bool
}

func (b *blindFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if b.blind {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: syscall.EIO}
	}
	return b.Mem.ReadDir(name)
}

func (b *blindFS) Stat(name string) (fs.FileInfo, error) {
	if b.blind {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: syscall.EIO}
	}
	return b.Mem.Stat(name)
}
