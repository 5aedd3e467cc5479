package avro_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/avroipc"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/sink"
	avrosink "github.com/sluicehq/sluice/engine/sink/avro"
	"github.com/sluicehq/sluice/engine/vfs"
)

// Interop with real Apache Flume. Set FLUME_HOME to a Flume binary
// distribution (scripts/interop.sh explains how to get one; `make interop`
// runs these tests). Each mode runs one Flume agent as a relay:
//
//	Sluice avro sink -> Flume avro source -> memory channel -> Flume avro sink -> Sluice avro source
//
// so every event crosses Java's decoder and Java's encoder, once in each
// direction, and must arrive with headers and body intact.

func flumeHome(t *testing.T) string {
	home := os.Getenv("FLUME_HOME")
	if home == "" {
		t.Skip("FLUME_HOME is not set: skipping interop with real Apache Flume (run `make interop`; scripts/interop.sh says how to get Flume)")
	}
	if _, err := os.Stat(filepath.Join(home, "lib")); err != nil {
		t.Fatalf("FLUME_HOME=%s has no lib/ directory: %v", home, err)
	}
	if _, err := exec.LookPath("java"); err != nil {
		t.Fatalf("FLUME_HOME is set but java is not on PATH: %v", err)
	}
	return home
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}

// flumeAgent runs a Flume agent with conf until the test ends.
func flumeAgent(t *testing.T, home, conf string, waitPort string) {
	t.Helper()
	dir := t.TempDir()
	cf := filepath.Join(dir, "agent.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "flume.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("java", "-Xmx512m", "-cp", filepath.Join(home, "lib", "*")+string(os.PathListSeparator)+filepath.Join(home, "conf"),
		"-Dflume.root.logger=INFO,console", "org.apache.flume.node.Application", "--no-reload-conf", "-n", "a1", "-f", cf)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("Flume log (%s):\n%s", logPath, tail(string(b), 6000))
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", waitPort), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Flume's avro source did not open port %s within 90 s", waitPort)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func interopEvents(n int) []event.Event {
	bin := make([]byte, 256)
	for i := range bin {
		bin[i] = byte(i)
	}
	big := bytes.Repeat([]byte("flume interop "), 10000) // ~140 KB: Java splits it in 8 KiB buffers
	out := make([]event.Event, n)
	for i := range out {
		h := map[string]string{"seq": strconv.Itoa(i), "host": "web-01.example.com", "ünïcode": "値 ✓ " + strconv.Itoa(i)}
		var body []byte
		switch i % 5 {
		case 0:
			body = []byte(fmt.Sprintf("line %d", i))
		case 1:
			body = bin
		case 2:
			body = []byte{}
			h["empty"] = ""
		case 3:
			body = []byte(strings.Repeat("é", i%300))
		case 4:
			if i%50 == 4 {
				body = big
			} else {
				body = []byte("x")
			}
		}
		out[i] = event.Event{Headers: h, Body: body}
	}
	return out
}

// keytool runs the JDK's keytool, so the stores are exactly what Flume
// users make.
func keytool(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("keytool", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("keytool %v: %v\n%s", args, err, out)
	}
}

type javaStores struct {
	sluiceJKS    string // keytool JKS keystore for the Sluice collector
	sluiceCert   string // its certificate, PEM
	flumeTrust   string // JKS truststore for Flume's sink, trusting sluiceCert
	flumeP12     string // keytool PKCS#12 keystore for Flume's avro source
	flumeCertPEM string // its certificate, PEM, for the Sluice sink's truststore
}

func makeJavaStores(t *testing.T) javaStores {
	d := t.TempDir()
	s := javaStores{
		sluiceJKS: filepath.Join(d, "sluice.jks"), sluiceCert: filepath.Join(d, "sluice.pem"), flumeTrust: filepath.Join(d, "flume-trust.jks"),
		flumeP12: filepath.Join(d, "flume.p12"), flumeCertPEM: filepath.Join(d, "flume.pem"),
	}
	pw := "changeit"
	keytool(t, "-genkeypair", "-alias", "sluice", "-keyalg", "RSA", "-keysize", "2048", "-dname", "CN=localhost", "-ext", "san=ip:127.0.0.1,dns:localhost",
		"-validity", "2", "-storetype", "JKS", "-keystore", s.sluiceJKS, "-storepass", pw, "-keypass", pw)
	keytool(t, "-exportcert", "-rfc", "-alias", "sluice", "-keystore", s.sluiceJKS, "-storepass", pw, "-file", s.sluiceCert)
	keytool(t, "-importcert", "-noprompt", "-alias", "sluice", "-file", s.sluiceCert, "-storetype", "JKS", "-keystore", s.flumeTrust, "-storepass", pw)
	keytool(t, "-genkeypair", "-alias", "flume", "-keyalg", "EC", "-dname", "CN=localhost", "-ext", "san=ip:127.0.0.1",
		"-validity", "2", "-storetype", "PKCS12", "-keystore", s.flumeP12, "-storepass", pw, "-keypass", pw)
	keytool(t, "-exportcert", "-rfc", "-alias", "flume", "-keystore", s.flumeP12, "-storepass", pw, "-file", s.flumeCertPEM)
	return s
}

func TestInteropWithFlume(t *testing.T) {
	home := flumeHome(t)
	stores := makeJavaStores(t)
	tlsFlumeSrc := "ssl = true\nkeystore = " + stores.flumeP12 + "\nkeystore-password = changeit\nkeystore-type = PKCS12\n"
	tlsFlumeSnk := "ssl = true\ntruststore = " + stores.flumeTrust + "\ntruststore-password = changeit\ntruststore-type = JKS\n"
	tlsSluiceSrc := map[string]string{"ssl": "true", "keystore": stores.sluiceJKS, "keystore-password": "changeit"}
	tlsSluiceSnk := map[string]string{"ssl": "true", "truststore": stores.flumeCertPEM, "truststore-type": "PEM"}
	defl := map[string]string{"compression-type": "deflate"}
	merge := func(ms ...map[string]string) map[string]string {
		out := map[string]string{}
		for _, m := range ms {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	for _, m := range []struct {
		name                 string
		flumeSrc, flumeSnk   string // extra keys for Flume's source and sink
		sluiceSrc, sluiceSnk map[string]string
	}{
		{"plain", "", "", nil, nil},
		{"deflate", "compression-type = deflate\n", "compression-type = deflate\ncompression-level = 9\n", defl, merge(defl, map[string]string{"compression-level": "1"})},
		{"tls", tlsFlumeSrc, tlsFlumeSnk, tlsSluiceSrc, tlsSluiceSnk},
		{"tls+deflate (1.9 layering)", tlsFlumeSrc + "compression-type = deflate\n", tlsFlumeSnk + "compression-type = deflate\n",
			merge(tlsSluiceSrc, defl), merge(tlsSluiceSnk, defl, map[string]string{"deflate-tls-layering": "flume-1.9"})},
	} {
		t.Run(m.name, func(t *testing.T) {
			col := newCollector(t, m.sluiceSrc)
			in := freePort(t)
			conf := "a1.sources = r1\na1.channels = c1\na1.sinks = k1\n" +
				"a1.channels.c1.type = memory\na1.channels.c1.capacity = 100000\na1.channels.c1.transactionCapacity = 1000\n" +
				prefixed("a1.sources.r1.", "type = avro\nbind = 127.0.0.1\nport = "+in+"\nchannels = c1\n"+m.flumeSrc) +
				prefixed("a1.sinks.k1.", "type = avro\nhostname = 127.0.0.1\nport = "+col.port()+"\nchannel = c1\nbatch-size = 100\n"+m.flumeSnk)
			flumeAgent(t, home, conf, in)

			// A bare client first: Flume's Java responder must answer our
			// first handshake with BOTH (same protocol hash).
			snkCfg := merge(map[string]string{"hostname": "127.0.0.1", "port": in, "batch-size": "50"}, m.sluiceSnk)
			cfg, err := avrosinkConfig(snkCfg)
			if err != nil {
				t.Fatal(err)
			}
			cc, err := cfg.ClientConfig(osFS())
			if err != nil {
				t.Fatal(err)
			}
			cl, err := avroipc.Dial(context.Background(), cc)
			if err != nil {
				t.Fatal(err)
			}
			probe := event.Event{Headers: map[string]string{"seq": "-1"}, Body: []byte("probe")}
			if err := cl.Append(context.Background(), probe); err != nil {
				t.Fatalf("append to Flume: %v", err)
			}
			if hs := cl.Handshakes(); !reflect.DeepEqual(hs, []avroipc.Match{avroipc.MatchBoth}) {
				t.Fatalf("Flume answered our first handshake with %v, want [BOTH]", hs)
			}
			cl.Close()

			// Then the real sink, through the relay and back.
			want := interopEvents(1000)
			ch := newChannel(t, "c1", 10000, 1000)
			tx, _ := ch.Begin()
			tx.Put(want)
			tx.Commit()
			s := newSink(t, ch, snkCfg, registry.Env{})
			if err := s.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer s.Stop(context.Background())
			deadline := time.Now().Add(60 * time.Second)
			for ch.Len() > 0 {
				if time.Now().After(deadline) {
					t.Fatalf("sink could not deliver to Flume within 60 s; %d events left", ch.Len())
				}
				if st, err := s.Process(context.Background()); err != nil {
					t.Fatalf("sink -> Flume: %v", err)
				} else if st == sink.Backoff {
					break
				}
			}
			var got []event.Event
			for len(got) < len(want)+1 {
				got = col.delivered()
				if time.Now().After(deadline) {
					t.Fatalf("collector got %d of %d events from Flume's sink within 60 s", len(got), len(want)+1)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if len(got) != len(want)+1 {
				t.Fatalf("collector got %d events, want %d", len(got), len(want)+1)
			}
			bySeq := map[string]event.Event{}
			for _, e := range got {
				bySeq[e.Headers["seq"]] = e
			}
			if p := bySeq["-1"]; string(p.Body) != "probe" {
				t.Fatalf("probe event lost or changed: %+v", p)
			}
			for i, w := range want {
				g, ok := bySeq[strconv.Itoa(i)]
				if !ok {
					t.Fatalf("event %d lost", i)
				}
				if !bytes.Equal(g.Body, w.Body) || !reflect.DeepEqual(g.Headers, w.Headers) {
					t.Fatalf("event %d changed crossing Flume:\n got %q %v\nwant %q %v", i, tail(string(g.Body), 60), g.Headers, tail(string(w.Body), 60), w.Headers)
				}
			}
			if v, _ := col.src.Counter().Get("HandshakeBOTH"); v == "0" {
				t.Fatal("Flume's sink never got BOTH from the Sluice source")
			}
			if v, _ := col.src.Counter().Get("HandshakeNONE"); v != "0" {
				t.Fatalf("Flume's sink got NONE %s times: the protocol hash differs from Java's", v)
			}
		})
	}
}

func prefixed(prefix, lines string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(lines), "\n") {
		if l != "" {
			b.WriteString(prefix + l + "\n")
		}
	}
	return b.String()
}

func avrosinkConfig(props map[string]string) (avrosink.Config, error) {
	return avrosink.ParseConfig(reader(config.KindSink, props))
}

func osFS() vfs.FS { return vfs.OS{} }
