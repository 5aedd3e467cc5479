package config

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// bigConf is an agent with n sources, channels and sinks, each with a few
// keys: the size of a large real configuration when n is 50.
func bigConf(n int) []byte {
	var b strings.Builder
	var src, ch, sk []string
	for i := 0; i < n; i++ {
		src = append(src, fmt.Sprintf("r%d", i))
		ch = append(ch, fmt.Sprintf("c%d", i))
		sk = append(sk, fmt.Sprintf("k%d", i))
	}
	fmt.Fprintf(&b, "a.sources = %s\na.channels = %s\na.sinks = %s\n", strings.Join(src, " "), strings.Join(ch, " "), strings.Join(sk, " "))
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "# source %d\na.sources.r%d.type = taildir\na.sources.r%d.channels = c%d\na.sources.r%d.batchSize = 500\n", i, i, i, i, i)
		fmt.Fprintf(&b, "a.sources.r%d.interceptors = ts\na.sources.r%d.interceptors.ts.type = timestamp\n", i, i)
		fmt.Fprintf(&b, "a.channels.c%d.type = file\na.channels.c%d.dataDirs = /data/%d\na.channels.c%d.transactionCapacity = 1000\n", i, i, i, i)
		fmt.Fprintf(&b, "a.sinks.k%d.type = hdfs\na.sinks.k%d.channel = c%d\na.sinks.k%d.hdfs.path = hdfs://nn/${env:USER}/%%Y/%d\n", i, i, i, i, i)
	}
	return []byte(b.String())
}

// BenchmarkParseAndBuild measures reading, validating and linting a
// configuration (what `sluice check` and every reload do) for 50
// components of each kind (about 650 lines).
func BenchmarkParseAndBuild(b *testing.B) {
	data := bigConf(50)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		props, err := ParseProperties("big.conf", bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		a := Build(props, "a", Options{Env: func(string) (string, bool) { return "flume", true }})
		if len(a.Sinks) != 50 {
			b.Fatalf("%d sinks", len(a.Sinks))
		}
	}
}

// BenchmarkParseProperties measures the properties parser alone.
func BenchmarkParseProperties(b *testing.B) {
	data := bigConf(50)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseProperties("big.conf", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
