package containers

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/cmd/sluice/testbin"
	"github.com/sluicehq/sluice/faults"
	"github.com/sluicehq/sluice/faults/container"
	"github.com/sluicehq/sluice/scenarios"
)

var sluiceBin string

func TestMain(m *testing.M) {
	container.Prepare() // before anything touches testcontainers
	testbin.Main(m, &sluiceBin, false)
}

// Scenario 8: collectors as containers, killed, paused and disconnected
// through the Docker API. It skips, saying why, without a Docker engine.
func TestScenario8Containers(t *testing.T) {
	sc, _ := scenarios.Lookup("containers")
	if m := sc.Missing(); m != "" {
		t.Skipf("scenario 8: %s", m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	rt, err := New(ctx, sluiceBin)
	if errors.Is(err, faults.ErrUnsupported) {
		t.Skipf("scenario 8 needs a Docker engine: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	runs := os.Getenv("SLUICE_RUNS_DIR")
	if runs == "" {
		runs = t.TempDir()
	}
	seed := time.Now().UnixNano()
	r, dir, err := scenarios.Run(ctx, sc, scenarios.Options{Binary: sluiceBin, RunsDir: runs, WorkDir: t.TempDir(), Seed: seed,
		Long: os.Getenv("SLUICE_SOAK") != "", Containers: rt})
	var skip *scenarios.SkipError
	if errors.As(err, &skip) {
		t.Skip(skip.Reason)
	}
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	c := r.Checker
	t.Logf("seed %d, run %s: valid=%v attempted=%d delivered=%d lost=%d duplicated=%d", seed, dir, c.Valid, c.Attempted, c.Delivered, c.Lost, c.Duplicated)
	for _, row := range r.Failover {
		t.Logf("  fault %d %s: injected %dms failed over %v failed back %v gap %dms dup %d", row.Fault, row.Name, row.InjectedMs, row.FailedOverMs != nil, row.FailedBackMs != nil, row.LongestGapMs, row.Duplicated)
	}
	if len(r.Faults) != 3 {
		t.Errorf("%d faults injected, want docker kill, pause and disconnect", len(r.Faults))
	}
	for _, n := range r.Topology.Nodes {
		if n.Role == "collector" && n.Runtime != "container" {
			t.Errorf("%s ran as %s", n.Name, n.Runtime)
		}
	}
	for _, p := range scenarios.Problems(sc, r) {
		t.Error(p)
	}
}

// Without a Docker engine the scenario skips with a clear message.
func TestSkipsWithoutDocker(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-docker.sock"))
	_, err := New(context.Background(), sluiceBin)
	if !errors.Is(err, faults.ErrUnsupported) {
		t.Fatalf("no engine: %v, want ErrUnsupported", err)
	}
	t.Logf("skip message: %v", err)
}
