package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestBenchTaildirMeasuresBothChannels(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runBenchTaildir([]string{"-size", "1", "-runs", "1", "-latency", "0", "-batch", "1000", "-dir", t.TempDir()}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, kind := range []string{"memory", "file"} {
		m := regexp.MustCompile(`taildir -> ` + kind + ` channel, batchSize 1000: median (\d+) lines/s`).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("no %s channel median in:\n%s", kind, out.String())
		}
		if n, _ := strconv.Atoi(m[1]); n <= 0 {
			t.Errorf("%s channel median %d lines/s", kind, n)
		}
	}
}

func TestBenchTaildirRejectsAnUnknownChannel(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runBenchTaildir([]string{"-channel", "kafka"}, &out, &errb); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(errb.String(), "want memory, file or both") {
		t.Errorf("stderr %q does not say what is valid", errb.String())
	}
}
