package hdfs

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/channel/memory"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/sink"
	"github.com/sluicehq/sluice/engine/sink/sinktest"
	"github.com/sluicehq/sluice/engine/vfs"
)

var t0 = time.Date(2026, 3, 5, 14, 7, 9, 0, time.UTC)

func reader(kv ...string) *config.Reader {
	c := &config.Component{Kind: config.KindSink, Name: "h1", Type: "hdfs", Props: map[string]config.Property{},
		Pos: config.Position{File: "collector.conf", Line: 1}}
	for i := 0; i < len(kv); i += 2 {
		c.Props[kv[i]] = config.Property{Key: kv[i], Value: kv[i+1], Pos: config.Position{File: "collector.conf", Line: i/2 + 2}}
	}
	return config.NewReader("collector", c)
}

type rig struct {
	s   *Sink
	ch  channel.Channel
	fs  vfs.FS
	clk *clock.Manual
	reg *metrics.Registry
	cfg Config
}

// newRig builds a started sink on fs (a Mem disk when nil) with a manual
// clock at t0 and Flume keys kv (hdfs.path defaults to file:///store).
func newRig(t *testing.T, fsys vfs.FS, kv ...string) *rig {
	t.Helper()
	if fsys == nil {
		fsys = vfs.NewMem(nil)
	}
	has := map[string]bool{}
	for i := 0; i < len(kv); i += 2 {
		has[kv[i]] = true
	}
	if !has["hdfs.path"] {
		kv = append(kv, "hdfs.path", "file:///store")
	}
	if !has["hdfs.fileType"] {
		kv = append(kv, "hdfs.fileType", "DataStream")
	}
	cfg, err := ParseConfig(reader(kv...))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	if !has["hdfs.timeZone"] {
		cfg.TimeZone = time.UTC
	}
	clk := clock.NewManual(t0)
	mc := memory.DefaultConfig()
	mc.Capacity, mc.TransactionCapacity, mc.KeepAlive = 100000, 1000, 0
	ch := memory.New("c1", mc, clk, nil, nil)
	if err := ch.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Stop() })
	reg := metrics.NewRegistry(clk)
	s, err := New("h1", cfg, ch, registry.Env{Clock: clk, FS: fsys, Metrics: reg, Hostname: "box"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	return &rig{s: s, ch: ch, fs: fsys, clk: clk, reg: reg, cfg: cfg}
}

func (r *rig) put(t *testing.T, evs ...event.Event) {
	t.Helper()
	tx, _ := r.ch.Begin()
	if err := tx.Put(evs); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func (r *rig) process(t *testing.T) {
	t.Helper()
	for r.ch.Len() > 0 {
		if _, err := r.s.Process(context.Background()); err != nil {
			t.Fatalf("Process: %v", err)
		}
	}
}

// files lists every file under /store with its content, sorted by path.
func (r *rig) files(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(string)
	walk = func(dir string) {
		ents, err := r.fs.ReadDir(dir)
		if err != nil {
			return
		}
		for _, e := range ents {
			p := path.Join(dir, e.Name())
			if e.IsDir() {
				walk(p)
				continue
			}
			b, _ := vfs.ReadFile(r.fs, p)
			out[p] = string(b)
		}
	}
	walk("/store")
	return out
}

func (r *rig) counter(t *testing.T, name string) string {
	g, _ := r.reg.Lookup("SINK.h1")
	v, _ := g.Get(name)
	return v
}

func ev(ts time.Time, body string, kv ...string) event.Event {
	h := map[string]string{"timestamp": strconv.FormatInt(ts.UnixMilli(), 10)}
	for i := 0; i < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	return event.Event{Headers: h, Body: []byte(body)}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// The shared sink contract on a real local directory; the broken store
// fails every write, sync and create.
func TestContract(t *testing.T) {
	var dir string
	var faulty *vfs.Faulty
	sinktest.Run(t, sinktest.Harness{
		New: func(t *testing.T, ch channel.Channel, batch int) sink.Sink {
			dir = t.TempDir()
			faulty = vfs.NewFaulty(vfs.OS{})
			r := reader("hdfs.path", "file://"+dir, "hdfs.fileType", "DataStream", "hdfs.batchSize", strconv.Itoa(batch),
				"hdfs.rollCount", "100", "hdfs.rollSize", "0")
			cfg, err := ParseConfig(r)
			if err != nil {
				t.Fatal(err)
			}
			s, err := New("h1", cfg, ch, registry.Env{FS: faulty, Hostname: "box"})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Delivered: func(t *testing.T) []event.Event {
			files, err := ReadStore(vfs.OS{}, dir, Format{FileType: "DataStream"}, ".tmp")
			if err != nil {
				t.Fatal(err)
			}
			var out []event.Event
			for _, f := range files {
				out = append(out, f.Events...)
			}
			return out
		},
		Break: func(t *testing.T) {
			for _, op := range []vfs.Op{vfs.OpWrite, vfs.OpSync, vfs.OpOpen} {
				faulty.Fail(op, dir, fmt.Errorf("injected: %w", vfs.ErrNoSpace), -1)
			}
		},
		Heal: func(t *testing.T) { faulty.Clear() },
	})
}

func TestFileNamingInUseAndShutdown(t *testing.T) {
	r := newRig(t, nil, "hdfs.filePrefix", "trade", "hdfs.fileSuffix", ".log", "hdfs.inUsePrefix", "_",
		"hdfs.rollCount", "0", "hdfs.rollSize", "0", "hdfs.rollInterval", "0")
	r.put(t, ev(t0, "a"), ev(t0, "b"))
	r.process(t)
	want := fmt.Sprintf("/store/_trade.%d.log.tmp", t0.UnixMilli()+1)
	files := r.files(t)
	if got := keys(files); len(got) != 1 || got[0] != want {
		t.Fatalf("open file = %v, want %s (Flume: inUsePrefix + prefix.counter + suffix + inUseSuffix)", got, want)
	}
	if files[want] != "a\nb\n" {
		t.Fatalf("content %q: synced before commit", files[want])
	}
	if err := r.s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	final := fmt.Sprintf("/store/trade.%d.log", t0.UnixMilli()+1)
	if got := keys(r.files(t)); len(got) != 1 || got[0] != final {
		t.Fatalf("after Stop: %v, want %s", got, final)
	}
}

func TestEscapesBucketing(t *testing.T) {
	r := newRig(t, nil, "hdfs.path", "file:///store/%{svc}/%Y-%m-%d/%H%M", "hdfs.filePrefix", "%[localhost]-%{svc}",
		"hdfs.rollCount", "0", "hdfs.rollSize", "0", "hdfs.round", "true", "hdfs.roundValue", "10", "hdfs.roundUnit", "minute")
	t1 := t0.Add(2 * time.Minute)  // 14:09 -> 14:00
	t2 := t0.Add(10 * time.Minute) // 14:17 -> 14:10
	r.put(t, ev(t0, "1", "svc", "web"), ev(t1, "2", "svc", "web"), ev(t2, "3", "svc", "web"), ev(t0, "4", "svc", "db"))
	r.process(t)
	r.s.Stop(context.Background())
	got := map[string]string{}
	for p, c := range r.files(t) {
		got[path.Dir(p)+" "+strings.SplitN(path.Base(p), ".", 2)[0]] = c
	}
	want := map[string]string{
		"/store/web/2026-03-05/1400 box-web": "1\n2\n",
		"/store/web/2026-03-05/1410 box-web": "3\n",
		"/store/db/2026-03-05/1400 box-db":   "4\n",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("buckets:\n got %v\nwant %v", got, want)
	}
}

func TestTimeZoneAndLocalTimeStamp(t *testing.T) {
	// 14:07 UTC is 23:07 in Tokyo.
	r := newRig(t, nil, "hdfs.path", "file:///store/%Y%m%d/%H", "hdfs.timeZone", "Asia/Tokyo")
	r.put(t, ev(t0, "a"))
	r.process(t)
	for p := range r.files(t) {
		if !strings.HasPrefix(p, "/store/20260305/23/") {
			t.Fatalf("Tokyo bucket: %s", p)
		}
	}
	// useLocalTimeStamp buckets by the sink's clock, whatever the header says.
	r = newRig(t, nil, "hdfs.path", "file:///store/%Y%m%d/%H%M", "hdfs.useLocalTimeStamp", "true")
	r.clk.Advance(26 * time.Hour)
	r.put(t, ev(t0, "b"))
	r.process(t)
	for p := range r.files(t) {
		if !strings.HasPrefix(p, "/store/20260306/1607/") {
			t.Fatalf("local-time bucket: %s", p)
		}
	}
	if v := r.counter(t, "EventMissingTimestampCount"); v != "0" {
		t.Fatalf("useLocalTimeStamp counted a missing timestamp: %s", v)
	}
}

func TestRollCountAndSize(t *testing.T) {
	r := newRig(t, nil, "hdfs.rollCount", "3", "hdfs.rollSize", "0", "hdfs.rollInterval", "0")
	for i := 0; i < 7; i++ {
		r.put(t, ev(t0, strconv.Itoa(i)))
	}
	r.process(t)
	files := r.files(t)
	var closed, open []string
	for _, p := range keys(files) {
		if strings.HasSuffix(p, ".tmp") {
			open = append(open, files[p])
		} else {
			closed = append(closed, files[p])
		}
	}
	if fmt.Sprint(closed) != "[0\n1\n2\n 3\n4\n5\n]" || fmt.Sprint(open) != "[6\n]" {
		t.Fatalf("rollCount=3: closed %q open %q", closed, open)
	}
	if v := r.counter(t, "FileRollCount"); v != "2" {
		t.Fatalf("FileRollCount %s", v)
	}

	// rollSize counts body bytes, as Flume does.
	r2 := newRig(t, nil, "hdfs.rollCount", "0", "hdfs.rollSize", "10", "hdfs.rollInterval", "0")
	r2.put(t, ev(t0, "aaaa"), ev(t0, "bbbb"), ev(t0, "cccc"), ev(t0, "dd"))
	r2.process(t)
	r2.s.Stop(context.Background())
	var contents []string
	files = r2.files(t)
	for _, p := range keys(files) {
		contents = append(contents, files[p])
	}
	if fmt.Sprint(contents) != "[aaaa\nbbbb\ncccc\n dd\n]" {
		t.Fatalf("rollSize=10: %q", contents)
	}
}

func TestRollIntervalAndIdleTimeoutOnTheClock(t *testing.T) {
	r := newRig(t, nil, "hdfs.rollCount", "0", "hdfs.rollSize", "0", "hdfs.rollInterval", "30")
	r.put(t, ev(t0, "a"))
	r.process(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.clk.WaitForWaiters(ctx, 1); err != nil {
		t.Fatal("roll timer never armed")
	}
	r.clk.Advance(29 * time.Second)
	if p := keys(r.files(t)); len(p) != 1 || !strings.HasSuffix(p[0], ".tmp") {
		t.Fatalf("rolled early: %v", p)
	}
	r.clk.Advance(time.Second)
	waitFor(t, func() bool {
		p := keys(r.files(t))
		return len(p) == 1 && !strings.HasSuffix(p[0], ".tmp")
	}, "file not closed and renamed at rollInterval")

	r2 := newRig(t, nil, "hdfs.rollCount", "0", "hdfs.rollSize", "0", "hdfs.rollInterval", "0", "hdfs.idleTimeout", "5")
	r2.put(t, ev(t0, "a"))
	r2.process(t)
	if err := r2.clk.WaitForWaiters(ctx, 1); err != nil {
		t.Fatal("idle timer never armed")
	}
	r2.clk.Advance(3 * time.Second)
	r2.put(t, ev(t0, "b"))
	r2.process(t) // activity pushes the idle close back
	r2.clk.Advance(3 * time.Second)
	if p := keys(r2.files(t)); !strings.HasSuffix(p[0], ".tmp") {
		t.Fatalf("closed though written 3s ago: %v", p)
	}
	r2.clk.Advance(2 * time.Second)
	waitFor(t, func() bool {
		p := keys(r2.files(t))
		return len(p) == 1 && !strings.HasSuffix(p[0], ".tmp")
	}, "file not closed after idleTimeout")
	if got := r2.files(t); fmt.Sprint(got) == "" || !strings.Contains(fmt.Sprint(got), "a\nb\n") {
		t.Fatalf("content %v", got)
	}
}

func waitFor(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(time.Millisecond) // polling a condition, with a deadline
	}
}

func TestMissingTimestamp(t *testing.T) {
	noTS := event.Event{Headers: map[string]string{"svc": "web"}, Body: []byte("x")}
	badTS := event.Event{Headers: map[string]string{"timestamp": "soon"}, Body: []byte("y")}

	// Default: bucket by the sink's clock, counted.
	r := newRig(t, nil, "hdfs.path", "file:///store/%Y%m%d", "hdfs.rollCount", "0")
	r.put(t, noTS, badTS)
	r.process(t)
	for p := range r.files(t) {
		if !strings.HasPrefix(p, "/store/20260305/") {
			t.Fatalf("local-time bucket: %s", p)
		}
	}
	if v := r.counter(t, "EventMissingTimestampCount"); v != "2" {
		t.Fatalf("EventMissingTimestampCount %s", v)
	}

	// fallback: a separate directory.
	r = newRig(t, nil, "hdfs.path", "file:///store/%Y%m%d", "hdfs.missingTimestamp", "fallback",
		"hdfs.fallbackPath", "file:///store/no-timestamp/%{svc}", "hdfs.rollCount", "0")
	r.put(t, noTS, ev(t0, "ok"))
	r.process(t)
	var dirs []string
	for p := range r.files(t) {
		dirs = append(dirs, path.Dir(p))
	}
	sort.Strings(dirs)
	if fmt.Sprint(dirs) != "[/store/20260305 /store/no-timestamp/web]" {
		t.Fatalf("fallback dirs %v", dirs)
	}

	// fail: Flume's poison pill, on request.
	r = newRig(t, nil, "hdfs.path", "file:///store/%Y", "hdfs.missingTimestamp", "fail")
	r.put(t, noTS)
	if _, err := r.s.Process(context.Background()); err == nil || !strings.Contains(err.Error(), "timestamp") {
		t.Fatalf("fail mode: %v", err)
	}
	if r.ch.Len() != 1 {
		t.Fatal("event dropped in fail mode")
	}
}

func TestCompressedStreamGzip(t *testing.T) {
	r := newRig(t, nil, "hdfs.fileType", "CompressedStream", "hdfs.codeC", "gzip", "hdfs.rollCount", "0", "hdfs.rollSize", "0")
	r.put(t, ev(t0, "one"), ev(t0, "two"))
	r.process(t)
	r.put(t, ev(t0, "three"))
	r.process(t)
	// Readable while still open: each batch ends a gzip member.
	files, err := ReadStore(r.fs, "/store", r.cfg.Format, ".tmp")
	if err != nil || len(files) != 1 || len(files[0].Events) != 3 || files[0].Torn || !strings.HasSuffix(files[0].Path, ".gz.tmp") {
		t.Fatalf("open gzip file: %+v %v", files, err)
	}
	r.s.Stop(context.Background())
	files, _ = ReadStore(r.fs, "/store", r.cfg.Format, ".tmp")
	if !strings.HasSuffix(files[0].Path, ".gz") || string(files[0].Events[2].Body) != "three" {
		t.Fatalf("closed gzip file: %+v", files)
	}
}

func TestSequenceFile(t *testing.T) {
	for _, wf := range []string{"Writable", "Text"} {
		r := newRig(t, nil, "hdfs.fileType", "SequenceFile", "hdfs.writeFormat", wf, "hdfs.rollCount", "0", "hdfs.rollSize", "0")
		var evs []event.Event
		for i := 0; i < 300; i++ { // enough bytes for several sync markers
			evs = append(evs, ev(t0.Add(time.Duration(i)*time.Millisecond), strings.Repeat("z", i%40)+strconv.Itoa(i)))
		}
		r.put(t, evs...)
		r.process(t)
		r.s.Stop(context.Background())
		files, err := ReadStore(r.fs, "/store", r.cfg.Format, ".tmp")
		if err != nil || len(files) != 1 {
			t.Fatalf("%s: %v %v", wf, files, err)
		}
		got := files[0].Events
		if len(got) != 300 {
			t.Fatalf("%s: %d records", wf, len(got))
		}
		for i, e := range got {
			if string(e.Body) != string(evs[i].Body) || e.Headers["timestamp"] != evs[i].Headers["timestamp"] {
				t.Fatalf("%s record %d: %q %v", wf, i, e.Body, e.Headers)
			}
		}
		raw, _ := vfs.ReadFile(r.fs, files[0].Path)
		if !strings.HasPrefix(string(raw), "SEQ\x06") || !strings.Contains(string(raw), "org.apache.hadoop.io.LongWritable") {
			t.Fatalf("%s: not a SequenceFile header", wf)
		}
	}
}

func TestMaxOpenFiles(t *testing.T) {
	r := newRig(t, nil, "hdfs.path", "file:///store/%{d}", "hdfs.maxOpenFiles", "2", "hdfs.rollCount", "0", "hdfs.rollSize", "0")
	r.put(t, ev(t0, "1", "d", "a"), ev(t0, "2", "d", "b"))
	r.process(t)
	r.put(t, ev(t0, "3", "d", "c"))
	r.process(t)
	var open, closed []string
	for p := range r.files(t) {
		if strings.HasSuffix(p, ".tmp") {
			open = append(open, path.Dir(p))
		} else {
			closed = append(closed, path.Dir(p))
		}
	}
	sort.Strings(open)
	if fmt.Sprint(closed) != "[/store/a]" || fmt.Sprint(open) != "[/store/b /store/c]" {
		t.Fatalf("closed %v open %v: the least recently used file must be closed", closed, open)
	}
}

// A failed rename is retried every retryInterval (Flume's close retries)
// until it succeeds.
func TestCloseRetry(t *testing.T) {
	faulty := vfs.NewFaulty(vfs.NewMem(nil))
	r := newRig(t, faulty, "hdfs.rollCount", "1", "hdfs.rollSize", "0", "hdfs.rollInterval", "0", "hdfs.retryInterval", "60")
	faulty.Fail(vfs.OpRename, "/store", fmt.Errorf("namenode says no"), 2)
	r.put(t, ev(t0, "a"))
	r.process(t)
	if p := keys(r.files(t)); len(p) != 1 || !strings.HasSuffix(p[0], ".tmp") {
		t.Fatalf("rename should have failed: %v", p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; i < 2; i++ {
		if err := r.clk.WaitForWaiters(ctx, 1); err != nil {
			t.Fatal("retry not scheduled")
		}
		r.clk.Advance(60 * time.Second)
	}
	waitFor(t, func() bool {
		p := keys(r.files(t))
		return len(p) == 1 && !strings.HasSuffix(p[0], ".tmp")
	}, "rename never retried to success")
	if faulty.Injected(vfs.OpRename) != 2 {
		t.Fatalf("rename faults fired %d times", faulty.Injected(vfs.OpRename))
	}
}

// A full disk is an error from Process (so a failover group switches to
// Kafka), the batch stays in the channel, and writing resumes when space
// comes back; nothing committed is missing.
func TestFullDiskIsAnErrorAndHeals(t *testing.T) {
	mem := vfs.NewMem(nil)
	r := newRig(t, mem, "hdfs.batchSize", "10", "hdfs.rollCount", "0", "hdfs.rollSize", "0")
	for i := 0; i < 10; i++ {
		r.put(t, ev(t0, fmt.Sprintf("e-%03d", i)))
	}
	r.process(t)
	mem.SetCapacity(mem.Used() + 20)
	for i := 10; i < 30; i++ {
		r.put(t, ev(t0, fmt.Sprintf("e-%03d", i)))
	}
	for i := 0; i < 3; i++ {
		if _, err := r.s.Process(context.Background()); err == nil {
			t.Fatal("Process on a full disk returned no error: a failover group would not switch")
		}
		if r.ch.Len() != 20 {
			t.Fatalf("channel holds %d, want 20", r.ch.Len())
		}
	}
	if v := r.counter(t, "EventWriteFail"); v != "3" {
		t.Fatalf("EventWriteFail %s", v)
	}
	mem.SetCapacity(0)
	r.process(t)
	r.s.Stop(context.Background())
	files, err := ReadStore(mem, "/store", r.cfg.Format, ".tmp")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, f := range files {
		for _, e := range f.Events {
			seen[string(e.Body)]++
		}
	}
	for i := 0; i < 30; i++ {
		if seen[fmt.Sprintf("e-%03d", i)] == 0 {
			t.Fatalf("e-%03d lost", i)
		}
	}
}

// Every committed batch survives a power cut: Mem drops what was not
// synced and tears the tail, and the store still holds every event whose
// transaction committed.
func TestCommittedSurvivesCrash(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		mem := vfs.NewMem(nil)
		r := newRig(t, mem, "hdfs.batchSize", "7", "hdfs.rollCount", "20", "hdfs.rollSize", "0")
		rng := rand.New(rand.NewPCG(seed, 1))
		n := 10 + rng.IntN(80)
		for i := 0; i < n; i++ {
			r.put(t, ev(t0, fmt.Sprintf("c-%d", i)))
		}
		committed := 0
		for committed < n-rng.IntN(10) {
			before := r.ch.Len()
			if _, err := r.s.Process(context.Background()); err != nil {
				t.Fatal(err)
			}
			committed += before - r.ch.Len()
		}
		mem.Crash(rng)
		files, err := ReadStore(mem, "/store", r.cfg.Format, ".tmp")
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		seen := map[string]bool{}
		for _, f := range files {
			for _, e := range f.Events {
				seen[string(e.Body)] = true
			}
		}
		for i := 0; i < committed; i++ {
			if !seen[fmt.Sprintf("c-%d", i)] {
				t.Fatalf("seed %d: committed event c-%d lost in the crash", seed, i)
			}
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		kv   []string
		want string
	}{
		{[]string{}, "hdfs.path: is required"},
		{[]string{"hdfs.path", "s3://b/x"}, "scheme s3"},
		{[]string{"hdfs.path", "relative/dir"}, "absolute"},
		{[]string{"hdfs.path", "/x", "hdfs.fileType", "DataStream", "hdfs.codeC", "gzip"}, "CompressedStream"},
		{[]string{"hdfs.path", "/x", "hdfs.fileType", "CompressedStream"}, "needs hdfs.codeC"},
		{[]string{"hdfs.path", "/x", "hdfs.codeC", "snappy", "hdfs.fileType", "CompressedStream"}, "not supported"},
		{[]string{"hdfs.path", "/x", "hdfs.round", "true", "hdfs.roundUnit", "hour", "hdfs.roundValue", "25"}, "1 to 24"},
		{[]string{"hdfs.path", "/x", "hdfs.timeZone", "Mars/Olympus"}, "time zone"},
		{[]string{"hdfs.path", "/x", "hdfs.missingTimestamp", "fallback"}, "fallbackPath"},
		{[]string{"hdfs.path", "/x", "hdfs.batchSize", "0"}, "must be > 0"},
		{[]string{"hdfs.path", "/x", "hdfs.fileType", "Parquet"}, "SequenceFile, DataStream, CompressedStream"},
		{[]string{"hdfs.path", "/x/%[nope]"}, "%[localhost]"},
	} {
		_, err := ParseConfig(reader(c.kv...))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "collector.conf") {
			t.Errorf("%v: error %v, want one naming the file and mentioning %q", c.kv, err, c.want)
		}
	}
	r := reader("hdfs.path", "hdfs://nameservice1/flume/trade/%Y%m%d", "hdfs.filePrefix", "trade", "hdfs.batchSize", "5000",
		"hdfs.rollInterval", "1800", "hdfs.rollSize", "268435456", "hdfs.fileType", "DataStream", "hdfs.threadsPoolSize", "10")
	cfg, err := ParseConfig(r)
	if err != nil || cfg.RollInterval != 30*time.Minute || cfg.BatchSize != 5000 || cfg.Format.FileType != "DataStream" {
		t.Fatalf("seed collector config: %+v %v", cfg, err)
	}
	if u := r.Unused(); len(u) != 0 {
		t.Fatalf("unread keys %v", u)
	}
}

// The hdfs:// code path (naming, rolling, renaming) runs on the local
// FileSystem through DialHDFS; a real NameNode is used only when
// HDFS_NAMENODE is set.
func TestHDFSSchemeThroughDial(t *testing.T) {
	mem := vfs.NewMem(nil)
	cfg, err := ParseConfig(reader("hdfs.path", "hdfs://nn:8020/store/%Y", "hdfs.fileType", "DataStream", "hdfs.batchSize", "10"))
	if err != nil {
		t.Fatal(err)
	}
	ch := memory.New("c1", memory.Config{Capacity: 10, TransactionCapacity: 10}, nil, nil, nil)
	ch.Start()
	defer ch.Stop()
	s, _ := New("h1", cfg, ch, registry.Env{})
	var dialed string
	s.DialHDFS = func(a string) (FileSystem, error) { dialed = a; return localFS{mem}, nil }
	s.Start(context.Background())
	tx, _ := ch.Begin()
	tx.Put([]event.Event{ev(t0, "x")})
	tx.Commit()
	if _, err := s.Process(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Stop(context.Background())
	if dialed != "nn:8020" {
		t.Fatalf("dialed %q", dialed)
	}
	files, _ := ReadStore(mem, "/store/2026", Format{FileType: "DataStream"}, ".tmp")
	if len(files) != 1 || files[0].InUse || string(files[0].Events[0].Body) != "x" {
		t.Fatalf("files %+v", files)
	}
}

func TestRealNameNode(t *testing.T) {
	nn := os.Getenv("HDFS_NAMENODE")
	if nn == "" {
		t.Skip("HDFS_NAMENODE is not set (host:port of a NameNode); the hdfs:// backend is tested against a real NameNode only then")
	}
	dir := fmt.Sprintf("/tmp/sluice-test-%d", time.Now().UnixNano())
	cfg, err := ParseConfig(reader("hdfs.path", "hdfs://"+nn+dir, "hdfs.fileType", "DataStream", "hdfs.rollCount", "5"))
	if err != nil {
		t.Fatal(err)
	}
	mc := memory.DefaultConfig()
	ch := memory.New("c1", mc, nil, nil, nil)
	ch.Start()
	defer ch.Stop()
	s, err := New("h1", cfg, ch, registry.Env{})
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	tx, _ := ch.Begin()
	var evs []event.Event
	for i := 0; i < 12; i++ {
		evs = append(evs, ev(t0, strconv.Itoa(i)))
	}
	tx.Put(evs)
	tx.Commit()
	for ch.Len() > 0 {
		if _, err := s.Process(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	rfs, err := dialHDFS(nn)
	if err != nil {
		t.Fatal(err)
	}
	defer rfs.Close()
	ents, err := rfs.c.ReadDir(dir)
	if err != nil || len(ents) != 3 {
		t.Fatalf("%d files in %s, want 3 (rollCount 5 over 12 events): %v", len(ents), dir, err)
	}
	rfs.c.RemoveAll(dir)
}

// BenchmarkProcess measures events/s of a 1000-event batch written to a
// file:// directory with an fsync per batch.
func BenchmarkProcess(b *testing.B) {
	dir := b.TempDir()
	cfg, err := ParseConfig(reader("hdfs.path", "file://"+dir+"/%Y%m%d", "hdfs.fileType", "DataStream", "hdfs.batchSize", "1000",
		"hdfs.rollSize", "67108864", "hdfs.rollCount", "0", "hdfs.rollInterval", "0"))
	if err != nil {
		b.Fatal(err)
	}
	mc := memory.DefaultConfig()
	mc.Capacity, mc.TransactionCapacity, mc.KeepAlive = 2000, 1000, 0
	ch := memory.New("c1", mc, nil, nil, nil)
	ch.Start()
	defer ch.Stop()
	s, _ := New("h1", cfg, ch, registry.Env{FS: vfs.OS{}})
	s.Start(context.Background())
	defer s.Stop(context.Background())
	batch := make([]event.Event, 1000)
	body := []byte(strings.Repeat("x", 200))
	for i := range batch {
		batch[i] = ev(t0, "", "id", strconv.Itoa(i))
		batch[i].Body = body
	}
	b.SetBytes(int64(len(body) * len(batch)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tx, _ := ch.Begin()
		tx.Put(batch)
		tx.Commit()
		if _, err := s.Process(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "events/s")
}
