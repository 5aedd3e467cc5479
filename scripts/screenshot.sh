#!/usr/bin/env bash
# Render a run's recovery report and screenshot the page in headless Chromium
# (issue 10): proves the page opens offline in a real browser and gives a
# picture of it.
#
#   scripts/screenshot.sh [--no-render] RUN [OUT.png] [HEIGHT]
#
# RUN is a run directory (run.json, or a simulation's record.json) or a record
# file. The report is rendered again with `sluice report` (SLUICE=path to use
# a built binary, else `go run ./cmd/sluice`), then report.html is loaded with
# chromium --headless at 1280 px wide and HEIGHT px tall (default 3200: the
# verdict, the failover table and the charts) and saved as OUT.png (default
# RUN/report.png); --no-render takes RUN/report.html as it is. Network access is turned off for the browser, so a page
# that needed anything from outside would show it.
#
# Exit status: 0 screenshot written, 3 no Chromium on this machine (Debian:
# apt-get install chromium), 1 anything else.
set -euo pipefail
cd "$(dirname "$0")/.."

render=1
if [ "${1:-}" = "--no-render" ]; then
	render=0
	shift
fi
if [ $# -lt 1 ]; then
	echo "usage: scripts/screenshot.sh [--no-render] RUN [OUT.png] [HEIGHT]" >&2
	exit 1
fi
run=$1
dir=$run
[ -d "$dir" ] || dir=$(dirname "$run")
out=${2:-$dir/report.png}
height=${3:-3200}

browser=""
for b in ${CHROMIUM:-} chromium chromium-browser google-chrome-stable google-chrome headless_shell; do
	if command -v "$b" >/dev/null 2>&1; then
		browser=$(command -v "$b")
		break
	fi
done
if [ -z "$browser" ]; then
	echo "screenshot: no chromium on PATH (Debian: apt-get install chromium)" >&2
	exit 3
fi

if [ $render = 1 ]; then
	if [ -n "${SLUICE:-}" ]; then
		"$SLUICE" report "$run" >/dev/null
	else
		go run ./cmd/sluice report "$run" >/dev/null
	fi
fi
page=$(cd "$dir" && pwd)/report.html
[ -s "$page" ] || { echo "screenshot: $page not written" >&2; exit 1; }

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
rm -f "$out"
# --no-sandbox: the sandbox refuses to run as root (CI, containers).
# The proxy settings send any request off the machine nowhere.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
	--user-data-dir="$profile" --proxy-server=127.0.0.1:9 --proxy-bypass-list='<-loopback>' \
	--window-size=1280,"$height" --virtual-time-budget=2000 \
	--screenshot="$out" "file://$page" >"$profile/log" 2>&1 || {
	cat "$profile/log" >&2
	exit 1
}
[ -s "$out" ] || { echo "screenshot: chromium wrote no $out" >&2; cat "$profile/log" >&2; exit 1; }
echo "$out"
