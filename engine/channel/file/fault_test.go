package file

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/channel/channeltest"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/vfs"
)

func evs(prefix string, from, n int) []event.Event {
	out := make([]event.Event, n)
	for i := range out {
		out[i] = channeltest.Ev(prefix, from+i)
	}
	return out
}

func bodies(es []event.Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = string(e.Body)
	}
	return out
}

func names(prefix string, from, n int) []string { return bodies(evs(prefix, from, n)) }

func start(t testing.TB, fsys vfs.FS, cfg Config) *Channel {
	t.Helper()
	ch := New("c1", cfg, Options{FS: fsys, Clock: clock.NewManual(time.Unix(1e9, 0)), Log: quiet})
	if err := ch.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return ch
}

func wantQueue(t testing.TB, ch *Channel, want []string) {
	t.Helper()
	got := peekAll(t, ch)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("queue holds %v\nwant        %v", got, want)
	}
	if ch.Len() != len(want) {
		t.Fatalf("Len = %d, want %d", ch.Len(), len(want))
	}
}

func commitPut(ch *Channel, events []event.Event) error {
	tx, err := ch.Begin()
	if err != nil {
		return err
	}
	if err := tx.Put(events); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		tx.Rollback()
		return err
	}
	return nil
}

// cloneMem copies every file and directory of src into a new Mem.
func cloneMem(t testing.TB, src *vfs.Mem) *vfs.Mem {
	t.Helper()
	dst := vfs.NewMem(nil)
	var walk func(dir string)
	walk = func(dir string) {
		ents, err := src.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		dst.MkdirAll(dir, 0o755)
		for _, e := range ents {
			p := path.Join(dir, e.Name())
			if e.IsDir() {
				walk(p)
				continue
			}
			b, err := vfs.ReadFile(src, p)
			if err != nil {
				t.Fatal(err)
			}
			f, _ := vfs.Create(dst, p)
			f.Write(b)
			f.Sync()
			f.Close()
		}
		dst.SyncDir(dir)
	}
	walk("/")
	return dst
}

// activeSegment is the path of the highest-numbered segment in the first
// data directory.
func activeSegment(t testing.TB, fsys vfs.FS, cfg Config) string {
	t.Helper()
	files := segFiles(t, fsys, cfg)
	if len(files) == 0 {
		t.Fatal("no segment")
	}
	return files[len(files)-1]
}

func fileSize(t testing.TB, fsys vfs.FS, p string) int64 {
	t.Helper()
	fi, err := fsys.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestTornTailEveryOffset cuts the last record of the log at every byte
// offset (as a crash during its write can): recovery must keep every
// earlier commit, drop the torn one, move the cut bytes to a .corrupt file
// and start.
func TestTornTailEveryOffset(t *testing.T) {
	mem := vfs.NewMem(nil)
	cfg := testConfig("/t", 100, 20)
	ch := start(t, mem, cfg)
	channeltest.Put(t, ch, evs("a", 0, 5))
	channeltest.Put(t, ch, evs("b", 0, 3))
	channeltest.Take(t, ch, 2)
	seg := activeSegment(t, mem, cfg)
	before := fileSize(t, mem, seg)
	last := []event.Event{{Headers: map[string]string{"k": "v"}, Body: []byte("c-0")}, {Body: bytes.Repeat([]byte("z"), 700)}}
	channeltest.Put(t, ch, last)
	after := fileSize(t, mem, seg) // the record, then padding to the block
	ch.mu.Lock()
	tail := ch.q.buf[(ch.q.head+ch.q.n-1)%len(ch.q.buf)]
	ch.mu.Unlock()
	recEnd := int64(tail.off + tail.n)
	mem.Crash(nil)
	survivors := append(names("a", 2, 3), names("b", 0, 3)...)

	for cut := before; cut <= after; cut++ {
		if cut > recEnd+frameHeaderSize && cut < after-8 && cut%61 != 0 {
			continue // inside the padding that follows: a sample is enough
		}
		m := cloneMem(t, mem)
		f, _ := m.OpenFile(seg, os.O_RDWR, 0)
		f.Truncate(cut)
		f.Sync()
		f.Close()
		ch := start(t, m, cfg)
		want := survivors
		whole := before // end of the last whole record
		if cut >= recEnd {
			want = append(append([]string(nil), survivors...), "c-0", strings.Repeat("z", 700))
			whole = recEnd
		}
		if cut == after {
			whole = after
		}
		wantQueue(t, ch, want)
		repaired := ch.tornTails.Load()
		if torn := cut > whole; torn != (repaired == 1) {
			t.Fatalf("cut at %d of [%d,%d,%d]: TornTailsRepaired = %d", cut, before, recEnd, after, repaired)
		}
		if cut > whole {
			saved, err := vfs.ReadFile(m, fmt.Sprintf("%s.%d.corrupt", seg, whole))
			if err != nil {
				t.Fatalf("cut at %d: the cut bytes were not kept: %v", cut, err)
			}
			if int64(len(saved)) != cut-whole {
				t.Fatalf("cut at %d: .corrupt holds %d bytes, want %d", cut, len(saved), cut-whole)
			}
			if got := fileSize(t, m, seg); got != whole {
				t.Fatalf("cut at %d: segment is %d bytes after repair, want %d", cut, got, whole)
			}
		}
		// The repaired channel keeps working and recovers again.
		channeltest.Put(t, ch, evs("d", 0, 1))
		m.Crash(nil)
		ch = start(t, m, cfg)
		wantQueue(t, ch, append(append([]string(nil), want...), "d-0"))
	}
}

// A crash can leave zeros or garbage after the last record (a file size
// updated before its data). Recovery must treat them as a torn tail.
func TestGarbageTail(t *testing.T) {
	for name, tail := range map[string][]byte{
		"zeros":   make([]byte, 4096),
		"garbage": bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef, 0x01}, 300),
		"header":  make([]byte, frameHeaderSize-1),
	} {
		t.Run(name, func(t *testing.T) {
			mem := vfs.NewMem(nil)
			cfg := testConfig("/t", 100, 20)
			ch := start(t, mem, cfg)
			channeltest.Put(t, ch, evs("a", 0, 4))
			seg := activeSegment(t, mem, cfg)
			mem.Crash(nil)
			f, _ := mem.OpenFile(seg, os.O_RDWR|os.O_APPEND, 0)
			f.Write(tail)
			f.Sync()
			f.Close()
			ch = start(t, mem, cfg)
			wantQueue(t, ch, names("a", 0, 4))
			if ch.tornTails.Load() != 1 {
				t.Fatalf("TornTailsRepaired = %d", ch.tornTails.Load())
			}
		})
	}
}

// TestCorruptRecordInsideLog flips a byte inside a record that is not the
// last: the channel must skip it, count it, keep everything around it and
// start. A damaged take record brings its events back (delivered again,
// never lost).
func TestCorruptRecordInsideLog(t *testing.T) {
	for _, victim := range []string{"put", "take"} {
		t.Run(victim, func(t *testing.T) {
			mem := vfs.NewMem(nil)
			cfg := testConfig("/t", 100, 20)
			ch := start(t, mem, cfg)
			seg := activeSegment(t, mem, cfg)
			channeltest.Put(t, ch, evs("a", 0, 3))
			at := fileSize(t, mem, seg)
			want := names("a", 1, 2)
			if victim == "put" {
				channeltest.Put(t, ch, evs("b", 0, 3))
				channeltest.Take(t, ch, 1)
			} else {
				channeltest.Take(t, ch, 1)
				channeltest.Put(t, ch, evs("b", 0, 3))
				want = append(names("a", 0, 3), names("b", 0, 3)...)
			}
			channeltest.Put(t, ch, evs("c", 0, 2))
			if victim == "put" {
				want = append(want, names("c", 0, 2)...)
			} else {
				want = append(want, names("c", 0, 2)...)
			}
			mem.Crash(nil)
			f, _ := mem.OpenFile(seg, os.O_RDWR, 0)
			b := make([]byte, 1)
			f.ReadAt(b, at+frameHeaderSize+3)
			b[0] ^= 0x40
			f.WriteAt(b, at+frameHeaderSize+3)
			f.Sync()
			f.Close()
			ch = start(t, mem, cfg)
			wantQueue(t, ch, want)
			if n := ch.corruptRecords.Load(); n != 1 {
				t.Fatalf("CorruptRecordsSkipped = %d, want 1", n)
			}
		})
	}
}

// A bit flipped in an event after it was written is found when the event is
// taken: it is dropped and counted, and the events around it are delivered.
func TestCorruptEventDroppedAtTake(t *testing.T) {
	mem := vfs.NewMem(nil)
	cfg := testConfig("/t", 100, 20)
	ch := start(t, mem, cfg)
	channeltest.Put(t, ch, evs("a", 0, 3))
	ch.mu.Lock()
	victim := ch.q.buf[ch.q.head+1]
	ch.mu.Unlock()
	f, _ := mem.OpenFile(ch.segs[victim.seg].path, os.O_RDWR, 0)
	f.WriteAt([]byte{0xff}, int64(victim.off+victim.n-1))
	f.Close()
	got := channeltest.Take(t, ch, 3)
	if fmt.Sprint(bodies(got)) != "[a-0 a-2]" {
		t.Fatalf("took %v, want [a-0 a-2]", bodies(got))
	}
	if ch.corruptEvents.Load() != 1 || ch.Len() != 0 {
		t.Fatalf("CorruptEventsDropped = %d, Len = %d", ch.corruptEvents.Load(), ch.Len())
	}
}

// errInjected is what the fault tests inject.
var errInjected = errors.New("injected")

// TestFailedWriteAndSync: a commit whose write or fsync fails returns an
// error, its events are not visible, and after a crash at a random point of
// the unsynced data nothing of it appears while every earlier commit does.
func TestFailedWriteAndSync(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpWrite, vfs.OpSync} {
		for _, what := range []string{"put", "take"} {
			t.Run(string(op)+"/"+what, func(t *testing.T) {
				for seed := uint64(0); seed < 20; seed++ {
					mem := vfs.NewMem(nil)
					faulty := vfs.NewFaulty(mem)
					cfg := testConfig("/t", 100, 20)
					ch := start(t, faulty, cfg)
					channeltest.Put(t, ch, evs("a", 0, 4))
					faulty.Fail(op, "/t/data", errInjected, 1)
					want := names("a", 0, 4)
					if what == "put" {
						if err := commitPut(ch, evs("x", 0, 3)); !errors.Is(err, errInjected) {
							t.Fatalf("put commit with a failing %s = %v", op, err)
						}
						if ch.counter.EventPutErrorCount.Load() != 1 {
							t.Fatalf("EventPutErrorCount = %d", ch.counter.EventPutErrorCount.Load())
						}
					} else {
						tx, _ := ch.Begin()
						tx.Take(2)
						if err := tx.Commit(); !errors.Is(err, errInjected) {
							t.Fatalf("take commit with a failing %s = %v", op, err)
						}
						tx.Rollback()
					}
					wantQueue(t, ch, want)
					if seed%2 == 0 {
						// Later commits must not be what hides the failed one.
						channeltest.Put(t, ch, evs("b", 0, 2))
						want = append(want, names("b", 0, 2)...)
					}
					mem.Crash(rand.New(rand.NewPCG(seed, 1)))
					ch = start(t, mem, cfg)
					wantQueue(t, ch, want)
				}
			})
		}
	}
}

// TestUndoFailsToo: when the write fails and cutting it off fails as well,
// the directory's commits fail (Unhealthy) until the cut succeeds; then the
// channel heals by itself.
func TestUndoFailsToo(t *testing.T) {
	mem := vfs.NewMem(nil)
	faulty := vfs.NewFaulty(mem)
	cfg := testConfig("/t", 100, 20)
	ch := start(t, faulty, cfg)
	channeltest.Put(t, ch, evs("a", 0, 2))
	faulty.Fail(vfs.OpSync, "/t/data", errInjected, 3) // the commit's sync, the undo's, the retry's
	if err := commitPut(ch, evs("x", 0, 1)); err == nil {
		t.Fatal("commit succeeded with failing syncs")
	}
	if ch.counter.Unhealthy.Load() != 1 {
		t.Fatalf("Unhealthy = %d after a failed undo", ch.counter.Unhealthy.Load())
	}
	if err := commitPut(ch, evs("y", 0, 1)); err == nil || !strings.Contains(err.Error(), "failing") {
		t.Fatalf("commit to a broken directory = %v, want an error saying it is failing", err)
	}
	channeltest.Put(t, ch, evs("b", 0, 1))
	if ch.counter.Unhealthy.Load() != 0 {
		t.Fatalf("Unhealthy = %d after the directory healed", ch.counter.Unhealthy.Load())
	}
	mem.Crash(rand.New(rand.NewPCG(1, 1)))
	ch = start(t, mem, cfg)
	wantQueue(t, ch, []string{"a-0", "a-1", "b-0"})
}

// TestDiskFull: a full disk makes puts fail with the channel-full error
// (the source backs off) while takes go on; when space returns, puts work
// again and nothing was lost.
func TestDiskFull(t *testing.T) {
	mem := vfs.NewMem(nil)
	faulty := vfs.NewFaulty(mem)
	cfg := testConfig("/t", 1000, 100)
	cfg.SegmentSize = 1 << 20
	ch := start(t, faulty, cfg)
	channeltest.Put(t, ch, evs("a", 0, 10))
	// The disk fills although the last free-space check said otherwise
	// (another writer got there first): the write itself fails.
	plenty := uint64(1 << 40)
	faulty.SetFree(&plenty)
	mem.SetCapacity(mem.Used() + 3*blockSize)
	big := []event.Event{{Body: make([]byte, 4*blockSize)}}
	if err := commitPut(ch, big); !errors.Is(err, channel.ErrFull) || !errors.Is(err, vfs.ErrNoSpace) {
		t.Fatalf("put on a full disk = %v, want ErrFull wrapping ENOSPC", err)
	}
	if got := channeltest.Take(t, ch, 3); len(got) != 3 {
		t.Fatalf("take on a full disk returned %d events", len(got))
	}
	mem.SetCapacity(0)
	channeltest.Put(t, ch, evs("b", 0, 1))
	mem.Crash(rand.New(rand.NewPCG(2, 2)))
	ch = start(t, mem, cfg)
	wantQueue(t, ch, append(names("a", 3, 7), "b-0"))
}

// TestMinimumRequiredSpace: below minimumRequiredSpace puts are refused as
// a full channel before anything is written; takes continue.
func TestMinimumRequiredSpace(t *testing.T) {
	mem := vfs.NewMem(nil)
	faulty := vfs.NewFaulty(mem)
	cfg := testConfig("/t", 1000, 100)
	cfg.MinimumRequiredSpace = 1 << 20
	ch := start(t, faulty, cfg)
	channeltest.Put(t, ch, evs("a", 0, 5))
	low := uint64(1<<20 - 1)
	faulty.SetFree(&low)
	err := commitPut(ch, evs("x", 0, 1))
	if !errors.Is(err, channel.ErrFull) || !strings.Contains(err.Error(), "usable space exhausted") {
		t.Fatalf("put below minimumRequiredSpace = %v", err)
	}
	channeltest.Take(t, ch, 2)
	faulty.SetFree(nil)
	channeltest.Put(t, ch, evs("b", 0, 1))
	wantQueue(t, ch, append(names("a", 2, 3), "b-0"))
}

// TestKeepAliveWaitsForRoom: a put commit into a full channel waits up to
// keep-alive on the clock and succeeds as soon as a take frees room.
func TestKeepAliveWaitsForRoom(t *testing.T) {
	clk := clock.NewManual(time.Unix(0, 0))
	cfg := testConfig("/t", 2, 2)
	cfg.KeepAlive = 3 * time.Second
	ch := New("c1", cfg, Options{FS: vfs.NewMem(nil), Clock: clk, Log: quiet})
	if err := ch.Start(); err != nil {
		t.Fatal(err)
	}
	defer ch.Stop()
	channeltest.Put(t, ch, evs("a", 0, 2))
	tx, _ := ch.Begin()
	tx.Put(evs("a", 2, 1))
	res := make(chan error, 1)
	go func() { res <- tx.Commit() }()
	if err := clk.WaitForWaiters(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	channeltest.Take(t, ch, 1)
	if err := <-res; err != nil {
		t.Fatalf("commit after room was freed = %v", err)
	}
	tx, _ = ch.Begin()
	tx.Put(evs("a", 3, 1))
	go func() { res <- tx.Commit() }()
	if err := clk.WaitForWaiters(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(3 * time.Second)
	if err := <-res; !errors.Is(err, channel.ErrFull) {
		t.Fatalf("commit after keep-alive = %v, want ErrFull", err)
	}
	tx.Rollback()
}

// TestLockNamesHolder: a second channel on the same directories is refused,
// and the error names the process holding them.
func TestLockNamesHolder(t *testing.T) {
	cfg := testConfig(t.TempDir(), 10, 10)
	a := New("a", cfg, Options{Log: quiet})
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	b := New("b", cfg, Options{Log: quiet})
	err := b.Start()
	if !errors.Is(err, vfs.ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("process %d", os.Getpid())) {
		t.Fatalf("second Start = %v, want ErrLocked naming process %d", err, os.Getpid())
	}
	if b.counter.Unhealthy.Load() != 1 || b.counter.Closed.Load() != 1 {
		t.Fatalf("failed channel: Unhealthy %d Closed %d", b.counter.Unhealthy.Load(), b.counter.Closed.Load())
	}
	a.Stop()
	if err := b.Start(); err != nil {
		t.Fatalf("Start after the holder stopped: %v", err)
	}
	b.Stop()
}

func TestFlumeFilesRefused(t *testing.T) {
	for _, f := range []string{"/t/data/log-3", "/t/data/log-3.meta", "/t/checkpoint/checkpoint"} {
		mem := vfs.NewMem(nil)
		mem.MkdirAll(path.Dir(f), 0o755)
		h, _ := vfs.Create(mem, f)
		h.Close()
		ch := New("c1", testConfig("/t", 10, 10), Options{FS: mem, Log: quiet})
		err := ch.Start()
		if err == nil || !strings.Contains(err.Error(), "Apache Flume") || !strings.Contains(err.Error(), f) {
			t.Fatalf("%s: Start = %v, want an error naming the Flume file", f, err)
		}
	}
}

// TestSegmentsDeletedAsConsumed: with events flowing through, fully
// consumed segments are deleted, so the log stays near the backlog.
func TestSegmentsDeletedAsConsumed(t *testing.T) {
	mem := vfs.NewMem(nil)
	cfg := testConfig("/t", 10000, 100)
	cfg.SegmentSize = 16 << 10
	ch := start(t, mem, cfg)
	body := make([]byte, 200)
	batch := make([]event.Event, 50)
	for i := range batch {
		batch[i] = event.New(body)
	}
	for i := 0; i < 400; i++ { // 20,000 events, ~4.6 MB through the log
		channeltest.Put(t, ch, batch)
		if i >= 4 {
			channeltest.Take(t, ch, 50)
		}
	}
	backlog := int64(ch.Len()) * int64(eventSize(batch[0]))
	limit := backlog + 4*cfg.checkpointBytes() + cfg.SegmentSize
	if b := ch.logBytes.Load(); b > limit {
		t.Fatalf("log holds %d bytes for a backlog of %d bytes (limit %d)", b, backlog, limit)
	}
	if files := segFiles(t, mem, cfg); len(files) > int(limit/cfg.SegmentSize)+2 {
		t.Fatalf("%d segment files left: %v", len(files), files)
	}
}

// TestLostSegmentDeletion: a segment deleted after a checkpoint whose
// deletion a crash undid (directory not synced) is recognised and removed,
// not replayed as if new.
func TestLostSegmentDeletion(t *testing.T) {
	mem := vfs.NewMem(nil)
	faulty := vfs.NewFaulty(mem)
	cfg := testConfig("/t", 1000, 100)
	cfg.SegmentSize = 1024 // a segment per commit
	cfg.CheckpointBytes = 1 << 30
	ch := start(t, faulty, cfg)
	for i := 0; i < 10; i++ {
		channeltest.Put(t, ch, evs("a", i*10, 10))
	}
	channeltest.Take(t, ch, 90)
	faulty.Fail(vfs.OpSyncDir, "/t/data", errInjected, -1)
	before := segFiles(t, mem, cfg)
	if err := ch.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if after := segFiles(t, mem, cfg); len(after) >= len(before) {
		t.Fatalf("no segment deleted: %v", after)
	}
	// A later checkpoint no longer lists them.
	if err := ch.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	mem.Crash(nil) // the deletions come back
	if back := segFiles(t, mem, cfg); len(back) != len(before) {
		t.Fatalf("expected the deleted segments back after the crash: %v", back)
	}
	ch = start(t, mem, cfg)
	wantQueue(t, ch, names("a", 90, 10))
	if left := segFiles(t, mem, cfg); len(left) >= len(before) {
		t.Fatalf("resurrected segments not removed: %v (before the checkpoint: %v)", left, before)
	}
}

// TestCheckpointRecovery: a clean stop checkpoints, and the next start
// reads no log; a damaged checkpoint falls back to the backup, or to a full
// replay that loses nothing.
func TestCheckpointRecovery(t *testing.T) {
	setup := func(dual bool) (*vfs.Mem, Config) {
		mem := vfs.NewMem(nil)
		cfg := testConfig("/t", 1000, 100)
		cfg.SegmentSize = 2048
		if dual {
			cfg.UseDualCheckpoints, cfg.BackupCheckpointDir = true, "/t/backup"
		}
		ch := start(t, mem, cfg)
		for i := 0; i < 10; i++ {
			channeltest.Put(t, ch, evs("a", i*10, 10))
		}
		channeltest.Take(t, ch, 25)
		if err := ch.Stop(); err != nil {
			t.Fatal(err)
		}
		return mem, cfg
	}
	want := names("a", 25, 75)

	t.Run("clean", func(t *testing.T) {
		mem, cfg := setup(false)
		ch := start(t, mem, cfg)
		if ch.lastOpen.records != 0 {
			t.Fatalf("replayed %d records after a clean stop", ch.lastOpen.records)
		}
		wantQueue(t, ch, want)
	})
	damage := func(mem *vfs.Mem, p string) {
		f, _ := mem.OpenFile(p, os.O_RDWR, 0)
		f.WriteAt([]byte{0xff, 0xff}, 40)
		f.Sync()
		f.Close()
	}
	t.Run("backup", func(t *testing.T) {
		mem, cfg := setup(true)
		damage(mem, "/t/checkpoint/"+checkpointName)
		ch := start(t, mem, cfg)
		if ch.lastOpen.checkpoint != "/t/backup/"+checkpointName {
			t.Fatalf("recovered from %q, want the backup", ch.lastOpen.checkpoint)
		}
		wantQueue(t, ch, want)
		if !vfs.Exists(mem, "/t/checkpoint/"+checkpointName+".corrupt") {
			t.Fatal("the damaged checkpoint was not kept")
		}
	})
	t.Run("full replay", func(t *testing.T) {
		mem, cfg := setup(false)
		damage(mem, "/t/checkpoint/"+checkpointName)
		ch := start(t, mem, cfg)
		if !strings.HasPrefix(ch.lastOpen.checkpoint, "none") {
			t.Fatalf("recovered from %q, want a full replay", ch.lastOpen.checkpoint)
		}
		// Takes in deleted segments are forgotten, so some taken events may
		// come back; committed, untaken events are all there.
		got := map[string]bool{}
		for _, b := range peekAll(t, ch) {
			got[b] = true
		}
		for _, w := range want {
			if !got[w] {
				t.Fatalf("%s lost in a full replay", w)
			}
		}
	})
}

// TestMissingDataDir: a checkpoint that needs a segment from a directory no
// longer in dataDirs refuses to start and says what to do.
func TestMissingDataDir(t *testing.T) {
	mem := vfs.NewMem(nil)
	cfg := testConfig("/t", 100, 10)
	cfg.DataDirs = []string{"/t/d1", "/t/d2"}
	ch := start(t, mem, cfg)
	for i := 0; i < 4; i++ {
		channeltest.Put(t, ch, evs("a", i, 1))
	}
	ch.Stop()
	cfg.DataDirs = []string{"/t/d1"}
	ch = New("c1", cfg, Options{FS: mem, Log: quiet})
	err := ch.Start()
	if err == nil || !strings.Contains(err.Error(), "none of dataDirs") || !strings.Contains(err.Error(), "add it back") {
		t.Fatalf("Start without a data directory = %v", err)
	}
}

// checkedFS fails the test if a segment is ever written below the length
// already synced: records are appended, never rewritten, which is what lets
// recovery trust a synced prefix (FORMAT.md, assumption 4).
type checkedFS struct {
	vfs.FS
	t      testing.TB
	synced map[string]int64
}

type checkedFile struct {
	vfs.File
	fs   *checkedFS
	name string
	size int64
}

func (c *checkedFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &checkedFile{File: f, fs: c, name: name}, nil
}

func (f *checkedFile) WriteAt(p []byte, off int64) (int, error) {
	// Not only below the synced length: not even into the block holding
	// its last bytes, so no torn write can damage what was synced.
	synced := f.fs.synced[f.name]
	if _, ok := parseSegName(path.Base(f.name)); ok && synced > 0 && off < (synced+blockSize-1)/blockSize*blockSize {
		f.fs.t.Errorf("write to %s at %d, into a block holding synced bytes (synced length %d)", f.name, off, synced)
	}
	return f.File.WriteAt(p, off)
}

func (f *checkedFile) Sync() error {
	err := f.File.Sync()
	if err == nil {
		fi, _ := f.File.Stat()
		f.fs.synced[f.name] = fi.Size()
	}
	return err
}

func (f *checkedFile) Truncate(n int64) error {
	err := f.File.Truncate(n)
	if err == nil && n < f.fs.synced[f.name] {
		f.fs.synced[f.name] = n
	}
	return err
}

func TestNeverRewritesSyncedBytes(t *testing.T) {
	mem := vfs.NewMem(nil)
	faulty := vfs.NewFaulty(mem)
	fsys := &checkedFS{FS: faulty, t: t, synced: map[string]int64{}}
	cfg := testConfig("/t", 1000, 20)
	cfg.SegmentSize = 64 << 10 // many commits per segment, and rolls
	ch := start(t, fsys, cfg)
	rng := rand.New(rand.NewPCG(3, 3))
	for i := 0; i < 500; i++ {
		if rng.IntN(10) == 0 {
			faulty.Fail([]vfs.Op{vfs.OpWrite, vfs.OpSync}[rng.IntN(2)], "/t/data", errInjected, 1)
		}
		commitPut(ch, evs("a", i*5, 5))
		tx, _ := ch.Begin()
		tx.Take(rng.IntN(8))
		if tx.Commit() != nil {
			tx.Rollback()
		}
	}
}

// TestUnsyncedMode: without fsyncPerTransaction commits return before the
// fsync, UnsyncedEventCount says how many events a crash would lose, and
// the fsyncInterval (on the clock) bounds it.
func TestUnsyncedMode(t *testing.T) {
	mem := vfs.NewMem(nil)
	clk := clock.NewManual(time.Unix(0, 0))
	cfg := testConfig("/t", 1000, 100)
	cfg.FsyncPerTransaction = false
	cfg.FsyncInterval = 5 * time.Second
	ch := New("c1", cfg, Options{FS: mem, Clock: clk, Log: quiet})
	if err := ch.Start(); err != nil {
		t.Fatal(err)
	}
	defer ch.Stop()
	if ch.fsyncGauge.Load() != 0 {
		t.Fatal("FsyncPerTransaction gauge is 1")
	}
	channeltest.Put(t, ch, evs("a", 0, 3))
	if n := ch.unsyncedEvents(); n != 3 {
		t.Fatalf("UnsyncedEventCount = %d, want 3", n)
	}
	// The background ticker fires on the clock and syncs.
	if err := clk.WaitForWaiters(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for ch.unsyncedEvents() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the fsyncInterval tick did not sync")
		}
		time.Sleep(time.Millisecond)
	}
	channeltest.Put(t, ch, evs("b", 0, 2))
	mem.Crash(nil)
	ch2 := start(t, mem, cfg)
	wantQueue(t, ch2, names("a", 0, 3)) // b was committed but never synced
}

// TestRecoverySyncsWhatItReplays: a process that dies without a power cut
// leaves written but unsynced records in the page cache, and the next one
// replays them. Before its checkpoint counts them as applied they must be
// made durable, or a later power cut leaves the checkpoint pointing at
// nothing (FORMAT.md, assumption 9).
func TestRecoverySyncsWhatItReplays(t *testing.T) {
	mem := vfs.NewMem(nil)
	cfg := testConfig("/t", 100, 20)
	cfg.FsyncPerTransaction = false
	first := start(t, mem, cfg)
	channeltest.Put(t, first, evs("a", 0, 5)) // written, not synced
	first.closeFiles()                        // the process dies; the machine does not
	cfg.FsyncPerTransaction = true
	second := start(t, mem, cfg)
	wantQueue(t, second, names("a", 0, 5))
	mem.Crash(nil) // now the power goes
	third := start(t, mem, cfg)
	wantQueue(t, third, names("a", 0, 5))
	if n := third.corruptEvents.Load(); n != 0 {
		t.Fatalf("%d events dropped after the power cut", n)
	}
}

// TestResyncIgnoresEmbeddedRecords: after a damaged record, recovery
// searches for the next one. An event body holding a copy of a valid record
// (a tailed log of another channel, say) must not be taken for it: a header
// names its own segment and offset (FORMAT.md, assumption 7).
func TestResyncIgnoresEmbeddedRecords(t *testing.T) {
	mem := vfs.NewMem(nil)
	cfg := testConfig("/t", 100, 20)
	ch := start(t, mem, cfg)
	seg := activeSegment(t, mem, cfg)
	aAt := fileSize(t, mem, seg)
	channeltest.Put(t, ch, evs("a", 0, 2))
	bAt := fileSize(t, mem, seg)
	copyOfA := make([]byte, bAt-aAt)
	f, _ := mem.OpenFile(seg, os.O_RDONLY, 0)
	f.ReadAt(copyOfA, aAt)
	f.Close()
	channeltest.Put(t, ch, []event.Event{{Body: copyOfA}})
	channeltest.Put(t, ch, evs("c", 0, 1))
	mem.Crash(nil)
	f, _ = mem.OpenFile(seg, os.O_RDWR, 0)
	f.WriteAt([]byte{0xff}, bAt+1) // damage B's header
	f.Sync()
	f.Close()
	ch = start(t, mem, cfg)
	wantQueue(t, ch, []string{"a-0", "a-1", "c-0"})
	if n := ch.corruptRecords.Load(); n != 1 {
		t.Fatalf("CorruptRecordsSkipped = %d, want 1", n)
	}
}

// TestStartOnFullDisk: a channel restarted while its disk is full starts,
// with its queue; puts are refused as full, takes can be read but their
// commits fail until space returns; then everything works and nothing was
// lost.
func TestStartOnFullDisk(t *testing.T) {
	mem := vfs.NewMem(nil)
	cfg := testConfig("/t", 100, 20)
	ch := start(t, mem, cfg)
	channeltest.Put(t, ch, evs("a", 0, 6))
	ch.Stop()
	mem.SetCapacity(mem.Used())
	ch = start(t, mem, cfg)
	wantQueue(t, ch, names("a", 0, 6))
	if err := commitPut(ch, evs("x", 0, 1)); !errors.Is(err, channel.ErrFull) {
		t.Fatalf("put on a full disk = %v, want ErrFull", err)
	}
	tx, _ := ch.Begin()
	if got, err := tx.Take(2); err != nil || len(got) != 2 {
		t.Fatalf("take on a full disk = %d, %v", len(got), err)
	}
	if err := tx.Commit(); !errors.Is(err, vfs.ErrNoSpace) {
		t.Fatalf("take commit on a full disk = %v, want ENOSPC", err)
	}
	tx.Rollback()
	mem.SetCapacity(0)
	channeltest.Take(t, ch, 2)
	channeltest.Put(t, ch, evs("b", 0, 1))
	mem.Crash(nil)
	ch = start(t, mem, cfg)
	wantQueue(t, ch, append(names("a", 2, 4), "b-0"))
}

// TestStartWithFailingSyncs: fsyncs failing while the channel recovers do
// not keep it from starting; the checkpoint that would count the replayed
// log as applied waits until the log can be synced.
func TestStartWithFailingSyncs(t *testing.T) {
	mem := vfs.NewMem(nil)
	faulty := vfs.NewFaulty(mem)
	cfg := testConfig("/t", 100, 20)
	ch := start(t, faulty, cfg)
	channeltest.Put(t, ch, evs("a", 0, 3))
	channeltest.Take(t, ch, 1)
	ch.closeFiles() // dies without a checkpoint: the log tail must be replayed
	faulty.Fail(vfs.OpSync, "/t/data", errInjected, -1)
	ch = start(t, faulty, cfg)
	wantQueue(t, ch, names("a", 1, 2))
	if ch.counter.CheckpointWriteErrorCount.Load() == 0 {
		t.Fatal("the post-recovery checkpoint was written although the replayed log could not be synced")
	}
	faulty.Clear()
	if err := ch.Checkpoint(); err != nil {
		t.Fatalf("checkpoint once syncs work: %v", err)
	}
	channeltest.Put(t, ch, evs("b", 0, 1))
	mem.Crash(nil)
	ch = start(t, mem, cfg)
	wantQueue(t, ch, append(names("a", 1, 2), "b-0"))
}
