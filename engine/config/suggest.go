package config

import "strings"

// Suggest returns the candidate closest to key (case-insensitive edit
// distance at most a third of its length), or "".
func Suggest(key string, candidates []string) string {
	best, bestD := "", len(key)/3+1
	lk := strings.ToLower(key)
	for _, c := range candidates {
		if c == key {
			continue
		}
		if strings.EqualFold(c, key) {
			return c
		}
		if d := distance(lk, strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the Levenshtein distance.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
