package file

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/vfs"
)

func reader(props map[string]string) *config.Reader {
	c := &config.Component{Kind: config.KindChannel, Name: "c1", Type: "file", Props: map[string]config.Property{},
		Pos: config.Position{File: "agent.conf", Line: 1}}
	line := 2
	for k, v := range props {
		c.Props[k] = config.Property{Key: k, Value: v, Pos: config.Position{File: "agent.conf", Line: line}}
		line++
	}
	return config.NewReader("a1", c)
}

func build(t *testing.T, props map[string]string) (*Channel, *config.Reader, error) {
	t.Helper()
	e, ok := registry.Lookup(registry.Channel, "org.apache.flume.channel.file.FileChannel")
	if !ok {
		t.Fatal("file channel not registered under Flume's class name")
	}
	for _, alias := range []string{"file", "FILE"} {
		if e2, ok := registry.Lookup(registry.Channel, alias); !ok || e2.Name != e.Name {
			t.Fatalf("alias %q not registered", alias)
		}
	}
	mem := vfs.NewMem(nil)
	r := reader(props)
	ch, err := e.Factory.(registry.ChannelFactory)(registry.Env{Agent: "a1", FS: mem, Log: quiet, Check: true}, r)
	if ents, _ := mem.ReadDir("/"); len(ents) != 0 {
		t.Fatalf("the factory touched the disk: %v", ents)
	}
	if ch == nil {
		return nil, r, err
	}
	return ch.(*Channel), r, err
}

func TestConfigDefaults(t *testing.T) {
	ch, r, err := build(t, map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	c := ch.cfg
	home, _ := os.UserHomeDir()
	want := Config{
		CheckpointDir: filepath.Join(home, ".flume/file-channel/checkpoint"), DataDirs: []string{filepath.Join(home, ".flume/file-channel/data")},
		Capacity: 1000000, TransactionCapacity: 10000, KeepAlive: 3 * time.Second, CheckpointInterval: 30 * time.Second,
		MaxFileSize: 1623195647, MinimumRequiredSpace: 524288000, FsyncPerTransaction: true, FsyncInterval: 5 * time.Second,
		CheckpointOnClose: true,
	}
	if strings.Join(c.DataDirs, ",") != strings.Join(want.DataDirs, ",") || c.CheckpointDir != want.CheckpointDir {
		t.Fatalf("directories %s %v", c.CheckpointDir, c.DataDirs)
	}
	c.DataDirs, want.DataDirs = nil, nil
	if !equalConfig(c, want) {
		t.Fatalf("defaults\n got %+v\nwant %+v", c, want)
	}
	if ch.segSize != DefaultSegmentSize {
		t.Fatalf("segment size %d", ch.segSize)
	}
	if len(r.Notes()) != 0 {
		t.Fatalf("notes on an empty config: %v", r.Notes())
	}
}

func equalConfig(a, b Config) bool {
	a.DataDirs, b.DataDirs = nil, nil
	return a.CheckpointDir == b.CheckpointDir && a.Capacity == b.Capacity && a.TransactionCapacity == b.TransactionCapacity &&
		a.KeepAlive == b.KeepAlive && a.CheckpointInterval == b.CheckpointInterval && a.MaxFileSize == b.MaxFileSize &&
		a.MinimumRequiredSpace == b.MinimumRequiredSpace && a.FsyncPerTransaction == b.FsyncPerTransaction &&
		a.FsyncInterval == b.FsyncInterval && a.CheckpointOnClose == b.CheckpointOnClose && a.UseDualCheckpoints == b.UseDualCheckpoints &&
		a.BackupCheckpointDir == b.BackupCheckpointDir
}

func TestConfigKeys(t *testing.T) {
	ch, r, err := build(t, map[string]string{
		"checkpointDir": "/var/flume/ck", "dataDirs": "/disk1/fc, /disk2/fc ,/disk3/fc",
		"useDualCheckpoints": "true", "backupCheckpointDir": "/disk2/ck-backup",
		"capacity": "200000", "transactionCapacity": "1000", "keep-alive": "7", "checkpointInterval": "60000",
		"maxFileSize": "10485760", "minimumRequiredSpace": "1073741824", "fsyncPerTransaction": "false", "fsyncInterval": "2",
		"checkpointOnClose": "false", "use-fast-replay": "true", "use-log-replay-v1": "false", "compressBackupCheckpoint": "true",
	})
	if err != nil {
		t.Fatal(err)
	}
	c := ch.cfg
	want := Config{CheckpointDir: "/var/flume/ck", UseDualCheckpoints: true, BackupCheckpointDir: "/disk2/ck-backup",
		Capacity: 200000, TransactionCapacity: 1000, KeepAlive: 7 * time.Second, CheckpointInterval: time.Minute,
		MaxFileSize: 10 << 20, MinimumRequiredSpace: 1 << 30, FsyncPerTransaction: false, FsyncInterval: 2 * time.Second}
	if !equalConfig(c, want) || strings.Join(c.DataDirs, "|") != "/disk1/fc|/disk2/fc|/disk3/fc" {
		t.Fatalf("got %+v", c)
	}
	if ch.segSize != 10<<20 {
		t.Fatalf("segment size %d, want maxFileSize", ch.segSize)
	}
	if u := r.Unused(); len(u) != 0 {
		t.Fatalf("keys reported unknown: %v", u)
	}
	rules := map[string]bool{}
	for _, n := range r.Notes() {
		rules[n.Rule] = true
		if n.File != "agent.conf" || n.Line == 0 {
			t.Fatalf("note without a position: %+v", n)
		}
	}
	for _, want := range []string{"file-no-fsync", "file-replay-mode", "file-compress-backup"} {
		if !rules[want] {
			t.Fatalf("no %s note in %v", want, r.Notes())
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		props map[string]string
		want  []string
	}{
		{map[string]string{"encryption.activeKey": "key-0", "encryption.cipherProvider": "AESCTRNOPADDING"},
			[]string{"agent.conf:", "a1.channels.c1.encryption.activeKey", "does not implement", "dm-crypt"}},
		{map[string]string{"capacity": "10", "transactionCapacity": "100"}, []string{"a1.channels.c1.transactionCapacity", "greater than capacity 10"}},
		{map[string]string{"useDualCheckpoints": "true"}, []string{"backupCheckpointDir", "is required"}},
		{map[string]string{"useDualCheckpoints": "true", "checkpointDir": "/x", "backupCheckpointDir": "/x"}, []string{"same directory"}},
		{map[string]string{"checkpointDir": "/x", "dataDirs": "/y,/x"}, []string{"/x is also used"}},
		{map[string]string{"dataDirs": "/a,,/b"}, []string{"empty entry"}},
		{map[string]string{"capacity": "100 # big"}, []string{"a1.channels.c1.capacity", "comment"}},
		{map[string]string{"fsyncPerTransaction": "yes"}, []string{"not a boolean"}},
	} {
		_, _, err := build(t, tc.props)
		if err == nil {
			t.Fatalf("%v: no error", tc.props)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("%v: error %q does not mention %q", tc.props, err, w)
			}
		}
	}
}

func TestConfigClamps(t *testing.T) {
	ch, r, err := build(t, map[string]string{"minimumRequiredSpace": "1000", "maxFileSize": "99999999999", "capacity": "0", "checkpointInterval": "-5"})
	if err != nil {
		t.Fatal(err)
	}
	if ch.cfg.MinimumRequiredSpace != MinRequiredSpaceFloor || ch.cfg.MaxFileSize != FlumeMaxFileSize || ch.cfg.Capacity != 1000000 || ch.cfg.CheckpointInterval != 30*time.Second {
		t.Fatalf("got %+v", ch.cfg)
	}
	if len(r.Notes()) < 4 {
		t.Fatalf("expected a note per clamp, got %v", r.Notes())
	}
}

// The counters carry Flume's FileChannel attribute names, plus Sluice's
// extras.
func TestCounters(t *testing.T) {
	ch := start(t, vfs.NewMem(nil), testConfig("/t", 100, 10))
	defer ch.Stop()
	tx, _ := ch.Begin()
	tx.Put(evs("m", 0, 2))
	tx.Commit()
	tx, _ = ch.Begin()
	tx.Take(5)
	tx.Commit()
	vals := map[string]string{}
	for _, v := range ch.counter.Values() {
		vals[v.Name] = v.Value
	}
	for k, want := range map[string]string{
		"EventPutAttemptCount": "2", "EventPutSuccessCount": "2", "EventTakeAttemptCount": "3", "EventTakeSuccessCount": "2",
		"ChannelSize": "0", "ChannelCapacity": "100", "Open": "true", "Closed": "0", "Unhealthy": "0",
		"EventPutErrorCount": "0", "EventTakeErrorCount": "0", "CheckpointWriteErrorCount": "0", "CheckpointBackupWriteErrorCount": "0",
		"CorruptRecordsSkipped": "0", "CorruptEventsDropped": "0", "TornTailsRepaired": "0", "FsyncPerTransaction": "1", "UnsyncedEventCount": "0",
		"Type": "CHANNEL",
	} {
		if vals[k] != want {
			t.Fatalf("%s = %q, want %q (all: %v)", k, vals[k], want, vals)
		}
	}
	ch.Stop()
	for _, v := range ch.counter.Values() {
		if v.Name == "Open" && v.Value != "false" {
			t.Fatalf("Open = %s after Stop", v.Value)
		}
	}
}

var _ channel.Channel = (*Channel)(nil)
