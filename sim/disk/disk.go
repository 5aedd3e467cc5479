// Package disk is a simulated host disk: engine/vfs's in-memory file system
// (with its crash model: unsynced data lost, the last write torn at sector
// granularity) behind vfs.Faulty (failed writes and syncs), a capacity for
// disk-full faults, and service times for writes and fsyncs.
//
// The simulator is single-threaded and an engine call cannot block on
// virtual time, so service time is not waited for: it is charged to a
// Meter that the simulator reads after the call and adds to when the actor
// runs next. The disk serves one request at a time, so two actors sharing a
// disk queue behind each other.
package disk

import (
	"io/fs"
	"math/rand/v2"
	"time"

	"github.com/sluicehq/sluice/engine/vfs"
)

// Meter accumulates the service time of the calls made by the actor that
// is running.
type Meter struct{ Elapsed time.Duration }

// Profile is a disk's speed.
type Profile struct {
	SyncBase   time.Duration // fsync latency
	SyncJitter time.Duration
	Bandwidth  float64 // bytes per second for writes; 0 is unlimited
}

// SSD is a data-centre SSD with a volatile cache: fsync 0.5–1.5 ms, 500 MB/s.
var SSD = Profile{SyncBase: 500 * time.Microsecond, SyncJitter: time.Millisecond, Bandwidth: 500e6}

// Disk is one host's disk.
type Disk struct {
	Mem    *vfs.Mem
	Faulty *vfs.Faulty
	prof   Profile
	rng    *rand.Rand
	now    func() time.Duration
	meter  *Meter
	busy   time.Duration // virtual time the disk is busy until
	fs     vfs.FS
}

// New returns an empty disk. now reads virtual time; meter receives the
// service time of every call (the simulator points it at the running actor).
func New(rng *rand.Rand, prof Profile, now func() time.Duration, mtime func() time.Time, meter *Meter) *Disk {
	m := vfs.NewMem(mtime)
	d := &Disk{Mem: m, Faulty: vfs.NewFaulty(m), prof: prof, rng: rng, now: now, meter: meter}
	d.fs = timedFS{FS: d.Faulty, d: d}
	return d
}

// FS is the file system the engine components of the host use.
func (d *Disk) FS() vfs.FS { return d.fs }

// Crash is a power cut: open handles die, unsynced data is lost or torn.
func (d *Disk) Crash() {
	d.Mem.Crash(d.rng)
	d.busy = 0
}

// Full makes the disk full from now on (the bytes in use become the capacity).
func (d *Disk) Full() { d.Mem.SetCapacity(max(d.Mem.Used(), 1)) }

// Unfull removes the capacity limit.
func (d *Disk) Unfull() { d.Mem.SetCapacity(0) }

// charge adds cost to the running actor, after any request already queued.
func (d *Disk) charge(cost time.Duration) {
	start := d.now() + d.meter.Elapsed
	if d.busy > start {
		d.meter.Elapsed += d.busy - start
		start = d.busy
	}
	d.busy = start + cost
	d.meter.Elapsed += cost
}

func (d *Disk) write(n int) {
	if d.prof.Bandwidth > 0 && n > 0 {
		d.charge(time.Duration(float64(n) / d.prof.Bandwidth * float64(time.Second)))
	}
}

func (d *Disk) sync() {
	c := d.prof.SyncBase
	if d.prof.SyncJitter > 0 {
		c += time.Duration(d.rng.Int64N(int64(d.prof.SyncJitter)))
	}
	d.charge(c)
}

type timedFS struct {
	vfs.FS
	d *Disk
}

func (t timedFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f, err := t.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return timedFile{File: f, d: t.d}, nil
}

func (t timedFS) SyncDir(name string) error {
	t.d.sync()
	return t.FS.SyncDir(name)
}

type timedFile struct {
	vfs.File
	d *Disk
}

func (f timedFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	f.d.write(n)
	return n, err
}

func (f timedFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	f.d.write(n)
	return n, err
}

func (f timedFile) Sync() error {
	f.d.sync()
	return f.File.Sync()
}
