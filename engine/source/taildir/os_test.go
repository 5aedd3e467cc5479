package taildir

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/selector"
	"github.com/sluicehq/sluice/engine/source"
	"github.com/sluicehq/sluice/engine/vfs"
)

// osRig runs the source on the real file system under a PollingRunner.
type osRig struct {
	t      *testing.T
	dir    string
	rec    *recorder
	src    *Source
	runner *source.PollingRunner
}

func startOS(t *testing.T, dir, pattern string, backoff time.Duration, mutate ...func(*Config)) *osRig {
	t.Helper()
	cfg := testConfig(t, filepath.Join(dir, "logs", pattern), filepath.Join(dir, "state", "pos.json"))
	for _, m := range mutate {
		m(&cfg)
	}
	rec := &recorder{}
	sel, _ := selector.NewReplicating([]channel.Channel{rec}, nil)
	src := New("r1", cfg, &source.ChannelProcessor{Selector: sel},
		registry.Env{Clock: clock.Real(), FS: vfs.OS{}, Log: quietLog(), Metrics: metrics.NewRegistry(nil)})
	run := &source.PollingRunner{S: src, Clock: clock.Real(), Log: quietLog(), Increment: backoff, Max: backoff, Wake: src.Wake}
	if err := run.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	o := &osRig{t: t, dir: dir, rec: rec, src: src, runner: run}
	t.Cleanup(func() { o.stop() })
	return o
}

func (o *osRig) stop() {
	if o.runner != nil {
		if err := o.runner.Stop(context.Background()); err != nil {
			o.t.Error(err)
		}
		o.runner = nil
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// waitFor polls the delivered lines until want is a prefix... of exactly
// want, or fails at the deadline.
func (o *osRig) waitFor(want ...string) {
	o.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := o.rec.bodies()
		if strings.Join(got, "|") == strings.Join(want, "|") {
			return
		}
		if time.Now().After(deadline) {
			o.t.Fatalf("delivered %q, want %q", got, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestInotifyWakesTheSource(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
	log := filepath.Join(dir, "logs", "app.log")
	appendFile(t, log, "first\n")
	// A backoff of an hour: anything delivered after the first poll came
	// through an inotify wake-up.
	o := startOS(t, dir, `app\.log`, time.Hour)
	o.waitFor("first")
	appendFile(t, log, "second\n")
	o.waitFor("first", "second")

	// Rotation on a real file system: rename out of the group, a late write
	// through the writer's old handle, and a new file.
	w, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	w.WriteString("late\n")
	appendFile(t, log, "new\n")
	o.waitFor("first", "second", "late", "new")

	// Delete while lines remain unread: read through the open handle.
	w2, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	o.waitFor("first", "second", "late", "new")
	w2.WriteString("before-delete\n")
	os.Remove(log)
	w2.WriteString("after-delete\n")
	appendFile(t, log, "recreated\n")
	got := func() []string {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if b := o.rec.bodies(); len(b) >= 7 {
				return b
			}
			time.Sleep(2 * time.Millisecond)
		}
		return o.rec.bodies()
	}()
	// The deleted file's lines and the new file's may interleave by file;
	// within each file the order holds.
	want := map[string]bool{"before-delete": true, "after-delete": true, "recreated": true}
	for _, b := range got[4:] {
		delete(want, b)
	}
	if len(got) != 7 || len(want) != 0 || strings.Index(strings.Join(got, " "), "before-delete") > strings.Index(strings.Join(got, " "), "after-delete") {
		t.Fatalf("delivered %q", got)
	}
	o.stop()

	// The position file is Flume's, and names the live file.
	data, err := os.ReadFile(filepath.Join(dir, "state", "pos.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), `[{"inode":`) || !strings.Contains(string(data), `"file":"`+log+`"}`) {
		t.Fatalf("position file %s", data)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "pos.json"+sidecarSuffix)); err != nil {
		t.Fatal(err)
	}
}

func TestSecondSourceOnThePositionFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
	startOS(t, dir, `app\.log`, 10*time.Millisecond)
	cfg := testConfig(t, filepath.Join(dir, "logs", `app\.log`), filepath.Join(dir, "state", "pos.json"))
	src := New("r2", cfg, &source.ChannelProcessor{}, registry.Env{FS: vfs.OS{}, Log: quietLog()})
	err := src.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second source on the same position file: %v", err)
	}
}
