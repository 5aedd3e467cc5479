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

// distance is the optimal string alignment distance: Levenshtein plus the
// swap of two adjacent characters as one edit, the commonest typo.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
