#!/bin/sh
# `make bench`: Version latency against $BENCH_ENDPOINT, or against a crispd started here on a
# temporary socket; then the pull benchmark. Figures only; nothing is asserted.
set -eu
build=${1:-build}
if [ -n "${BENCH_ENDPOINT:-}" ]; then
    "$build/crisp-bench" --endpoint "$BENCH_ENDPOINT"
else
    dir=$(mktemp -d /tmp/crisp-e2e-bench-XXXXXX)
    echo '{}' > "$dir/crisp.json"
    "$build/crispd" --config "$dir/crisp.json" --listen "$dir/crisp.sock" --state "$dir/state" \
        --root "$dir/root" 2>"$dir/crispd.log" &
    pid=$!
    trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
    i=0
    while [ ! -S "$dir/crisp.sock" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
    "$build/crisp-bench" --endpoint "unix://$dir/crisp.sock"
fi
CRISPD=$(readlink -f "$build/crispd") /usr/bin/python3 "$(dirname "$0")/pull_bench.py"
CRISPD=$(readlink -f "$build/crispd") /usr/bin/python3 "$(dirname "$0")/pod_bench.py"
CRISPD=$(readlink -f "$build/crispd") /usr/bin/python3 "$(dirname "$0")/container_bench.py"
CRISPD=$(readlink -f "$build/crispd") /usr/bin/python3 "$(dirname "$0")/stream_bench.py"
