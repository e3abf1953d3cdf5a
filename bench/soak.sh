#!/usr/bin/env bash
# Soak: mixed load with misbehaving clients for a bounded time, sampling the proxy's open
# descriptors and resident memory. Not part of CI.
#
#   bash bench/soak.sh [minutes=30]
#
# Each round (about 15 s) runs, side by side: keep-alive load (wrk), new connections (h2load),
# 10 clients that never answer close_notify, a client that resets mid-request, one that stops
# reading a 30 MB response, burst-then-close clients, and half-closing clients. Every tool is
# bounded by count or time. Samples go to a CSV; the run fails (exit 1) if, after the load has
# stopped and the deadlines have passed, the proxy holds more descriptors than it started with,
# or if its RSS in the last quarter grew more than 20% over the second quarter's.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-30}
source bench/lib.sh
bash scripts/setup.sh --bench >/dev/null
bench_require wrk h2load nginx
bash scripts/build.sh build >/dev/null
bench_setup
bench_start_backend
python3 tools/demo_backend.py --port 19081 >/dev/null 2>&1 & bench_pids+=($!)  # /bytes, /delay
port=19470
./build/ringgate --listen 127.0.0.1:$port --backend 127.0.0.1:19081 --cert "$work/cert.pem" \
  --key "$work/key.pem" --threads 2 --admin-listen 127.0.0.1:19970 --log-level warn \
  --close-notify-timeout 2s --send-timeout 3s --idle-timeout 5s --upstream-idle-timeout 2s \
  2>"$work/ringgate.err" &
proxy=$!
bench_pids+=($proxy)
sleep 1
client="python3 tests/integration/tls_client.py"
fds() { ls /proc/$proxy/fd | wc -l; }
rss_kib() { awk '/^VmRSS/ {print $2}' /proc/$proxy/status; }
csv="bench/results/soak-$(date +%Y%m%d-%H%M).csv"
echo "seconds,fds,rss_kib" >"$csv"
start_fds=$(fds)
start=$(date +%s)
deadline=$((start + minutes * 60))
round=0
while [ "$(date +%s)" -lt "$deadline" ]; do
  round=$((round + 1))
  round_pids=()
  wrk -t1 -c32 -d10s "https://127.0.0.1:$port/" >/dev/null 2>&1 & round_pids+=($!)
  h2load --h1 -n 2000 -c 8 -H 'Connection: close' "https://127.0.0.1:$port/" >/dev/null 2>&1 & round_pids+=($!)
  $client silent --port $port --count 10 --hold 4 >/dev/null 2>&1 & round_pids+=($!)
  $client rst --port $port >/dev/null 2>&1 & round_pids+=($!)
  $client stall --port $port --hold 6 >/dev/null 2>&1 & round_pids+=($!)
  $client burst --port $port --run "soak$round" --reps 20 >/dev/null 2>&1 & round_pids+=($!)
  $client fin --port $port >/dev/null 2>&1 & round_pids+=($!)
  for _ in 1 2 3; do
    sleep 5
    echo "$(( $(date +%s) - start )),$(fds),$(rss_kib)" >>"$csv"
  done
  wait "${round_pids[@]}" 2>/dev/null || true
done
# Let every deadline pass (close_notify 2 s, send 3 s, idle 5 s, pooled backend connections 2 s),
# then compare.
sleep 8
end_fds=$(fds)
curl -s 127.0.0.1:19970/connections | python3 -c "import json,sys,collections; c=json.load(sys.stdin); print(len(c), \"live connections:\", collections.Counter(x[\"state\"] for x in c))"
echo "descriptor kinds at the end:"; ls -l /proc/$proxy/fd | awk 'NR > 1 {print $NF}' | sed 's/[0-9]//g' | sort | uniq -c
echo "open TCP sockets of the proxy at the end, by local and peer port and state:"
ss -tanp 2>/dev/null | grep "pid=$proxy," |
  awk -v port=$port '{split($4, l, ":"); kind = (l[2] == port) ? "client or listener" : "backend"; print "  " kind " " $1}' |
  sort | uniq -c | sort -rn
echo "$(( $(date +%s) - start )),$end_fds,$(rss_kib)" >>"$csv"
python3 - "$csv" "$start_fds" "$end_fds" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
start_fds, end_fds = int(sys.argv[2]), int(sys.argv[3])
n = len(rows)
q2 = [int(r["rss_kib"]) for r in rows[n // 4: n // 2]] or [int(rows[0]["rss_kib"])]
q4 = [int(r["rss_kib"]) for r in rows[3 * n // 4:]]
growth = (max(q4) - max(q2)) / max(q2)
print(f"samples: {n}; fds: start {start_fds}, max {max(int(r['fds']) for r in rows)}, end {end_fds}; "
      f"RSS KiB: 2nd-quarter max {max(q2)}, last-quarter max {max(q4)} ({growth:+.1%})")
ok = end_fds <= start_fds and growth <= 0.20
print("soak: " + ("PASS" if ok else "FAIL"))
sys.exit(0 if ok else 1)
PY
