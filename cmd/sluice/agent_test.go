package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The README's first commands: `make run` starts the embedded default
// config, and its curl line makes an event appear in the logger output.
func TestReadmeQuickStart(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`curl -d '([^']*)' (http://127\.0\.0\.1:(\d+)/)`).FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no `curl -d '...' http://127.0.0.1:PORT/` line")
	}
	payload, port := m[1], string(m[3])
	mk, err := os.ReadFile("../../Makefile")
	if err != nil || !strings.Contains(string(mk), "$(BIN) agent --default") {
		t.Fatal("Makefile's run target no longer runs `sluice agent --default`")
	}
	if !strings.Contains(string(defaultConf), "${sluice.http.port}") || !strings.Contains(string(mustRead(t, "agent.go")), `sys["sluice.http.port"] = "`+port+`"`) {
		t.Fatalf("README's port %s is not the default config's port", port)
	}
	// The same agent, on a port the OS picks.
	p := startSluice(t, "agent", "--default", "-Dsluice.http.port=0")
	addr := p.waitLog(t, httpAddrRE, 30*time.Second)[1]
	resp, err := http.Post("http://"+addr+"/", "application/json", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST = %d", resp.StatusCode)
	}
	var evs []struct{ Body string }
	json.Unmarshal(payload, &evs)
	p.waitLog(t, regexp.MustCompile(`Event: \{ headers:\{h=v\} body: .* `+regexp.QuoteMeta(evs[0].Body)), 30*time.Second)
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(t, 30*time.Second); err != nil {
		t.Fatalf("agent exit after SIGTERM: %v", err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// SIGTERM mid-load loses nothing acknowledged: every event whose POST got
// 200 is in the file_roll output exactly once.
func TestSIGTERMLosesNothingAcknowledged(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	conf := filepath.Join(dir, "agent.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = http
a1.sources.r1.bind = 127.0.0.1
a1.sources.r1.port = 0
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 5000
a1.channels.c1.transactionCapacity = 500
a1.sinks.k1.type = file_roll
a1.sinks.k1.channel = c1
a1.sinks.k1.sink.directory = %s
a1.sinks.k1.sink.rollInterval = 0
a1.sinks.k1.sink.batchSize = 100
`, out)), 0o644)
	p := startSluice(t, "agent", "-n", "a1", "-f", conf, "--no-reload-conf")
	addr := p.waitLog(t, httpAddrRE, 30*time.Second)[1]

	var mu sync.Mutex
	acked := map[string]bool{}
	stop := make(chan struct{})
	loaded := make(chan struct{}) // closed once 2000 events were acknowledged
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var batch []map[string]string
				var ids []string
				for j := 0; j < 20; j++ {
					id := fmt.Sprintf("w%d-%d-%d", w, i, j)
					ids = append(ids, id)
					batch = append(batch, map[string]string{"body": id})
				}
				b, _ := json.Marshal(batch)
				resp, err := client.Post("http://"+addr+"/", "application/json", bytes.NewReader(b))
				if err != nil {
					return // the agent is going away
				}
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					for _, id := range ids {
						acked[id] = true
					}
					if len(acked) >= 2000 {
						once.Do(func() { close(loaded) })
					}
					mu.Unlock()
				}
			}
		}(w)
	}
	// Signal once a real load has been acknowledged.
	select {
	case <-loaded:
	case <-time.After(60 * time.Second):
		t.Fatal("fewer than 2000 events acknowledged in 60s")
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(t, 60*time.Second); err != nil {
		t.Fatalf("agent exit after SIGTERM: %v", err)
	}
	close(stop)
	wg.Wait()

	seen := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(out, "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			seen[sc.Text()]++
		}
	}
	mu.Lock()
	defer mu.Unlock()
	lost := 0
	for id := range acked {
		switch seen[id] {
		case 0:
			lost++
		case 1:
		default:
			t.Errorf("event %s written %d times", id, seen[id])
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged events lost across SIGTERM", lost, len(acked))
	}
	t.Logf("%d acknowledged events, all in the output exactly once", len(acked))
}

// Flume's monitoring flags start the metrics server; /metrics serves
// Flume's keys for every component and /prometheus the same numbers.
func TestMonitoringFlags(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "agent.conf")
	os.WriteFile(conf, []byte(`
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = seq
a1.sources.r1.totalEvents = 500
a1.sources.r1.batchSize = 50
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 1000
a1.sinks.k1.type = null
a1.sinks.k1.channel = c1
`), 0o644)
	p := startSluice(t, "agent", "-n", "a1", "-f", conf, "-Dflume.monitoring.type=http", "-Dflume.monitoring.port=127.0.0.1:0")
	addr := p.waitLog(t, regexp.MustCompile(`metrics server listening.* addr=(\S+)`), 30*time.Second)[1]
	var m map[string]map[string]string
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		m = nil
		json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if m["SINK.k1"]["EventDrainSuccessCount"] == "500" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sink never drained 500 events: %v", m)
		}
		time.Sleep(20 * time.Millisecond) // poll the endpoint with a deadline
	}
	for _, k := range []string{"SOURCE.r1", "CHANNEL.c1", "SINK.k1"} {
		if m[k]["Type"] == "" || m[k]["StartTime"] == "0" {
			t.Errorf("%s missing or not started: %v", k, m[k])
		}
	}
	if m["SOURCE.r1"]["EventAcceptedCount"] != "500" || m["CHANNEL.c1"]["EventPutSuccessCount"] != "500" {
		t.Errorf("counts: %v %v", m["SOURCE.r1"], m["CHANNEL.c1"])
	}
	resp, err := http.Get("http://" + addr + "/prometheus")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`sluice_sink_event_drain_success_count{name="k1"} 500`,
		`sluice_source_event_accepted_count{name="r1"} 500`,
		`sluice_channel_event_put_success_count{name="c1"} 500`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("/prometheus lacks %q", want)
		}
	}
}
