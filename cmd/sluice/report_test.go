package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func copyRecord(t *testing.T, name, as string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "reports", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, as), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestReportCommand(t *testing.T) {
	a := copyRecord(t, "kill-primary.json", "run.json")
	b := copyRecord(t, "sim-20-agents.json", "record.json")
	var out, errb bytes.Buffer
	if code := runReport([]string{a}, &out, &errb); code != 0 {
		t.Fatalf("report: %d %s", code, errb.String())
	}
	for _, f := range []string{"report.html", "report.md", "summary.json", "throughput.svg"} {
		if _, err := os.Stat(filepath.Join(a, f)); err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(out.String(), "kill-primary (scenario") {
		t.Errorf("output: %s", out.String())
	}
	out.Reset()
	cmp := filepath.Join(t.TempDir(), "cmp")
	if code := runReport([]string{"--compare", "--out", cmp, a, b}, &out, &errb); code != 0 {
		t.Fatalf("report --compare: %d %s", code, errb.String())
	}
	h, err := os.ReadFile(filepath.Join(cmp, "compare.html"))
	if err != nil || !strings.Contains(string(h), "<th>Scenario</th><td class=\"diff\">kill-primary</td>") {
		t.Fatalf("compare.html: %v", err)
	}
	if code := runReport([]string{"--compare", a}, &out, &errb); code != 2 {
		t.Errorf("--compare with one run: exit %d, want 2", code)
	}
	if code := runReport([]string{t.TempDir()}, &out, &errb); code != 1 {
		t.Errorf("report of an empty dir: exit %d, want 1", code)
	}
}
