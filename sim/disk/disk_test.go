package disk

import (
	"errors"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/vfs"
)

func newDisk(now *time.Duration, m *Meter) *Disk {
	return New(rand.New(rand.NewPCG(1, 1)), Profile{SyncBase: time.Millisecond, Bandwidth: 1000}, func() time.Duration { return *now }, nil, m)
}

func TestServiceTimeIsChargedAndQueued(t *testing.T) {
	var now time.Duration
	var m Meter
	d := newDisk(&now, &m)
	f, err := d.FS().OpenFile("/a", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(make([]byte, 500)) // 0.5 s at 1000 B/s
	f.Sync()                   // +1 ms
	if want := 501 * time.Millisecond; m.Elapsed != want {
		t.Fatalf("charged %v, want %v", m.Elapsed, want)
	}
	// A second actor at the same instant waits for the first request.
	var m2 Meter
	d.meter = &m2
	f.Sync()
	if want := 502 * time.Millisecond; m2.Elapsed != want {
		t.Fatalf("queued sync charged %v, want %v (501 ms queue + 1 ms)", m2.Elapsed, want)
	}
}

func TestCrashLosesUnsyncedAndFullDisk(t *testing.T) {
	var now time.Duration
	var m Meter
	d := newDisk(&now, &m)
	if err := vfs.WriteFileAtomic(d.FS(), "/pos", []byte("synced"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, _ := d.FS().OpenFile("/log", os.O_RDWR|os.O_CREATE, 0o644)
	f.Write([]byte("never synced"))
	d.Crash()
	if b, err := vfs.ReadFile(d.FS(), "/pos"); err != nil || string(b) != "synced" {
		t.Fatalf("synced file after crash: %q %v", b, err)
	}
	if vfs.Exists(d.FS(), "/log") {
		t.Fatal("a file whose directory entry was never synced survived the crash")
	}
	d.Full()
	f, _ = d.FS().OpenFile("/x", os.O_RDWR|os.O_CREATE, 0o644)
	if _, err := f.Write([]byte("x")); !errors.Is(err, vfs.ErrNoSpace) {
		t.Fatalf("write on a full disk: %v", err)
	}
	d.Unfull()
	if _, err := f.Write([]byte("x")); err != nil {
		t.Fatalf("write after space returned: %v", err)
	}
}
