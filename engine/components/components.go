// Package components links every built-in component into a binary: import
// it for its side effect of registering them.
package components

import (
	_ "github.com/sluicehq/sluice/engine/channel/file"
	_ "github.com/sluicehq/sluice/engine/channel/kafka"
	_ "github.com/sluicehq/sluice/engine/channel/memory"
	_ "github.com/sluicehq/sluice/engine/interceptor"
	_ "github.com/sluicehq/sluice/engine/processor"
	_ "github.com/sluicehq/sluice/engine/selector"
	_ "github.com/sluicehq/sluice/engine/sink/avro"
	_ "github.com/sluicehq/sluice/engine/sink/fileroll"
	_ "github.com/sluicehq/sluice/engine/sink/hdfs"
	_ "github.com/sluicehq/sluice/engine/sink/kafka"
	_ "github.com/sluicehq/sluice/engine/sink/logger"
	_ "github.com/sluicehq/sluice/engine/sink/null"
	_ "github.com/sluicehq/sluice/engine/source/avro"
	_ "github.com/sluicehq/sluice/engine/source/http"
	_ "github.com/sluicehq/sluice/engine/source/kafka"
	_ "github.com/sluicehq/sluice/engine/source/netcat"
	_ "github.com/sluicehq/sluice/engine/source/seq"
	_ "github.com/sluicehq/sluice/engine/source/taildir"
)
