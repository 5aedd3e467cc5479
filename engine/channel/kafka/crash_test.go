package kafka

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/channel/channeltest"
	"github.com/sluicehq/sluice/engine/flumekafka/kafkatest"
)

const crashEnv = "SLUICE_KAFKA_CHANNEL_CRASH_BROKERS"

// TestCrashChild is the child of TestKill9: it takes from the channel,
// prints ("delivers") each batch and then commits the take, until it is
// killed.
func TestCrashChild(t *testing.T) {
	brokers := os.Getenv(crashEnv)
	if brokers == "" {
		t.Skip("child process of TestKill9")
	}
	ch := newChannel(t, strings.Split(brokers, ","), "kafka.pollTimeout", "200")
	if err := ch.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewWriter(os.Stdout)
	for {
		tx, err := ch.Begin()
		if err != nil {
			t.Fatal(err)
		}
		got, err := tx.Take(20)
		if err != nil {
			t.Fatal(err)
		}
		// Deliver (print), then commit, as a sink does: a kill between the
		// two re-delivers, never loses.
		for _, e := range got {
			out.WriteString("taken " + string(e.Body) + "\n")
		}
		out.Flush()
		if err := tx.Commit(); err != nil {
			tx.Rollback()
		}
	}
}

// TestKill9 kills a process taking from the channel with SIGKILL, with
// takes in flight, then drains the rest from a new member of the same
// group: every event put is taken at least once.
func TestKill9(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("in the child")
	}
	c := kafkatest.New(t, 1, 2, "buf")
	feeder := newChannel(t, c.Addrs)
	if err := feeder.Start(); err != nil {
		t.Fatal(err)
	}
	const total = 3000
	for i := 0; i < total; i += 100 {
		channeltest.Put(t, feeder, evs("x", i, 100))
	}
	feeder.Stop()

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), crashEnv+"="+strings.Join(c.Addrs, ","))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	sc := bufio.NewScanner(stdout)
	deadline := time.Now().Add(60 * time.Second)
	for len(seen) < total/3 && time.Now().Before(deadline) && sc.Scan() {
		if b, ok := strings.CutPrefix(sc.Text(), "taken "); ok {
			seen[b]++
		}
	}
	cmd.Process.Kill() // SIGKILL, takes in flight
	// What the child printed before it died was committed: read it all.
	for sc.Scan() {
		if b, ok := strings.CutPrefix(sc.Text(), "taken "); ok {
			seen[b]++
		}
	}
	cmd.Wait()
	if len(seen) < total/3 {
		t.Fatalf("the child took only %d events before the deadline", len(seen))
	}
	before := len(seen)

	ch := newChannel(t, c.Addrs, "kafka.pollTimeout", "200")
	if err := ch.Start(); err != nil {
		t.Fatal(err)
	}
	defer ch.Stop()
	deadline = time.Now().Add(60 * time.Second)
	for len(seen) < total && time.Now().Before(deadline) {
		for _, e := range channeltest.Take(t, ch, 100) {
			seen[string(e.Body)]++
		}
	}
	dups := 0
	for i := 0; i < total; i++ {
		n := seen["x-"+itoa(i)]
		if n == 0 {
			t.Fatalf("x-%d never taken (child took %d before the kill, %d distinct in all)", i, before, len(seen))
		}
		dups += n - 1
	}
	t.Logf("kill -9 after %d events taken: %d events, 0 lost, %d taken twice (the child's takes in flight or committed-but-unacknowledged)", before, total, dups)
}

func itoa(i int) string { return strconv.Itoa(i) }
