package hdfs

import (
	"fmt"
	"strings"
	"time"
	// hdfs.timeZone must resolve in a FROM scratch container, which has no
	// zoneinfo files.
	_ "time/tzdata"

	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/escape"
)

// Missing-timestamp policies (hdfs.missingTimestamp, a Sluice key): what to
// do with an event that has no usable "timestamp" header when the path or
// prefix has time escapes. Flume fails the batch, forever.
const (
	MissingLocal    = "local"    // bucket it by the sink's clock (default)
	MissingFallback = "fallback" // write it under hdfs.fallbackPath
	MissingFail     = "fail"     // Flume's behaviour: the batch fails
)

// Config is the HDFS sink's configuration (flume-facts §6.2).
type Config struct {
	Path         string // hdfs.path, with scheme
	FilePrefix   string
	FileSuffix   string
	InUsePrefix  string
	InUseSuffix  string
	RollInterval time.Duration
	RollSize     int64
	RollCount    int64
	IdleTimeout  time.Duration
	BatchSize    int
	Format       Format
	MaxOpenFiles int
	// CallTimeout bounds each HDFS call (hdfs:// only: local calls are
	// not cancellable).
	CallTimeout   time.Duration
	CloseTries    int // 0: unlimited
	RetryInterval time.Duration

	Round             bool
	RoundValue        int
	RoundUnit         escape.RoundUnit
	TimeZone          *time.Location
	UseLocalTimeStamp bool

	MissingTimestamp string
	FallbackPath     string
}

// DefaultConfig is Flume's defaults, except for the file type: see
// ParseConfig.
func DefaultConfig() Config {
	return Config{FilePrefix: "FlumeData", InUseSuffix: ".tmp", RollInterval: 30 * time.Second, RollSize: 1024,
		RollCount: 10, BatchSize: 100, MaxOpenFiles: 5000, CallTimeout: 30 * time.Second,
		RetryInterval: 180 * time.Second, RoundValue: 1, TimeZone: time.Local, MissingTimestamp: MissingLocal,
		Format: Format{FileType: "SequenceFile", Serializer: "TEXT", AppendNewline: true, WriteFormat: "Writable"}}
}

// ParseConfig reads the hdfs.* keys.
func ParseConfig(r *config.Reader) (Config, error) {
	c := DefaultConfig()
	c.Path = r.Required("hdfs.path", "the directory to write to, e.g. hdfs://namenode:8020/flume/%Y%m%d or file:///data/flume")
	if c.Path != "" {
		if _, _, _, err := splitURI(c.Path); err != nil {
			r.Errorf("hdfs.path", "%v", err)
		}
		if _, err := escape.Compile(c.Path); err != nil {
			r.Errorf("hdfs.path", "%v", err)
		}
	}
	c.FilePrefix = r.String("hdfs.filePrefix", c.FilePrefix)
	if _, err := escape.Compile(c.FilePrefix); err != nil {
		r.Errorf("hdfs.filePrefix", "%v", err)
	}
	c.FileSuffix = r.String("hdfs.fileSuffix", "")
	c.InUsePrefix = r.String("hdfs.inUsePrefix", "")
	c.InUseSuffix = r.String("hdfs.inUseSuffix", c.InUseSuffix)
	if r.Bool("hdfs.emptyInUseSuffix", false) {
		c.InUseSuffix = ""
	}
	c.RollInterval = r.Seconds("hdfs.rollInterval", c.RollInterval)
	c.RollSize = r.Int64("hdfs.rollSize", c.RollSize)
	c.RollCount = r.Int64("hdfs.rollCount", c.RollCount)
	c.IdleTimeout = r.Seconds("hdfs.idleTimeout", 0)
	for _, k := range []string{"hdfs.rollInterval", "hdfs.rollSize", "hdfs.rollCount", "hdfs.idleTimeout"} {
		if v, ok := r.Raw(k); ok && strings.HasPrefix(strings.TrimSpace(v), "-") {
			r.Errorf(k, "%s is negative; use 0 to turn it off", v)
		}
	}
	c.BatchSize = r.Int("hdfs.batchSize", c.BatchSize)
	if c.BatchSize <= 0 {
		r.Errorf("hdfs.batchSize", "%d is invalid; it must be > 0", c.BatchSize)
	}
	c.MaxOpenFiles = r.Int("hdfs.maxOpenFiles", c.MaxOpenFiles)
	if c.MaxOpenFiles <= 0 {
		r.Errorf("hdfs.maxOpenFiles", "%d is invalid; it must be > 0", c.MaxOpenFiles)
	}
	c.CallTimeout = r.Millis("hdfs.callTimeout", c.CallTimeout)
	c.CloseTries = r.Int("hdfs.closeTries", 0)
	if c.CloseTries < 0 {
		r.Errorf("hdfs.closeTries", "%d is invalid; use 0 for unlimited", c.CloseTries)
	}
	c.RetryInterval = r.Seconds("hdfs.retryInterval", c.RetryInterval)
	if c.RetryInterval <= 0 {
		c.CloseTries = 1 // Flume: one close attempt only
	}

	// File type and codec.
	c.Format.FileType = r.Enum("hdfs.fileType", c.Format.FileType, "SequenceFile", "DataStream", "CompressedStream")
	if codec, ok := r.Raw("hdfs.codeC"); ok {
		switch strings.ToLower(strings.TrimSpace(codec[strings.LastIndexByte(codec, '.')+1:])) {
		case "gzip", "gzipcodec":
			c.Format.Codec = "gzip"
		default:
			r.Errorf("hdfs.codeC", "%q is not supported; Sluice writes gzip (bzip2, lzo, lzop and snappy are not implemented)", codec)
		}
	}
	switch c.Format.FileType {
	case "DataStream":
		if c.Format.Codec != "" {
			r.Errorf("hdfs.codeC", "a DataStream is not compressed (Flume refuses codeC with it); use hdfs.fileType = CompressedStream")
		}
	case "CompressedStream":
		if c.Format.Codec == "" {
			r.Errorf("hdfs.fileType", "CompressedStream needs hdfs.codeC (e.g. gzip)")
		}
	case "SequenceFile":
		if c.Format.Codec != "" {
			r.Errorf("hdfs.codeC", "compressed SequenceFiles are not supported yet; use hdfs.fileType = CompressedStream with codeC gzip, or drop codeC")
		}
		if !r.Has("hdfs.fileType") {
			r.Notef(config.Note, "hdfs.fileType", "hdfs-sequencefile", "set hdfs.fileType = DataStream for plain text files",
				"hdfs.fileType is not set, so files are Hadoop SequenceFiles (Flume's default)")
		}
	}
	c.Format.WriteFormat = r.Enum("hdfs.writeFormat", c.Format.WriteFormat, "Writable", "Text")
	ser := r.String("serializer", "TEXT")
	switch strings.ToUpper(strings.TrimSpace(ser)) {
	case "TEXT", "ORG.APACHE.FLUME.SERIALIZATION.BODYTEXTEVENTSERIALIZER$BUILDER":
		c.Format.Serializer = "TEXT"
	case "HEADER_AND_TEXT", "ORG.APACHE.FLUME.SERIALIZATION.HEADERANDBODYTEXTEVENTSERIALIZER$BUILDER":
		c.Format.Serializer = "HEADER_AND_TEXT"
	default:
		r.Errorf("serializer", "%q is not supported; use TEXT or HEADER_AND_TEXT", ser)
	}
	c.Format.AppendNewline = r.Bool("serializer.appendNewline", true)

	// Time bucketing.
	c.Round = r.Bool("hdfs.round", false)
	c.RoundValue = r.Int("hdfs.roundValue", 1)
	unit := r.Enum("hdfs.roundUnit", "second", "second", "minute", "hour")
	switch unit {
	case "minute":
		c.RoundUnit = escape.Minute
	case "hour":
		c.RoundUnit = escape.Hour
	}
	if c.Round {
		max := 60
		if c.RoundUnit == escape.Hour {
			max = 24
		}
		if c.RoundValue <= 0 || c.RoundValue > max {
			r.Errorf("hdfs.roundValue", "%d is out of range for unit %s; valid values are 1 to %d", c.RoundValue, unit, max)
		}
	}
	if tz, ok := r.Raw("hdfs.timeZone"); ok && strings.TrimSpace(tz) != "" {
		loc, err := time.LoadLocation(strings.TrimSpace(tz))
		if err != nil {
			r.Errorf("hdfs.timeZone", "%q is not a time zone name (e.g. UTC, America/Los_Angeles): %v", tz, err)
		} else {
			c.TimeZone = loc
		}
	}
	c.UseLocalTimeStamp = r.Bool("hdfs.useLocalTimeStamp", false)
	c.MissingTimestamp = r.Enum("hdfs.missingTimestamp", MissingLocal, MissingLocal, MissingFallback, MissingFail)
	c.FallbackPath = r.String("hdfs.fallbackPath", "")
	if c.MissingTimestamp == MissingFallback {
		if c.FallbackPath == "" {
			r.Errorf("hdfs.missingTimestamp", "fallback needs hdfs.fallbackPath, the directory for events without a timestamp header")
		} else if _, _, _, err := splitURI(c.FallbackPath); err != nil {
			r.Errorf("hdfs.fallbackPath", "%v", err)
		} else if _, err := escape.Compile(c.FallbackPath); err != nil {
			r.Errorf("hdfs.fallbackPath", "%v", err)
		}
	}

	// Accepted for compatibility; Sluice has no thread pools to size.
	r.Use("hdfs.threadsPoolSize", "hdfs.rollTimerPoolSize", "hdfs.minBlockReplicas")
	for _, k := range []string{"hdfs.kerberosPrincipal", "hdfs.kerberosKeytab", "hdfs.proxyUser"} {
		if v, ok := r.Raw(k); ok && v != "" {
			r.Errorf(k, "Kerberos and proxy users are not supported yet by Sluice's HDFS sink")
		}
	}
	return c, r.Err()
}

// splitURI splits an hdfs.path into scheme, authority and path.
func splitURI(p string) (scheme, authority, rest string, err error) {
	p = strings.TrimSpace(p)
	i := strings.Index(p, "://")
	if i < 0 {
		if !strings.HasPrefix(p, "/") {
			return "", "", "", fmt.Errorf("%q is not an absolute path; use hdfs://namenode:port/dir, file:///dir or /dir", p)
		}
		return "", "", p, nil
	}
	scheme = strings.ToLower(p[:i])
	rest = p[i+3:]
	j := strings.IndexByte(rest, '/')
	if j < 0 {
		authority, rest = rest, "/"
	} else {
		authority, rest = rest[:j], rest[j:]
	}
	switch scheme {
	case "hdfs":
	case "file":
		if authority != "" && authority != "localhost" {
			return "", "", "", fmt.Errorf("%q: a file:// path has no host; write file:///dir", p)
		}
		authority = ""
	default:
		return "", "", "", fmt.Errorf("%q: scheme %s is not supported; use hdfs:// or file://", p, scheme)
	}
	if strings.ContainsAny(authority, "%") {
		return "", "", "", fmt.Errorf("%q: escapes are allowed in the path, not in the namenode address", p)
	}
	return scheme, authority, rest, nil
}
