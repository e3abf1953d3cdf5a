#!/usr/bin/env bash
# What clients that pipeline without reading cost ringgate, and what the per-connection buffer
# budget costs bulk transfers. ringgate alone, one worker, the demo backend; not part of CI.
#
#   bash bench/flood_memory.sh [binary=build/ringgate] [extra ringgate flags...]
#
# flood: 40 TLS clients pipeline GETs for 64 KiB responses for 4 s and never read, then all
#   close (tests/integration/tls_client.py flood). Prints the proxy's RSS before, at its peak
#   (sampled every 100 ms) and per client, RSS 1, 5 and 10 s after they left, and how many
#   requests reached the backend after they left.
# bulk: 40 x 8 MiB downloads on one keep-alive connection (curl); the proxy's CPU per MiB.
# For the side-by-side flood against nginx and HAProxy: SCENARIOS=flood bash bench/side_by_side.sh
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-build/ringgate}
[ $# -gt 0 ] && shift
source bench/lib.sh
bench_require curl python3 openssl
bench_setup
backend_port=19180 proxy_port=19543 admin_port=19901

python3 tools/demo_backend.py --port $backend_port >/dev/null 2>&1 & bench_pids+=($!)
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$backend_port/" && break; sleep 0.1; done
"$binary" --listen 127.0.0.1:$proxy_port --backend 127.0.0.1:$backend_port --cert "$work/cert.pem" \
  --key "$work/key.pem" --threads 1 --admin-listen 127.0.0.1:$admin_port --log-level warn "$@" &
bench_pids+=($!)
proxy=$!
for _ in $(seq 50); do curl -sk -o /dev/null "https://127.0.0.1:$proxy_port/" && break; sleep 0.1; done
ringgate_flags="$*"
rss() { awk '/^VmRSS/ {print $2}' "/proc/$proxy/status"; }
served() { curl -s "http://127.0.0.1:$backend_port/requests?prefix=/bytes/"; }

for _ in $(seq 10); do curl -sk -o /dev/null "https://127.0.0.1:$proxy_port/bytes/65536"; done
base=$(rss)
python3 tests/integration/tls_client.py flood --port $proxy_port --count 40 --hold 4 --bytes 65536 \
  > "$work/flood.out" &
flooder=$!
peak=$base
for _ in $(seq 45); do r=$(rss); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.1; done
wait $flooder
at_leave=$(served)
sleep 1; rss1=$(rss); sleep 4; rss5=$(rss); sleep 5; rss10=$(rss)
after_leave=$(( $(served) - at_leave ))
echo "ringgate flags: ${ringgate_flags:-(defaults)}"
echo "flood: $(cat "$work/flood.out"); RSS KiB before $base, peak $peak," \
  "per client $(( (peak - base) / 40 )); after leaving: 1 s $rss1, 5 s $rss5, 10 s $rss10;" \
  "requests reaching the backend after they left: $after_leave"
curl -s "http://127.0.0.1:$admin_port/metrics" |
  grep -E '^ringgate_(connection_buffered_bytes_max|requests_abandoned_total|memory_trims_total)' |
  sed 's/^/  /'

urls=()
outs=()
for _ in $(seq 40); do
  urls+=("https://127.0.0.1:$proxy_port/bytes/8388608")
  outs+=(-o /dev/null)
done
before=$(cpu_ticks_of $proxy)
curl -sk "${urls[@]}" "${outs[@]}"
after=$(cpu_ticks_of $proxy)
echo "bulk: 40 x 8 MiB on one connection: $(us_per $((after - before)) 320) us of proxy CPU per MiB"
