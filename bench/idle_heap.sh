#!/usr/bin/env bash
# Where an idle TLS connection's heap goes: valgrind's massif on a one-worker ringgate holding
# COUNT idle TLS 1.3 connections from bench/idle_clients.py, then ms_print's tree of a
# snapshot taken while all of them are held (divide a line's bytes by COUNT for one
# connection's share). Slow under valgrind: a few hundred connections are enough.
#
#   bash bench/idle_heap.sh [count=400] [binary=build/ringgate]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-400}
bin=${2:-build/ringgate}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
openssl ecparam -name prime256v1 -genkey -noout -out "$work/key.pem" 2>/dev/null
openssl req -new -x509 -key "$work/key.pem" -out "$work/cert.pem" -days 2 -subj /CN=localhost 2>/dev/null
port=$((30000 + RANDOM % 5000))
valgrind --tool=massif --massif-out-file="$work/massif.out" --threshold=0.1 \
  "$bin" --threads=1 --listen=127.0.0.1:$port --backend=127.0.0.1:1 \
  --admin-listen=off --log-level=warn --cert="$work/cert.pem" --key="$work/key.pem" \
  2>"$work/valgrind.log" &
pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.2; done
coproc IDLE { python3 bench/idle_clients.py --port "$port" --count "$count"; }
read -r _ <&"${IDLE[0]}"
sleep 2  # past the 200 ms after which an idle connection gives back its grown buffers
# A snapshot taken now, through valgrind's gdbserver: all connections held and idle.
vgdb --pid="$pid" detailed_snapshot "$work/idle.massif" >/dev/null 2>&1
kill -INT "$pid"
wait "$pid" || true
exec {IDLE[1]}>&-
wait "$IDLE_PID" || true
echo "$count idle connections, heap by allocation site:"
ms_print --threshold=0.3 "$work/idle.massif" | grep -E '^(->|\| ->)' | cut -c1-150
