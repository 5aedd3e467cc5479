// Package disk injects a full disk: the directory a node writes (its
// channel's data directory) is a size-limited tmpfs, and the fault fills it
// to the last byte; healing removes the filler. Mounting needs root and a
// kernel that lets this process mount; elsewhere Setup reports
// faults.ErrUnsupported and the scenario skips.
package disk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"github.com/sluicehq/sluice/faults"
)

// fillerName is the file that takes up the space.
const fillerName = ".sluice-disk-full"

// Full is a full-disk fault bound to one directory.
type Full struct {
	Dir  string
	Size int64 // tmpfs size in bytes

	mu      sync.Mutex
	mounted bool
}

// NewFull returns a full-disk fault for dir, which Setup turns into a
// tmpfs of size bytes.
func NewFull(dir string, size int64) *Full { return &Full{Dir: dir, Size: size} }

func (f *Full) Name() string      { return "disk-full" }
func (f *Full) Kind() faults.Kind { return faults.Disk }
func (f *Full) Action() string    { return "fill" }
func (f *Full) Params() map[string]string {
	return map[string]string{"dir": f.Dir, "size": strconv.FormatInt(f.Size, 10)}
}

var (
	probeOnce sync.Once
	probeErr  error
)

// Supported reports whether tmpfs mounts work here, with the reason when
// they do not.
func Supported() error {
	probeOnce.Do(func() {
		if os.Geteuid() != 0 {
			probeErr = fmt.Errorf("a full disk needs a tmpfs mount, which needs root (euid %d): %w", os.Geteuid(), faults.ErrUnsupported)
			return
		}
		dir, err := os.MkdirTemp("", "sluice-tmpfs-probe-")
		if err != nil {
			probeErr = err
			return
		}
		defer os.Remove(dir)
		if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
			probeErr = fmt.Errorf("mounting a tmpfs is not permitted here (%v): %w", err, faults.ErrUnsupported)
			return
		}
		syscall.Unmount(dir, 0)
	})
	return probeErr
}

// Setup mounts a tmpfs of Size bytes on Dir (created if needed; it must
// be empty, since the mount hides what is there).
func (f *Full) Setup(context.Context) error {
	if err := Supported(); err != nil {
		return err
	}
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return fmt.Errorf("disk-full: %w", err)
	}
	ents, err := os.ReadDir(f.Dir)
	if err != nil {
		return fmt.Errorf("disk-full: %w", err)
	}
	if len(ents) > 0 {
		return fmt.Errorf("disk-full: %s is not empty; the tmpfs must be mounted before the node writes there", f.Dir)
	}
	if err := syscall.Mount("tmpfs", f.Dir, "tmpfs", 0, "size="+strconv.FormatInt(f.Size, 10)+",mode=0755"); err != nil {
		return fmt.Errorf("disk-full: mount tmpfs on %s: %w", f.Dir, err)
	}
	f.mu.Lock()
	f.mounted = true
	f.mu.Unlock()
	return nil
}

// Inject fills the tmpfs until the kernel says ENOSPC.
func (f *Full) Inject(context.Context, faults.Target) error {
	p := filepath.Join(f.Dir, fillerName)
	fh, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("disk-full: %w", err)
	}
	defer fh.Close()
	buf := make([]byte, 1<<20)
	for size := len(buf); size > 0; {
		if _, err := fh.Write(buf[:size]); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				return fmt.Errorf("disk-full: fill %s: %w", p, err)
			}
			size /= 2 // top up the last pages in smaller writes
		}
	}
	return nil
}

// Free reports the bytes still available on the tmpfs.
func (f *Full) Free() (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(f.Dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * st.Bsize, nil
}

// Heal removes the filler.
func (f *Full) Heal(context.Context, faults.Target) error {
	if err := os.Remove(filepath.Join(f.Dir, fillerName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("disk-full: heal: %w", err)
	}
	return nil
}

// Cleanup unmounts the tmpfs (lazily if a process still holds files on
// it).
func (f *Full) Cleanup(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.mounted {
		return nil
	}
	f.mounted = false
	if err := syscall.Unmount(f.Dir, 0); err != nil {
		if err := syscall.Unmount(f.Dir, syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("disk-full: unmount %s: %w", f.Dir, err)
		}
	}
	return nil
}
