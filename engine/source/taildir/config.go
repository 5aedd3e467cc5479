package taildir

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/engine/config"
)

// LongLinePolicy says what happens to a line longer than MaxLineLength.
type LongLinePolicy string

const (
	// Split delivers a long line as several events of at most MaxLineLength
	// bytes; each carries the LongLineHeader ("split-1", "split-2", ...,
	// the final one "split-N-last"). Nothing is lost.
	Split LongLinePolicy = "split"
	// Truncate delivers the first MaxLineLength bytes with LongLineHeader
	// "truncated" and drops the rest of the line.
	Truncate LongLinePolicy = "truncate"
)

// LongLineHeader marks events cut from a line longer than MaxLineLength.
const LongLineHeader = "longLine"

// ByteOffsetHeader is the header byteOffsetHeader=true adds: the decimal
// offset in the file of the line's first byte (Flume's "byteoffset").
const ByteOffsetHeader = "byteoffset"

// Config is a taildir source's configuration: Flume's keys and defaults
// (flume-facts §5.1) plus Sluice's bound on line length.
type Config struct {
	Groups               []Group
	PositionFile         string
	BatchSize            int
	MaxBatchCount        int64
	SkipToEnd            bool
	ByteOffsetHeader     bool
	IdleTimeout          time.Duration
	WritePosInterval     time.Duration
	CachePatternMatching bool
	FileHeader           bool
	FileHeaderKey        string
	// MaxLineLength bounds the bytes of a line before its newline (a
	// trailing \r included); Flume has no bound and buffers any line whole.
	MaxLineLength int
	LongLines     LongLinePolicy
}

// Group is one file group: a literal directory and a regular expression
// that whole file names in it must match.
type Group struct {
	Name    string
	Dir     string
	Pattern string
	Headers map[string]string
	re      *regexp.Regexp
}

// Match reports whether a file name (no directory) belongs to the group.
func (g *Group) Match(name string) bool { return g.re.MatchString(name) }

// DefaultMaxLineLength is Sluice's default bound on a line: larger than any
// sane log line, small enough that one runaway writer cannot exhaust memory.
const DefaultMaxLineLength = 1 << 20

// maxLineLimit caps the configurable line length, since the read buffer
// must hold a whole line.
const maxLineLimit = 256 << 20

// DefaultConfig is Flume's defaults, with no file groups.
func DefaultConfig() Config {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		home = "."
	}
	return Config{
		PositionFile:         filepath.ToSlash(home) + "/.flume/taildir_position.json",
		BatchSize:            100,
		MaxBatchCount:        math.MaxInt64,
		IdleTimeout:          120 * time.Second,
		WritePosInterval:     3 * time.Second,
		CachePatternMatching: true,
		FileHeaderKey:        "file",
		MaxLineLength:        DefaultMaxLineLength,
		LongLines:            Split,
	}
}

// NewGroup builds a file group from Flume's filegroups.<name> value: an
// absolute path whose last element is a regular expression for file names
// (Java's "regex:" PathMatcher, which must match the whole name).
func NewGroup(name, path string) (Group, error) {
	path = strings.TrimSpace(path)
	if path == "" {
		return Group{}, fmt.Errorf("empty path; use /directory/regex, e.g. /var/log/app/.*\\.log")
	}
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		return Group{}, fmt.Errorf("%q has no directory; use /directory/regex, e.g. /var/log/app/.*\\.log", path)
	}
	dir, pat := path[:i], path[i+1:]
	if pat == "" {
		return Group{}, fmt.Errorf("%q ends with /; the last element must be a regular expression for file names, e.g. %s/.*\\.log", path, path[:i])
	}
	if dir == "" {
		dir = "/"
	}
	if !filepath.IsAbs(dir) {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return Group{}, fmt.Errorf("directory %q: %w", dir, err)
		}
		dir = abs
	}
	re, err := regexp.Compile(`^(?:` + pat + `)$`)
	if err != nil {
		return Group{}, fmt.Errorf("file name pattern %q is not a valid regular expression (%v); Sluice uses RE2 syntax, which is Java's without look-around, back-references and possessive quantifiers", pat, err)
	}
	return Group{Name: name, Dir: javaDir(dir), Pattern: pat, re: re}, nil
}

// javaDir normalises a directory as java.io.File does (duplicate and
// trailing separators removed, "." and ".." kept), so that file paths
// written to the position file are the ones Flume would write.
func javaDir(dir string) string {
	var b strings.Builder
	for i := 0; i < len(dir); i++ {
		if dir[i] == '/' && i > 0 && dir[i-1] == '/' {
			continue
		}
		b.WriteByte(dir[i])
	}
	s := b.String()
	if len(s) > 1 {
		s = strings.TrimSuffix(s, "/")
	}
	return s
}

// join is how the source names a file in a group's directory.
func join(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// ParseConfig reads Flume's taildir keys. backoffSleepIncrement and
// maxBackoffSleep are read by the agent's polling runner.
func ParseConfig(r *config.Reader) (Config, error) {
	c := DefaultConfig()
	fgs := r.List("filegroups")
	if len(fgs) == 0 {
		r.Required("filegroups", "space-separated file group names, each with filegroups.<name> = /directory/regex")
	}
	byName := map[string]int{}
	for _, fg := range fgs {
		key := "filegroups." + fg
		p, ok := r.Raw(key)
		if !ok {
			r.Notef(config.Warning, "filegroups", "taildir-group-without-path", "add "+key+" = /directory/regex, or remove "+fg+" from filegroups",
				"file group %s has no %s; Flume ignores it", fg, key)
			continue
		}
		if _, dup := byName[fg]; dup {
			continue
		}
		g, err := NewGroup(fg, p)
		if err != nil {
			r.Errorf(key, "%v", err)
			continue
		}
		byName[fg] = len(c.Groups)
		c.Groups = append(c.Groups, g)
	}
	if len(fgs) > 0 && len(c.Groups) == 0 && r.Err() == nil {
		r.Errorf("filegroups", "no file group has a path (Flume: \"Mapping for tailing files is empty or invalid\"); set filegroups.<name> = /directory/regex")
	}
	hdrs := r.Prefix("headers.")
	keys := make([]string, 0, len(hdrs))
	for k := range hdrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fg, hk, ok := strings.Cut(k, ".")
		if !ok || fg == "" || hk == "" {
			r.Errorf("headers."+k, "must be headers.<filegroup>.<header name>")
			continue
		}
		i, ok := byName[fg]
		if !ok {
			r.Notef(config.Warning, "headers."+k, "taildir-header-unknown-group", "use one of the groups in filegroups",
				"headers.%s names file group %s, which is not in filegroups; it has no effect", k, fg)
			continue
		}
		if c.Groups[i].Headers == nil {
			c.Groups[i].Headers = map[string]string{}
		}
		c.Groups[i].Headers[hk] = hdrs[k]
	}

	if v, ok := r.Raw("positionFile"); ok {
		v = strings.TrimSpace(v)
		if v == "" || strings.HasSuffix(v, "/") {
			r.Errorf("positionFile", "%q is not a file path", v)
		} else {
			c.PositionFile = v
		}
	}
	c.BatchSize = r.Int("batchSize", c.BatchSize)
	if c.BatchSize <= 0 {
		r.Errorf("batchSize", "%d is invalid; use a positive number of events (Flume's default is 100)", c.BatchSize)
	}
	c.MaxBatchCount = r.Int64("maxBatchCount", c.MaxBatchCount)
	if c.MaxBatchCount <= 0 {
		r.Notef(config.Warning, "maxBatchCount", "taildir-max-batch-count", "set a positive value or remove the key",
			"maxBatchCount %d is invalid; Flume uses the default (no limit)", c.MaxBatchCount)
		c.MaxBatchCount = math.MaxInt64
	}
	c.SkipToEnd = r.Bool("skipToEnd", c.SkipToEnd)
	c.ByteOffsetHeader = r.Bool("byteOffsetHeader", c.ByteOffsetHeader)
	c.IdleTimeout = r.Millis("idleTimeout", c.IdleTimeout)
	if c.IdleTimeout < 0 {
		r.Errorf("idleTimeout", "%d ms is invalid; use milliseconds >= 0 (default 120000)", c.IdleTimeout.Milliseconds())
	}
	c.WritePosInterval = r.Millis("writePosInterval", c.WritePosInterval)
	if c.WritePosInterval <= 0 {
		r.Errorf("writePosInterval", "%d ms is invalid; use milliseconds > 0 (default 3000)", c.WritePosInterval.Milliseconds())
	}
	c.CachePatternMatching = r.Bool("cachePatternMatching", c.CachePatternMatching)
	c.FileHeader = r.Bool("fileHeader", c.FileHeader)
	c.FileHeaderKey = r.String("fileHeaderKey", c.FileHeaderKey)
	c.MaxLineLength = r.IntRange("maxLineLength", c.MaxLineLength, 1, maxLineLimit)
	c.LongLines = LongLinePolicy(r.Enum("longLinePolicy", string(c.LongLines), string(Split), string(Truncate)))
	return c, r.Err()
}
