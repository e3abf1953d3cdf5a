#!/usr/bin/env bash
# CPU cost of diagnostics: ringgate with everything on (metrics, flight recorder, kernel view at
# close, info log line per connection, access log to a file) against everything off
# (--diagnostics=false, --log-level=warn, no access log), same machine, same run, runs
# interleaved. Not part of CI.
#
#   bash bench/diagnostics_cost.sh [runs=5] [seconds=10]
#
# One worker on CPU 0; nginx backend (1 KiB) and the load on CPU 1.
#   keep-alive:      wrk -t1 -c64            -> proxy CPU per request
#   new connections: h2load --h1 Connection: close -> proxy CPU per connection (per-connection
#                    diagnostics: dup, TCP_INFO, closure record, summary line)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
seconds=${2:-10}
source bench/lib.sh
bash scripts/setup.sh --bench >/dev/null
bench_require nginx wrk h2load taskset
bash scripts/build.sh build >/dev/null
bench_setup
bench_start_backend

start_ringgate() {  # port flags...
  local port=$1
  shift
  taskset -c 0 ./build/ringgate --listen 127.0.0.1:$port --backend 127.0.0.1:$backend_port \
    --cert "$work/cert.pem" --key "$work/key.pem" --threads 1 --cpus 0 "$@" 2>>"$work/ringgate.err" &
  bench_pids+=($!)
}
start_ringgate 19451 --diagnostics=true --log-level=info --access-log="$work/access.log" \
  --admin-listen=127.0.0.1:19951
on_pid=$!
start_ringgate 19452 --diagnostics=false --log-level=warn --admin-listen=off
off_pid=$!
sleep 1

declare -A ka hs
for run in $(seq "$runs"); do
  for mode in on off; do
    if [ $mode = on ]; then port=19451 pid=$on_pid; else port=19452 pid=$off_pid; fi
    before=$(cpu_ticks_of $pid)
    out=$(taskset -c 1 wrk -t1 -c64 -d"${seconds}s" "https://127.0.0.1:$port/" 2>&1)
    after=$(cpu_ticks_of $pid)
    ka[$mode,$run]=$(us_per $((after - before)) "$(awk '/requests in/ {print $1}' <<<"$out")")
    before=$(cpu_ticks_of $pid)
    out=$(taskset -c 1 h2load --h1 -n 10000 -c 16 -H 'Connection: close' "https://127.0.0.1:$port/" 2>&1)
    after=$(cpu_ticks_of $pid)
    hs[$mode,$run]=$(us_per $((after - before)) "$(awk '/^requests:/ {print $8}' <<<"$out")")
    echo "run $run diagnostics=$mode: ${ka[$mode,$run]} us/req keep-alive, ${hs[$mode,$run]} us/conn" >&2
  done
done

row() {  # label array
  local -n arr=$2
  local on=() off=()
  for run in $(seq "$runs"); do on+=("${arr[on,$run]}"); off+=("${arr[off,$run]}"); done
  echo "| $1 | $(median_range "${on[@]}") | $(median_range "${off[@]}") | $(pct "$(median "${on[@]}")" "$(median "${off[@]}")") |"
}
echo
echo "| scenario | diagnostics on (CPU us) | off (CPU us) | cost |"
echo "|---|---|---|---|"
row "keep-alive, per request" ka
row "new TLS connection per request, per connection" hs
