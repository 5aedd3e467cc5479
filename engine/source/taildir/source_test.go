package taildir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/source"
	"github.com/sluicehq/sluice/engine/vfs"
)

func TestLinesCRLFEmptyAndPartial(t *testing.T) {
	r := newRig(t, `app\.log`, func(c *Config) { c.IdleTimeout = time.Minute })
	r.write("/logs/app.log", "one\ntwo\r\n\nthree\r\nfour-partial")
	r.start()
	r.poll()
	r.expect("one", "two", "", "three")
	// The partial line waits for its newline...
	r.write("/logs/app.log", "-done\nfive")
	r.poll()
	r.expect("one", "two", "", "three", "four-partial-done")
	// ...or for the file to go idle, when it is delivered as Flume does.
	r.clk.Advance(time.Minute)
	r.poll()
	r.expect("one", "two", "", "three", "four-partial-done", "five")
	if n := r.counter("PartialLineFlushCount"); n != 1 {
		t.Fatalf("PartialLineFlushCount = %d, want 1", n)
	}
	if n := r.counter("OpenFileCount"); n != 0 {
		t.Fatalf("idle file still open: OpenFileCount = %d", n)
	}
	// A closed file is reopened when it grows.
	r.write("/logs/app.log", "six\n")
	r.poll()
	r.expect("one", "two", "", "three", "four-partial-done", "five", "six")
	if got := r.counter("EventAcceptedCount"); got != 7 {
		t.Fatalf("EventAcceptedCount = %d, want 7", got)
	}
}

func TestRenameWithinGroupKeepsPosition(t *testing.T) {
	r := newRig(t, `app\.log.*`)
	r.write("/logs/app.log", text(lines("a", 1, 3)))
	r.start()
	r.poll()
	r.write("/logs/app.log", text(lines("a", 4, 5)))
	r.rename("/logs/app.log", "/logs/app.log.1")
	r.write("/logs/app.log", text(lines("b", 1, 2)))
	r.poll()
	r.poll()
	r.expect(append(lines("a", 1, 5), lines("b", 1, 2)...)...)
	if n := r.counter("FileRenameCount"); n != 1 {
		t.Fatalf("FileRenameCount = %d, want 1", n)
	}
	// And across a restart, the renamed file keeps its position too.
	r.restart()
	r.poll()
	r.expect(append(lines("a", 1, 5), lines("b", 1, 2)...)...)
}

func TestRenameOutOfGroupIsReadToTheEnd(t *testing.T) {
	r := newRig(t, `app\.log`, func(c *Config) { c.IdleTimeout = 30 * time.Second })
	r.write("/logs/app.log", text(lines("a", 1, 2)))
	r.start()
	r.poll()
	r.write("/logs/app.log", "a3\n")
	r.rename("/logs/app.log", "/logs/app.log.1")
	// The writer still holds the old file for a moment after the rename.
	r.write("/logs/app.log.1", "a4\n")
	r.write("/logs/app.log", "b1\n")
	r.poll()
	r.expect("a1", "a2", "a3", "a4", "b1")
	r.write("/logs/app.log.1", "a5-late\n")
	r.poll()
	r.expect("a1", "a2", "a3", "a4", "b1", "a5-late")
	// Once idle, the rotated file is closed and forgotten.
	r.clk.Advance(time.Minute)
	r.poll()
	if n := r.counter("TrackedFileCount"); n != 1 {
		t.Fatalf("TrackedFileCount = %d, want 1 (only app.log)", n)
	}
	if n := r.counter("OpenFileCount"); n != 0 {
		t.Fatalf("OpenFileCount = %d, want 0", n)
	}
}

func TestDeletedFileIsReadThroughItsHandle(t *testing.T) {
	r := newRig(t, `app\.log`, func(c *Config) { c.IdleTimeout = 30 * time.Second })
	r.write("/logs/app.log", "a1\n")
	r.start()
	r.poll()
	r.write("/logs/app.log", "a2\na3\n")
	r.remove("/logs/app.log")
	r.write("/logs/app.log", "b1\n") // delete and recreate
	r.poll()
	r.expect("a1", "a2", "a3", "b1")
	if n := r.counter("FileDeleteCount"); n != 1 {
		t.Fatalf("FileDeleteCount = %d, want 1", n)
	}
	r.clk.Advance(time.Minute)
	r.poll()
	if n := r.counter("OpenFileCount"); n != 0 {
		t.Fatalf("deleted file's handle not released: OpenFileCount = %d", n)
	}
}

func TestCopyTruncateRestartsAtZero(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after []string // written after the truncation, before the next poll
	}{
		{"shorter than the old position", lines("b", 1, 2)},
		// Regrown past the old position before the poll: only the
		// fingerprint can tell (Flume loses these lines, §5.1 (c)).
		{"regrown past the old position", lines("bb", 1, 40)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, `app\.log`)
			r.write("/logs/app.log", text(lines("a", 1, 10)))
			r.start()
			r.poll()
			r.copyTruncate("/logs/app.log", "/logs/app.log.1")
			r.write("/logs/app.log", text(tc.after))
			r.poll()
			r.expect(append(lines("a", 1, 10), tc.after...)...)
			if n := r.counter("FileTruncateCount"); n != 1 {
				t.Fatalf("FileTruncateCount = %d, want 1", n)
			}
		})
	}
}

func TestInodeReuseIsANewFile(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			r := newRig(t, `app\.log`, func(c *Config) { c.IdleTimeout = time.Second })
			rfs := &reuseFS{Mem: r.mem, alias: map[uint64]uint64{}}
			r.fs = rfs
			r.write("/logs/app.log", text(lines("old", 1, 20)))
			r.start()
			r.poll()
			oldIno := statIno(t, r.fs, "/logs/app.log")
			// Idle: the handle is closed, so the inode can be reused.
			r.clk.Advance(2 * time.Second)
			r.poll()
			if restart {
				r.stop()
			}
			r.remove("/logs/app.log")
			r.write("/logs/app.log", text(lines("new", 1, 25)))
			rfs.alias[statIno(t, r.mem, "/logs/app.log")] = oldIno
			if statIno(t, r.fs, "/logs/app.log") != oldIno {
				t.Fatal("test FS did not reuse the inode")
			}
			if restart {
				r.start()
			}
			r.poll()
			r.expect(append(lines("old", 1, 20), lines("new", 1, 25)...)...)
		})
	}
}

func TestRotationsWhileStopped(t *testing.T) {
	t.Run("pattern matches rotated names", func(t *testing.T) {
		r := newRig(t, `app\.log(\.\d+)?`)
		r.write("/logs/app.log", text(lines("g1-", 1, 5)))
		r.start()
		r.poll()
		r.stop()
		// Two rotations while down, with lines in every generation.
		r.write("/logs/app.log", text(lines("g1-", 6, 8)))
		r.rename("/logs/app.log", "/logs/app.log.1")
		r.write("/logs/app.log", text(lines("g2-", 1, 4)))
		r.rename("/logs/app.log.1", "/logs/app.log.2")
		r.rename("/logs/app.log", "/logs/app.log.1")
		r.write("/logs/app.log", text(lines("g3-", 1, 3)))
		r.start()
		r.poll()
		got := r.rec.bodies()
		want := append(append(lines("g1-", 1, 8), lines("g2-", 1, 4)...), lines("g3-", 1, 3)...)
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("got %q\nwant %q", got, want)
		}
	})
	t.Run("rotated name outside the group", func(t *testing.T) {
		r := newRig(t, `app\.log`)
		r.write("/logs/app.log", text(lines("g1-", 1, 5)))
		r.start()
		r.poll()
		r.stop()
		r.write("/logs/app.log", text(lines("g1-", 6, 8)))
		r.rename("/logs/app.log", "/logs/app.log.1")
		r.rename("/logs/app.log.1", "/logs/app.log.2")
		r.write("/logs/app.log", text(lines("g2-", 1, 4)))
		r.start()
		r.poll()
		r.expect(append(lines("g1-", 1, 8), lines("g2-", 1, 4)...)...)
	})
}

func TestFullChannelRereadsFromCommittedPosition(t *testing.T) {
	r := newRig(t, `app\.log`, func(c *Config) { c.BatchSize = 3 })
	r.write("/logs/app.log", text(lines("l", 1, 4)))
	r.start()
	r.poll()
	r.expect(lines("l", 1, 4)...)
	r.rec.setFull(true)
	r.write("/logs/app.log", text(lines("l", 5, 11)))
	if st := r.poll(); st != source.Backoff {
		t.Fatalf("status %v with a full channel, want Backoff", st)
	}
	if r.src.Wake() != nil {
		t.Fatal("Wake must not fire while the channel is full")
	}
	r.clk.Advance(time.Hour) // positions are written, but not past the commit
	r.poll()
	pos := savedPositions(t, r)
	if pos["/logs/app.log"] != int64(len(text(lines("l", 1, 4)))) {
		t.Fatalf("saved position %d advanced past the last commit", pos["/logs/app.log"])
	}
	if n := r.counter("ChannelWriteFail"); n != 2 {
		t.Fatalf("ChannelWriteFail = %d, want 2", n)
	}
	r.rec.setFull(false)
	r.poll()
	r.expect(lines("l", 1, 11)...)
	if got, want := r.counter("EventReceivedCount"), int64(4+3+3+7); got != want {
		t.Fatalf("EventReceivedCount = %d, want %d (refused batches count as received)", got, want)
	}
	if got := r.counter("EventAcceptedCount"); got != 11 {
		t.Fatalf("EventAcceptedCount = %d, want 11", got)
	}
}

func savedPositions(t *testing.T, r *rig) map[string]int64 {
	t.Helper()
	data, err := vfs.ReadFile(r.fs, r.cfg.PositionFile)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := decodeFlume(data)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, p := range ps {
		out[p.File] = p.Pos
	}
	return out
}

func TestLongLines(t *testing.T) {
	long := strings.Repeat("x", 25)
	t.Run("split", func(t *testing.T) {
		r := newRig(t, `app\.log`, func(c *Config) { c.MaxLineLength = 10 })
		r.write("/logs/app.log", "short\n"+long+"\nexact10chr\n")
		r.start()
		r.poll()
		evs := r.rec.all()
		var got []string
		for _, e := range evs {
			got = append(got, string(e.Body)+"/"+e.Headers[LongLineHeader])
		}
		want := []string{"short/", "xxxxxxxxxx/split-1", "xxxxxxxxxx/split-2", "xxxxx/split-3-last", "exact10chr/"}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("got %q, want %q", got, want)
		}
		if n := r.counter("LongLineSplitCount"); n != 1 {
			t.Fatalf("LongLineSplitCount = %d", n)
		}
	})
	t.Run("truncate", func(t *testing.T) {
		r := newRig(t, `app\.log`, func(c *Config) { c.MaxLineLength = 10; c.LongLines = Truncate })
		// The long line arrives in pieces; the discarded tail spans polls.
		r.write("/logs/app.log", "short\n"+long)
		r.start()
		r.poll()
		r.write("/logs/app.log", long+"\nnext\n")
		r.poll()
		evs := r.rec.all()
		var got []string
		for _, e := range evs {
			got = append(got, string(e.Body)+"/"+e.Headers[LongLineHeader])
		}
		want := []string{"short/", "xxxxxxxxxx/truncated", "next/"}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("got %q, want %q", got, want)
		}
		if n := r.counter("LongLineTruncateCount"); n != 1 {
			t.Fatalf("LongLineTruncateCount = %d", n)
		}
	})
}

func TestHeaders(t *testing.T) {
	r := newRig(t, `app\.log`, func(c *Config) {
		c.ByteOffsetHeader = true
		c.FileHeader = true
		c.FileHeaderKey = "path"
		c.Groups[0].Headers = map[string]string{"topic": "trades"}
	})
	r.write("/logs/app.log", "ab\ncde\n")
	r.start()
	r.poll()
	evs := r.rec.all()
	if len(evs) != 2 {
		t.Fatalf("got %d events", len(evs))
	}
	for i, off := range []string{"0", "3"} {
		h := evs[i].Headers
		if h["byteoffset"] != off || h["path"] != "/logs/app.log" || h["topic"] != "trades" || len(h) != 3 {
			t.Fatalf("event %d headers %v", i, h)
		}
	}
}

func TestSkipToEnd(t *testing.T) {
	r := newRig(t, `.*\.log`, func(c *Config) { c.SkipToEnd = true })
	r.write("/logs/a.log", "old1\nold2\n")
	r.start()
	r.poll()
	r.write("/logs/a.log", "new1\n")
	r.write("/logs/b.log", "b-from-start\n") // found later: read from 0, as Flume
	r.poll()
	r.expect("new1", "b-from-start")
}

func TestMaxBatchCountReturnsReady(t *testing.T) {
	r := newRig(t, `app\.log`, func(c *Config) { c.BatchSize = 2; c.MaxBatchCount = 2 })
	r.write("/logs/app.log", text(lines("l", 1, 9)))
	r.start()
	if st := r.poll(); st != source.Ready {
		t.Fatalf("status %v, want Ready with lines left", st)
	}
	r.expect(lines("l", 1, 4)...)
	r.poll()
	r.poll()
	if st := r.poll(); st != source.Backoff {
		t.Fatalf("status %v, want Backoff once drained", st)
	}
	r.expect(lines("l", 1, 9)...)
}

func TestRestartResumesExactly(t *testing.T) {
	r := newRig(t, `.*\.log`)
	r.write("/logs/a.log", text(lines("a", 1, 3)))
	r.write("/logs/b.log", text(lines("b", 1, 2)))
	r.start()
	r.poll()
	r.stop()
	r.write("/logs/a.log", "a4\n")
	r.start()
	r.poll()
	got := strings.Join(r.rec.bodies(), " ")
	if strings.Count(got, "a1") != 1 || !strings.HasSuffix(got, "a4") || len(r.rec.bodies()) != 6 {
		t.Fatalf("got %s", got)
	}
}

func TestManyRotationsKeepHandlesBounded(t *testing.T) {
	r := newRig(t, `app\.log`, func(c *Config) { c.IdleTimeout = 100 * time.Millisecond })
	r.start()
	maxOpen := int64(0)
	n := 0
	for i := 0; i < 2000; i++ {
		r.write("/logs/app.log", fmt.Sprintf("l%d\n", i))
		n++
		r.poll()
		if i%2 == 1 {
			// Rotate over the previous rotated file, whose name (and, if
			// the source still had it open, whose last link) goes away.
			r.write("/logs/app.log", fmt.Sprintf("l%d-after\n", i))
			n++
			r.rename("/logs/app.log", "/logs/app.log.old")
		}
		maxOpen = max(maxOpen, r.counter("OpenFileCount"))
	}
	r.poll() // sees the last rotation
	r.clk.Advance(time.Second)
	r.poll()
	if got := r.rec.bodies(); len(got) != n {
		seen := map[string]bool{}
		for _, b := range got {
			seen[b] = true
		}
		for i := 0; i < 2000; i++ {
			if !seen[fmt.Sprintf("l%d", i)] {
				t.Errorf("line l%d missing", i)
			}
		}
		t.Fatalf("delivered %d lines, want %d", len(got), n)
	}
	// idleTimeout is 10 polls: at most ~5 rotated files plus the live one.
	if maxOpen > 12 {
		t.Fatalf("OpenFileCount reached %d over 1000 rotations", maxOpen)
	}
	if open, tracked := r.counter("OpenFileCount"), r.counter("TrackedFileCount"); open != 0 || tracked != 0 {
		t.Fatalf("after idle: open %d tracked %d, want 0 and 0 (app.log was rotated away last)", open, tracked)
	}
}

func TestMissingDirectoryIsFollowedOnceCreated(t *testing.T) {
	r := newRig(t, `app\.log`)
	r.cfg = testConfig(t, "/later/app.log", "/state/pos.json")
	r.start()
	r.poll()
	if err := r.fs.MkdirAll("/later", 0o755); err != nil {
		t.Fatal(err)
	}
	r.write("/later/app.log", "hello\n")
	r.poll()
	r.expect("hello")
}

func TestCopyTruncateReadsUnreadLinesFromTheCopy(t *testing.T) {
	long := padded("x")
	for _, stopped := range []bool{false, true} {
		t.Run(fmt.Sprintf("stopped=%v", stopped), func(t *testing.T) {
			r := newRig(t, `app\.log`)
			r.write("/logs/app.log", text(long("a", 100, 199)))
			r.start()
			r.poll()
			r.restart() // positions (and the bytes before them) saved
			if stopped {
				r.stop()
			}
			r.write("/logs/app.log", text(long("a", 200, 249))) // never read before the truncation
			// A decoy with the same first bytes but other content after,
			// newer than the copy: only the bytes before the position tell.
			decoy, _ := vfs.ReadFile(r.fs, "/logs/app.log")
			r.copyTruncate("/logs/app.log", "/logs/app.log.1")
			r.write("/logs/decoy", string(decoy[:2000])+text(long("z", 100, 199)))
			r.write("/logs/app.log", text(long("b", 100, 102)))
			if stopped {
				r.start()
			}
			r.poll()
			r.poll()
			got := r.rec.bodies()
			want := append(long("a", 100, 249), long("b", 100, 102)...)
			if len(got) != len(want) {
				t.Fatalf("delivered %d lines, want %d: %q", len(got), len(want), got)
			}
			seen := map[string]bool{}
			for _, g := range got {
				seen[g] = true
			}
			for _, w := range want {
				if !seen[w] {
					t.Fatalf("missing %s; got %q", w, got)
				}
			}
			if n := r.counter("CopyRecoveredCount"); n != 1 {
				t.Fatalf("CopyRecoveredCount = %d, want 1", n)
			}
		})
	}
}

func TestUnreadableDirectoryForgetsNothing(t *testing.T) {
	r := newRig(t, `.*\.log`, func(c *Config) { c.IdleTimeout = time.Second })
	b := &blindFS{Mem: r.mem}
	r.fs = b
	r.write("/logs/a.log", "a1\n")
	r.write("/logs/b.log", "b1\n")
	r.start()
	r.poll()
	r.clk.Advance(2 * time.Second)
	r.poll() // both idle and closed: only their positions remain
	b.blind = true
	for range 3 {
		r.poll()
	}
	b.blind = false
	r.write("/logs/a.log", "a2\n")
	r.poll()
	got := strings.Join(r.rec.bodies(), " ")
	if got != "a1 b1 a2" && got != "b1 a1 a2" {
		t.Fatalf("after the directory came back: %s (a file re-read means its position was forgotten)", got)
	}
	if n := r.counter("FileDeleteCount"); n != 0 {
		t.Fatalf("FileDeleteCount = %d: an unreadable directory is not a deleted file", n)
	}
}

func TestLongLineAtTheDefaultLimit(t *testing.T) {
	r := newRig(t, `app\.log`)
	huge := strings.Repeat("0123456789", DefaultMaxLineLength/4) // 2.5 MiB
	r.write("/logs/app.log", "a\n"+huge[:len(huge)/3])
	r.start()
	r.poll()
	r.write("/logs/app.log", huge[len(huge)/3:]+"\nb\n")
	r.poll()
	evs := r.rec.all()
	var sizes []string
	var joined strings.Builder
	for _, e := range evs {
		sizes = append(sizes, fmt.Sprintf("%d/%s", len(e.Body), e.Headers[LongLineHeader]))
		if e.Headers[LongLineHeader] != "" {
			joined.Write(e.Body)
		}
	}
	want := fmt.Sprintf("1/ %d/split-1 %d/split-2 %d/split-3-last 1/", DefaultMaxLineLength, DefaultMaxLineLength, len(huge)-2*DefaultMaxLineLength)
	if strings.Join(sizes, " ") != want || joined.String() != huge {
		t.Fatalf("events %v, want %s (pieces rejoined equal: %v)", sizes, want, joined.String() == huge)
	}
}

func TestCopyTruncateWithCopiesInTheGroup(t *testing.T) {
	long := padded("y")
	t.Run("copy and truncate between polls", func(t *testing.T) {
		r := newRig(t, `app\.log.*`)
		r.write("/logs/app.log", text(long("a", 100, 199)))
		r.start()
		r.poll()
		r.write("/logs/app.log", text(long("a", 200, 249)))
		r.copyTruncate("/logs/app.log", "/logs/app.log.1")
		r.write("/logs/app.log", text(long("b", 100, 102)))
		r.poll()
		r.poll()
		r.expectOnce(append(long("a", 100, 249), long("b", 100, 102)...))
	})
	t.Run("copy seen before the truncation", func(t *testing.T) {
		r := newRig(t, `app\.log.*`)
		r.write("/logs/app.log", text(long("a", 100, 199)))
		r.start()
		r.poll()
		r.write("/logs/app.log", text(long("a", 200, 249)))
		data, _ := vfs.ReadFile(r.fs, "/logs/app.log")
		r.write("/logs/app.log.1", string(data)) // the copy is seen
		r.poll()
		// Lines written between the copy and the truncation are only in
		// the original: read from it, and not again from the copy.
		r.write("/logs/app.log", text(long("a", 250, 259)))
		r.poll()
		fh, err := r.fs.OpenFile("/logs/app.log", os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fh.Truncate(0)
		fh.Close()
		r.write("/logs/app.log", text(long("b", 100, 102)))
		r.poll()
		r.poll()
		r.expectOnce(append(long("a", 100, 259), long("b", 100, 102)...))
	})
	t.Run("a plain copy is never read", func(t *testing.T) {
		r := newRig(t, `app\.log.*`, func(c *Config) { c.IdleTimeout = time.Second })
		r.write("/logs/app.log", text(long("a", 100, 199)))
		r.start()
		r.poll()
		data, _ := vfs.ReadFile(r.fs, "/logs/app.log")
		r.write("/logs/app.log.bak", string(data))
		r.poll()
		r.write("/logs/app.log", text(long("a", 200, 209)))
		r.poll()
		r.rename("/logs/app.log", "/logs/gone") // rotated away, read to its end and forgotten
		r.poll()
		r.clk.Advance(2 * time.Second)
		r.poll()
		r.poll()
		r.expectOnce(long("a", 100, 209))
	})
}

// A copy is written over time (logrotate copies with read and write
// calls), so a scan can see it empty or half written. It is still a copy:
// nothing of it may be delivered again.
func TestCopyTruncateCopySeenWhileBeingWritten(t *testing.T) {
	long := padded("w")
	for _, seen := range []int{0, 1, 500, 1500, 2500} {
		t.Run(fmt.Sprintf("seen at %d bytes", seen), func(t *testing.T) {
			r := newRig(t, `app\.log.*`)
			r.write("/logs/app.log", text(long("a", 100, 199)))
			r.start()
			r.poll()
			data, _ := vfs.ReadFile(r.fs, "/logs/app.log")
			if seen >= len(data) {
				t.Fatalf("file is only %d bytes", len(data))
			}
			r.write("/logs/app.log.1", string(data[:seen]))
			r.poll() // the copy is seen while copytruncate writes it
			r.write("/logs/app.log.1", string(data[seen:]))
			fh, err := r.fs.OpenFile("/logs/app.log", os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			fh.Truncate(0)
			fh.Close()
			r.write("/logs/app.log", text(long("b", 100, 102)))
			r.poll()
			r.poll()
			r.clk.Advance(time.Minute) // idle: everything closed and flushed
			r.poll()
			r.poll()
			r.expectOnce(append(long("a", 100, 199), long("b", 100, 102)...))
		})
	}
}

// Killed right after delivering the first lines of new content, before
// the positions were written: that content's fingerprint was written before
// the delivery, so when the file is truncated again while Sluice is down,
// its copy is still found and the lines not delivered are read from it.
// The new content is a truncated file's next generation, seen while
// running; or it is found at start-up: a file with no saved position (the
// stress test: 93 lines of a copy outside the group never read, the
// agent killed 0.5 s after its start), or other content at a saved inode.
func TestKillAfterFirstDeliveryOfNewContentLosesNothing(t *testing.T) {
	for _, found := range []string{"while running", "new at start", "at a saved inode at start"} {
		for _, first := range []int{102, 149} { // less than, more than a fingerprint
			t.Run(fmt.Sprintf("%s, first read b100-b%d", found, first), func(t *testing.T) { killAfterFirstDelivery(t, found, first) })
		}
	}
}

func killAfterFirstDelivery(t *testing.T, found string, first int) {
	long := padded("k")
	r := newRig(t, `app\.log`, func(c *Config) { c.WritePosInterval = time.Hour })
	faulty := vfs.NewFaulty(r.mem)
	r.fs = faulty
	want := append(long("b", 100, 199), long("c", 100, 102)...)
	switch found {
	case "while running":
		r.write("/logs/app.log", text(long("a", 100, 199)))
		r.start()
		r.poll()
		r.restart() // positions saved
		r.copyTruncate("/logs/app.log", "/logs/app.copy.1")
		r.write("/logs/app.log", text(long("b", 100, first)))
		want = append(long("a", 100, 199), want...)
	case "new at start":
		r.write("/logs/app.log", text(long("b", 100, first)))
		r.start()
	case "at a saved inode at start":
		r.write("/logs/app.log", text(long("a", 100, 199)))
		r.start()
		r.poll()
		r.stop()
		r.copyTruncate("/logs/app.log", "/logs/app.copy.1")
		r.write("/logs/app.log", text(long("b", 100, first)))
		r.start()
		want = append(long("a", 100, 199), want...)
	}
	// The process dies just after the first commit of the new content:
	// nothing it writes after that reaches the disk.
	r.rec.onCommit = func() { faulty.Fail(vfs.OpRename, "/state", errors.New("killed"), -1) }
	r.poll()
	r.rec.onCommit = nil
	r.src.lock.Unlock() // kill -9: no Stop
	faulty.Clear()
	// While down: more lines, and another copytruncate.
	r.write("/logs/app.log", text(long("b", first+1, 199)))
	r.copyTruncate("/logs/app.log", "/logs/app.copy.2")
	r.write("/logs/app.log", text(long("c", 100, 102)))
	r.start()
	r.poll()
	r.poll()
	count := r.counts()
	for _, w := range want {
		if count[w] == 0 {
			t.Fatalf("%s lost", w)
		}
	}
}

// A copy waiting for its original's truncation is not saved with a
// position of its own: after a restart it waits again, and lines the
// original delivered before the stop are not read from it a second time.
func TestWaitingCopyAcrossRestart(t *testing.T) {
	long := padded("r")
	r := newRig(t, `app\.log.*`)
	r.write("/logs/app.log", text(long("a", 100, 199)))
	r.start()
	r.poll()
	r.write("/logs/app.log", text(long("a", 200, 209)))
	data, _ := vfs.ReadFile(r.fs, "/logs/app.log")
	r.write("/logs/app.log.1", string(data)) // listed before a200-a209 are read
	r.poll()
	r.restart()
	r.poll()
	fh, err := r.fs.OpenFile("/logs/app.log", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.Truncate(0)
	fh.Close()
	r.write("/logs/app.log", text(long("b", 100, 102)))
	r.poll()
	r.poll()
	r.expect(append(long("a", 100, 209), long("b", 100, 102)...)...)
}

// The original was shorter than a fingerprint when last read (a young
// generation): its complete copy is still recognised, not read from 0.
func TestCopyOfAShortlyReadFile(t *testing.T) {
	r := newRig(t, `app\.log.*`)
	r.write("/logs/app.log", text(lines("a", 100, 109))) // 50 bytes
	r.start()
	r.poll()
	r.write("/logs/app.log", text(lines("a", 110, 399))) // not read before the copy
	r.copyTruncate("/logs/app.log", "/logs/app.log.1")
	r.write("/logs/app.log", text(lines("b", 100, 102)))
	r.poll()
	r.poll()
	r.expectOnce(append(lines("a", 100, 399), lines("b", 100, 102)...))
}

// A copy found in the same pass as its original, before any of the
// original was read (a young generation Sluice had not come to yet), is
// serviced first (its modification time is older) and must not be taken
// for a new file: the original's lines would then be delivered from both.
// Found by the rotation soak: lines of one generation delivered twice by
// one run, with "no copy of the truncated file found" logged.
func TestCopyOfAnUnreadOriginal(t *testing.T) {
	long := padded("u")
	for _, seen := range []int{20, 500, 1500, -1} { // -1: the whole original
		t.Run(fmt.Sprintf("copy holds %d bytes", seen), func(t *testing.T) {
			r := newRig(t, `app\.log.*`)
			r.start()
			r.poll()
			r.write("/logs/app.log", text(long("a", 100, 198)))
			data, _ := vfs.ReadFile(r.fs, "/logs/app.log")
			if seen < 0 {
				seen = len(data)
			}
			r.clk.Advance(time.Second)
			r.write("/logs/app.log.1", string(data[:seen])) // copytruncate at work
			r.clk.Advance(time.Second)
			r.write("/logs/app.log", text(long("a", 199, 199))) // the logger writes on
			r.poll()                                            // both found; the copy is older
			data, _ = vfs.ReadFile(r.fs, "/logs/app.log")
			r.write("/logs/app.log.1", string(data[seen:]))
			fh, err := r.fs.OpenFile("/logs/app.log", os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			fh.Truncate(0)
			fh.Close()
			r.write("/logs/app.log", text(long("b", 100, 102)))
			r.poll()
			r.poll()
			r.clk.Advance(time.Minute)
			r.poll()
			r.poll()
			r.expectOnce(append(long("a", 100, 199), long("b", 100, 102)...))
		})
	}
}

// A file copytruncated while Sluice was stopped, and then renamed out of
// its group or deleted: the lines it held beyond the saved position are
// read from the copy (found in the soak: the saved file was not resumed
// because its inode held other content, and nothing looked for the copy).
func TestCopyTruncatedThenRotatedWhileStopped(t *testing.T) {
	long := padded("v")
	for _, tc := range []struct {
		name string
		next int // lines of the next generation written before it is rotated
		gone bool
	}{
		{"renamed out of the group, longer than the position", 150, false},
		{"renamed out of the group, shorter than the position", 2, false},
		{"deleted", 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, `app\.log`)
			r.write("/logs/app.log", text(long("a", 100, 199)))
			r.start()
			r.poll()
			r.stop()
			// While stopped: unread lines, copytruncate to a name outside
			// the group, a new generation, then that file rotated away.
			r.write("/logs/app.log", text(long("a", 200, 249)))
			r.copyTruncate("/logs/app.log", "/logs/app.copy.1")
			r.write("/logs/app.log", text(long("b", 100, 99+tc.next)))
			if tc.gone {
				r.remove("/logs/app.log")
			} else {
				r.rename("/logs/app.log", "/logs/app.old.1")
			}
			r.write("/logs/app.log", text(long("c", 100, 102)))
			r.start()
			r.poll()
			r.poll()
			got := r.counts()
			for _, w := range append(long("a", 100, 249), long("c", 100, 102)...) {
				if got[w] != 1 {
					t.Errorf("%s delivered %d times, want once", w, got[w])
				}
			}
		})
	}
}

// A deleted file whose handle is closed keeps its entry until the end of
// the pass, but not its inode: a copy made meanwhile at that inode number
// is still found as the copy of a truncated file (found by the stress
// test: the copy was skipped as "already followed" and the truncated
// file's unread lines were lost).
func TestDeletedFilesInodeTakenByACopy(t *testing.T) {
	long := padded("d")
	r := newRig(t, `app\.log`)
	r.write("/logs/app.log", text(long("a", 100, 199)))
	r.start()
	r.poll()
	r.write("/logs/app.log", text(long("a", 200, 249)))
	r.copyTruncate("/logs/app.log", "/logs/app.copy.1")
	// The copy's inode number was, until this pass, a deleted file's whose
	// handle was just closed.
	stale := &tailFile{key: fileKey{1, statIno(t, r.fs, "/logs/app.copy.1")}, path: "/logs/gone.log", gone: true, fp: emptyPrint}
	r.src.track(stale)
	r.write("/logs/app.log", text(long("b", 100, 102)))
	r.poll()
	r.poll()
	r.expectOnce(append(long("a", 100, 249), long("b", 100, 102)...))
}

// A file that grows a line at a time is read in small batches whose read
// window never holds the bytes before the new position; the copy of its
// content must still be recognised (found by the stress test: the copy was
// read again from its start, or the truncated file's unread lines lost).
func TestCopyOfAFileReadALineAtATime(t *testing.T) {
	long := padded("l")
	for _, inGroup := range []bool{true, false} {
		t.Run(fmt.Sprintf("copy in group %v", inGroup), func(t *testing.T) {
			r := newRig(t, `app\.log.*`, func(c *Config) { c.WritePosInterval = time.Hour })
			r.start()
			for i := 100; i < 160; i++ {
				r.write("/logs/app.log", text(long("a", i, i)))
				r.poll()
			}
			r.write("/logs/app.log", text(long("a", 160, 169))) // not read before the truncation
			copyName := "/logs/app.log.1"
			if !inGroup {
				copyName = "/logs/app.copy.1"
			}
			r.copyTruncate("/logs/app.log", copyName)
			r.write("/logs/app.log", text(long("b", 100, 102)))
			r.poll()
			r.poll()
			r.expectOnce(append(long("a", 100, 169), long("b", 100, 102)...))
		})
	}
}

// A rotated file, read and closed, is deleted, and the copy copytruncate
// makes of the live file gets its inode number before the next scan: the
// scan finds a known inode under a known name, but its content is a copy
// of the live file's, and must wait as one rather than be read from its
// start (found by the stress test: a generation delivered twice). The
// original is serviced after the copy, or (same modification time, tracked
// first) before it.
func TestCopyTakesAClosedFilesInode(t *testing.T) {
	long := padded("r")
	for _, originalFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("original serviced first %v", originalFirst), func(t *testing.T) {
			r, rfs := rotatedAndLive(t, long, func(c *Config) { c.IdleTimeout = time.Second })
			r.start()
			r.poll()
			// Idle: both handles closed.
			r.clk.Advance(2 * time.Second)
			r.poll()
			copyOverRotated(r, rfs, long("a", 200, 249), "/logs/app.log.1")
			if !originalFirst {
				r.write("/logs/app.log", text(long("b", 100, 102)))
			}
			r.poll()
			r.poll()
			if originalFirst {
				r.write("/logs/app.log", text(long("b", 100, 102)))
				r.poll()
			}
			r.expectOnce(append(append(long("o", 100, 149), long("a", 100, 249)...), long("b", 100, 102)...))
		})
	}
}

// rotatedAndLive is a rig on an inode-reusing file system with a rotated
// file (app.log.1, lines o100-o149) and the live one (app.log, a100-a199).
func rotatedAndLive(t *testing.T, long func(string, int, int) []string, mutate ...func(*Config)) (*rig, *reuseFS) {
	r := newRig(t, `app\.log(\.\d+)?`, mutate...)
	rfs := &reuseFS{Mem: r.mem, alias: map[uint64]uint64{}}
	r.fs = rfs
	r.write("/logs/app.log.1", text(long("o", 100, 149)))
	r.write("/logs/app.log", text(long("a", 100, 199)))
	return r, rfs
}

// copyOverRotated appends more to app.log, deletes app.log.1 and
// copytruncates app.log to a new file, to, that gets the deleted file's
// inode number.
func copyOverRotated(r *rig, rfs *reuseFS, more []string, to string) {
	r.t.Helper()
	oldIno := statIno(r.t, r.fs, "/logs/app.log.1")
	r.write("/logs/app.log", text(more))
	r.remove("/logs/app.log.1")
	r.copyTruncate("/logs/app.log", to)
	rfs.alias[statIno(r.t, r.mem, to)] = oldIno
}

// The same while Sluice is stopped: the saved inode of a rotated file is
// found at start-up holding the copy of the live file, whose saved position
// says how much of that content was delivered.
func TestCopyTakesASavedFilesInode(t *testing.T) {
	long := padded("s")
	r, rfs := rotatedAndLive(t, long)
	r.start()
	r.poll()
	r.stop()
	copyOverRotated(r, rfs, long("a", 200, 249), "/logs/app.log.1")
	r.write("/logs/app.log", text(long("b", 100, 102)))
	r.start()
	r.poll()
	r.poll()
	r.expectOnce(append(append(long("o", 100, 149), long("a", 100, 249)...), long("b", 100, 102)...))
}

// A copy sized while still being written is judged by comparing it with
// its original; logrotate truncates the original as soon as the copy is
// complete, which can fall between the copy's stat and that comparison.
// The copy must still wait as one (found by the stress test, under race:
// the copy judged a file of its own and read from its start).
func TestCopyCompletedAndOriginalTruncatedWhileJudged(t *testing.T) {
	long := padded("j")
	for _, sized := range []int64{209, 1500} {
		t.Run(fmt.Sprintf("sized at %d", sized), func(t *testing.T) {
			r := newRig(t, `app\.log(\.\d+)?`)
			r.write("/logs/app.log", text(long("a", 100, 199)))
			r.start()
			r.poll()
			r.write("/logs/app.log.1", "")
			r.poll()
			c := r.src.files[fileKey{1, statIno(t, r.fs, "/logs/app.log.1")}]
			if c == nil || !c.fresh {
				t.Fatalf("the empty copy is not tracked as a fresh file: %+v", c)
			}
			// The copy had sized bytes when service looked; by the judgement
			// it is complete and the original truncated.
			r.copyTruncate("/logs/app.log", "/logs/app.log.1")
			if ok, err := r.src.openFile(c); !ok || err != nil {
				t.Fatalf("open the copy: %v %v", ok, err)
			}
			if !r.src.judge(c, sized) {
				t.Fatal("the complete copy was judged a file of its own")
			}
			r.write("/logs/app.log", text(long("b", 100, 102)))
			r.poll()
			r.poll()
			r.expectOnce(append(long("a", 100, 199), long("b", 100, 102)...))
		})
	}
}

// A copy listed with its first bytes only (one byte, here) can hold the
// first bytes of several followed files, whose lines all begin alike. It
// must not be taken for a copy of the first of them: the one it copies is
// truncated next, and the copy was then read from its start (found by the
// stress test, where every generation of a file begins "file0-line").
func TestCopyTooShortToTellItsOriginal(t *testing.T) {
	long := padded("m")
	r := newRig(t, `app\.log(\.\d+)?`)
	r.write("/logs/app.log.2", text(long("l", 100, 199)))
	r.start()
	r.poll()
	r.write("/logs/app.log", text(long("l", 200, 299)))
	r.poll()
	r.write("/logs/app.log.1", "l")
	r.poll()
	if got := len(r.rec.bodies()); got != 200 {
		t.Fatalf("delivered %d lines after the copy's first byte, want 200", got)
	}
	data, err := vfs.ReadFile(r.fs, "/logs/app.log")
	if err != nil {
		t.Fatal(err)
	}
	r.write("/logs/app.log.1", string(data[1:]))
	r.copyTruncateInPlace("/logs/app.log")
	r.write("/logs/app.log", text(long("b", 100, 102)))
	r.poll()
	r.poll()
	r.expectOnce(append(long("l", 100, 299), long("b", 100, 102)...))
}

// The truncation can be seen before the copy: a pass's scan lists the
// rotated file, which is then deleted, the live file copytruncated to a
// copy given the deleted file's inode number, and the live file serviced
// in that same pass. Its copy is then still known as the deleted file, and
// is renewed only by a later scan, when the original has already started
// again from 0 (found by the stress test: a copy in the group read from
// its start; one outside the group is renewed the same way, by locate).
func TestCopyAtAReusedInodeFoundAfterTheTruncation(t *testing.T) {
	for name, to := range map[string]string{"in the group": "/logs/app.log.1", "outside it": "/logs/app.log-copy"} {
		t.Run(name, func(t *testing.T) {
			long := padded("t")
			r, rfs := rotatedAndLive(t, long, func(c *Config) { c.IdleTimeout = time.Second })
			r.start()
			r.poll()
			r.clk.Advance(2 * time.Second)
			r.write("/logs/app.log", text(long("a", 200, 209)))
			r.poll() // app.log.1 idle and closed; app.log open
			live := r.src.files[fileKey{1, statIno(t, r.fs, "/logs/app.log")}]
			if live == nil || live.h == nil {
				t.Fatalf("app.log is not followed and open: %+v", live)
			}
			r.clk.Advance(10 * time.Millisecond)
			r.src.scan(r.clk.Now())
			copyOverRotated(r, rfs, long("a", 210, 249), to)
			r.write("/logs/app.log", text(long("b", 100, 199)))
			if _, err := r.src.service(context.Background(), live, r.clk.Now(), false); err != nil {
				t.Fatal(err)
			}
			r.poll()
			r.poll()
			r.expectOnce(append(append(long("o", 100, 149), long("a", 100, 249)...), long("b", 100, 199)...))
		})
	}
}
