package metrics

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/clock"
)

// Flume's MBean attribute sets (flume-facts §9), exactly.
var flumeSets = map[string][]string{
	"SOURCE": {"EventReceivedCount", "EventAcceptedCount", "AppendReceivedCount", "AppendAcceptedCount",
		"AppendBatchReceivedCount", "AppendBatchAcceptedCount", "StartTime", "StopTime", "Type",
		"OpenConnectionCount", "EventReadFail", "ChannelWriteFail", "GenericProcessingFail"},
	"CHANNEL": {"ChannelSize", "EventPutAttemptCount", "EventTakeAttemptCount", "EventPutSuccessCount",
		"EventTakeSuccessCount", "StartTime", "StopTime", "ChannelCapacity", "Type", "ChannelFillPercentage"},
	"FILECHANNEL": {"ChannelSize", "EventPutAttemptCount", "EventTakeAttemptCount", "EventPutSuccessCount",
		"EventTakeSuccessCount", "StartTime", "StopTime", "ChannelCapacity", "Type", "ChannelFillPercentage",
		"Open", "Closed", "Unhealthy", "EventPutErrorCount", "EventTakeErrorCount", "CheckpointWriteErrorCount",
		"CheckpointBackupWriteErrorCount"},
	"SINK": {"ConnectionCreatedCount", "ConnectionClosedCount", "ConnectionFailedCount", "BatchEmptyCount",
		"BatchUnderflowCount", "BatchCompleteCount", "EventDrainAttemptCount", "EventDrainSuccessCount",
		"StartTime", "StopTime", "Type", "EventWriteFail", "ChannelReadFail"},
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func TestJSONMatchesFlumeAttributeSets(t *testing.T) {
	clk := clock.NewManual(time.UnixMilli(1344882209413))
	r := NewRegistry(clk)
	src := NewSourceCounter(r, "r1")
	ch := NewChannelCounter(r, "c1", func() int64 { return 5 })
	fc := NewFileChannelCounter(r, "fc", func() int64 { return 0 })
	snk := NewSinkCounter(r, "k1")
	extra := src.Extra("SluiceOnly", KindCounter)
	for _, g := range []*Group{src.Group, ch.Group, fc.Group, snk.Group} {
		g.Start()
	}
	extra.Inc()
	ch.ChannelCapacity.Set(100)
	ch.EventPutSuccessCount.Add(22948908)
	b, err := r.JSON(false)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]map[string]string // every value must be a JSON string
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("JSON is not map of string maps: %v\n%s", err, b)
	}
	want := map[string]string{"SOURCE.r1": "SOURCE", "CHANNEL.c1": "CHANNEL", "CHANNEL.fc": "FILECHANNEL", "SINK.k1": "SINK"}
	if strings.Join(keys(map[string]string(flatKeys(got))), ",") != strings.Join(keys(want), ",") {
		t.Fatalf("top-level keys %v, want %v", keys(flatKeys(got)), keys(want))
	}
	for key, set := range want {
		if g, w := strings.Join(keys(got[key]), ","), strings.Join(sorted(flumeSets[set]), ","); g != w {
			t.Errorf("%s attributes\n got %s\nwant %s", key, g, w)
		}
	}
	c := got["CHANNEL.c1"]
	if c["ChannelSize"] != "5" || c["ChannelFillPercentage"] != "5.0" || c["Type"] != "CHANNEL" ||
		c["StartTime"] != "1344882209413" || c["StopTime"] != "0" || c["EventPutSuccessCount"] != "22948908" {
		t.Errorf("channel values %v", c)
	}
	if got["CHANNEL.fc"]["Open"] != "true" || got["CHANNEL.fc"]["ChannelFillPercentage"] != "1.7976931348623157E308" {
		t.Errorf("file channel values %v", got["CHANNEL.fc"])
	}
	ext, _ := r.JSON(true)
	if !strings.Contains(string(ext), `"SluiceOnly":"1"`) {
		t.Errorf("extended JSON lacks the extra attribute: %s", ext)
	}
}

func flatKeys(m map[string]map[string]string) map[string]string {
	out := map[string]string{}
	for k := range m {
		out[k] = ""
	}
	return out
}

func TestStartResetsAndStopRecords(t *testing.T) {
	clk := clock.NewManual(time.UnixMilli(1000))
	r := NewRegistry(clk)
	s := NewSinkCounter(r, "k1")
	s.EventDrainSuccessCount.Add(7)
	s.Start()
	if s.EventDrainSuccessCount.Load() != 0 {
		t.Fatal("Start did not reset counters (Flume's start() does)")
	}
	clk.Advance(time.Second)
	s.Stop()
	if v, _ := s.Get("StopTime"); v != "2000" {
		t.Fatalf("StopTime = %s", v)
	}
}

func TestJavaDouble(t *testing.T) {
	for f, want := range map[float64]string{
		0: "0.0", 23.3428: "23.3428", 100: "100.0", 5: "5.0", 1e7: "1.0E7", 0.0001: "1.0E-4",
		1.7976931348623157e308: "1.7976931348623157E308", 0.5: "0.5", 12345678.9: "1.23456789E7",
	} {
		if got := JavaDouble(f); got != want {
			t.Errorf("JavaDouble(%v) = %q, want %q", f, got, want)
		}
	}
}

func TestHandler(t *testing.T) {
	r := NewRegistry(nil)
	c := NewSinkCounter(r, "k1")
	c.Start()
	c.EventDrainSuccessCount.Add(42)
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	get := func(method, path string) (int, string, string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	code, ct, body := get("GET", "/metrics")
	if code != 200 || ct != "application/json;charset=utf-8" || !strings.Contains(body, `"EventDrainSuccessCount":"42"`) {
		t.Fatalf("/metrics: %d %q %s", code, ct, body)
	}
	if code, _, _ := get("GET", "/METRICS"); code != 200 {
		t.Fatal("/METRICS is not served (Flume compares the path case-insensitively)")
	}
	code, _, body = get("GET", "/prometheus")
	if code != 200 || !strings.Contains(body, `sluice_sink_event_drain_success_count{name="k1"} 42`) {
		t.Fatalf("/prometheus: %d\n%s", code, body)
	}
	if code, _, _ := get("TRACE", "/metrics"); code != 403 {
		t.Fatalf("TRACE = %d, want 403", code)
	}
	if code, _, _ := get("GET", "/nope"); code != 404 {
		t.Fatalf("unknown path = %d, want 404", code)
	}
	if code, _, body := get("GET", "/"); code != 200 || !strings.Contains(body, "./metrics") {
		t.Fatalf("/ = %d %s", code, body)
	}
}
