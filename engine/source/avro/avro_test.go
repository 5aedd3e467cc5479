package avro_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/avroipc"
	"github.com/sluicehq/sluice/engine/avroipc/avrotest"
	"github.com/sluicehq/sluice/engine/channel"
	"github.com/sluicehq/sluice/engine/channel/memory"
	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/metrics"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/selector"
	"github.com/sluicehq/sluice/engine/source"
	avrosrc "github.com/sluicehq/sluice/engine/source/avro"
	"github.com/sluicehq/sluice/engine/vfs"
)

func reader(props map[string]string) *config.Reader {
	c := &config.Component{Kind: config.KindSource, Name: "r1", Type: "avro", Props: map[string]config.Property{},
		Pos: config.Position{File: "agent.conf", Line: 1}}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys) // line numbers follow key order, so messages are stable
	for i, k := range keys {
		c.Props[k] = config.Property{Key: "a1.sources.r1." + k, Value: props[k], Pos: config.Position{File: "agent.conf", Line: i + 2}}
	}
	return config.NewReader("a1", c)
}

func newChannel(t *testing.T, capacity, txCap int) *memory.Channel {
	cfg := memory.DefaultConfig()
	cfg.Capacity, cfg.TransactionCapacity, cfg.KeepAlive = capacity, txCap, 0
	ch := memory.New("c1", cfg, nil, nil, quiet())
	if err := ch.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Stop() })
	return ch
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startSource(t *testing.T, props map[string]string, ch channel.Channel) *avrosrc.Source {
	t.Helper()
	base := map[string]string{"bind": "127.0.0.1", "port": "0"}
	for k, v := range props {
		base[k] = v
	}
	cfg, err := avrosrc.ParseConfig(reader(base))
	if err != nil {
		t.Fatal(err)
	}
	sel, _ := selector.NewReplicating([]channel.Channel{ch}, nil)
	env := registry.Env{Agent: "a1", Clock: clock.Real(), FS: vfs.OS{}, Log: quiet(), Metrics: metrics.NewRegistry(nil)}
	s := avrosrc.New("r1", cfg, &source.ChannelProcessor{Selector: sel, Log: quiet()}, env)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	return s
}

func drainAll(t *testing.T, ch channel.Channel) []event.Event {
	t.Helper()
	tx, err := ch.Begin()
	if err != nil {
		t.Fatal(err)
	}
	evs, err := tx.Take(ch.TransactionCapacity())
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return evs
}

func get(t *testing.T, g interface{ Get(string) (string, bool) }, name string) string {
	t.Helper()
	v, ok := g.Get(name)
	if !ok {
		t.Fatalf("no attribute %s", name)
	}
	return v
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDeliversAndCounts(t *testing.T) {
	ch := newChannel(t, 1000, 100)
	s := startSource(t, nil, ch)
	cl, err := avroipc.Dial(context.Background(), avroipc.ClientConfig{Addr: s.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return get(t, s.Counter(), "OpenConnectionCount") == "1" }, "OpenConnectionCount 1")
	batch := []event.Event{{Headers: map[string]string{"k": "v"}, Body: []byte("one")}, {Body: []byte("two")}}
	if err := cl.AppendBatch(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	// OK means committed: the events are in the channel now.
	if ch.Len() != 2 {
		t.Fatalf("channel holds %d events after OK, want 2", ch.Len())
	}
	if err := cl.Append(context.Background(), event.Event{Body: []byte("three")}); err != nil {
		t.Fatal(err)
	}
	got := drainAll(t, ch)
	if len(got) != 3 || got[0].Headers["k"] != "v" || string(got[2].Body) != "three" {
		t.Fatalf("channel got %+v", got)
	}
	for attr, want := range map[string]string{
		"AppendBatchReceivedCount": "1", "AppendBatchAcceptedCount": "1", "AppendReceivedCount": "1", "AppendAcceptedCount": "1",
		"EventReceivedCount": "3", "EventAcceptedCount": "3", "ChannelWriteFail": "0",
	} {
		if v := get(t, s.Counter(), attr); v != want {
			t.Errorf("%s = %s, want %s", attr, v, want)
		}
	}
	if v, _ := s.Counter().Get("HandshakeBOTH"); v != "1" {
		t.Errorf("HandshakeBOTH = %s, want 1", v)
	}
	cl.Close()
	waitFor(t, func() bool { return get(t, s.Counter(), "OpenConnectionCount") == "0" }, "OpenConnectionCount back to 0")
}

// A full channel answers FAILED (the sender keeps the batch) and counts
// ChannelWriteFail; once the channel drains, the same batch goes through.
func TestFullChannelRepliesFailed(t *testing.T) {
	ch := newChannel(t, 3, 3)
	s := startSource(t, nil, ch)
	cl, err := avroipc.Dial(context.Background(), avroipc.ClientConfig{Addr: s.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	three := []event.Event{{Body: []byte("a")}, {Body: []byte("b")}, {Body: []byte("c")}}
	if err := cl.AppendBatch(context.Background(), three); err != nil {
		t.Fatal(err)
	}
	err = cl.AppendBatch(context.Background(), three[:1])
	if !errors.Is(err, avroipc.ErrFailed) {
		t.Fatalf("batch into a full channel: %v, want FAILED", err)
	}
	if v := get(t, s.Counter(), "ChannelWriteFail"); v != "1" {
		t.Fatalf("ChannelWriteFail = %s", v)
	}
	// A bigger batch is refused as well while the channel is full.
	if err := cl.AppendBatch(context.Background(), append(three, three...)); !errors.Is(err, avroipc.ErrFailed) {
		t.Fatalf("oversized batch: %v, want FAILED", err)
	}
	drainAll(t, ch)
	if err := cl.AppendBatch(context.Background(), three[:1]); err != nil {
		t.Fatalf("retry after drain: %v", err)
	}
	if ch.Len() != 1 {
		t.Fatalf("channel holds %d, want 1", ch.Len())
	}
}

func TestTLSAndClientAuth(t *testing.T) {
	f := avrotest.Certs(t, t.TempDir())
	ch := newChannel(t, 100, 100)
	s := startSource(t, map[string]string{
		"ssl": "true", "keystore": f.ServerP12, "keystore-password": avrotest.Password, "keystore-type": "PKCS12",
		"client-auth": "required", "truststore": f.TrustJKS, "truststore-password": avrotest.Password,
		"compression-type": "deflate",
	}, ch)
	dial := func(keystore string) error {
		o := avroipc.TLSOptions{Truststore: f.CAPEM, Keystore: keystore, KeystorePassword: avrotest.Password}
		tc, err := o.ClientConfig(vfs.OS{})
		if err != nil {
			t.Fatal(err)
		}
		cl, err := avroipc.Dial(context.Background(), avroipc.ClientConfig{Addr: s.Addr().String(), TLS: tc, Deflate: true, Level: 1})
		if err != nil {
			return err
		}
		defer cl.Close()
		return cl.AppendBatch(context.Background(), []event.Event{{Body: []byte("secret")}})
	}
	if err := dial(""); err == nil {
		t.Fatal("a client without a certificate got through client-auth = required")
	}
	if err := dial(f.ClientP12); err != nil {
		t.Fatalf("client with a certificate: %v", err)
	}
	if got := drainAll(t, ch); len(got) != 1 || string(got[0].Body) != "secret" {
		t.Fatalf("got %+v", got)
	}
	waitFor(t, func() bool { v, _ := s.Counter().Get("RejectedTLS"); return v == "1" }, "RejectedTLS counted")
}

func TestIPFilterRejects(t *testing.T) {
	ch := newChannel(t, 100, 100)
	s := startSource(t, map[string]string{"ipFilter": "true", "ipFilterRules": "deny:ip:127.0.0.*,allow:ip:*"}, ch)
	cl, err := avroipc.Dial(context.Background(), avroipc.ClientConfig{Addr: s.Addr().String()})
	if err == nil {
		err = cl.AppendBatch(context.Background(), []event.Event{{Body: []byte("x")}})
		cl.Close()
	}
	if err == nil {
		t.Fatal("a denied address delivered events")
	}
	waitFor(t, func() bool { v, _ := s.Counter().Get("RejectedIPFilter"); return v == "1" }, "RejectedIPFilter counted")
	if ch.Len() != 0 {
		t.Fatal("events from a denied address reached the channel")
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		props map[string]string
		want  string
	}{
		{map[string]string{"port": "4141"}, "a1.sources.r1.bind: is required"},
		{map[string]string{"bind": "0.0.0.0"}, "a1.sources.r1.port: is required"},
		{map[string]string{"bind": "0.0.0.0", "port": "http"}, `agent.conf:3: a1.sources.r1.port: "http" is not a port number`},
		{map[string]string{"bind": "0.0.0.0", "port": "1", "compression-type": "gzip"}, "use one of none, deflate"},
		{map[string]string{"bind": "0.0.0.0", "port": "1", "ipFilter": "true"}, "ipFilterRules has no rules"},
		{map[string]string{"bind": "0.0.0.0", "port": "1", "ipFilter": "true", "ipFilterRules": "allow:ip"}, "<allow|deny>:<ip|name>:<pattern>"},
		{map[string]string{"bind": "0.0.0.0", "port": "1", "ssl": "true"}, "ssl = true needs a keystore"},
		{map[string]string{"bind": "0.0.0.0", "port": "1", "keystore-type": "JCEKS"}, "use JKS, PKCS12 or PEM"},
		{map[string]string{"bind": "0.0.0.0", "port": "1", "exclude-protocols": "TLSv1.2 TLSv1.3"}, "no TLS version enabled"},
		{map[string]string{"bind": "0.0.0.0", "port": "1", "max-frame-bytes": "10"}, "use at least 65536"},
	}
	for _, tc := range cases {
		t.Setenv("FLUME_SSL_KEYSTORE_PATH", "")
		_, err := avrosrc.ParseConfig(reader(tc.props))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to mention %q", tc.props, err, tc.want)
		}
	}
	// Every documented key is read, so `sluice check` flags only typos.
	r := reader(map[string]string{"bind": "0.0.0.0", "port": "1", "threads": "4", "ipFilterRules": "x", "exclude-cipher-suites": "TLS_RSA_WITH_RC4_128_SHA",
		"include-protocols": "TLSv1.2", "keystore-password": "p", "truststore-type": "PEM", "comression-type": "deflate"})
	if _, err := avrosrc.ParseConfig(r); err != nil {
		t.Fatal(err)
	}
	if u := r.Unused(); fmt.Sprint(u) != "[comression-type]" {
		t.Errorf("unused keys %v, want only the typo", u)
	}
}

// The global FLUME_SSL_* variables are the fallback, as in Flume.
func TestGlobalSSLEnvironment(t *testing.T) {
	f := avrotest.Certs(t, t.TempDir())
	t.Setenv("FLUME_SSL_KEYSTORE_PATH", f.ServerJKS)
	t.Setenv("FLUME_SSL_KEYSTORE_PASSWORD", avrotest.Password)
	ch := newChannel(t, 100, 100)
	s := startSource(t, map[string]string{"ssl": "true"}, ch)
	tc, _ := avroipc.TLSOptions{TrustAll: true}.ClientConfig(vfs.OS{})
	cl, err := avroipc.Dial(context.Background(), avroipc.ClientConfig{Addr: s.Addr().String(), TLS: tc})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.AppendBatch(context.Background(), []event.Event{{Body: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
}

func TestRegistered(t *testing.T) {
	for _, n := range []string{"avro", "AVRO", "org.apache.flume.source.AvroSource"} {
		if _, ok := registry.Lookup(registry.Source, n); !ok {
			t.Errorf("source type %q not registered", n)
		}
	}
}
