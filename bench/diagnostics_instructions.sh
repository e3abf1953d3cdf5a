#!/usr/bin/env bash
# Instructions per request and per connection with diagnostics on and off, counted by
# valgrind's callgrind: repeatable on a noisy shared machine where CPU-time differences of a few
# percent drown in run-to-run drift (bench/diagnostics_cost.sh shows that drift). Not part of CI.
#
#   bash bench/diagnostics_instructions.sh
#
# Each figure is a marginal cost: (instructions for N2 requests - for N1) / (N2 - N1), so the
# start-up and the connection set-up of the load generator cancel out. Counters are zeroed after
# a warm-up and dumped after the load with callgrind_control.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bash scripts/setup.sh --bench >/dev/null
bench_require nginx h2load valgrind callgrind_control
bash scripts/build.sh build >/dev/null
bench_setup
bench_start_backend

port=19500
# Runs `callgrind_control <action> <pid>` and makes sure it took effect: callgrind only acts when
# the process next runs, so requests poke it until the command returns OK.
control() {  # pid action
  callgrind_control "$2" "$1" >"$work/ctl.out" 2>&1 &
  local ctl=$!
  for _ in $(seq 50); do
    kill -0 $ctl 2>/dev/null || break
    curl -sk "https://127.0.0.1:$port/" >/dev/null || true
    sleep 0.2
  done
  wait $ctl || true
  grep -q "OK" "$work/ctl.out" || { echo "bench: callgrind_control $2 failed: $(cat "$work/ctl.out")" >&2; exit 1; }
}
# Instructions for n requests (h2load, 8 connections; extra h2load args after n).
count_instructions() {  # n "ringgate flags" [h2load args...]
  local n=$1 flags=$2
  shift 2
  port=$((port + 1))
  local out="$work/cg.$port"
  # shellcheck disable=SC2086
  valgrind --tool=callgrind --callgrind-out-file="$out.%p" ./build/ringgate \
    --listen 127.0.0.1:$port --backend 127.0.0.1:$backend_port --cert "$work/cert.pem" \
    --key "$work/key.pem" --threads 1 $flags >"$work/vg.$port.log" 2>&1 &
  local vg=$!
  bench_pids+=($vg)
  WaitUp() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && return; sleep 0.1; done; }
  WaitUp
  h2load --h1 -n 200 -c 8 "https://127.0.0.1:$port/" >/dev/null 2>&1  # warm-up
  control $vg -z
  local done_requests
  done_requests=$(h2load --h1 -n "$n" -c 8 "$@" "https://127.0.0.1:$port/" 2>&1 |
                  awk '/^requests:/ {print $8}')
  [ "$done_requests" = "$n" ] || { echo "bench: only $done_requests of $n requests succeeded" >&2; exit 1; }
  control $vg -d
  sleep 1
  kill -9 $vg 2>/dev/null || true
  wait $vg 2>/dev/null || true
  grep -h "^totals:" "$out".* | tail -1 | awk '{print $2}'
}

marginal() {  # n1 n2 "flags" [h2load args...]
  local n1=$1 n2=$2 flags=$3
  shift 3
  local a b
  a=$(count_instructions "$n1" "$flags" "$@")
  b=$(count_instructions "$n2" "$flags" "$@")
  echo $(((b - a) / (n2 - n1)))
}

off="--diagnostics=false --log-level=warn --admin-listen=off"
on="--diagnostics=true --log-level=info --admin-listen=127.0.0.1:19599"
access="$on --access-log=$work/access.log"

ka_off=$(marginal 1000 3000 "$off")
ka_on=$(marginal 1000 3000 "$on")
ka_access=$(marginal 1000 3000 "$access")
conn_off=$(marginal 200 600 "$off" -H 'Connection: close')
conn_on=$(marginal 200 600 "$on" -H 'Connection: close')

echo "| scenario | off | on | cost |"
echo "|---|---|---|---|"
echo "| keep-alive, instructions per request | $ka_off | $ka_on | $(pct "$ka_on" "$ka_off") |"
echo "| keep-alive with --access-log, per request | $ka_off | $ka_access | $(pct "$ka_access" "$ka_off") |"
echo "| new TLS connection per request, per connection | $conn_off | $conn_on | $(pct "$conn_on" "$conn_off") |"
