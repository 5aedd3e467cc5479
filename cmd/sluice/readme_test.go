package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// readmeCommands returns the command lines of the README's sh blocks, with
// their trailing comments cut.
func readmeCommands(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	in := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```sh"):
			in = true
		case strings.HasPrefix(line, "```"):
			in = false
		case in:
			if i := strings.Index(line, "  #"); i >= 0 {
				line = line[:i]
			}
			if line = strings.TrimSpace(line); line != "" {
				cmds = append(cmds, line)
			}
		}
	}
	return cmds
}

// Every command the README shows works as written: each `sluice` line runs
// (in order, from a scratch directory holding examples/) and exits 0, a
// `sluice agent` line starts its agent and stops cleanly on SIGTERM, and
// every `make` target it names exists. `make run` and the curl line are
// TestReadmeQuickStart's; `make test` is what CI runs.
func TestReadmeCommands(t *testing.T) {
	cmds := readmeCommands(t)
	if len(cmds) < 5 {
		t.Fatalf("found only %d commands in the README's sh blocks", len(cmds))
	}
	readme, _ := os.ReadFile("../../README.md")
	mk := string(mustRead(t, "../../Makefile"))
	for _, m := range regexp.MustCompile("`make ([a-z-]+)`").FindAllStringSubmatch(string(readme), -1) {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(m[1]) + `:`).MatchString(mk) {
			t.Errorf("README names `make %s`, which the Makefile lacks", m[1])
		}
	}
	examples, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(examples, filepath.Join(dir, "examples")); err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, line := range cmds {
		switch {
		case strings.HasPrefix(line, "make "), strings.HasPrefix(line, "curl "):
			continue
		case !strings.HasPrefix(line, "sluice "):
			t.Errorf("README command %q: the test does not know how to run it", line)
			continue
		}
		if strings.ContainsAny(line, `'"$|;&<>`) {
			t.Errorf("README command %q: quoting and shell syntax are not run by this test; keep README commands plain", line)
			continue
		}
		args := strings.Fields(line)[1:]
		ran++
		start := time.Now()
		if args[0] == "agent" {
			runReadmeAgent(t, dir, line, args)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		cmd := exec.CommandContext(ctx, sluiceBin, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("README command %q: %v\n%s", line, err, out)
		}
		t.Logf("%s: %v", line, time.Since(start).Round(time.Millisecond))
		if args[0] == "report" {
			if _, err := os.Stat(filepath.Join(dir, args[1], "report.html")); err != nil {
				t.Errorf("%q wrote no report.html: %v", line, err)
			}
		}
	}
	if ran == 0 {
		t.Fatal("the README shows no sluice command")
	}
}

func runReadmeAgent(t *testing.T, dir, line string, args []string) {
	t.Helper()
	var log syncBuffer
	cmd := exec.Command(sluiceBin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(log.String(), `msg="agent started"`) {
		select {
		case err := <-done:
			t.Fatalf("README command %q exited before starting: %v\n%s", line, err, log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			t.Fatalf("README command %q did not start its agent within a minute\n%s", line, log.String())
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("README command %q: exit after SIGTERM: %v\n%s", line, err, log.String())
		}
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("README command %q did not stop within a minute of SIGTERM\n%s", line, log.String())
	}
}

// syncBuffer is a bytes.Buffer a child process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
