package fileroll

import (
	"bufio"
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/channel/channeltest"
	"github.com/sluicehq/sluice/engine/channel/memory"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/sink"
	"github.com/sluicehq/sluice/engine/sink/sinktest"
	"github.com/sluicehq/sluice/engine/vfs"
)

func readAll(t *testing.T, fsys vfs.FS, dir string) []event.Event {
	t.Helper()
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Files of one series sort by their counter.
	var out []event.Event
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sortByCounter(names)
	for _, n := range names {
		b, err := vfs.ReadFile(fsys, filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			out = append(out, event.New([]byte(sc.Text())))
		}
	}
	return out
}

func sortByCounter(names []string) {
	key := func(s string) int {
		_, after, _ := strings.Cut(s, "-")
		n := 0
		for _, c := range after {
			if c < '0' || c > '9' {
				break
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	for i := 1; i < len(names); i++ {
		for j := i; j > 0 && key(names[j]) < key(names[j-1]); j-- {
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
}

func TestContract(t *testing.T) {
	var faulty *vfs.Faulty
	dir := "/out"
	sinktest.Run(t, sinktest.Harness{
		New: func(t *testing.T, ch channel.Channel, batch int) sink.Sink {
			faulty = vfs.NewFaulty(vfs.NewMem(nil))
			cfg := Config{Directory: dir, BatchSize: batch, Serializer: "TEXT", AppendNewline: true, PathManager: "DEFAULT"}
			return New("k1", cfg, ch, faulty, clock.Real(), metrics.NewRegistry(nil))
		},
		Delivered: func(t *testing.T) []event.Event { return readAll(t, faulty, dir) },
		Break:     func(t *testing.T) { faulty.Fail(vfs.OpSync, "", syscall.EIO, -1) },
		Heal:      func(t *testing.T) { faulty.Clear() },
	})
}

func newChannel(t *testing.T) channel.Channel {
	c := memory.DefaultConfig()
	c.Capacity, c.TransactionCapacity = 1000, 100
	ch := memory.New("c1", c, nil, nil, nil)
	ch.Start()
	t.Cleanup(func() { ch.Stop() })
	return ch
}

// A committed take is durable: after a simulated power cut every event the
// sink committed is still in its files.
func TestCommittedTakeSurvivesCrash(t *testing.T) {
	mem := vfs.NewMem(nil)
	ch := newChannel(t)
	s := New("k1", Config{Directory: "/out", BatchSize: 10, Serializer: "TEXT", AppendNewline: true, PathManager: "DEFAULT"}, ch, mem, clock.Real(), metrics.NewRegistry(nil))
	s.Start(context.Background())
	for i := 0; i < 25; i++ {
		channeltest.Put(t, ch, []event.Event{channeltest.Ev("e", i)})
	}
	for ch.Len() > 0 {
		if _, err := s.Process(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	mem.Crash(nil)
	got := readAll(t, mem, "/out")
	if len(got) != 25 {
		t.Fatalf("%d events survive the crash, want 25", len(got))
	}
}

func TestRollsOnClockAndNamesLikeFlume(t *testing.T) {
	mem := vfs.NewMem(nil)
	clk := clock.NewManual(time.UnixMilli(1700000000123))
	ch := newChannel(t)
	s := New("k1", Config{Directory: "/out", RollInterval: 30 * time.Second, BatchSize: 10, Serializer: "TEXT", AppendNewline: true, PathManager: "DEFAULT", Prefix: "p-", Extension: "log"}, ch, mem, clk, metrics.NewRegistry(clk))
	s.Start(context.Background())
	channeltest.Put(t, ch, []event.Event{channeltest.Ev("a", 0)})
	s.Process(context.Background())
	clk.Advance(30 * time.Second)
	channeltest.Put(t, ch, []event.Event{channeltest.Ev("a", 1)})
	s.Process(context.Background())
	s.Stop(context.Background())
	ents, _ := mem.ReadDir("/out")
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want := []string{"p-1700000000123-1.log", "p-1700000000123-2.log"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("files %v, want %v", names, want)
	}
}

func TestHeaderAndText(t *testing.T) {
	mem := vfs.NewMem(nil)
	ch := newChannel(t)
	s := New("k1", Config{Directory: "/out", BatchSize: 10, Serializer: "HEADER_AND_TEXT", AppendNewline: true, PathManager: "DEFAULT"}, ch, mem, clock.Real(), metrics.NewRegistry(nil))
	s.Start(context.Background())
	channeltest.Put(t, ch, []event.Event{{Headers: map[string]string{"b": "2", "a": "1"}, Body: []byte("x")}})
	s.Process(context.Background())
	got := readAll(t, mem, "/out")
	if len(got) != 1 || string(got[0].Body) != "{a=1, b=2} x" {
		t.Fatalf("got %q", got)
	}
}
