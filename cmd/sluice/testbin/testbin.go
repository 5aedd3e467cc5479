// Package testbin builds the sluice command once per test binary, for the
// tests that run it as a child process: agents killed with SIGKILL,
// collectors in containers, the README's command lines.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Main builds the sluice command into a temporary directory, sets *bin to
// its path, runs the tests and exits with their code. The binary is static
// (CGO_ENABLED=0, as the container images need) unless race is set, which
// builds it with the race detector.
func Main(m *testing.M, bin *string, race bool) {
	os.Exit(run(m, bin, race))
}

func run(m *testing.M, bin *string, race bool) int {
	dir, err := os.MkdirTemp("", "sluice-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "building sluice:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	*bin = filepath.Join(dir, "sluice")
	args := []string{"build", "-o", *bin}
	if race {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "github.com/sluicehq/sluice/cmd/sluice")...)
	if !race {
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
	}
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building sluice: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}
