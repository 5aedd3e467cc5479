package taildir

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/vfs"
)

func TestEncodeFlumeMatchesGson(t *testing.T) {
	// The example from Flume's user guide (flume-facts §5.1).
	got := string(encodeFlume([]position{
		{Inode: 2496272, Pos: 12, File: "/var/log/test1/example.log"},
		{Inode: 2496275, Pos: 0, File: "/var/log/test2/log1.log"},
	}))
	want := `[{"inode":2496272,"pos":12,"file":"/var/log/test1/example.log"},{"inode":2496275,"pos":0,"file":"/var/log/test2/log1.log"}]`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// Gson's HTML-safe escaping, control characters in lower-case hex,
	// U+2028/2029 escaped, other non-ASCII as is; inode as a signed long.
	got = string(encodeFlume([]position{{Inode: 1<<63 + 5, Pos: 7,
		File: "/v/a=b<c>&'d\"e\\f\tg\x01h\x1fi\u2028j\u2029kéx\x7f\b\n\r\f"}}))
	want = `[{"inode":-9223372036854775803,"pos":7,"file":"/v/a\u003db\u003cc\u003e\u0026\u0027d\"e\\f\tg\u0001h\u001fi\u2028j\u2029kéx` + "\x7f" + `\b\n\r\f"}]`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if got := string(encodeFlume(nil)); got != "[]" {
		t.Fatalf("empty: %s", got)
	}
}

func TestDecodeFlume(t *testing.T) {
	ps, err := decodeFlume([]byte(` [ {"file":"/a\u003d.log","pos":"12","inode":5,"extra":{"x":[1,2]}},
		{"inode":-9223372036854775803,"pos":0,"file":"/b"} ] `))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].File != "/a=.log" || ps[0].Pos != 12 || ps[0].Inode != 5 || ps[1].Inode != 1<<63+5 {
		t.Fatalf("got %+v", ps)
	}
	for _, tc := range []struct{ in, err string }{
		{``, "unexpected end of file"},
		{`{}`, "JSON array"},
		{`[{"inode":1,"pos":2,"file":"/a"},{"inode":3,"po`, "entry 1"},
		{`[{"inode":1,"pos":2,"file":"/a"},{"inode":3,"file":"/b"}]`, "lacks one of"},
		{`[{"inode":1,"pos":-2,"file":"/a"}]`, "negative"},
		{`[{"inode":1.5,"pos":2,"file":"/a"}]`, "not a 64-bit integer"},
		{`[{"inode":1,"pos":2,"file":3}]`, "not a string"},
		{`[] x`, "after the array"},
	} {
		ps, err := decodeFlume([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: err %v, want it to mention %q", tc.in, err, tc.err)
		}
		if tc.err == "entry 1" && len(ps) != 1 {
			t.Errorf("%q: kept %d entries before the damage, want 1", tc.in, len(ps))
		}
	}
}

// flumeFile writes a position file as Flume would for the given files
// (inode taken from the file system) and positions.
func flumeFile(t *testing.T, r *rig, entries ...any) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("[")
	for i := 0; i < len(entries); i += 2 {
		path, pos := entries[i].(string), entries[i+1].(int)
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"inode":%d,"pos":%d,"file":"%s"}`, statIno(t, r.fs, path), pos,
			strings.ReplaceAll(path, "=", `\u003d`))
	}
	b.WriteString("]")
	if err := r.fs.MkdirAll("/state", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := vfs.WriteFileAtomic(r.fs, r.cfg.PositionFile, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestFlumePositionFileRoundTrip(t *testing.T) {
	r := newRig(t, `.*\.log`)
	if err := r.fs.MkdirAll("/logs/a=b", 0o755); err != nil {
		t.Fatal(err)
	}
	r.cfg = testConfig(t, "/logs/a=b/.*\\.log", "/state/pos.json")
	r.write("/logs/a=b/z.log", "z1\nz2\n")
	r.write("/logs/a=b/m.log", "m1\n")
	// Flume lists by modification time, which is not name order.
	orig := flumeFile(t, r, "/logs/a=b/m.log", 3, "/logs/a=b/z.log", 3)
	r.start()
	r.poll()
	r.expect("z2")
	r.stop()
	want := strings.Replace(orig, `"pos":3,"file":"/logs/a\u003db/z.log"`, `"pos":6,"file":"/logs/a\u003db/z.log"`, 1)
	got, err := vfs.ReadFile(r.fs, r.cfg.PositionFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("position file\n got  %s\n want %s", got, want)
	}
	// Unchanged positions come back byte for byte.
	r.start()
	r.poll()
	r.stop()
	if again, _ := vfs.ReadFile(r.fs, r.cfg.PositionFile); string(again) != want {
		t.Fatalf("rewritten unchanged: %s", again)
	}
}

func TestFlumePositionWithRenamedFileIsNotTrusted(t *testing.T) {
	// Flume's rule: a position applies to the same inode under the same
	// name. Without Sluice's fingerprint a different name could be a reused
	// inode, so the file is read from the start (duplicates, never a gap).
	r := newRig(t, `.*\.log`)
	r.write("/logs/a.log", "a1\na2\n")
	flumeFile(t, r, "/logs/a.log", 3)
	r.rename("/logs/a.log", "/logs/b.log")
	r.start()
	r.poll()
	r.expect("a1", "a2")
}

func TestDamagedFlumeFileNeverSkips(t *testing.T) {
	r := newRig(t, `.*\.log`, func(c *Config) { c.SkipToEnd = true })
	r.write("/logs/a.log", "a1\na2\n")
	r.write("/logs/b.log", "b1\n")
	full := flumeFile(t, r, "/logs/a.log", 3, "/logs/b.log", 0)
	// Flume writes in place: a crash can leave half a file.
	if err := vfs.WriteFileAtomic(r.fs, r.cfg.PositionFile, []byte(full[:strings.Index(full, "},{")+12]), 0o644); err != nil {
		t.Fatal(err)
	}
	r.start()
	r.poll()
	// a.log resumes at 3; b.log's position is lost with the damage, and
	// skipToEnd must not skip it.
	r.expect("a2", "b1")
}

func TestFlumeRewroteThePositionFile(t *testing.T) {
	r := newRig(t, `a\.log`)
	r.write("/logs/a.log", text(lines("a", 1, 5)))
	r.start()
	r.poll()
	r.stop()
	// The operator ran Flume for a while: it read further and rewrote the
	// file (the sidecar did not change).
	flumeFile(t, r, "/logs/a.log", len(text(lines("a", 1, 5))))
	r.write("/logs/a.log", "a6\n")
	r.start()
	r.poll()
	r.expect(append(lines("a", 1, 5), "a6")...)
}

func TestPositionWritesAreAtomic(t *testing.T) {
	r := newRig(t, `.*\.log`, func(c *Config) { c.WritePosInterval = time.Second })
	r.write("/logs/a.log", text(lines("a", 1, 3)))
	r.start()
	r.poll()
	r.clk.Advance(2 * time.Second)
	r.poll() // writes positions
	saved := savedPositions(t, r)
	r.write("/logs/a.log", "a4\n")
	r.poll()
	// Power cut: whatever was not synced is lost or torn; the position
	// file must still be the last complete write.
	r.mem.Crash(rand.New(rand.NewPCG(1, 2)))
	after := savedPositions(t, r)
	if after["/logs/a.log"] != saved["/logs/a.log"] || after["/logs/a.log"] == 0 {
		t.Fatalf("after crash %v, before %v", after, saved)
	}
}

func TestCrashBetweenSidecarAndPositionWrites(t *testing.T) {
	r := newRig(t, `.*\.log`, func(c *Config) { c.WritePosInterval = time.Second })
	faulty := vfs.NewFaulty(r.mem)
	r.fs = faulty
	r.write("/logs/a.log", text(lines("a", 1, 3)))
	r.start()
	r.poll()
	r.clk.Advance(2 * time.Second)
	r.poll()
	ld, err := loadPositions(r.fs, r.cfg.PositionFile)
	if err != nil || len(ld.Notes) != 0 || len(ld.Positions) != 1 || !ld.Positions[0].HasFP {
		t.Fatalf("after a clean write: %+v, %v", ld, err)
	}
	r.write("/logs/a.log", text(lines("a", 4, 6)))
	r.poll()
	// The sidecar is renamed into place; the Flume file's rename fails, as
	// if the process died between the two.
	faulty.Fail(vfs.OpRename, r.cfg.PositionFile+".tmp", errors.New("killed"), 1)
	r.clk.Advance(2 * time.Second)
	r.poll()
	if n := r.counter("GenericProcessingFail"); n != 1 {
		t.Fatalf("GenericProcessingFail = %d, want 1", n)
	}
	r.mem.Crash(nil) // die here: no Stop, no further write
	ld, err = loadPositions(r.mem, r.cfg.PositionFile)
	if err != nil || len(ld.Notes) != 1 || !strings.Contains(ld.Notes[0], "one write behind") {
		t.Fatalf("after the torn pair of writes: notes %q, err %v", ld.Notes, err)
	}
	r.fs = r.mem
	r.start()
	r.poll()
	// The sidecar was the newer record: nothing is read twice.
	r.expect(lines("a", 1, 6)...)
}
