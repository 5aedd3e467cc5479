package main

import (
	"bytes"
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/engine/agent"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/vfs"

	_ "github.com/sluicehq/sluice/engine/components"
)

//go:embed default.conf
var defaultConf []byte

// defaultConfName is the file name findings and logs use for the embedded config.
const defaultConfName = "<embedded default.conf>"

func init() {
	register("agent", "run an agent from a Flume properties file", runAgent)
}

// splitSysProps pulls Flume's -Dk=v arguments out of args.
func splitSysProps(args []string) (rest []string, sys map[string]string) {
	sys = map[string]string{}
	for _, a := range args {
		if strings.HasPrefix(a, "-D") && len(a) > 2 {
			k, v, _ := strings.Cut(a[2:], "=")
			sys[k] = v
			continue
		}
		rest = append(rest, a)
	}
	return rest, sys
}

type agentFlags struct {
	name, confDir, metricsAddr, logFormat, logLevel string
	files                                           []string
	noReload, strict                                bool
	poll, drain                                     time.Duration
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runAgent(args []string, stdout, stderr io.Writer) int {
	args, sys := splitSysProps(args)
	var f agentFlags
	var files multiFlag
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.name, "n", "", "agent name (as in the properties file)")
	fs.StringVar(&f.name, "name", "", "agent name (Flume's long form)")
	fs.Var(&files, "f", "Flume properties file (repeatable; later files override earlier)")
	fs.Var(&files, "conf-file", "Flume properties file (Flume's long form)")
	fs.StringVar(&f.confDir, "c", "", "Flume conf directory (accepted for compatibility; relative -f paths are read from it)")
	fs.StringVar(&f.confDir, "conf", "", "Flume conf directory (long form)")
	fs.BoolVar(&f.noReload, "no-reload-conf", false, "do not reload the configuration when the file changes")
	fs.DurationVar(&f.poll, "poll-interval", 30*time.Second, "how often to check the configuration file for changes")
	fs.BoolVar(&f.strict, "strict", false, "refuse to start if Flume would drop any component of the configuration")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve /metrics, /prometheus on this address (a bare port binds 127.0.0.1)")
	fs.DurationVar(&f.drain, "drain-timeout", 30*time.Second, "on shutdown, how long sinks may drain their channels")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	useDefault := fs.Bool("default", false, "run the embedded default config (http source on 127.0.0.1:${sluice.http.port} -> memory channel -> logger sink)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sluice agent: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	f.files = files
	log, err := newLogger(stderr, f.logFormat, f.logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "sluice agent:", err)
		return 2
	}
	if *useDefault {
		if f.name == "" {
			f.name = "agent"
		}
		if _, ok := sys["sluice.http.port"]; !ok {
			sys["sluice.http.port"] = "44444"
		}
	} else if len(f.files) == 0 || f.name == "" {
		fmt.Fprintln(stderr, "sluice agent: -n NAME and -f FILE are required (or --default for the embedded example)")
		fs.Usage()
		return 2
	}
	for i, p := range f.files {
		if f.confDir != "" && !filepath.IsAbs(p) && !vfs.Exists(vfs.OS{}, p) {
			f.files[i] = filepath.Join(f.confDir, p)
		}
	}
	load := func() (*config.Agent, error) {
		var props []config.Property
		if *useDefault {
			props, err = config.ParseProperties(defaultConfName, bytes.NewReader(defaultConf))
		} else {
			props, err = config.LoadFiles(vfs.OS{}, f.files...)
		}
		if err != nil {
			return nil, err
		}
		return config.Build(props, f.name, config.Options{Sys: sys}), nil
	}
	cfg, err := load()
	if err != nil {
		log.Error("cannot read configuration", "err", err)
		return 1
	}
	host, _ := os.Hostname()
	clk := clock.Real()
	reg := metrics.NewRegistry(clk)
	env := registry.Env{Agent: f.name, Clock: clk, FS: vfs.OS{}, Log: log, Metrics: reg, Hostname: host}

	if f.strict {
		if fnd := agent.Lint(cfg, env); hasErrors(fnd) {
			for _, x := range fnd {
				if x.Severity == config.Error {
					fmt.Fprintln(stderr, x)
				}
			}
			fmt.Fprintln(stderr, "sluice agent: --strict: refusing to start; Flume would drop the components above")
			return 1
		}
		reg = metrics.NewRegistry(clk)
		env.Metrics = reg
	}

	addr := f.metricsAddr
	if addr == "" && strings.EqualFold(sys["flume.monitoring.type"], "http") {
		addr = sys["flume.monitoring.port"]
		if addr == "" {
			addr = "41414"
		}
	}
	var msrv *metrics.Server
	if addr != "" {
		msrv, err = metrics.Serve(reg, addr, log)
		if err != nil {
			log.Error("cannot start metrics server", "err", err)
			return 1
		}
		log.Info("metrics server listening", "addr", msrv.Addr())
	}

	// Catch signals before anything can accept input, so a SIGTERM that
	// arrives during start-up still drains instead of killing the process.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	a := agent.New(cfg, env)
	a.DrainTimeout = f.drain
	ctx := context.Background()
	if err := a.Start(ctx); err != nil {
		log.Error("agent failed to start", "err", err)
		return 1
	}

	var poll <-chan time.Time
	var lastStamp string
	if !f.noReload && !*useDefault && f.poll > 0 {
		t := clk.NewTicker(f.poll)
		defer t.Stop()
		poll = t.C()
		lastStamp = stamp(f.files)
	}
	reload := func(why string) {
		nc, err := load()
		if err != nil {
			log.Error("reload: cannot read configuration; keeping the running one", "err", err)
			return
		}
		log.Info("reloading configuration", "reason", why)
		if err := a.Reload(ctx, nc); err != nil {
			log.Error("reload failed", "err", err)
		}
	}
	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGHUP {
				reload("SIGHUP")
				continue
			}
			log.Info("shutting down", "signal", s.String(), "drain_timeout", f.drain)
			sctx, cancel := context.WithTimeout(ctx, f.drain+30*time.Second)
			err := a.Stop(sctx)
			cancel()
			if msrv != nil {
				msrv.Close(context.Background())
			}
			if err != nil {
				log.Error("shutdown", "err", err)
				return 1
			}
			return 0
		case <-poll:
			if s := stamp(f.files); s != lastStamp {
				lastStamp = s
				reload("configuration file changed")
			}
		}
	}
}

// stamp summarises the config files' sizes and modification times.
func stamp(files []string) string {
	var b strings.Builder
	for _, p := range files {
		if fi, err := (vfs.OS{}).Stat(p); err == nil {
			fmt.Fprintf(&b, "%s:%d:%d;", p, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String()
}

func hasErrors(fs []config.Finding) bool {
	for _, f := range fs {
		if f.Severity == config.Error {
			return true
		}
	}
	return false
}
