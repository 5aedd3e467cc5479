package disk

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

type node struct{}

func (node) TargetName() string { return "agent1" }

func TestFullDisk(t *testing.T) {
	if err := Supported(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	f := NewFull(dir, 4<<20)
	ctx := context.Background()
	if err := f.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Cleanup(ctx) })
	// A writer that was fine before the fault...
	w, err := os.Create(filepath.Join(dir, "log-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	if err := f.Inject(ctx, node{}); err != nil {
		t.Fatal(err)
	}
	if free, err := f.Free(); err != nil || free != 0 {
		t.Fatalf("free after fill: %d, %v", free, err)
	}
	// ...gets ENOSPC while the disk is full...
	if _, err := w.Write(make([]byte, 8<<10)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write on a full disk: %v, want ENOSPC", err)
	}
	if err := f.Heal(ctx, node{}); err != nil {
		t.Fatal(err)
	}
	// ...and works again after the heal.
	if _, err := w.Write(make([]byte, 8<<10)); err != nil {
		t.Fatalf("write after heal: %v", err)
	}
	w.Close()
	if err := f.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	// Unmounted: the file written on the tmpfs is gone with it.
	if _, err := os.Stat(filepath.Join(dir, "log-1")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("tmpfs still mounted: %v", err)
	}
}

func TestSetupRefusesNonEmptyDir(t *testing.T) {
	if err := Supported(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x"), nil, 0o644)
	if err := NewFull(dir, 1<<20).Setup(context.Background()); err == nil {
		t.Fatal("mounted over a non-empty directory")
	}
}
