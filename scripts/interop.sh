#!/usr/bin/env bash
# Interop with real Apache Flume (issue 4): `make interop` runs this.
#
#   scripts/interop.sh [test]    the interop tests (engine/sink/avro TestInteropWithFlume):
#                                Sluice avro sink -> Flume avro source -> Flume avro sink ->
#                                Sluice avro source, plain, deflate, TLS, TLS+deflate
#   scripts/interop.sh bench     `sluice bench avro` straight, then through a Flume relay
#                                agent and a Sluice relay agent with the same config, their
#                                runs alternating (RUNS, EVENTS, WARMUP, SLUICE_RELAY_ENV)
#
# FLUME_HOME must point at an Apache Flume binary distribution (lib/ with Flume's jars, and
# java on PATH). Ways to get one, outside this repository (never commit Flume's jars):
#   - the Apache archive: apache-flume-1.9.0-bin.tar.gz (or 1.10.x/1.11.x), unpacked; or
#   - FLUME_SNAPSHOT=<bare git dir of github.com/eelgame/flume-elasticsearch-sink>: this script
#     unpacks its apache-flume-1.9.0-bin with only Flume's stock jars (the list is
#     ../shared/tools/flume-1.9.0-stock-jars.txt; the helper is ../shared/tools/flume-setup.sh)
#     into FLUME_HOME (default /tmp/flume-home).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-test}

if [[ -z "${FLUME_HOME:-}" || ! -d "${FLUME_HOME}/lib" ]]; then
  if [[ -n "${FLUME_SNAPSHOT:-}" ]]; then
    FLUME_HOME=${FLUME_HOME:-/tmp/flume-home}
    setup=../shared/tools/flume-setup.sh
    [[ -x "$setup" || -f "$setup" ]] || { echo "interop: $setup not found" >&2; exit 2; }
    bash "$setup" "$FLUME_SNAPSHOT" "$FLUME_HOME" >/dev/null
  else
    echo "interop: set FLUME_HOME to an Apache Flume binary distribution (see the comment at the top of $0)" >&2
    exit 2
  fi
fi
export FLUME_HOME
command -v java >/dev/null || { echo "interop: java is not on PATH" >&2; exit 2; }
version=$(ls "$FLUME_HOME"/lib/flume-ng-core-*.jar 2>/dev/null | sed 's/.*flume-ng-core-\(.*\)\.jar/\1/')
echo "interop: Apache Flume ${version:-unknown} at $FLUME_HOME; $(java -version 2>&1 | head -1)"

case "$mode" in
test)
  go test -count=1 -timeout 15m -run 'TestInteropWithFlume' -v ./engine/sink/avro/ ./engine/source/taildir/
  ;;
bench)
  runs=${RUNS:-5} events=${EVENTS:-1000000}
  go build -o bin/sluice ./cmd/sluice
  free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
  wait_port() { for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.2; done; echo "port $1 never opened" >&2; return 1; }
  relay_conf() { # in out compression
    cat <<CONF
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = avro
a1.sources.r1.bind = 127.0.0.1
a1.sources.r1.port = $1
a1.sources.r1.channels = c1
a1.sources.r1.compression-type = $3
a1.channels.c1.type = memory
a1.channels.c1.capacity = 100000
a1.channels.c1.transactionCapacity = 1000
a1.sinks.k1.type = avro
a1.sinks.k1.hostname = 127.0.0.1
a1.sinks.k1.port = $2
a1.sinks.k1.channel = c1
a1.sinks.k1.batch-size = 1000
a1.sinks.k1.compression-type = $3
CONF
  }
  tmp=$(mktemp -d)
  pids=()
  trap 'for p in "${pids[@]}"; do kill -9 -- "-$p" 2>/dev/null || kill -9 "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
  # Ticks of CPU (user+system) a process has used, from /proc.
  cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
  median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  hz=$(getconf CLK_TCK)
  for comp in none deflate; do
    flag=""; [[ $comp == deflate ]] && flag="-deflate"
    echo "== Sluice sink -> Sluice source, straight ($comp)"
    bin/sluice bench avro -runs "$runs" -events "$events" $flag | tail -1
    # Both relays run at once, and their runs alternate, so the load other
    # work puts on the machine falls on both alike.
    declare -A in out pid
    for relay in flume sluice; do
      in[$relay]=$(free_port) out[$relay]=$(free_port)
      relay_conf "${in[$relay]}" "${out[$relay]}" "$comp" > "$tmp/$relay-$comp.conf"
      if [[ $relay == flume ]]; then
        # -Xmx1g, not flume-ng's default -Xmx20m, so the heap is not what limits Flume.
        setsid java -Xmx1g -cp "$FLUME_HOME/lib/*:$FLUME_HOME/conf" -Dflume.root.logger=WARN,console \
          org.apache.flume.node.Application --no-reload-conf -n a1 -f "$tmp/$relay-$comp.conf" > "$tmp/$relay-$comp.log" 2>&1 &
      else
        # SLUICE_RELAY_ENV, e.g. "GOMEMLIMIT=1GiB GOGC=off", gives the Go relay the
        # kind of heap budget -Xmx1g gives the JVM.
        setsid env ${SLUICE_RELAY_ENV:-} bin/sluice agent -n a1 -f "$tmp/$relay-$comp.conf" --no-reload-conf > "$tmp/$relay-$comp.log" 2>&1 &
      fi
      pid[$relay]=$!; pids+=("${pid[$relay]}")
      wait_port "${in[$relay]}"
      # The same untimed warm-up for both, so the JVM's JIT is done.
      bin/sluice bench avro -runs 1 -events "${WARMUP:-1000000}" -listen "127.0.0.1:${out[$relay]}" -via "127.0.0.1:${in[$relay]}" $flag >/dev/null
    done
    : > "$tmp/rates-flume" ; : > "$tmp/rates-sluice" ; : > "$tmp/cpu-flume" ; : > "$tmp/cpu-sluice"
    for i in $(seq "$runs"); do
      for relay in flume sluice; do
        c0=$(cpu_ticks "${pid[$relay]}")
        rate=$(bin/sluice bench avro -runs 1 -events "$events" -listen "127.0.0.1:${out[$relay]}" -via "127.0.0.1:${in[$relay]}" $flag | awk '/^run 1:/ {print $3}')
        c1=$(cpu_ticks "${pid[$relay]}")
        echo "$rate" >> "$tmp/rates-$relay"
        # CPU seconds the relay spent per million events (warm-up batch included).
        awk -v t=$((c1 - c0)) -v hz="$hz" -v n="$events" 'BEGIN {printf "%.2f\n", t/hz/(n/1e6)}' >> "$tmp/cpu-$relay"
        echo "   run $i $relay relay: $rate events/s, $(tail -1 "$tmp/cpu-$relay") CPU-s per million events"
      done
    done
    for relay in flume sluice; do
      echo "== Sluice sink -> $relay relay (avro source, memory channel, avro sink) -> Sluice source ($comp):" \
        "median $(median < "$tmp/rates-$relay") events/s, median $(median < "$tmp/cpu-$relay") relay CPU-s per million events, $runs runs"
      kill -9 -- "-${pid[$relay]}" 2>/dev/null || true
      wait "${pid[$relay]}" 2>/dev/null || true
    done
    unset in out pid
  done
  ;;
*)
  echo "usage: $0 [test|bench]" >&2; exit 2 ;;
esac
