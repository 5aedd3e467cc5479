package hdfs

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/channel/memory"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/vfs"
)

const crashEnv = "SLUICE_HDFS_CRASH_DIR"

// TestCrashChild is the child process of TestKill9: it writes batches to
// the directory named by the environment and prints the id range of every
// batch whose transaction committed, until it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("child process of TestKill9")
	}
	start, _ := strconv.Atoi(os.Getenv(crashEnv + "_START"))
	cfg, err := ParseConfig(reader("hdfs.path", "file://"+dir+"/%{part}", "hdfs.fileType", "DataStream", "hdfs.batchSize", "50",
		"hdfs.rollCount", "230", "hdfs.rollSize", "0", "hdfs.rollInterval", "0"))
	if err != nil {
		t.Fatal(err)
	}
	mc := memory.DefaultConfig()
	mc.Capacity, mc.TransactionCapacity = 1000, 100
	ch := memory.New("c1", mc, nil, nil, nil)
	ch.Start()
	s, err := New("h1", cfg, ch, registry.Env{FS: vfs.OS{}})
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	out := bufio.NewWriter(os.Stdout)
	for n := start; ; n += 50 {
		evs := make([]event.Event, 50)
		for i := range evs {
			evs[i] = event.Event{Headers: map[string]string{"part": strconv.Itoa((n + i) % 3)}, Body: []byte("k-" + strconv.Itoa(n+i))}
		}
		tx, _ := ch.Begin()
		tx.Put(evs)
		tx.Commit()
		if _, err := s.Process(context.Background()); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(out, "committed %d %d\n", n, n+50)
		out.Flush()
	}
}

// TestKill9 kills a writing sink process with SIGKILL twice, restarting it
// on the same directory: every event whose batch committed before a kill is
// in the store (under its final or in-use name), and the second run
// overwrites nothing of the first.
func TestKill9(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("in the child")
	}
	dir := t.TempDir()
	var ranges [][2]int // committed [from, to) id ranges, over both runs
	next := 0
	for round := 0; round < 2; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir, crashEnv+"_START="+strconv.Itoa(next))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		deadline := time.Now().Add(60 * time.Second)
		seen := 0
		for seen < 40 && time.Now().Before(deadline) && sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 3 && f[0] == "committed" {
				from, _ := strconv.Atoi(f[1])
				to, _ := strconv.Atoi(f[2])
				ranges = append(ranges, [2]int{from, to})
				next = max(next, to)
				seen++
			}
		}
		cmd.Process.Kill() // SIGKILL, mid-batch
		cmd.Wait()
		if seen < 40 {
			t.Fatalf("round %d: the child reported only %d commits", round, seen)
		}
		// The batch in hand at the kill was never committed; the next run
		// starts past it so every id stays unique.
		next += 1000
		files, err := ReadStore(vfs.OS{}, dir, Format{FileType: "DataStream"}, ".tmp")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		inUse := 0
		for _, f := range files {
			if f.InUse {
				inUse++
			}
			for _, e := range f.Events {
				got[string(e.Body)]++
			}
		}
		for _, r := range ranges {
			for id := r[0]; id < r[1]; id++ {
				switch got["k-"+strconv.Itoa(id)] {
				case 0:
					t.Fatalf("round %d: k-%d was committed before the kill and is not in the store", round, id)
				case 1:
				default:
					t.Fatalf("round %d: k-%d is in the store %d times (a file was overwritten or written twice)", round, id, got["k-"+strconv.Itoa(id)])
				}
			}
		}
		t.Logf("round %d: %d committed batches intact in %d files (%d still in use after the kill)", round, len(ranges), len(files), inUse)
	}
}
