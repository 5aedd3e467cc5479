package scenarios

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/cmd/sluice/testbin"
	"github.com/sluicehq/sluice/faults"
	"github.com/sluicehq/sluice/reports"
	"github.com/sluicehq/sluice/reports/record"
)

// sluiceBin is the sluice binary the scenarios run, built once per test
// run: static (CGO_ENABLED=0) and without -race, so the same binary serves
// the container images.
var sluiceBin string

func TestMain(m *testing.M) {
	testbin.Main(m, &sluiceBin, false)
}

// soak selects the long variants (make soak).
var soak = os.Getenv("SLUICE_SOAK") != ""

// runsDir is where run records go: $SLUICE_RUNS_DIR to keep them, else a
// temporary directory of the test.
func runsDir(t *testing.T) string {
	if d := os.Getenv("SLUICE_RUNS_DIR"); d != "" {
		return d
	}
	return t.TempDir()
}

// workDir is where the run's nodes keep their files and logs: a fresh
// directory under $SLUICE_WORK_DIR, kept after the test, to look into a
// failure; else a temporary directory of the test.
func workDir(t *testing.T) string {
	if d := os.Getenv("SLUICE_WORK_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		w, err := os.MkdirTemp(d, strings.ReplaceAll(t.Name(), "/", "_")+"-")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("work directory (kept): %s", w)
		return w
	}
	return t.TempDir()
}

func seedFor(t *testing.T) int64 {
	if s := os.Getenv("SLUICE_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("SLUICE_SEED=%q: %v", s, err)
		}
		return n
	}
	return time.Now().UnixNano()
}

// run runs a catalogued scenario and checks what every scenario must
// show: a stored record and report, the verdict (valid, or for a lossy
// configuration invalid with the loss counted) and every expectation.
func run(t *testing.T, name string, opts Options) *record.Run {
	t.Helper()
	// Two scenarios at a time (-parallel defaults to GOMAXPROCS): each
	// runs a handful of light processes, and every timing expectation has
	// slack for a shared machine.
	t.Parallel()
	sc, ok := Lookup(name)
	if !ok {
		t.Fatalf("no scenario %q", name)
	}
	if opts.Binary == "" {
		opts.Binary = sluiceBin
	}
	opts.RunsDir = runsDir(t)
	opts.WorkDir = workDir(t)
	opts.Seed = seedFor(t)
	opts.Long = soak
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	r, dir, err := Run(ctx, sc, opts)
	var skip *SkipError
	if errors.As(err, &skip) {
		t.Skipf("%s: %s", name, skip.Reason)
	}
	if err != nil {
		t.Fatalf("seed %d: %v", opts.Seed, err)
	}
	for _, f := range []string{reports.RecordFile, reports.MarkdownFile, reports.HTMLFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}
	c := r.Checker
	t.Logf("seed %d, run %s: valid=%v attempted=%d acknowledged=%d delivered=%d lost=%d duplicated=%d unexpected=%d torn=%d; latency p50=%dus p99=%dus max=%dus",
		opts.Seed, dir, c.Valid, c.Attempted, c.Acknowledged, c.Delivered, c.Lost, c.Duplicated, c.Unexpected, c.Torn, c.Latency.P50Us, c.Latency.P99Us, c.Latency.MaxUs)
	for _, row := range r.Failover {
		t.Logf("  fault %d %s on %s: injected %dms detected %s failed over %s healed %s failed back %s gap %dms lost %d dup %d",
			row.Fault, row.Name, row.Target, row.InjectedMs, ms(row.DetectedMs), ms(row.FailedOverMs), ms(row.HealedMs), ms(row.FailedBackMs), row.LongestGapMs, row.Lost, row.Duplicated)
	}
	for _, p := range Problems(sc, r) {
		t.Error(p)
	}
	if t.Failed() {
		t.Logf("timeline:\n%s", strings.Join(reports.TimelineLines(r), "\n"))
	}
	return r
}

func ms(v *int64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%dms", *v)
}

func TestSmoke(t *testing.T) { run(t, "smoke", Options{}) }

func TestScenario1KillPrimary(t *testing.T)      { run(t, "kill-primary", Options{}) }
func TestScenario2PartitionPrimary(t *testing.T) { run(t, "partition-primary", Options{}) }
func TestScenario3RollingRestart(t *testing.T)   { run(t, "rolling-restart", Options{}) }
func TestScenario4KillAgents(t *testing.T)       { run(t, "kill-agents", Options{}) }
func TestScenario5FlappingLoadBalance(t *testing.T) {
	run(t, "flapping-lb", Options{})
}
func TestScenario6SlowNetwork(t *testing.T)     { run(t, "slow-network", Options{}) }
func TestScenario7FrozenCollector(t *testing.T) { run(t, "frozen-collector", Options{}) }

// The checker can fail: deliberately lossy configurations are reported
// invalid with the lost events counted.
func TestLossyMemoryChannel(t *testing.T) { run(t, "lossy-memory-channel", Options{}) }
func TestLossyMemoryDisk(t *testing.T)    { run(t, "lossy-memory-disk", Options{}) }

func TestDiskFull(t *testing.T) { run(t, "disk-full", Options{}) }

// sneaky kills a node's process while claiming to be a network fault, so
// the harness does not expect the node to go down.
type sneaky struct{ faults.Base }

func (sneaky) Name() string      { return "sneaky" }
func (sneaky) Kind() faults.Kind { return faults.Network }
func (sneaky) Action() string    { return "none" }
func (sneaky) Inject(_ context.Context, t faults.Target) error {
	return t.(*Node).Proc().Kill()
}
func (sneaky) Heal(ctx context.Context, t faults.Target) error { return t.(*Node).Start(ctx) }

// A node that dies without a fault is an anomaly the run reports, even
// when the checker has nothing to say.
func TestUnexpectedExitIsAnAnomaly(t *testing.T) {
	base, _ := Lookup("smoke")
	sc := *base
	sc.Name = "smoke-unexpected-exit"
	sc.Agents = 1
	sc.Nemesis = func(p *Plan) {
		p.Add(Step{Name: "sneaky", Target: "agent1", At: time.Second, For: time.Second, Fault: func(*Node) faults.Fault { return sneaky{} }})
	}
	r, _, err := Run(context.Background(), &sc, Options{Binary: sluiceBin, WorkDir: t.TempDir(), Seed: 1})
	var skip *SkipError
	if errors.As(err, &skip) {
		t.Skip(skip.Reason)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Anomalies) != 1 || !strings.Contains(r.Anomalies[0], "agent1 (incarnation 1) exited without a fault") {
		t.Fatalf("anomalies %q", r.Anomalies)
	}
	if p := Problems(&sc, r); len(p) == 0 {
		t.Fatal("the anomaly is not a problem of the run")
	}
}

// Issue 8: the seed collector tier's HDFS -> Kafka store failover.
func TestStoreFailoverHDFSKafka(t *testing.T) { run(t, "hdfs-kafka-failover", Options{}) }

// Issue 8: Kafka broker outage and leader moves with the Kafka channel and
// sink. It used to end invalid in about two runs of three under -race:
// after a leader move or the broker removal the sink's produce timed out on
// every retry (franz-go's idempotent producer wedged the partition after
// records were failed in flight); the sink now replaces its producer after
// a failed batch. kfake keeps acknowledged records across
// RemoveNode/AddNode and MoveTopicPartition.
func TestKafkaBrokerOutage(t *testing.T) { run(t, "kafka-broker-outage", Options{}) }
