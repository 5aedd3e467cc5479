package hdfs

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path"
	"strings"
	"time"

	hdfsclient "github.com/colinmarc/hdfs/v2"
	"github.com/colinmarc/hdfs/v2/hadoopconf"
)

// remoteFS is hdfs:// through github.com/colinmarc/hdfs/v2. Sync is hflush
// (data acknowledged by every datanode of the pipeline), which is what
// Flume's HDFS sink calls per transaction.
type remoteFS struct{ c *hdfsclient.Client }

// dialHDFS connects to the namenode(s) of authority: "host:port" directly,
// or a nameservice (or empty for fs.defaultFS) resolved through the Hadoop
// configuration at HADOOP_CONF_DIR or HADOOP_HOME, as Flume's Hadoop client
// does. The user is HADOOP_USER_NAME, or the process's user.
func dialHDFS(authority string) (*remoteFS, error) {
	conf, err := hadoopconf.LoadFromEnvironment()
	if err != nil {
		return nil, fmt.Errorf("load Hadoop configuration: %w", err)
	}
	opts := hdfsclient.ClientOptionsFromConf(conf)
	if opts.KerberosClient != nil {
		return nil, errors.New("the Hadoop configuration asks for Kerberos, which Sluice's HDFS sink does not support yet")
	}
	if authority != "" {
		if strings.Contains(authority, ":") {
			opts.Addresses = []string{authority}
		} else if nns := conf.Namenodes(); len(nns) > 0 {
			opts.Addresses = nns
		} else {
			opts.Addresses = []string{authority + ":8020"}
		}
	}
	if len(opts.Addresses) == 0 {
		return nil, errors.New("no namenode: give hdfs.path as hdfs://host:port/..., or set HADOOP_CONF_DIR to a configuration with fs.defaultFS")
	}
	opts.User = os.Getenv("HADOOP_USER_NAME")
	if opts.User == "" {
		u, err := user.Current()
		if err != nil {
			return nil, fmt.Errorf("HDFS user: %w", err)
		}
		opts.User = u.Username
	}
	c, err := hdfsclient.NewClient(opts)
	if err != nil {
		return nil, fmt.Errorf("connect to namenode %s: %w", strings.Join(opts.Addresses, ","), err)
	}
	return &remoteFS{c: c}, nil
}

func (r *remoteFS) Create(name string, deadline time.Time) (File, error) {
	if err := r.c.MkdirAll(path.Dir(name), 0o755); err != nil {
		return nil, fmt.Errorf("create directory %s: %w", path.Dir(name), err)
	}
	w, err := r.c.Create(name)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, errExist
		}
		return nil, err
	}
	return &remoteFile{w: w}, nil
}

func (r *remoteFS) Rename(oldpath, newpath string, _ time.Time) error {
	return r.c.Rename(oldpath, newpath)
}

func (r *remoteFS) Exists(name string) (bool, error) {
	_, err := r.c.Stat(name)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (r *remoteFS) Close() error { return r.c.Close() }

type remoteFile struct{ w *hdfsclient.FileWriter }

func (f *remoteFile) Write(p []byte) (int, error) { return f.w.Write(p) }

func (f *remoteFile) Sync(deadline time.Time) error {
	f.w.SetDeadline(deadline)
	return f.w.Flush()
}

func (f *remoteFile) Close(deadline time.Time) error {
	f.w.SetDeadline(deadline)
	err := f.w.Close()
	// Every byte is acknowledged; only the namenode's completion is
	// pending, and the lease recovers by itself (Flume retries close, then
	// recovers the lease).
	if hdfsclient.IsErrReplicating(err) {
		return nil
	}
	return err
}
