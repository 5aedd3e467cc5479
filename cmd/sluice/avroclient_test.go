package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/engine/avroipc"
	"github.com/sluicehq/sluice/engine/event"
)

func TestAvroClient(t *testing.T) {
	var got []event.Event
	srv, err := avroipc.NewServer(avroipc.ServerConfig{Addr: "127.0.0.1:0", Deflate: true,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handler: avroipc.HandlerFunc(func(evs []event.Event, batch bool) avroipc.Status {
			got = append(got, evs...) // calls on one connection are sequential
			return avroipc.OK
		})})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	dir := t.TempDir()
	data := filepath.Join(dir, "data.txt")
	os.WriteFile(data, []byte("first line\n\nthird ü\nlast without newline"), 0o644)
	hdr := filepath.Join(dir, "headers.properties")
	os.WriteFile(hdr, []byte("host = web-01\nenv=prod\n"), 0o644)
	rpc := filepath.Join(dir, "rpc.properties")
	os.WriteFile(rpc, []byte("batch-size = 3\ncompression-type = deflate\n"), 0o644)
	_, port, _ := net.SplitHostPort(srv.Addr().String())
	var out, errb bytes.Buffer
	if code := run([]string{"avro-client", "-H", "127.0.0.1", "-p", port, "-F", data, "-R", hdr, "-P", rpc}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	want := []string{"first line", "", "third ü", "last without newline"}
	if len(got) != len(want) {
		t.Fatalf("server got %d events, want %d (%s)", len(got), len(want), out.String())
	}
	for i, w := range want {
		if string(got[i].Body) != w || got[i].Headers["host"] != "web-01" || got[i].Headers["env"] != "prod" {
			t.Fatalf("event %d = %q %v", i, got[i].Body, got[i].Headers)
		}
	}
	if !strings.Contains(out.String(), "sent 4 events") {
		t.Fatalf("output %q", out.String())
	}
	errb.Reset()
	if code := run([]string{"avro-client", "-H", "127.0.0.1"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "-p PORT") {
		t.Fatalf("missing port: exit %d %q", code, errb.String())
	}
}
