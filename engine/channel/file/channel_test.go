package file

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/channel/channeltest"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/vfs"
)

// testConfig is a small channel in dir: small segments so that tests roll
// and delete segments, and no free-space floor.
func testConfig(dir string, capacity, txnCap int) Config {
	c := DefaultConfig()
	c.CheckpointDir = filepath.Join(dir, "checkpoint")
	c.DataDirs = []string{filepath.Join(dir, "data")}
	c.Capacity, c.TransactionCapacity = capacity, txnCap
	c.KeepAlive = 0
	c.SegmentSize = 64 << 10
	c.MinimumRequiredSpace = 0
	return c
}

func TestContractOS(t *testing.T) {
	channeltest.Run(t, channeltest.Suite{
		New: func(t *testing.T, cfg channeltest.Config) channel.Channel {
			return New("c1", testConfig(t.TempDir(), cfg.Capacity, cfg.TransactionCapacity), Options{FS: vfs.OS{}})
		},
		Reopen: func(t *testing.T, ch channel.Channel) channel.Channel {
			old := ch.(*Channel)
			if err := old.Stop(); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			return New("c1", old.cfg, Options{FS: vfs.OS{}})
		},
	})
}

// TestContractMemCrash runs the suite on the simulated disk, and reopens
// after a power cut that loses everything unsynced instead of after a clean
// Stop: nothing committed may depend on Stop's checkpoint.
func TestContractMemCrash(t *testing.T) {
	fss := map[channel.Channel]*vfs.Mem{}
	channeltest.Run(t, channeltest.Suite{
		New: func(t *testing.T, cfg channeltest.Config) channel.Channel {
			fs := vfs.NewMem(nil)
			ch := New("c1", testConfig("/c", cfg.Capacity, cfg.TransactionCapacity), Options{FS: fs, Clock: clock.NewManual(time.Unix(0, 0))})
			fss[ch] = fs
			return ch
		},
		Reopen: func(t *testing.T, ch channel.Channel) channel.Channel {
			fs := fss[ch]
			fs.Crash(nil)
			n := New("c1", ch.(*Channel).cfg, Options{FS: fs, Clock: clock.NewManual(time.Unix(0, 0))})
			fss[n] = fs
			return n
		},
	})
}

// Two data directories, on the simulated disk: transactions alternate
// between them, and reopening crashes the disk.
func TestContractTwoDataDirs(t *testing.T) {
	fss := map[channel.Channel]*vfs.Mem{}
	channeltest.Run(t, channeltest.Suite{
		New: func(t *testing.T, cfg channeltest.Config) channel.Channel {
			fs := vfs.NewMem(nil)
			c := testConfig("/c", cfg.Capacity, cfg.TransactionCapacity)
			c.DataDirs = []string{"/c/d1", "/c/d2"}
			ch := New("c1", c, Options{FS: fs, Clock: clock.NewManual(time.Unix(0, 0))})
			fss[ch] = fs
			return ch
		},
		Reopen: func(t *testing.T, ch channel.Channel) channel.Channel {
			fs := fss[ch]
			fs.Crash(nil)
			n := New("c1", ch.(*Channel).cfg, Options{FS: fs, Clock: clock.NewManual(time.Unix(0, 0))})
			fss[n] = fs
			return n
		},
	})
}
