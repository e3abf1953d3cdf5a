#!/usr/bin/env bash
# TLS hygiene of a running ringgate, checked by testssl.sh (Debian's testssl.sh package): protocols,
# ciphers, forward secrecy, known vulnerabilities and server defaults. Not part of CI: a full run
# takes minutes. Prints testssl's findings of severity LOW and above, and writes the whole report
# to bench/results/testssl-<date>.txt.
#   bash bench/tls_hygiene.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bench_require testssl nginx
bench_setup
bench_start_backend
port=18443
build/ringgate --listen=127.0.0.1:$port --backend=127.0.0.1:$backend_port --cert="$work/cert.pem" \
  --key="$work/key.pem" --threads=1 --admin-listen=off --log-level=warn \
  2> "$work/ringgate.log" & bench_pids+=($!)
sleep 0.5
report=bench/results/testssl-$(date +%F).txt
# --ip one: the name is a loopback address; --sneaky: no testssl user agent in the backend's logs.
testssl --quiet --color 0 --ip one --warnings off --sneaky --severity LOW \
  "127.0.0.1:$port" > "$report" 2>&1 || true
echo "report: $report"
grep -E "LOW|MEDIUM|HIGH|CRITICAL|not ok|VULNERABLE" "$report" || echo "no findings of severity LOW or above"
