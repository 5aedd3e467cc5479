package config_test

import (
	"strings"
	"testing"

	_ "github.com/sluicehq/sluice/engine/components"
	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/registry"
)

// TestRegistryAgreesWithFlumeTypes checks every component Sluice registers
// against what the lint rules know of Flume's types: a Flume alias must
// also be registered under Flume's class name (configs use either), and a
// component's batch-size key and default must be Flume's, since the lint
// rule and the agent both apply Flume's batchSize <= transactionCapacity
// rule with them. It tightens by itself as components are registered.
// knownBatchDeviations are registered batch keys that differ from Flume's,
// each with the consequence, until the component is brought in line.
var knownBatchDeviations = map[string]string{}

func TestRegistryAgreesWithFlumeTypes(t *testing.T) {
	kinds := map[registry.Kind]config.Kind{
		registry.Source: config.KindSource, registry.Sink: config.KindSink,
		registry.Channel: config.KindChannel, registry.Processor: config.KindSinkGroup,
	}
	checked := 0
	for rk, ck := range kinds {
		for _, name := range registry.Names(rk) {
			e, _ := registry.Lookup(rk, name)
			for _, n := range append([]string{e.Name}, e.Aliases...) {
				ft, ok := config.LookupFlumeType(ck, n)
				if !ok {
					continue
				}
				checked++
				for _, flumeName := range []string{ft.Alias, ft.Class} {
					if flumeName == "" {
						continue
					}
					if got, ok := registry.Lookup(rk, flumeName); !ok || got.Name != e.Name {
						t.Errorf("%s %s: Flume's name %q does not reach it", rk, e.Name, flumeName)
					}
				}
				if ck == config.KindSource || ck == config.KindSink {
					if e.BatchKey != ft.BatchKey || (ft.BatchKey != "" && e.BatchDefault != ft.BatchDefault) {
						if why, ok := knownBatchDeviations[string(rk)+" "+e.Name]; ok {
							t.Logf("known deviation: %s %s: %s", rk, e.Name, why)
							continue
						}
						t.Errorf("%s %s: batch key %q default %d; Flume's %s has %q default %d",
							rk, e.Name, e.BatchKey, e.BatchDefault, ft.Class, ft.BatchKey, ft.BatchDefault)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no registered component matched a Flume type")
	}
	// Interceptors and selectors are reachable by Flume's names too.
	for _, n := range []string{"timestamp", "host", "static", "regex_filter", "regex_extractor", "remove_header", "search_replace",
		"org.apache.flume.interceptor.TimestampInterceptor$Builder", "org.apache.flume.sink.solr.morphline.UUIDInterceptor$Builder"} {
		if _, ok := registry.Lookup(registry.Interceptor, strings.ToUpper(n)); !ok {
			t.Errorf("interceptor %s not registered", n)
		}
	}
	for _, n := range []string{"replicating", "multiplexing", "load_balancing", "org.apache.flume.channel.MultiplexingChannelSelector"} {
		if _, ok := registry.Lookup(registry.Selector, n); !ok {
			t.Errorf("selector %s not registered", n)
		}
	}
}
