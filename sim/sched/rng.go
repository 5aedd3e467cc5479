package sched

import (
	"hash/fnv"
	"math/rand/v2"
)

// Seed splits one run seed into independent random streams, one per
// subsystem ("net", "faults", "agent0042/disk"...). A stream depends only on
// the seed and its name, so adding a draw in one subsystem never shifts the
// choices of another: a seed keeps replaying the same faults when unrelated
// code changes.
type Seed uint64

// Stream returns the random stream named name.
func (s Seed) Stream(name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(uint64(s), h.Sum64()))
}
