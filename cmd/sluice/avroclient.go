package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/sluicehq/sluice/engine/avroipc"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	avrosink "github.com/sluicehq/sluice/engine/sink/avro"
	"github.com/sluicehq/sluice/engine/vfs"
)

func init() {
	register("avro-client", "send lines of a file (or stdin) as events to an avro source, like flume-ng avro-client", runAvroClient)
}

// maxLineBytes caps one line (one event), so a file without newlines cannot
// make the client buffer it whole.
const maxLineBytes = 16 << 20

func runAvroClient(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("avro-client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host := fs.String("H", "", "hostname of the avro source (required)")
	fs.StringVar(host, "host", "", "same as -H")
	port := fs.Int("p", 0, "port of the avro source (required)")
	fs.IntVar(port, "port", 0, "same as -p")
	file := fs.String("F", "", "file whose lines are sent, one event each (default: stdin)")
	fs.StringVar(file, "filename", "", "same as -F")
	dir := fs.String("dirname", "", "send every file in this directory (not recursive)")
	headerFile := fs.String("R", "", "properties file of headers (key=value) added to every event")
	fs.StringVar(headerFile, "headerFile", "", "same as -R")
	rpcProps := fs.String("P", "", "properties file of avro sink keys: batch-size, compression-type, ssl, truststore, ...")
	fs.StringVar(rpcProps, "rpcProps", "", "same as -P")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sluice avro-client -H HOST -p PORT [-F FILE | --dirname DIR] [-R HEADERFILE] [-P RPCPROPS]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *host == "" || *port <= 0 {
		fmt.Fprintln(stderr, "sluice avro-client: -H HOST and -p PORT are required")
		fs.Usage()
		return 2
	}
	n, err := avroClient(*host, *port, *file, *dir, *headerFile, *rpcProps)
	if err != nil {
		fmt.Fprintf(stderr, "sluice avro-client: %v (%d events sent before the error)\n", err, n)
		return 1
	}
	fmt.Fprintf(stdout, "sent %d events to %s:%d\n", n, *host, *port)
	return 0
}

func readProps(path string) (map[string]config.Property, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	list, err := config.ParseProperties(path, f)
	if err != nil {
		return nil, err
	}
	out := map[string]config.Property{}
	for _, p := range list {
		out[p.Key] = p
	}
	return out, nil
}

func avroClient(host string, port int, file, dir, headerFile, rpcProps string) (int, error) {
	props := map[string]config.Property{}
	if rpcProps != "" {
		var err error
		if props, err = readProps(rpcProps); err != nil {
			return 0, fmt.Errorf("rpc properties: %w", err)
		}
	}
	props["hostname"] = config.Property{Key: "hostname", Value: host}
	props["port"] = config.Property{Key: "port", Value: strconv.Itoa(port)}
	comp := &config.Component{Kind: config.KindSink, Name: "avro-client", Type: "avro", Props: props, Pos: config.Position{File: rpcProps}}
	r := config.NewReader("client", comp)
	cfg, err := avrosink.ParseConfig(r)
	if err != nil {
		return 0, err
	}
	cc, err := cfg.ClientConfig(vfs.OS{})
	if err != nil {
		return 0, err
	}
	headers := map[string]string{}
	if headerFile != "" {
		hp, err := readProps(headerFile)
		if err != nil {
			return 0, fmt.Errorf("header file: %w", err)
		}
		for k, p := range hp {
			headers[k] = p.Value
		}
	}
	ctx := context.Background()
	client, err := avroipc.Dial(ctx, cc)
	if err != nil {
		return 0, err
	}
	defer client.Close()

	sent := 0
	send := func(name string, in io.Reader) error {
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64<<10), maxLineBytes)
		batch := make([]event.Event, 0, cfg.BatchSize)
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			if err := client.AppendBatch(ctx, batch); err != nil {
				return err
			}
			sent += len(batch)
			batch = batch[:0]
			return nil
		}
		line := 0
		for sc.Scan() {
			line++
			h := make(map[string]string, len(headers))
			for k, v := range headers {
				h[k] = v
			}
			batch = append(batch, event.Event{Headers: h, Body: append([]byte(nil), sc.Bytes()...)})
			if len(batch) == cfg.BatchSize {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				return fmt.Errorf("%s:%d: line longer than %d bytes", name, line+1, maxLineBytes)
			}
			return fmt.Errorf("%s: %w", name, err)
		}
		return flush()
	}
	sendFile := func(path string) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return send(path, f)
	}
	switch {
	case dir != "":
		entries, err := os.ReadDir(dir)
		if err != nil {
			return 0, err
		}
		var names []string
		for _, e := range entries {
			if e.Type().IsRegular() {
				names = append(names, filepath.Join(dir, e.Name()))
			}
		}
		sort.Strings(names)
		for _, n := range names {
			if err := sendFile(n); err != nil {
				return sent, err
			}
		}
	case file != "":
		if err := sendFile(file); err != nil {
			return sent, err
		}
	default:
		if err := send("stdin", os.Stdin); err != nil {
			return sent, err
		}
	}
	return sent, nil
}
