package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/channel/memory"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/selector"
	avrosink "github.com/sluicehq/sluice/engine/sink/avro"
	"github.com/sluicehq/sluice/engine/source"
	avrosrc "github.com/sluicehq/sluice/engine/source/avro"
	"github.com/sluicehq/sluice/engine/vfs"
)

func init() {
	registerBench("avro", "Avro sink -> Avro source over loopback, memory channels at both ends (-via: through a relay agent)", benchAvro)
}

type avroBenchOpts struct {
	events, size, batch int
	warmup              int
	deflate             bool
	listen, via         string
}

func benchAvro(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench avro", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o avroBenchOpts
	fs.IntVar(&o.events, "events", 2_000_000, "events per run")
	fs.IntVar(&o.size, "size", 256, "event body bytes")
	fs.IntVar(&o.batch, "batch", 1000, "sink batch-size")
	fs.BoolVar(&o.deflate, "deflate", false, "compression-type = deflate on both ends")
	runs := fs.Int("runs", 5, "runs; the median is reported")
	fs.IntVar(&o.warmup, "warmup", 0, "events sent untimed first (a JVM relay needs a few hundred thousand to compile its hot paths)")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "address of the receiving avro source (fix it when a relay sends to it)")
	fs.StringVar(&o.via, "via", "", "host:port of a relay agent's avro source (e.g. a Flume agent: avro source -> memory -> avro sink to -listen); default: send straight to the receiving source")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var rates []float64
	if o.warmup > 0 {
		w := o
		w.events = o.warmup
		if _, err := avroBenchRun(w, log); err != nil {
			fmt.Fprintf(stderr, "bench avro: warm-up: %v\n", err)
			return 1
		}
	}
	for i := 0; i < *runs; i++ {
		rate, err := avroBenchRun(o, log)
		if err != nil {
			fmt.Fprintf(stderr, "bench avro: run %d: %v\n", i+1, err)
			return 1
		}
		fmt.Fprintf(stdout, "run %d: %.0f events/s (%.1f MB/s of bodies)\n", i+1, rate, rate*float64(o.size)/1e6)
		rates = append(rates, rate)
	}
	sort.Float64s(rates)
	mode := "plain"
	if o.deflate {
		mode = "deflate"
	}
	path := "direct"
	if o.via != "" {
		path = "via " + o.via
	}
	fmt.Fprintf(stdout, "avro %s %s, %d-byte events, batch %d: median %.0f events/s over %d runs\n", mode, path, o.size, o.batch, rates[len(rates)/2], len(rates))
	return 0
}

func benchReader(kind config.Kind, props map[string]string) *config.Reader {
	c := &config.Component{Kind: kind, Name: "bench", Type: "avro", Props: map[string]config.Property{}}
	for k, v := range props {
		c.Props[k] = config.Property{Key: k, Value: v}
	}
	return config.NewReader("bench", c)
}

func avroBenchChannel(name string, capacity, txCap int, log *slog.Logger) *memory.Channel {
	cfg := memory.DefaultConfig()
	cfg.Capacity, cfg.TransactionCapacity, cfg.KeepAlive = capacity, txCap, time.Second
	ch := memory.New(name, cfg, nil, nil, log)
	ch.Start()
	return ch
}

// avroBenchRun moves o.events events from a memory channel through an avro
// sink to an avro source and its memory channel, and returns events/s
// from the first send to the last commit at the receiving end.
func avroBenchRun(o avroBenchOpts, log *slog.Logger) (float64, error) {
	env := registry.Env{Agent: "bench", Clock: clock.Real(), FS: vfs.OS{}, Log: log, Metrics: metrics.NewRegistry(nil)}
	comp := "none"
	if o.deflate {
		comp = "deflate"
	}
	// Receiving end.
	host, port, err := net.SplitHostPort(o.listen)
	if err != nil {
		return 0, fmt.Errorf("-listen: %w", err)
	}
	dst := avroBenchChannel("dst", 100*o.batch, o.batch, log)
	defer dst.Stop()
	scfg, err := avrosrc.ParseConfig(benchReader(config.KindSource, map[string]string{"bind": host, "port": port, "compression-type": comp}))
	if err != nil {
		return 0, err
	}
	sel, _ := selector.NewReplicating([]channel.Channel{dst}, nil)
	src := avrosrc.New("dst", scfg, &source.ChannelProcessor{Selector: sel, Log: log}, env)
	if err := src.Start(context.Background()); err != nil {
		return 0, err
	}
	defer src.Stop(context.Background())

	// Sending end.
	target := src.Addr().String()
	if o.via != "" {
		target = o.via
	}
	thost, tport, _ := net.SplitHostPort(target)
	in := avroBenchChannel("src", 20*o.batch, o.batch, log)
	defer in.Stop()
	kcfg, err := avrosink.ParseConfig(benchReader(config.KindSink, map[string]string{"hostname": thost, "port": tport,
		"batch-size": strconv.Itoa(o.batch), "compression-type": comp}))
	if err != nil {
		return 0, err
	}
	snk := avrosink.New("src", kcfg, in, env)
	if err := snk.Start(context.Background()); err != nil {
		return 0, err
	}
	defer snk.Stop(context.Background())

	body := make([]byte, o.size)
	for i := range body {
		body[i] = "abcdefghijklmnopqrstuvwxyz0123456789 "[i%37]
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	// Sink loop: like a sink runner, a failed batch (a relay still
	// connecting, its channel full) is retried after a pause, not fatal.
	var failures atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			wait := in.Notify()
			st, err := snk.Process(ctx)
			if err == nil && st == 0 {
				continue
			}
			if err != nil {
				failures.Add(1)
				wait = nil // retry after the pause even if events arrive
			}
			t := time.NewTimer(100 * time.Millisecond)
			select {
			case <-wait:
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
	}()
	put := func(from, n int) {
		batch := make([]event.Event, 0, o.batch)
		for sent := 0; sent < n && ctx.Err() == nil; {
			k := min(o.batch, n-sent)
			batch = batch[:0]
			for i := 0; i < k; i++ {
				batch = append(batch, event.Event{Headers: map[string]string{"seq": strconv.Itoa(from + sent + i)}, Body: body})
			}
			tx, _ := in.Begin()
			tx.Put(batch)
			if err := tx.Commit(); err != nil {
				tx.Rollback()
				continue // full: the commit already waited keep-alive
			}
			sent += k
		}
	}
	// take drains the receiving channel until n events arrived or the
	// deadline passed.
	take := func(n int, deadline time.Time) int {
		got := 0
		for got < n && time.Now().Before(deadline) {
			wait := dst.Notify()
			tx, _ := dst.Begin()
			evs, _ := tx.Take(o.batch)
			tx.Commit()
			got += len(evs)
			if len(evs) == 0 {
				t := time.NewTimer(100 * time.Millisecond)
				select {
				case <-wait:
				case <-t.C:
				}
				t.Stop()
			}
		}
		return got
	}
	// Warm up: one batch end to end, so connection set-up (and a relay's
	// JIT) is not in the timing.
	put(0, o.batch)
	if got := take(o.batch, time.Now().Add(60*time.Second)); got < o.batch {
		return 0, fmt.Errorf("warm-up batch did not arrive within 60 s (%d of %d events; %d failed sends)", got, o.batch, failures.Load())
	}
	start := time.Now()
	wg.Add(1)
	go func() {
		defer wg.Done()
		put(o.batch, o.events)
	}()
	got := take(o.events, start.Add(10*time.Minute))
	elapsed := time.Since(start)
	cancel()
	wg.Wait()
	if got < o.events {
		return 0, fmt.Errorf("only %d of %d events arrived within 10 minutes", got, o.events)
	}
	return float64(got) / elapsed.Seconds(), nil
}
