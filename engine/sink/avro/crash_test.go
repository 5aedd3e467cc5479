package avro_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/avroipc"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/registry"
)

// The crash test re-executes this test binary as a collector process: an
// avro server that appends each event's seq header to a file and fsyncs
// before it answers OK, i.e. a durable next hop.
const crashEnv = "SLUICE_AVRO_CRASH_COLLECTOR"

func TestMain(m *testing.M) {
	if spec := os.Getenv(crashEnv); spec != "" {
		os.Exit(runCrashCollector(spec))
	}
	os.Exit(m.Run())
}

func runCrashCollector(spec string) int {
	addr, path, _ := strings.Cut(spec, ",")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var mu sync.Mutex
	srv, err := avroipc.NewServer(avroipc.ServerConfig{Addr: addr, Log: quiet(), Handler: avroipc.HandlerFunc(func(evs []event.Event, batch bool) avroipc.Status {
		mu.Lock()
		defer mu.Unlock()
		var b strings.Builder
		for _, e := range evs {
			b.WriteString(e.Headers["seq"] + "\n")
		}
		if _, err := f.WriteString(b.String()); err != nil {
			return avroipc.Failed
		}
		if err := f.Sync(); err != nil {
			return avroipc.Failed
		}
		return avroipc.OK
	})})
	if err == nil {
		err = srv.Start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	select {} // until killed
}

func startCrashCollector(t *testing.T, addr, path string) *exec.Cmd {
	t.Helper()
	cmd, err := spawnCrashCollector(addr, path)
	if err != nil {
		t.Fatal(err)
	}
	return cmd
}

func spawnCrashCollector(addr, path string) (*exec.Cmd, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+addr+","+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("collector did not start: %q %v", line, err)
	}
	return cmd, nil
}

func countLines(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}

// kill -9 of the collector while the sink streams to it: every event the
// sink committed away is in the collector's file, the rest is rolled back
// and resent to the restarted collector; nothing is lost.
func TestCollectorKilledMidStream(t *testing.T) {
	const total = 20000
	dir := t.TempDir()
	path := dir + "/received"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)

	ch := newChannel(t, "c1", total, 100)
	for i := 0; i < total; i += 100 {
		batch := make([]event.Event, 100)
		for j := range batch {
			batch[j] = event.Event{Headers: map[string]string{"seq": strconv.Itoa(i + j)}, Body: []byte("payload")}
		}
		tx, _ := ch.Begin()
		tx.Put(batch)
		tx.Commit()
	}
	s := newSink(t, ch, map[string]string{"hostname": "127.0.0.1", "port": port, "batch-size": "100",
		"connect-timeout": "2000", "request-timeout": "2000"}, registry.Env{})
	s.Start(context.Background())
	defer s.Stop(context.Background())

	col := startCrashCollector(t, addr, path)
	// The killer runs beside the sink, so the kill lands while a batch is
	// in flight, not between two Process calls.
	restarted := make(chan *exec.Cmd, 1)
	stop := make(chan struct{})
	var killer sync.WaitGroup
	killer.Add(1)
	defer func() { close(stop); killer.Wait() }()
	go func() {
		defer killer.Done()
		for countLines(path) < total/3 {
			select {
			case <-stop:
				col.Process.Signal(syscall.SIGKILL)
				col.Wait()
				return
			case <-time.After(time.Millisecond):
			}
		}
		col.Process.Signal(syscall.SIGKILL)
		col.Wait()
		c, err := spawnCrashCollector(addr, path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		restarted <- c
	}()
	var col2 *exec.Cmd
	failures := 0
	deadline := time.Now().Add(2 * time.Minute)
	for ch.Len() > 0 || col2 == nil {
		if time.Now().After(deadline) {
			t.Fatalf("%d events still in the channel after 2 minutes", ch.Len())
		}
		select {
		case col2 = <-restarted:
			if col2 == nil {
				t.Fatal("the collector did not restart after kill -9")
			}
		default:
		}
		if _, err := s.Process(context.Background()); err != nil {
			failures++
		}
	}
	col2.Process.Signal(syscall.SIGKILL)
	col2.Wait()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	seen := make([]int, total)
	for _, l := range strings.Fields(string(b)) {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 || n >= total {
			t.Fatalf("unexpected line %q", l)
		}
		seen[n]++
	}
	dups := 0
	for i, c := range seen {
		if c == 0 {
			t.Fatalf("event %d lost across the collector's kill -9", i)
		}
		dups += c - 1
	}
	t.Logf("kill -9 mid-stream: %d failed batches, %d duplicates (at-least-once), 0 lost", failures, dups)
}
