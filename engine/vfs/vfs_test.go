package vfs

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Both implementations must agree on the basic semantics the engine relies on.
func TestFileSystems(t *testing.T) {
	for name, mk := range map[string]func(t *testing.T) (FS, string){
		"os":  func(t *testing.T) (FS, string) { return OS{}, t.TempDir() },
		"mem": func(t *testing.T) (FS, string) { return NewMem(nil), "/data" },
	} {
		t.Run(name, func(t *testing.T) {
			fsys, dir := mk(t)
			if err := fsys.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "a", "b", "f")
			if err := WriteFileAtomic(fsys, p, []byte("hello"), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadFile(fsys, p)
			if err != nil || string(got) != "hello" {
				t.Fatalf("ReadFile = %q, %v", got, err)
			}
			fh, err := fsys.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			fh.Write([]byte(" world"))
			fh.Close()
			fi, err := fsys.Stat(p)
			if err != nil || fi.Size() != 11 {
				t.Fatalf("Stat size = %v, %v", fi, err)
			}
			if _, ino, ok := Identity(fi); !ok || ino == 0 {
				t.Fatal("no inode from Identity")
			}
			q := filepath.Join(dir, "a", "g")
			if err := fsys.Rename(p, q); err != nil {
				t.Fatal(err)
			}
			fi2, _ := fsys.Stat(q)
			_, ino1, _ := Identity(fi)
			_, ino2, _ := Identity(fi2)
			if ino1 != ino2 {
				t.Fatal("rename changed the inode")
			}
			ents, err := fsys.ReadDir(filepath.Join(dir, "a"))
			if err != nil || len(ents) != 2 || ents[0].Name() != "b" || ents[1].Name() != "g" {
				t.Fatalf("ReadDir = %v, %v", ents, err)
			}
			if _, err := fsys.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("Stat of renamed-away path: %v", err)
			}
			rd, _ := Open(fsys, q)
			buf := make([]byte, 5)
			if n, err := rd.ReadAt(buf, 6); n != 5 || string(buf) != "world" || (err != nil && err != io.EOF) {
				t.Fatalf("ReadAt = %d %q %v", n, buf, err)
			}
			rd.Close()
			if err := fsys.Remove(q); err != nil {
				t.Fatal(err)
			}
			l, err := fsys.Lock(filepath.Join(dir, "lock"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fsys.Lock(filepath.Join(dir, "lock")); !errors.Is(err, ErrLocked) {
				t.Fatalf("second Lock = %v, want ErrLocked", err)
			}
			l.Unlock()
			l2, err := fsys.Lock(filepath.Join(dir, "lock"))
			if err != nil {
				t.Fatalf("Lock after Unlock: %v", err)
			}
			l2.Unlock()
			if free, err := fsys.Free(dir); err != nil || free == 0 {
				t.Fatalf("Free = %d, %v", free, err)
			}
		})
	}
}

func TestMemCrashDropsUnsynced(t *testing.T) {
	m := NewMem(nil)
	m.MkdirAll("/d", 0o755)
	f, _ := Create(m, "/d/f")
	f.Write([]byte("durable"))
	f.Sync()
	m.SyncDir("/d")
	f.Write([]byte("-lost"))
	g, _ := Create(m, "/d/unsynced-entry")
	g.Write([]byte("x"))
	g.Sync() // data synced but the directory entry is not
	m.Crash(nil)
	got, err := ReadFile(m, "/d/f")
	if err != nil || string(got) != "durable" {
		t.Fatalf("after crash = %q, %v", got, err)
	}
	if Exists(m, "/d/unsynced-entry") {
		t.Fatal("a file whose directory was never synced survived the crash")
	}
	if _, err := f.Write([]byte("x")); err == nil {
		t.Fatal("a handle from before the crash still works")
	}
	if m.Used() != int64(len("durable")) {
		t.Fatalf("Used = %d", m.Used())
	}
}

func TestMemCrashTearsAtSectors(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 4*SectorSize/16)
	sawPartial, sawNone, sawAll := false, false, false
	for seed := uint64(0); seed < 200; seed++ {
		m := NewMem(nil)
		m.MkdirAll("/d", 0o755)
		f, _ := Create(m, "/d/f")
		f.Write([]byte("head"))
		f.Sync()
		m.SyncDir("/d")
		f.Write(data)
		m.Crash(rand.New(rand.NewPCG(seed, 1)))
		got, _ := ReadFile(m, "/d/f")
		if !bytes.HasPrefix(got, []byte("head")) {
			t.Fatalf("seed %d: synced prefix damaged: %q", seed, got[:8])
		}
		kept := got[4:]
		if !bytes.Equal(kept, data[:len(kept)]) {
			t.Fatalf("seed %d: kept unsynced bytes are not a prefix of what was written", seed)
		}
		switch {
		case len(kept) == 0:
			sawNone = true
		case len(kept) == len(data):
			sawAll = true
		default:
			sawPartial = true
		}
	}
	if !sawNone || !sawAll || !sawPartial {
		t.Fatalf("crash model not exploring: none=%v all=%v partial=%v", sawNone, sawAll, sawPartial)
	}
}

func TestMemCapacity(t *testing.T) {
	m := NewMem(nil)
	m.SetCapacity(10)
	f, _ := Create(m, "/f")
	n, err := f.Write([]byte("0123456789abc"))
	if n != 10 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Write = %d, %v; want 10, ENOSPC", n, err)
	}
	if free, _ := m.Free("/"); free != 0 {
		t.Fatalf("Free = %d", free)
	}
	f.Truncate(4)
	if free, _ := m.Free("/"); free != 6 {
		t.Fatalf("Free after truncate = %d", free)
	}
}

func TestFaulty(t *testing.T) {
	f := NewFaulty(NewMem(nil))
	f.MkdirAll("/x", 0o755)
	f.Fail(OpSync, "/x", syscall.EIO, 1)
	h, err := Create(f, "/x/a")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("first Sync = %v, want EIO", err)
	}
	if err := h.Sync(); err != nil {
		t.Fatalf("second Sync = %v, want nil (fault was for one call)", err)
	}
	f.Fail(OpWrite, "/other", syscall.EIO, -1)
	if _, err := h.Write([]byte("ok")); err != nil {
		t.Fatalf("write to a path outside the fault's prefix failed: %v", err)
	}
	zero := uint64(0)
	f.SetFree(&zero)
	if n, _ := f.Free("/x"); n != 0 {
		t.Fatal("SetFree ignored")
	}
	if f.Injected(OpSync) != 1 {
		t.Fatalf("Injected = %d", f.Injected(OpSync))
	}
	f.Clear()
	if n, _ := f.Free("/x"); n == 0 {
		t.Fatal("Clear left the free-space override")
	}
}

// flatFile is the crash model of a file as two flat images, the way Mem
// kept files before it stored sparse shared sectors: Mem must agree with it
// byte for byte, crash for crash.
type flatFile struct {
	data, durable []byte
	dirtyFrom     int
}

func (f *flatFile) mark(off int) {
	if f.dirtyFrom < 0 || off < f.dirtyFrom {
		f.dirtyFrom = off
	}
}

func (f *flatFile) writeAt(p []byte, off int) {
	if end := off + len(p); end > len(f.data) {
		f.data = append(f.data, make([]byte, end-len(f.data))...)
	}
	copy(f.data[off:], p)
	if len(p) > 0 {
		f.mark(off)
	}
}

func (f *flatFile) truncate(size int) {
	if size > len(f.data) {
		f.mark(len(f.data))
		f.data = append(f.data, make([]byte, size-len(f.data))...)
	} else {
		f.data = f.data[:size]
		f.mark(size)
	}
}

func (f *flatFile) sync() {
	if f.dirtyFrom < 0 {
		return
	}
	f.durable = append([]byte(nil), f.data...)
	f.dirtyFrom = -1
}

func (f *flatFile) crash(rng *rand.Rand) {
	img := append([]byte(nil), f.durable...)
	if f.dirtyFrom >= 0 && rng != nil && f.dirtyFrom < len(f.data) {
		unsynced := f.data[f.dirtyFrom:]
		sectors := (len(unsynced) + SectorSize - 1) / SectorSize
		keep := min(rng.IntN(sectors+1)*SectorSize, len(unsynced))
		if keep > 0 && rng.IntN(2) == 0 {
			last := (keep - 1) / SectorSize * SectorSize
			keep = last + rng.IntN(keep-last+1)
		}
		end := f.dirtyFrom + keep
		if end > len(img) {
			img = append(img, make([]byte, end-len(img))...)
		}
		copy(img[f.dirtyFrom:end], f.data[f.dirtyFrom:end])
	}
	f.data = img
	f.durable = append([]byte(nil), img...)
	f.dirtyFrom = -1
}

// TestMemMatchesFlatModel runs random writes (zeros, data, holes, writes
// across synced sectors), truncations, syncs and crashes on Mem and on the
// flat two-image model with the same random source, and requires the same
// file after every step.
func TestMemMatchesFlatModel(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		ops := rand.New(rand.NewPCG(seed, 7))
		m := NewMem(nil)
		m.MkdirAll("/d", 0o755)
		h, err := m.OpenFile("/d/f", os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		m.SyncDir("/d")
		ref := &flatFile{dirtyFrom: -1}
		for step := 0; step < 60; step++ {
			var what string
			switch op := ops.IntN(10); {
			case op < 5:
				n := ops.IntN(3 * SectorSize)
				p := make([]byte, n)
				if ops.IntN(3) > 0 {
					for i := range p {
						if ops.IntN(4) > 0 {
							p[i] = byte(ops.IntN(255) + 1)
						}
					}
				}
				off := ops.IntN(len(ref.data) + 2*SectorSize)
				what = "write"
				if _, err := h.WriteAt(p, int64(off)); err != nil {
					t.Fatal(err)
				}
				ref.writeAt(p, off)
			case op < 6:
				size := ops.IntN(len(ref.data) + SectorSize + 1)
				what = "truncate"
				if err := h.Truncate(int64(size)); err != nil {
					t.Fatal(err)
				}
				ref.truncate(size)
			case op < 8:
				what = "sync"
				if err := h.Sync(); err != nil {
					t.Fatal(err)
				}
				ref.sync()
			default:
				what = "crash"
				var r1, r2 *rand.Rand
				if ops.IntN(4) > 0 {
					r1, r2 = rand.New(rand.NewPCG(seed, uint64(step))), rand.New(rand.NewPCG(seed, uint64(step)))
				}
				m.Crash(r1)
				ref.crash(r2)
				if h, err = m.OpenFile("/d/f", os.O_RDWR, 0); err != nil {
					t.Fatal(err)
				}
			}
			got, err := ReadFile(m, "/d/f")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, ref.data) || m.Used() != int64(len(ref.data)) {
				t.Fatalf("seed %d step %d (%s): Mem has %d bytes (used %d), the model %d; equal=%v",
					seed, step, what, len(got), m.Used(), len(ref.data), bytes.Equal(got, ref.data))
			}
		}
	}
}

// TestMemSparse: a log padded with zeros to its sync boundaries takes the
// memory of what it logged, once, not twice its size.
func TestMemSparse(t *testing.T) {
	m := NewMem(nil)
	f, _ := Create(m, "/log")
	rec := bytes.Repeat([]byte{7}, 100)
	block := make([]byte, 4096)
	copy(block, rec)
	for i := 0; i < 64; i++ {
		f.Write(block)
		f.Sync()
	}
	n, _ := m.lookup("/log")
	var held, shared int
	for i, s := range n.secs {
		if s != nil {
			held++
			if n.dsecs[i] == s {
				shared++
			}
		}
	}
	if n.size != 64*4096 || held != 64 || shared != 64 {
		t.Fatalf("size %d: %d sectors held (want 64), %d shared with the durable image (want 64)", n.size, held, shared)
	}
}
