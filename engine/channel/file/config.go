package file

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/vfs"
)

// Flume's limits (flume-facts §4.2).
const (
	// FlumeMaxFileSize is Flume's default and hard cap for maxFileSize:
	// Integer.MAX_VALUE - 500 MiB.
	FlumeMaxFileSize = int64(1<<31-1) - 500<<20
	// MinRequiredSpaceFloor is Flume's floor for minimumRequiredSpace.
	MinRequiredSpaceFloor = int64(1 << 20)
	// DefaultSegmentSize is where Sluice rolls a segment when maxFileSize is
	// larger: a fully consumed segment can only be deleted whole, so smaller
	// segments keep the disk use close to the backlog. Flume's 1.5 GiB
	// default would keep up to 1.5 GiB of consumed events per directory.
	DefaultSegmentSize = int64(64 << 20)
)

// Config is the file channel's configuration, with Flume's keys.
type Config struct {
	CheckpointDir string
	// BackupCheckpointDir receives a copy of every checkpoint when
	// UseDualCheckpoints is set.
	BackupCheckpointDir string
	UseDualCheckpoints  bool
	DataDirs            []string
	Capacity            int
	TransactionCapacity int
	// KeepAlive bounds how long a put commit waits for room.
	KeepAlive          time.Duration
	CheckpointInterval time.Duration
	// MaxFileSize caps a segment's size (min with DefaultSegmentSize unless
	// SegmentSize is set).
	MaxFileSize int64
	// SegmentSize, when > 0, is the roll size used instead of
	// min(MaxFileSize, DefaultSegmentSize); tests set it small.
	SegmentSize          int64
	MinimumRequiredSpace int64
	FsyncPerTransaction  bool
	FsyncInterval        time.Duration
	CheckpointOnClose    bool
	// CheckpointBytes triggers a checkpoint once this many log bytes were
	// written since the last one, so that replay after a crash reads at most
	// about this much; 0 means four segments.
	CheckpointBytes int64
}

// DefaultConfig is Flume's defaults; the directories are Flume's too,
// under the user's home directory.
func DefaultConfig() Config {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		home = "."
	}
	return Config{
		CheckpointDir:        filepath.Join(home, ".flume", "file-channel", "checkpoint"),
		DataDirs:             []string{filepath.Join(home, ".flume", "file-channel", "data")},
		Capacity:             1000000,
		TransactionCapacity:  10000,
		KeepAlive:            3 * time.Second,
		CheckpointInterval:   30 * time.Second,
		MaxFileSize:          FlumeMaxFileSize,
		MinimumRequiredSpace: 500 << 20,
		FsyncPerTransaction:  true,
		FsyncInterval:        5 * time.Second,
		CheckpointOnClose:    true,
	}
}

func (c Config) segmentSize() int64 {
	if c.SegmentSize > 0 {
		return c.SegmentSize
	}
	s := c.MaxFileSize
	if s <= 0 || s > DefaultSegmentSize {
		s = DefaultSegmentSize
	}
	return s
}

func (c Config) checkpointBytes() int64 {
	if c.CheckpointBytes > 0 {
		return c.CheckpointBytes
	}
	return 4 * c.segmentSize()
}

// Validate reports a configuration the channel cannot run with.
func (c Config) Validate() error {
	switch {
	case c.Capacity <= 0:
		return fmt.Errorf("capacity %d must be > 0", c.Capacity)
	case c.TransactionCapacity <= 0 || c.TransactionCapacity > c.Capacity:
		return fmt.Errorf("transactionCapacity %d must be > 0 and <= capacity %d", c.TransactionCapacity, c.Capacity)
	case c.CheckpointDir == "":
		return fmt.Errorf("checkpointDir is empty")
	case len(c.DataDirs) == 0:
		return fmt.Errorf("dataDirs is empty")
	case c.UseDualCheckpoints && c.BackupCheckpointDir == "":
		return fmt.Errorf("useDualCheckpoints is true but backupCheckpointDir is not set")
	case len(c.DataDirs) > 255:
		return fmt.Errorf("%d dataDirs; at most 255 are supported", len(c.DataDirs))
	}
	seen := map[string]string{filepath.Clean(c.CheckpointDir): "checkpointDir"}
	if c.UseDualCheckpoints {
		if prev, dup := seen[filepath.Clean(c.BackupCheckpointDir)]; dup {
			return fmt.Errorf("backupCheckpointDir %s is the same directory as %s", c.BackupCheckpointDir, prev)
		}
		seen[filepath.Clean(c.BackupCheckpointDir)] = "backupCheckpointDir"
	}
	for _, d := range c.DataDirs {
		if d == "" {
			return fmt.Errorf("dataDirs has an empty entry")
		}
		if prev, dup := seen[filepath.Clean(d)]; dup {
			return fmt.Errorf("data directory %s is also used as %s; every directory must be distinct", d, prev)
		}
		seen[filepath.Clean(d)] = "a data directory"
	}
	return nil
}

// ParseConfig reads Flume's file channel keys (flume-facts §4.2).
func ParseConfig(r *config.Reader) (Config, error) {
	c := DefaultConfig()
	c.CheckpointDir = strings.TrimSpace(r.String("checkpointDir", c.CheckpointDir))
	if v, ok := r.Raw("dataDirs"); ok {
		c.DataDirs = nil
		for _, d := range strings.Split(v, ",") {
			d = strings.TrimSpace(d)
			if d == "" {
				r.Errorf("dataDirs", "%q has an empty entry; list directories separated by commas", v)
				continue
			}
			c.DataDirs = append(c.DataDirs, d)
		}
	}
	c.UseDualCheckpoints = r.Bool("useDualCheckpoints", false)
	c.BackupCheckpointDir = strings.TrimSpace(r.String("backupCheckpointDir", ""))
	if c.UseDualCheckpoints && c.BackupCheckpointDir == "" {
		r.Errorf("backupCheckpointDir", "is required when useDualCheckpoints is true (Flume refuses the channel too); set it to a directory other than checkpointDir, ideally on another disk")
	}
	if !c.UseDualCheckpoints && c.BackupCheckpointDir != "" {
		r.Notef(config.Warning, "backupCheckpointDir", "file-backup-unused", "set useDualCheckpoints = true",
			"backupCheckpointDir is set but useDualCheckpoints is false, so no backup checkpoint is written")
	}
	if r.Bool("compressBackupCheckpoint", false) {
		r.Notef(config.Note, "compressBackupCheckpoint", "file-compress-backup", "",
			"Sluice writes the backup checkpoint uncompressed; its checkpoint is run-length encoded and already a few bytes per event")
	}

	c.Capacity = r.Int("capacity", c.Capacity)
	if c.Capacity <= 0 {
		r.Notef(config.Warning, "capacity", "file-capacity", "set capacity > 0", "capacity %d is invalid; Flume uses the default 1000000", c.Capacity)
		c.Capacity = 1000000
	}
	c.TransactionCapacity = r.Int("transactionCapacity", c.TransactionCapacity)
	if c.TransactionCapacity <= 0 {
		r.Notef(config.Warning, "transactionCapacity", "file-txn-capacity", "set transactionCapacity > 0", "transactionCapacity %d is invalid; Flume uses the default 10000", c.TransactionCapacity)
		c.TransactionCapacity = 10000
	}
	if c.TransactionCapacity > c.Capacity {
		r.Errorf("transactionCapacity", "%d is greater than capacity %d; Flume refuses to configure the channel; make transactionCapacity <= capacity", c.TransactionCapacity, c.Capacity)
	}
	c.KeepAlive = r.Seconds("keep-alive", c.KeepAlive)
	if c.KeepAlive < 0 {
		r.Errorf("keep-alive", "%v is negative; give a number of seconds >= 0", c.KeepAlive)
	}
	c.CheckpointInterval = r.Millis("checkpointInterval", c.CheckpointInterval)
	if c.CheckpointInterval <= 0 {
		r.Notef(config.Warning, "checkpointInterval", "file-checkpoint-interval", "give a number of milliseconds > 0",
			"checkpointInterval %v is invalid; Flume uses the default 30000 ms", c.CheckpointInterval)
		c.CheckpointInterval = 30 * time.Second
	}
	if r.Has("maxFileSize") {
		c.MaxFileSize = r.Int64("maxFileSize", c.MaxFileSize)
		if c.MaxFileSize <= 0 {
			r.Errorf("maxFileSize", "%d must be > 0 (bytes)", c.MaxFileSize)
			c.MaxFileSize = FlumeMaxFileSize
		}
		if c.MaxFileSize > FlumeMaxFileSize {
			r.Notef(config.Note, "maxFileSize", "file-max-file-size", "",
				"maxFileSize %d is above Flume's cap %d; Flume uses the cap, and so does Sluice", c.MaxFileSize, FlumeMaxFileSize)
			c.MaxFileSize = FlumeMaxFileSize
		}
		if c.MaxFileSize > DefaultSegmentSize {
			r.Notef(config.Note, "maxFileSize", "file-segment-size", "",
				"Sluice rolls log segments at %d MiB even when maxFileSize is larger, so that consumed events are deleted promptly", DefaultSegmentSize>>20)
		}
	}
	c.MinimumRequiredSpace = r.Int64("minimumRequiredSpace", c.MinimumRequiredSpace)
	if c.MinimumRequiredSpace < MinRequiredSpaceFloor {
		r.Notef(config.Note, "minimumRequiredSpace", "file-min-space", "",
			"minimumRequiredSpace %d is below Flume's floor of 1 MiB; the floor is used", c.MinimumRequiredSpace)
		c.MinimumRequiredSpace = MinRequiredSpaceFloor
	}
	c.FsyncPerTransaction = r.Bool("fsyncPerTransaction", true)
	c.FsyncInterval = r.Seconds("fsyncInterval", c.FsyncInterval)
	if c.FsyncInterval <= 0 {
		r.Errorf("fsyncInterval", "%v must be a number of seconds > 0", c.FsyncInterval)
		c.FsyncInterval = 5 * time.Second
	}
	if !c.FsyncPerTransaction {
		r.Notef(config.Warning, "fsyncPerTransaction", "file-no-fsync", "set fsyncPerTransaction = true unless losing recent events on a crash is acceptable",
			"fsyncPerTransaction is false: commits return before their events are on disk, so a crash or power loss can lose up to fsyncInterval (%v) of committed events", c.FsyncInterval)
	}
	c.CheckpointOnClose = r.Bool("checkpointOnClose", true)
	for _, k := range []string{"use-log-replay-v1", "use-fast-replay"} {
		if r.Has(k) {
			r.Bool(k, false)
			r.Notef(config.Note, k, "file-replay-mode", "remove the key",
				"%s has no effect in Sluice: it always recovers from its checkpoint plus the log written after it", k)
		}
	}
	if enc := r.Prefix("encryption."); len(enc) > 0 {
		keys := make([]string, 0, len(enc))
		for k := range enc {
			keys = append(keys, "encryption."+k)
		}
		sort.Strings(keys)
		r.Errorf(keys[0], "Sluice's file channel does not implement Flume's event encryption (%s); rather than write events in clear text that were meant to be encrypted it refuses the channel: remove the encryption.* keys and encrypt the disk instead (for example dm-crypt/LUKS)", strings.Join(keys, ", "))
	}
	if err := r.Err(); err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%s: channel %s: %w", r.Component().Pos, r.Name(), err)
	}
	return c, nil
}

func init() {
	registry.Register(registry.Entry{
		Kind:    registry.Channel,
		Name:    "file",
		Aliases: []string{"org.apache.flume.channel.file.FileChannel"},
		Factory: registry.ChannelFactory(func(env registry.Env, r *config.Reader) (channel.Channel, error) {
			cfg, err := ParseConfig(r)
			if err != nil {
				return nil, err
			}
			fs := env.FS
			if fs == nil {
				fs = vfs.OS{}
			}
			return New(r.Name(), cfg, Options{FS: fs, Clock: env.Clock, Metrics: env.Metrics, Log: env.Log}), nil
		}),
	})
}
