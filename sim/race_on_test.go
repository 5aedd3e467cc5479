//go:build race

package sim

// raceEnabled: the race detector slows the simulation about tenfold, so
// the default test sizes shrink under it.
const raceEnabled = true
