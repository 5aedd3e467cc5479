package taildir

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/selector"
	"github.com/sluicehq/sluice/engine/source"
	"github.com/sluicehq/sluice/engine/vfs"
)

// Interop with real Apache Flume's TaildirSource, through the position
// file. Set FLUME_HOME to a Flume binary distribution (lib/ and conf/) to
// run it: Flume reads part of a log and stops; Sluice must carry on
// exactly where Flume stopped and write the position file back byte for
// byte; then Flume must carry on exactly where Sluice stopped.

func flumeHome(t *testing.T) string {
	home := os.Getenv("FLUME_HOME")
	if home == "" {
		t.Skip("FLUME_HOME is not set: skipping the position-file interop with real Apache Flume")
	}
	if _, err := os.Stat(filepath.Join(home, "lib")); err != nil {
		t.Fatalf("FLUME_HOME=%s has no lib/ directory: %v", home, err)
	}
	if _, err := exec.LookPath("java"); err != nil {
		t.Fatalf("FLUME_HOME is set but java is not on PATH: %v", err)
	}
	return home
}

// runFlume runs a Flume agent tailing logDir into outDir until want lines
// are in outDir, then stops it with SIGTERM (its stop writes the positions).
func runFlume(t *testing.T, home, work, logDir, posFile, outDir string, want int) {
	t.Helper()
	conf := fmt.Sprintf(`a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = TAILDIR
a1.sources.r1.channels = c1
a1.sources.r1.positionFile = %s
a1.sources.r1.filegroups = f1
a1.sources.r1.filegroups.f1 = %s/.*\.log
a1.sources.r1.writePosInterval = 500
a1.channels.c1.type = memory
a1.sinks.k1.type = file_roll
a1.sinks.k1.channel = c1
a1.sinks.k1.sink.directory = %s
a1.sinks.k1.sink.rollInterval = 0
`, posFile, logDir, outDir)
	cf := filepath.Join(work, "flume.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.OpenFile(filepath.Join(work, "flume.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command("java", "-Xmx256m", "-cp", filepath.Join(home, "lib", "*")+":"+filepath.Join(home, "conf"),
		"-Dflume.root.logger=INFO,console", "org.apache.flume.node.Application", "--no-reload-conf", "-n", "a1", "-f", cf)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	deadline := time.Now().Add(120 * time.Second)
	for len(outLines(t, outDir)) < want {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(work, "flume.log"))
			t.Fatalf("Flume delivered %d of %d lines in 120 s; log:\n%s", len(outLines(t, outDir)), want, b[max(0, len(b)-6000):])
		}
		time.Sleep(100 * time.Millisecond)
	}
	syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("Flume did not stop within 60 s of SIGTERM")
	}
}

func outLines(t *testing.T, dir string) []string {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l != "" {
				out = append(out, l)
			}
		}
	}
	return out
}

// sluicePolls runs a Sluice taildir source on logDir for n polls and
// returns what it delivered.
func sluicePolls(t *testing.T, logDir, posFile string, n int) []string {
	t.Helper()
	cfg := testConfig(t, filepath.Join(logDir, `.*\.log`), posFile)
	rec := &recorder{}
	sel, _ := selector.NewReplicating([]channel.Channel{rec}, nil)
	src := New("r1", cfg, &source.ChannelProcessor{Selector: sel}, registry.Env{FS: vfs.OS{}, Log: quietLog()})
	ctx := context.Background()
	if err := src.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, err := src.Process(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	return rec.bodies()
}

func TestInteropWithFlume(t *testing.T) {
	home := flumeHome(t)
	work := t.TempDir()
	// '=' and '&' in a path: Gson writes them as \u003d and \u0026.
	logDir := filepath.Join(work, "logs=a&b")
	state := filepath.Join(work, "state")
	posFile := filepath.Join(state, "taildir_position.json")
	for _, d := range []string{logDir, state, filepath.Join(work, "out1"), filepath.Join(work, "out2")} {
		os.MkdirAll(d, 0o755)
	}
	a, b := filepath.Join(logDir, "a.log"), filepath.Join(logDir, "b.log")
	appendFile(t, a, text(lines("a", 1, 100)))
	appendFile(t, b, text(lines("b", 1, 10)))

	// 1. Flume reads everything there is and stops.
	runFlume(t, home, work, logDir, posFile, filepath.Join(work, "out1"), 110)
	flumeBytes, err := os.ReadFile(posFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Flume's position file: %s", flumeBytes)
	if !strings.Contains(string(flumeBytes), `\u003d`) || !strings.Contains(string(flumeBytes), `\u0026`) {
		t.Fatalf("expected Gson's escaping in %s", flumeBytes)
	}

	// 2. Sluice starts on Flume's file: nothing new, and it writes the
	// file back byte for byte.
	if got := sluicePolls(t, logDir, posFile, 3); len(got) != 0 {
		t.Fatalf("Sluice re-read %d lines Flume had already delivered: %q", len(got), got[:min(5, len(got))])
	}
	if again, _ := os.ReadFile(posFile); string(again) != string(flumeBytes) {
		t.Fatalf("position file changed without progress:\n Flume:  %s\n Sluice: %s", flumeBytes, again)
	}

	// 3. Sluice carries on from Flume's positions.
	appendFile(t, a, text(lines("a", 101, 150)))
	if got := sluicePolls(t, logDir, posFile, 3); strings.Join(got, " ") != strings.Join(lines("a", 101, 150), " ") {
		t.Fatalf("Sluice after Flume delivered %q", got)
	}

	// 4. Flume carries on from Sluice's positions.
	appendFile(t, a, text(lines("a", 151, 160)))
	appendFile(t, b, text(lines("b", 11, 15)))
	runFlume(t, home, work, logDir, posFile, filepath.Join(work, "out2"), 15)
	got := outLines(t, filepath.Join(work, "out2"))
	want := map[string]bool{}
	for _, l := range append(lines("a", 151, 160), lines("b", 11, 15)...) {
		want[l] = true
	}
	if len(got) != len(want) {
		t.Fatalf("Flume after Sluice delivered %d lines, want %d: %q", len(got), len(want), got)
	}
	for _, l := range got {
		if !want[l] {
			t.Fatalf("Flume after Sluice delivered %q, which Sluice had delivered already", l)
		}
	}
}
