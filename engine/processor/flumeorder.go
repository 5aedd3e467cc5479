package processor

import (
	"slices"
	"sort"
	"unicode/utf16"
)

// This file predicts what Flume does with a sink group where Flume's result
// depends on Java hash order, so that `sluice check` can say exactly how
// Sluice's deliberate choices (config order, ties kept) differ from it.
//
// Flume hands a group's sinks to its processor in HashSet order
// (FlumeConfiguration.validGroupSinks copies the configured list into a
// HashSet, then into a list), and FailoverSinkProcessor visits them in the
// order of a HashMap built from that list. Iteration over a java.util.HashMap
// is by bucket, (h ^ h>>>16) & (tableSize-1) with h = String.hashCode, and
// within a bucket by insertion order; buckets never tree-ify at these sizes.

// javaStringHash is java.lang.String.hashCode: s[0]*31^(n-1) + ... over
// UTF-16 code units, in 32-bit two's complement.
func javaStringHash(s string) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return h
}

func javaBucket(s string, table int) int {
	h := uint32(javaStringHash(s))
	return int((h ^ h>>16) & uint32(table-1))
}

// javaHashOrder is the iteration order of a HashMap/HashSet of table size
// table into which names were inserted in order (duplicates dropped).
func javaHashOrder(names []string, table int) []string {
	var out []string
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return javaBucket(out[i], table) < javaBucket(out[j], table) })
	return out
}

func powerOfTwoAtLeast(n int) int {
	t := 1
	for t < n {
		t <<= 1
	}
	return t
}

// javaHashSetTable is the table size of new HashSet<>(collection of n): the
// constructor sizes it max((int)(n/.75f)+1, 16) (Java 8 to 18; Java 19+
// differs only at exactly 12 elements).
func javaHashSetTable(n int) int {
	return powerOfTwoAtLeast(max(int(float32(n)/0.75)+1, 16))
}

// javaHashMapTable is the table size of a default HashMap after n puts: 16,
// doubled whenever the size exceeds three quarters of it.
func javaHashMapTable(n int) int {
	t := 16
	for n > t*3/4 {
		t <<= 1
	}
	return t
}

// flumeGroupOrder is the order in which Flume hands a group's sinks to its
// processor, given the configured list: a load_balance group's round-robin
// order.
func flumeGroupOrder(names []string) []string {
	return javaHashOrder(names, javaHashSetTable(len(names)))
}

// flumeFailoverOrder is the order in which FailoverSinkProcessor.configure
// visits the sinks: the HashMap it fills from the group order.
func flumeFailoverOrder(names []string) []string {
	group := flumeGroupOrder(names)
	return javaHashOrder(group, javaHashMapTable(len(group)))
}

// javaParseInt is Integer.parseInt: an optional sign and decimal digits,
// nothing else (no surrounding whitespace), within int32.
func javaParseInt(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	neg := false
	i := 0
	if s[0] == '+' || s[0] == '-' {
		neg = s[0] == '-'
		i = 1
	}
	if i == len(s) {
		return 0, false
	}
	var n int64
	for ; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
		if n > 1<<31 {
			return 0, false
		}
	}
	if neg {
		n = -n
	}
	if n > 1<<31-1 || n < -1<<31 {
		return 0, false
	}
	return int(n), true
}

// flumePlan is what FailoverSinkProcessor.configure makes of a group.
type flumePlan struct {
	// Ranked lists the sinks Flume uses, highest priority (active) first.
	Ranked []string
	// Priority is the priority Flume gives each sink it uses.
	Priority map[string]int
	// Implicit marks sinks whose priority Flume made up (--nextPrio)
	// because it had none or Integer.parseInt rejected it.
	Implicit map[string]bool
	// Dropped maps a sink Flume never uses to the sink that took its
	// priority first.
	Dropped map[string]string
}

// flumeFailoverPlan predicts FailoverSinkProcessor.configure for sinks
// (config order) and raw priority values by sink name.
func flumeFailoverPlan(sinks []string, raw map[string]string) flumePlan {
	p := flumePlan{Priority: map[string]int{}, Implicit: map[string]bool{}, Dropped: map[string]string{}}
	owner := map[int]string{}
	next := 0
	for _, name := range flumeFailoverOrder(sinks) {
		v, ok := raw[name]
		prio, parsed := javaParseInt(v)
		if !ok || !parsed {
			next--
			prio = next
			p.Implicit[name] = true
		}
		if first, taken := owner[prio]; taken {
			p.Dropped[name] = first
			continue
		}
		owner[prio] = name
		p.Priority[name] = prio
		p.Ranked = append(p.Ranked, name)
	}
	sort.SliceStable(p.Ranked, func(i, j int) bool { return p.Priority[p.Ranked[i]] > p.Priority[p.Ranked[j]] })
	return p
}
