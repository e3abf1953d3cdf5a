#!/usr/bin/env bash
# Where each proxy's CPU goes: ringgate and nginx, one after the other under the same wrk load,
# each recorded with `perf record -g` while it serves. Prints each proxy's CPU per unit split
# into user and kernel time, then its profile by library and its top symbols. Not part of CI.
#
#   bash bench/profile_pair.sh [scenario=ka64] [seconds=6]
#   RINGGATE_BINARY=/tmp/other/ringgate bash bench/profile_pair.sh bulk   # that build, unbuilt
#
# scenario: ka64 (keep-alive 1 KiB responses, wrk -t1 -c64; CPU us per request), bulk (1 MiB
# responses, 8 connections; CPU us per MiB), full13 (full TLS 1.3 handshakes from two
# `openssl s_time -new` clients; CPU us per handshake), resumed (a new connection per request
# with a resumed TLS 1.3 session, h2load --h1 -c16 with `Connection: close`; CPU us per
# connection) or rate20k (20,032 keep-alive requests/s offered over 64 connections, h2load --h1
# --rps; CPU us per request), the last two as bench/side_by_side.sh runs them. One proxy worker on CPU 0; the nginx
# backend and the load on CPU 1; nginx configured as in bench/side_by_side.sh. The perf data stays in
# $PROFILE_DIR (default /tmp/ringgate-profiles) as ringgate.data and nginx.data for
# `perf report -i`.
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:-ka64}
seconds=${2:-6}
out_dir=${PROFILE_DIR:-/tmp/ringgate-profiles}
source bench/lib.sh
bash scripts/setup.sh --bench >/dev/null
bench_require nginx wrk h2load taskset perf
ringgate_binary=${RINGGATE_BINARY:-}
if [ -z "$ringgate_binary" ]; then
  bash scripts/build.sh build >/dev/null
  ringgate_binary=./build/ringgate
fi
case $scenario in
  ka64) conns=64 path=/ unit=request ;;
  bulk) conns=8 path=/1m.bin unit=MiB ;;
  full13) conns=0 path= unit=handshake ;;
  resumed) conns=16 path=/ unit=connection ;;
  rate20k) conns=64 path=/ unit=request ;;
  *)
    echo "profile_pair.sh: unknown scenario '$scenario' (ka64, bulk, full13, resumed or rate20k)" >&2
    exit 2
    ;;
esac
mkdir -p "$out_dir"
bench_setup
bench_start_backend
ringgate_port=19643 nginx_port=19644
cat > "$work/nginx.conf" <<CONF
worker_processes 1; worker_cpu_affinity 01; daemon off;
pid $work/nginx.pid; error_log $work/nginx.err; events { worker_connections 4096; }
http { access_log off;
  upstream be { server 127.0.0.1:$backend_port; keepalive 1024; }
  server { listen 127.0.0.1:$nginx_port ssl; ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem; ssl_protocols TLSv1.2 TLSv1.3; keepalive_requests 1000000;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_buffers 16 64k; proxy_max_temp_file_size 0; } } }
CONF
nginx -c "$work/nginx.conf" & bench_pids+=($!)
nginx_master=$!
taskset -c 0 "$ringgate_binary" --listen 127.0.0.1:$ringgate_port \
  --backend 127.0.0.1:$backend_port --cert "$work/cert.pem" --key "$work/key.pem" --threads 1 \
  --cpus 0 --log-level warn --admin-listen off & bench_pids+=($!)
ringgate_pid=$!
sleep 1
nginx_worker=$(pgrep -P "$nginx_master" | head -1)

user_ticks_of() { awk '{print $14}' "/proc/$1/stat"; }

for proxy in ringgate nginx; do
  if [ "$proxy" = ringgate ]; then pid=$ringgate_pid port=$ringgate_port; else pid=$nginx_worker port=$nginx_port; fi
  url="https://127.0.0.1:$port$path"
  [ "$scenario" != full13 ] && taskset -c 1 wrk -t1 -c"$conns" -d1s "$url" >/dev/null  # warm-up
  before=$(cpu_ticks_of "$pid")
  user_before=$(user_ticks_of "$pid")
  perf record -F 2000 -g -o "$out_dir/$proxy.data" -p "$pid" -- sleep "$seconds" >/dev/null 2>&1 &
  perf_pid=$!
  if [ "$scenario" = full13 ]; then
    client_pids=()
    for client in 1 2; do
      taskset -c 1 openssl s_time -connect "127.0.0.1:$port" -new -tls1_3 -time "$seconds" \
        >"$work/s_time.$client" 2>&1 &
      client_pids+=($!)
    done
    wait "$perf_pid" "${client_pids[@]}" || true
    units=$(cat "$work/s_time.1" "$work/s_time.2" | awk '/connections in/ {s += $1} END {print s}')
  elif [ "$scenario" = resumed ] || [ "$scenario" = rate20k ]; then
    # resumed: -n, not -D: with -D and closing connections h2load 1.52 did not stop against nginx.
    load=(-n 20000 -H 'Connection: close')
    [ "$scenario" = rate20k ] && load=(-D "$seconds" --rps=313)
    result=$(taskset -c 1 h2load --h1 -c "$conns" "${load[@]}" "$url" 2>&1)
    wait "$perf_pid" || true
    units=$(awk '/^requests:/ {print $8}' <<<"$result")
  else
    result=$(taskset -c 1 wrk -t1 -c"$conns" -d"${seconds}s" "$url")
    wait "$perf_pid" || true
    units=$(awk '/requests in/ {print $1}' <<<"$result")
  fi
  after=$(cpu_ticks_of "$pid")
  user_after=$(user_ticks_of "$pid")
  echo "== $proxy: $units ${unit}s; CPU us per $unit: $(us_per $((after - before)) "$units")" \
    "(user $(us_per $((user_after - user_before)) "$units")," \
    "kernel $(us_per $((after - before - user_after + user_before)) "$units"))"
  perf report -i "$out_dir/$proxy.data" --no-children --sort dso -g none 2>/dev/null |
    grep -v '^#' | grep -v '^$' | head -5 || true  # head closes the pipe early
  perf report -i "$out_dir/$proxy.data" --no-children --sort dso,symbol -g none 2>/dev/null |
    grep -v '^#' | grep -v '^$' | head -15 | cut -c1-110 || true
done
echo "perf data: $out_dir/ringgate.data $out_dir/nginx.data"
