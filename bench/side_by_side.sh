#!/usr/bin/env bash
# Side-by-side load test: ringgate, nginx and HAProxy as TLS-terminating proxies in front of the
# same backend, in one run, under identical conditions. Not part of CI.
#
#   bash bench/side_by_side.sh [runs=3] [seconds=10]
#
# - one ECDSA P-256 certificate, TLS 1.3, AES-128-GCM (the clients' default first choice)
# - each proxy: one worker pinned to CPU 0; backend (nginx, 1 KiB body) and load on CPU 1
# - keep-alive: wrk, 64 connections; new connection per request: h2load --h1 with
#   Connection: close (h2load resumes TLS sessions on reconnect, so these handshakes are resumed)
# - the proxy's own CPU (utime+stime of its processes from /proc) per request
# Prints a Markdown table: medians over the runs, with min-max.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
seconds=${2:-10}
source bench/lib.sh
bash scripts/setup.sh --bench >/dev/null
bench_require nginx haproxy wrk h2load taskset
bash scripts/build.sh build >/dev/null
bench_setup
backend_port=19080 ringgate_port=19443 nginx_port=19444 haproxy_port=19445

cat > "$work/nginx.conf" <<CONF
worker_processes 1; worker_cpu_affinity 01; daemon off; pid $work/nginx.pid;
error_log $work/nginx.err; events { worker_connections 4096; }
http { access_log off;
  upstream be { server 127.0.0.1:$backend_port; keepalive 64; }
  server { listen 127.0.0.1:$nginx_port ssl; ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem; ssl_protocols TLSv1.2 TLSv1.3; keepalive_requests 1000000;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
CONF
cat > "$work/haproxy.cfg" <<CONF
global
  nbthread 1
  cpu-map 1/1 0
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend fe
  bind 127.0.0.1:$haproxy_port ssl crt $work/combined.pem ssl-min-ver TLSv1.2
  default_backend be
backend be
  server s1 127.0.0.1:$backend_port
CONF

bench_start_backend
taskset -c 0 ./build/ringgate --listen 127.0.0.1:$ringgate_port --backend 127.0.0.1:$backend_port \
  --cert "$work/cert.pem" --key "$work/key.pem" --threads 1 --cpus 0 --log-level warn --admin-listen off & bench_pids+=($!)
ringgate_pid=$!
nginx -c "$work/nginx.conf" & bench_pids+=($!)
nginx_master=$!
haproxy -f "$work/haproxy.cfg" -db & bench_pids+=($!)
haproxy_pid=$!
sleep 1

proxy_cpu_ticks() {  # ticks of exactly the proxy's processes
  case $1 in
    ringgate) cpu_ticks_of $ringgate_pid ;;
    nginx) cpu_ticks_of $nginx_master $(pgrep -P $nginx_master) ;;
    haproxy) cpu_ticks_of $haproxy_pid ;;
  esac
}
port_of() { case $1 in ringgate) echo $ringgate_port ;; nginx) echo $nginx_port ;; haproxy) echo $haproxy_port ;; esac; }

declare -A results
for run in $(seq "$runs"); do
  for proxy in ringgate nginx haproxy; do
    port=$(port_of $proxy)
    before=$(proxy_cpu_ticks $proxy)
    out=$(taskset -c 1 wrk -t1 -c64 -d"${seconds}s" --latency "https://127.0.0.1:$port/" 2>&1)
    after=$(proxy_cpu_ticks $proxy)
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    us_per_req=$(us_per $((after - before)) "$reqs")
    results[$proxy,ka_rps,$run]=$rps
    results[$proxy,ka_us,$run]=$us_per_req
    results[$proxy,ka_p99,$run]=$p99

    before=$(proxy_cpu_ticks $proxy)
    out=$(taskset -c 1 h2load --h1 -n 20000 -c 16 -H 'Connection: close' "https://127.0.0.1:$port/" 2>&1)
    after=$(proxy_cpu_ticks $proxy)
    done_reqs=$(awk '/^requests:/ {print $8}' <<<"$out")
    hs_rps=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' <<<"$out")
    us_per_conn=$(us_per $((after - before)) "$done_reqs")
    results[$proxy,hs_rps,$run]=$hs_rps
    results[$proxy,hs_us,$run]=$us_per_conn
    echo "run $run $proxy: keep-alive ${rps} req/s ${us_per_req} us/req p99 ${p99}; conn-per-request ${hs_rps} req/s ${us_per_conn} us/conn (${done_reqs} done)" >&2
  done
done

stat() {  # median [min-max] of the runs
  local vals=()
  for run in $(seq "$runs"); do vals+=("$(sed 's/ms$//; s/us$/e-3/' <<<"${results[$1,$2,$run]}")"); done
  median_range "${vals[@]}"
}
echo
echo "| proxy | keep-alive req/s | CPU us/req | p99 (ms) | new TLS conn per request: req/s | CPU us/conn |"
echo "|---|---|---|---|---|---|"
for proxy in ringgate nginx haproxy; do
  echo "| $proxy | $(stat $proxy ka_rps) | $(stat $proxy ka_us) | $(stat $proxy ka_p99) | $(stat $proxy hs_rps) | $(stat $proxy hs_us) |"
done
