#!/usr/bin/env bash
# ringgate's own CPU per full TLS handshake (utime+stime from /proc, every thread), for one or
# more binaries, runs interleaved: a one-worker ringgate on CPU 0, two `openssl s_time -new`
# clients on CPU 1 making full handshakes (no request) for SECONDS. Not part of CI.
#
#   bash bench/handshake_cpu.sh [runs=3] [seconds=8] [tls-flag=-tls1_3] BINARY...
# openssl 3.0's clients offer X25519 first, so this measures the X25519 handshake (ECDSA P-256
# certificate), not ML-KEM's, which no client on Debian 12 offers.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
seconds=${2:-8}
flag=${3:--tls1_3}
shift 3
source bench/lib.sh
bench_setup  # $work: an ECDSA P-256 certificate and key
ticks() {
  local f
  read -r -a f < <(sed 's/^.*) //' "/proc/$1/stat")
  echo $((f[11] + f[12]))
}
port=$((20000 + RANDOM % 20000))
hz=$(getconf CLK_TCK)
for run in $(seq "$runs"); do
  for bin in "$@"; do
    taskset -c 0 "$bin" --threads=1 --listen=127.0.0.1:$port --backend=127.0.0.1:1 \
      --admin-listen=off --log-level=warn --cert="$work/cert.pem" --key="$work/key.pem" 2>/dev/null &
    pid=$!
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
    sleep 0.5
    before=$(ticks "$pid")
    total=$(bench_full_handshakes "$port" "$flag" "$seconds")
    after=$(ticks "$pid")
    kill "$pid"
    wait "$pid" || true
    awk -v bin="$bin" -v r="$run" -v t=$((after - before)) -v hz="$hz" -v n="$total" -v s="$seconds" \
      'BEGIN {printf "%s run %d: %d handshakes in %d s, %.0f us of ringgate CPU each\n", bin, r, n, s, t * 1e6 / hz / n}'
    port=$((port + 1))
  done
done
