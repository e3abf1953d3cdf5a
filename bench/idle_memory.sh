#!/usr/bin/env bash
# RSS per idle TLS connection of a fresh one-worker ringgate: RSS after COUNT connections from
# bench/idle_clients.py (TLS 1.3, Python's ssl: X25519) have completed their handshakes and waited
# 1 s (the 200 ms release of grown buffers), minus RSS before, divided by COUNT. Repeats RUNS
# times, each with a fresh process. To compare two builds, give both binaries.
#
#   bash bench/idle_memory.sh [count=3000] [runs=3] BINARY...
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-3000}
runs=${2:-3}
shift 2
ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
openssl ecparam -name prime256v1 -genkey -noout -out "$work/key.pem" 2>/dev/null
openssl req -new -x509 -key "$work/key.pem" -out "$work/cert.pem" -days 2 -subj /CN=localhost 2>/dev/null
chmod 600 "$work/key.pem"
port=$((20000 + RANDOM % 20000))
for bin in "$@"; do
  for run in $(seq "$runs"); do
    "$bin" --threads=1 --listen=127.0.0.1:$port --backend=127.0.0.1:1 --admin-listen=off \
      --log-level=warn --cert="$work/cert.pem" --key="$work/key.pem" 2>/dev/null &
    pid=$!
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
    sleep 1
    before=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)
    coproc IDLE { python3 bench/idle_clients.py --port "$port" --count "$count"; }
    read -r _ <&"${IDLE[0]}"
    sleep 1
    after=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)
    exec {IDLE[1]}>&-
    wait "$IDLE_PID" || true
    kill "$pid"
    wait "$pid" || true
    awk -v bin="$bin" -v r="$run" -v a="$after" -v b="$before" -v n="$count" \
      'BEGIN {printf "%s run %d: RSS %d -> %d KiB, %.2f KiB per idle connection\n", bin, r, b, a, (a - b) / n}'
    port=$((port + 1))
  done
done
