#!/usr/bin/env bash
# The measured effect of a tuning flag: ringgate with flag set A against flag set B, runs
# interleaved, the proxy's own CPU per unit of work (utime+stime from /proc, every thread of the
# process, so an --sqpoll kernel thread is counted too). Not part of CI.
#
#   bash bench/flag_effect.sh "<flags A>" "<flags B>" [scenario=ka64] [runs=5] [seconds=8]
#   e.g. bash bench/flag_effect.sh "" "--send-zc-threshold=65536" bulk
#   BINARY_A=/tmp/before/ringgate BINARY_B=./build/ringgate bash bench/flag_effect.sh "" "" bulk
#                                        # two builds (a change's effect): nothing is built
#
# scenario: ka64 / ka256 (keep-alive 1 KiB responses, wrk -t1 at 64 / 256 connections; CPU us
# per request) or bulk (1 MiB responses, 8 connections; CPU us per MiB). One worker on CPU 0;
# nginx backend and wrk on CPU 1. Prints each run and the medians with [min-max].
set -euo pipefail
cd "$(dirname "$0")/.."
flags_a=${1?flags A}
flags_b=${2?flags B}
scenario=${3:-ka64}
runs=${4:-5}
seconds=${5:-8}
source bench/lib.sh
bash scripts/setup.sh --bench >/dev/null
bench_require nginx wrk taskset
binary_a=${BINARY_A:-./build/ringgate}
binary_b=${BINARY_B:-./build/ringgate}
[ -n "${BINARY_A:-}${BINARY_B:-}" ] || bash scripts/build.sh build >/dev/null
bench_setup
bench_start_backend
case $scenario in
  ka64) conns=64 path=/ ;;
  ka256) conns=256 path=/ ;;
  bulk) conns=8 path=/1m.bin ;;
  *) echo "flag_effect.sh: unknown scenario '$scenario' (ka64, ka256 or bulk)" >&2; exit 2 ;;
esac

measure() {  # binary flags -> CPU us per request (or per MiB: each bulk response is 1 MiB)
  local port=19543 pid before after out reqs
  # shellcheck disable=SC2086  # the flags are words
  taskset -c 0 "$1" --listen 127.0.0.1:$port --backend 127.0.0.1:$backend_port \
    --cert "$work/cert.pem" --key "$work/key.pem" --threads 1 --cpus 0 --log-level warn \
    --admin-listen off $2 2>>"$work/ringgate.err" &
  pid=$!
  bench_pids+=($pid)
  sleep 1
  kill -0 "$pid" 2>/dev/null || { echo "$1 did not start with: $2" >&2; cat "$work/ringgate.err" >&2; exit 1; }
  before=$(cpu_ticks_of "$pid")
  out=$(taskset -c 1 wrk -t1 -c"$conns" -d"${seconds}s" "https://127.0.0.1:$port$path" 2>&1)
  after=$(cpu_ticks_of "$pid")
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  us_per $((after - before)) "$reqs"
}

results_a=() results_b=()
for run in $(seq "$runs"); do
  a=$(measure "$binary_a" "$flags_a")
  b=$(measure "$binary_b" "$flags_b")
  results_a+=("$a") results_b+=("$b")
  echo "run $run: A $a, B $b" >&2
done
unit=$([ "$scenario" = bulk ] && echo "us/MiB" || echo "us/request")
echo "scenario $scenario, $runs runs of ${seconds} s, CPU $unit, median [min-max]"
echo "A ($binary_a $flags_a): $(median_range "${results_a[@]}")"
echo "B ($binary_b $flags_b): $(median_range "${results_b[@]}")"
echo "B/A: $(awk -v a="$(median "${results_a[@]}")" -v b="$(median "${results_b[@]}")" 'BEGIN {printf "%.2f", b / a}')"
