#!/usr/bin/env bash
# Side-by-side load test: ringgate, nginx, HAProxy, h2o and Caddy as TLS-terminating proxies in
# front of the same backend, in one run, under identical conditions. Not part of CI.
#
#   bash bench/side_by_side.sh [runs=3] [seconds=10] [idle_connections=10000]
#   SCENARIOS="bulk full13" bash bench/side_by_side.sh      # only some of: ka64 ka256 capped
#                                                           # bulk full13 full12 resumed rate20k
#                                                           # idle ka256x2 flood ws
#   CAP_PERCENT=30 SCENARIOS=capped bash bench/side_by_side.sh  # the capped scenario's budget
#   PROXIES="ringgate h2o" bash bench/side_by_side.sh 1     # only some of: ringgate nginx
#                                                           # haproxy h2o caddy (only those start)
#   PROXIES=ringgate RINGGATE_FLAGS="--max-conn-buffer=131072" SCENARIOS=flood \
#     bash bench/side_by_side.sh 1                          # one proxy, with extra flags
#   RINGGATE_BINARY=/tmp/old/ringgate ...                   # another ringgate build; the
#                                                           # harness then builds nothing
#   RESULTS_DIR=bench/results/$(date +%F)-side-by-side ...  # also write the report there
#
# Without RINGGATE_BINARY it runs `bash scripts/build.sh build` and uses ./build/ringgate; with
# it, that binary is used as it is and nothing is built.
#
# With RESULTS_DIR the folder gets side-by-side.md (the report printed on stdout, with a header
# naming the versions and RESULTS_NOTE if set), data.tsv (every run's value: proxy, scenario,
# metric, run, value) and, drawn from data.tsv by bench/plot_results.py with Debian's
# matplotlib (/usr/bin/python3), cpu.svg (the proxy's CPU per unit for each scenario: median bars,
# min-max error bars) and latency.svg (p50/p99 for each scenario that measures them).
#
# - one ECDSA P-256 certificate; TLS 1.2 and 1.3 offered; TLS 1.3 with AES-128-GCM (the clients'
#   first choice), plus a TLS 1.2 full-handshake scenario
# - each proxy: one worker pinned to CPU 0; backend (nginx: 1 KiB and 1 MiB bodies) and the load
#   generators on CPU 1; keep-alive connections to the backend
#   - nginx: worker_processes 1, worker_cpu_affinity 01, upstream keepalive 1024
#   - HAProxy: nbthread 1, cpu-map 1/1 0, http-reuse always
#   - h2o 2.2 (OpenSSL): num-threads 1 under `taskset -c 0`, proxy.reverse.url with its upstream
#     keep-alive (proxy.timeout.keepalive 60 s), /ws with proxy.websocket
#   - Caddy 2.6 (Go crypto/tls): GOMAXPROCS=1 under `taskset -c 0`, a Caddyfile with admin off,
#     auto_https off and an explicit `tls cert key` (no ACME, no network; Caddy 2 has no
#     telemetry), HTTP/1.1 and HTTP/2 only (no HTTP/3 listener), reverse_proxy with up to 1024
#     idle keep-alive connections to the backend; it tunnels WebSocket upgrades by itself
# - scenarios: keep-alive 1 KiB at 64 and 256 connections (wrk); 1 MiB responses (wrk, 8
#   connections); full handshakes, TLS 1.3 and 1.2 (two `openssl s_time -new` clients: connect,
#   handshake, close); a new connection per request with a resumed TLS 1.3 session (h2load --h1,
#   Connection: close); N idle TLS connections (bench/idle_clients.py), for memory: measured in
#   the first run only, after the other scenarios have warmed each proxy up
# - capped: throughput at saturation with every proxy given the same CPU budget. On two cores the
#   load generator's core saturates before an unlimited proxy's does (ka64/ka256 then measure the
#   load generator), so here each proxy's processes are put in a cgroup limited to CAP_PERCENT
#   (default 30) of one core (CFS quota over a 10 ms period; cgroup v1 or v2, needs root) and
#   driven like ka256 (wrk, 256 connections, 1 KiB). The proxy, not the load generator, is then
#   the bottleneck: its CPU use reads CAP_PERCENT, and the req/s ratio is the throughput ratio at
#   saturation per unit of CPU. The load generator's core (CPU 1) busy share is reported beside
#   it: below 100% it was not what limited the rate. The processes go back to their own cgroup
#   afterwards
# - rate20k: the same offered load for every proxy, 20,000 keep-alive requests/s of 1 KiB over 64
#   connections (h2load --h1 -c 64 --rps=313, so 20,032/s: wrk2 is not in Debian 12), for the
#   scenario's seconds: the proxy's CPU per request and its CPU use at equal load, the rate
#   achieved (below 20k when the proxy, or the load generator, could not keep up), and p50/p99
#   latency from h2load's per-request log. h2load times a request from when it was sent, not from when the
#   schedule wanted it sent, so a proxy that falls behind shows a lower rate rather than the
#   queueing delay in its p99
# - flood: 100 TLS clients pipeline GETs for 64 KiB responses for the scenario's seconds and never
#   read a byte, then all close (tests/integration/tls_client.py flood); the proxy's peak RSS per
#   client, its RSS 10 s after they left, and the requests reaching the backend after they left
#   (the backend's access log for that path); first run only, like idle
# - ws: WebSocket echo through each proxy (bench/ws_echo.py, standard library only: 32 wss://
#   clients each send 16 binary frames of 128 bytes and read their echoes, in a loop, against an
#   echo backend on CPU 1); the proxy's CPU per message echoed (one message in, one out). nginx,
#   HAProxy, h2o and Caddy tunnel /ws to the echo backend; ringgate, which has no routing by
#   path, runs a second pinned instance in front of it
# - ka256x2: the keep-alive scenario at 256 connections against a second instance of each proxy
#   with two workers and no pinning (wrk with two threads, unpinned): what the kernel's
#   SO_REUSEPORT / accept spreading and the scheduler make of two workers on two shared cores
#   (h2o: num-threads 2; Caddy: GOMAXPROCS=2)
# - the proxy's own CPU time (utime+stime of its processes, /proc/<pid>/stat) per request, per
#   handshake, per MiB; system calls per keep-alive request (perf's raw_syscalls tracepoint,
#   where perf is allowed); its RSS per idle connection; its CPU use during the scenario, which says
#   whether the proxy was the bottleneck (at ~100% of its one core) or the load generator/backend
# - every proxy runs every scenario (h2o and Caddy too: idle, flood, ws and ka256x2 included);
#   "n/a" in a cell means that proxy ran but produced no figure for that row: its scenario failed
#   (no 101 for the WebSocket upgrade, no request completed, ...; the reason is printed on stderr)
# Prints Markdown: for every figure the median over the runs with [min-max], and ringgate's
# ratio to each other proxy (ratio of medians).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
seconds=${2:-10}
idle_count=${3:-10000}
source bench/lib.sh
scenarios=" ${SCENARIOS:-ka64 ka256 capped bulk full13 full12 resumed rate20k idle ka256x2 flood ws} "
proxies=" ${PROXIES:-ringgate nginx haproxy h2o caddy} "
flood_clients=100
rate_total=20000 rate_conns=64  # rate20k: the offered load, split evenly over the connections
rate_per_conn=$(( (rate_total + rate_conns / 2) / rate_conns ))  # 313: 20,032 requests/s offered
cap_percent=${CAP_PERCENT:-30}  # capped: each proxy's CPU budget, percent of one core
[[ $cap_percent =~ ^[1-9][0-9]?$ ]] || { echo "bench: CAP_PERCENT takes 1-99, not $cap_percent" >&2; exit 1; }
want() { [[ $scenarios == *" $1 "* ]]; }
selected() { [[ $proxies == *" $1 "* ]]; }
for p in $proxies; do
  case $p in ringgate | nginx | haproxy | h2o | caddy) ;;
    *) echo "bench: unknown proxy $p (PROXIES takes ringgate nginx haproxy h2o caddy)" >&2; exit 1 ;;
  esac
done
ringgate_binary=${RINGGATE_BINARY:-./build/ringgate}
results_dir=${RESULTS_DIR:-}
bash scripts/setup.sh --bench >/dev/null
bench_require nginx wrk h2load taskset openssl
selected haproxy && bench_require haproxy
selected h2o && bench_require h2o
selected caddy && bench_require caddy
[ -n "$results_dir" ] && { mkdir -p "$results_dir"; results_dir=$(cd "$results_dir" && pwd); }
# A given RINGGATE_BINARY is used as it is: nothing is built.
[ -n "${RINGGATE_BINARY:-}" ] || bash scripts/build.sh build >/dev/null
bench_setup
backend_port=19080 ringgate_port=19443 nginx_port=19444 haproxy_port=19445
ringgate2_port=19446 nginx2_port=19447 haproxy2_port=19448  # the two-worker, unpinned instances
ws_backend_port=19081 ringgatews_port=19449  # WebSocket echo, and ringgate's instance in front of it
h2o_port=19450 caddy_port=19451 h2o2_port=19452 caddy2_port=19453
ulimit -n "$(ulimit -Hn)"  # 10,000 idle connections need as many descriptors
# HAProxy wants two descriptors per connection under its maxconn: stay within the hard limit.
maxconn=$(( ($(ulimit -Hn) - 200) / 2 ))
[ "$idle_count" -gt $((maxconn - 100)) ] && idle_count=$((maxconn - 100))

head -c 1048576 /dev/urandom > "$work/1m.bin"
head -c 65536 /dev/urandom > "$work/64k.bin"
chmod 755 "$work" && chmod 644 "$work/1m.bin" "$work/64k.bin"  # nginx's workers run as nobody
cat > "$work/nginx.conf" <<CONF
worker_processes 1; worker_cpu_affinity 01; worker_rlimit_nofile 65536; daemon off;
pid $work/nginx.pid; error_log $work/nginx.err; events { worker_connections 20000; }
http { access_log off;
  upstream be { server 127.0.0.1:$backend_port; keepalive 1024; }
  upstream ws { server 127.0.0.1:$ws_backend_port; }
  server { listen 127.0.0.1:$nginx_port ssl; ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem; ssl_protocols TLSv1.2 TLSv1.3; keepalive_requests 1000000;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_buffers 16 64k; proxy_max_temp_file_size 0; }
    location /ws { proxy_pass http://ws; proxy_http_version 1.1;
      proxy_set_header Upgrade \$http_upgrade; proxy_set_header Connection "upgrade";
      proxy_read_timeout 1h; } } }
CONF
cat > "$work/haproxy.cfg" <<CONF
global
  nbthread 1
  cpu-map 1/1 0
  maxconn $maxconn
defaults
  mode http
  maxconn $maxconn
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend fe
  bind 127.0.0.1:$haproxy_port ssl crt $work/combined.pem ssl-min-ver TLSv1.2
  acl websocket path_beg /ws
  use_backend ws if websocket
  default_backend be
backend be
  server s1 127.0.0.1:$backend_port
backend ws
  timeout tunnel 1h
  server w1 127.0.0.1:$ws_backend_port
CONF
# The two-worker, unpinned instances: the same configuration with two workers and no affinity.
sed -e 's/worker_processes 1; worker_cpu_affinity 01;/worker_processes 2;/' \
    -e "s/$nginx_port/$nginx2_port/; s#$work/nginx.pid#$work/nginx2.pid#; s#$work/nginx.err#$work/nginx2.err#" \
    "$work/nginx.conf" > "$work/nginx2.conf"
sed -e 's/nbthread 1/nbthread 2/' -e '/cpu-map/d' -e "s/:$haproxy_port /:$haproxy2_port /" \
    "$work/haproxy.cfg" > "$work/haproxy2.cfg"
# h2o: one thread (pinned by taskset when started), the backend kept alive for 60 s, /ws tunnelled.
# Started as root it drops to nobody after reading the key, so it writes in a folder of its own.
# No OCSP stapling: the certificate names no responder, and nothing may leave the machine.
mkdir -p "$work/h2o-run" && chmod 1777 "$work/h2o-run"
h2o_conf() {  # port threads pid-name
  cat <<CONF
num-threads: $2
max-connections: $maxconn
pid-file: $work/h2o-run/$3.pid
error-log: $work/h2o-run/$3.err
http1-request-timeout: 60
listen:
  host: 127.0.0.1
  port: $1
  ssl:
    certificate-file: $work/cert.pem
    key-file: $work/key.pem
    minimum-version: TLSv1.2
    ocsp-update-interval: 0
proxy.timeout.keepalive: 60000
hosts:
  "127.0.0.1":
    paths:
      "/ws":
        proxy.websocket: ON
        proxy.websocket.timeout: 3600000
        proxy.reverse.url: http://127.0.0.1:$ws_backend_port/ws
      "/":
        proxy.reverse.url: http://127.0.0.1:$backend_port/
CONF
}
h2o_conf $h2o_port 1 h2o > "$work/h2o.conf"
h2o_conf $h2o2_port 2 h2o2 > "$work/h2o2.conf"
# Caddy: its own certificate, no ACME, no admin endpoint, nothing written outside $work; its
# storage and config folders (its autosaved config) point into $work (XDG_*). The site has no host
# name, so every Host and SNI (none, with s_time) gets the one certificate and the same routes;
# `bind` keeps it on 127.0.0.1. /ws first: it tunnels an upgraded connection by itself.
caddy_conf() {  # port
  cat <<CONF
{
  admin off
  auto_https off
  skip_install_trust
  storage file_system $work/caddy-data
  servers {
    protocols h1 h2
    timeouts {
      idle 60s
    }
  }
}
https://:$1 {
  bind 127.0.0.1
  tls $work/cert.pem $work/key.pem {
    protocols tls1.2 tls1.3
  }
  reverse_proxy /ws* 127.0.0.1:$ws_backend_port
  reverse_proxy 127.0.0.1:$backend_port {
    transport http {
      keepalive 60s
      keepalive_idle_conns 1024
      keepalive_idle_conns_per_host 1024
    }
  }
}
CONF
}
caddy_conf $caddy_port > "$work/Caddyfile"
caddy_conf $caddy2_port > "$work/Caddyfile2"
caddy_env=(env XDG_DATA_HOME="$work/caddy-data" XDG_CONFIG_HOME="$work/caddy-config")
# The backend: 1 KiB at /, 1 MiB at /1m.bin, one worker on CPU 1.
cat > "$work/backend.conf" <<CONF
worker_processes 1; worker_cpu_affinity 10; daemon off; pid $work/backend.pid;
error_log $work/backend.err; events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; sendfile on;
  server { listen 127.0.0.1:$backend_port; root $work;
    location = / { return 200 "$(head -c 1024 /dev/zero | tr '\0' 'x')"; }
    location = /1m.bin { }
    location = /flood64k { access_log $work/flood.log; try_files /64k.bin =404; } } }
CONF
nginx -c "$work/backend.conf" & bench_pids+=($!)

ringgate_pid='' nginx_master='' haproxy_pid='' h2o_pid='' caddy_pid=''
ringgate2_pid='' nginx2_master='' haproxy2_pid='' h2o2_pid='' caddy2_pid='' ringgatews_pid=''
if selected ringgate; then
  taskset -c 0 "$ringgate_binary" --listen 127.0.0.1:$ringgate_port --backend 127.0.0.1:$backend_port \
    --cert "$work/cert.pem" --key "$work/key.pem" --threads 1 --cpus 0 --log-level warn \
    --admin-listen off ${RINGGATE_FLAGS:-} & bench_pids+=($!)
  ringgate_pid=$!
fi
if selected nginx; then nginx -c "$work/nginx.conf" & bench_pids+=($!); nginx_master=$!; fi
if selected haproxy; then haproxy -f "$work/haproxy.cfg" -db & bench_pids+=($!); haproxy_pid=$!; fi
if selected h2o; then
  taskset -c 0 h2o -c "$work/h2o.conf" >"$work/h2o.out" 2>&1 & bench_pids+=($!)
  h2o_pid=$!
fi
if selected caddy; then
  GOMAXPROCS=1 "${caddy_env[@]}" taskset -c 0 caddy run --adapter caddyfile \
    --config "$work/Caddyfile" >"$work/caddy.out" 2>&1 & bench_pids+=($!)
  caddy_pid=$!
fi
if want ws; then
  taskset -c 1 python3 bench/ws_echo.py backend --port $ws_backend_port >/dev/null & bench_pids+=($!)
  if selected ringgate; then
    taskset -c 0 "$ringgate_binary" --listen 127.0.0.1:$ringgatews_port \
      --backend 127.0.0.1:$ws_backend_port --cert "$work/cert.pem" --key "$work/key.pem" --threads 1 \
      --cpus 0 --log-level warn --admin-listen off ${RINGGATE_FLAGS:-} & bench_pids+=($!)
    ringgatews_pid=$!
  fi
fi
if want ka256x2; then
  if selected ringgate; then
    "$ringgate_binary" --listen 127.0.0.1:$ringgate2_port --backend 127.0.0.1:$backend_port \
      --cert "$work/cert.pem" --key "$work/key.pem" --threads 2 --log-level warn \
      --admin-listen off & bench_pids+=($!)
    ringgate2_pid=$!
  fi
  if selected nginx; then nginx -c "$work/nginx2.conf" & bench_pids+=($!); nginx2_master=$!; fi
  if selected haproxy; then haproxy -f "$work/haproxy2.cfg" -db & bench_pids+=($!); haproxy2_pid=$!; fi
  if selected h2o; then h2o -c "$work/h2o2.conf" >"$work/h2o2.out" 2>&1 & bench_pids+=($!); h2o2_pid=$!; fi
  if selected caddy; then
    GOMAXPROCS=2 "${caddy_env[@]}" caddy run --adapter caddyfile --config "$work/Caddyfile2" \
      >"$work/caddy2.out" 2>&1 & bench_pids+=($!)
    caddy2_pid=$!
  fi
fi
sleep 1
# Every proxy started must still be there and answer: a peer that refused its configuration
# stops the run here, with its own words.
for p in $proxies; do
  for v in "" 2; do
    pid_var=${p}${v}_pid; [ "$p" = nginx ] && pid_var=nginx${v}_master
    [ -n "${!pid_var}" ] || continue
    if ! kill -0 "${!pid_var}" 2>/dev/null; then
      echo "bench: $p$v exited at start-up:" >&2
      cat "$work/$p$v.out" "$work/$p$v.err" "$work/h2o-run/$p$v.err" 2>/dev/null | tail -20 >&2
      exit 1
    fi
  done
done

# $variant is empty for the one-worker pinned instances and 2 for the two-worker ones.
variant=
proxy_pids() {
  case $1$variant in
    ringgate) echo $ringgate_pid ;;
    nginx) echo $nginx_master $(pgrep -P $nginx_master) ;;
    haproxy) echo $haproxy_pid ;;
    ringgate2) echo $ringgate2_pid ;;
    nginx2) echo $nginx2_master $(pgrep -P $nginx2_master) ;;
    haproxy2) echo $haproxy2_pid ;;
    h2o) echo $h2o_pid $(pgrep -P $h2o_pid) ;;
    caddy) echo $caddy_pid ;;
    h2o2) echo $h2o2_pid $(pgrep -P $h2o2_pid) ;;
    caddy2) echo $caddy2_pid ;;
    ringgatews) echo $ringgatews_pid ;;
    nginxws) echo $nginx_master $(pgrep -P $nginx_master) ;;
    haproxyws) echo $haproxy_pid ;;
    h2ows) echo $h2o_pid $(pgrep -P $h2o_pid) ;;
    caddyws) echo $caddy_pid ;;
  esac
}
proxy_cpu_ticks() { cpu_ticks_of $(proxy_pids "$1"); }
proxy_rss_kib() {
  local total=0 p
  for p in $(proxy_pids "$1"); do total=$((total + $(awk '/^VmRSS/ {print $2}' /proc/$p/status))); done
  echo $total
}
port_of() {
  case $1$variant in
    ringgate) echo $ringgate_port ;; nginx) echo $nginx_port ;; haproxy) echo $haproxy_port ;;
    ringgate2) echo $ringgate2_port ;; nginx2) echo $nginx2_port ;; haproxy2) echo $haproxy2_port ;;
    ringgatews) echo $ringgatews_port ;; nginxws) echo $nginx_port ;; haproxyws) echo $haproxy_port ;;
    h2o) echo $h2o_port ;; caddy) echo $caddy_port ;; h2o2) echo $h2o2_port ;;
    caddy2) echo $caddy2_port ;; h2ows) echo $h2o_port ;; caddyws) echo $caddy_port ;;
  esac
}
hz=$(getconf CLK_TCK)
perf_ok=
command -v perf >/dev/null && perf stat -e raw_syscalls:sys_enter -p $$ -- sleep 0.1 >/dev/null 2>&1 && perf_ok=1
utilization() {  # ticks seconds -> percent of one core
  awk -v t="$1" -v s="$2" -v hz="$hz" 'BEGIN {printf "%.0f", t / hz / s * 100}'
}
to_ms() {  # wrk latency (850.00us, 1.20ms, 2.01s) -> ms
  awk -v v="$1" 'BEGIN {n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[0-9]s$/) n *= 1000; printf "%.3f", n}'
}


declare -A results
record() { results[$1,$2,$3]=$4; }  # proxy metric run value

run_wrk() {  # proxy run name connections path
  local proxy=$1 run=$2 name=$3 conns=$4 path=$5 port before after out reqs secs perf_pid=
  port=$(port_of "$proxy")
  # System calls made by the proxy's processes while wrk runs (perf's syscall tracepoint).
  if [ -n "$perf_ok" ]; then
    perf stat -x, -e raw_syscalls:sys_enter -p "$(proxy_pids "$proxy" | tr ' ' ',')" \
      -o "$work/perf.out" -- sleep "$seconds" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  before=$(proxy_cpu_ticks "$proxy")
  local load=(taskset -c 1 wrk -t1) gen_before gen_after
  [ -n "$variant" ] && load=(wrk -t2)  # the two-worker variant: nothing pinned
  gen_before=$(core_busy_ticks 1)
  out=$("${load[@]}" -c"$conns" -d"${seconds}s" --latency "https://127.0.0.1:$port$path" 2>&1)
  gen_after=$(core_busy_ticks 1)
  after=$(proxy_cpu_ticks "$proxy")
  if [ -n "$perf_pid" ]; then
    wait "$perf_pid" || true
    record "$proxy" "${name}_sys" "$run" "$(awk -F, -v r="$(awk '/requests in/ {print $1}' <<<"$out")" \
      '/raw_syscalls/ {printf "%.2f", $1 / r}' "$work/perf.out")"
  fi
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  secs=$(awk '/requests in/ {gsub("s,", "", $4); print $4}' <<<"$out")
  record "$proxy" "${name}_rps" "$run" "$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
  record "$proxy" "${name}_p50" "$run" "$(to_ms "$(awk '$1=="50%" {print $2}' <<<"$out")")"
  record "$proxy" "${name}_p99" "$run" "$(to_ms "$(awk '$1=="99%" {print $2}' <<<"$out")")"
  record "$proxy" "${name}_us" "$run" "$(us_per $((after - before)) "$reqs")"
  record "$proxy" "${name}_cpu" "$run" "$(utilization $((after - before)) "$secs")"
  # How busy the load generator's core was (wrk and the backend share CPU 1): near 100% means
  # it, not the proxy, set the rate. Not for the unpinned two-worker variant.
  [ -n "$variant" ] || record "$proxy" "${name}_gen" "$run" "$(utilization $((gen_after - gen_before)) "$secs")"
  if [ "$path" = /1m.bin ]; then  # per MiB: each response is exactly 1 MiB of body
    record "$proxy" "${name}_mibps" "$run" "$(awk -v r="$reqs" -v s="$secs" 'BEGIN {printf "%.0f", r / s}')"
  fi
  grep -q "Non-2xx\|Socket errors" <<<"$out" && echo "  ($proxy $name: $(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr '\n' ' '))" >&2
  return 0
}

# capped: a cgroup whose CPU quota is cap_percent of one core. cgroup v2 (cpu.max) where the
# unified hierarchy has the cpu controller, else cgroup v1's cpu controller (cfs_quota_us).
cap_group=
cap_setup() {
  [ -n "$cap_group" ] && return 0
  local quota=$((cap_percent * 100)) period=10000  # microseconds
  local group
  if grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
    group=/sys/fs/cgroup/ringgate-bench-cap
    grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control || echo +cpu > /sys/fs/cgroup/cgroup.subtree_control
    mkdir -p $group && echo "$quota $period" > $group/cpu.max
  elif [ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
    group=/sys/fs/cgroup/cpu/ringgate-bench-cap
    mkdir -p $group && echo $period > $group/cpu.cfs_period_us && echo $quota > $group/cpu.cfs_quota_us
  else
    return 1
  fi
  cap_group=$group  # only once the quota is in place
}
cgroup_of() {  # pid -> the directory of its cgroup in the hierarchy cap_group belongs to
  case $cap_group in
    /sys/fs/cgroup/cpu/*) echo "/sys/fs/cgroup/cpu$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ {print $3}' /proc/$1/cgroup)" ;;
    *) echo "/sys/fs/cgroup$(awk -F: '$1 == 0 {print $3}' /proc/$1/cgroup)" ;;
  esac
}
run_capped() {  # proxy run
  local proxy=$1 run=$2 pid home=()
  if ! cap_setup 2>/dev/null; then
    echo "  ($proxy capped: no writable cgroup cpu controller here (it needs root): no figure)" >&2
    return 0
  fi
  for pid in $(proxy_pids "$proxy"); do
    home+=("$pid:$(cgroup_of "$pid")")
    echo "$pid" > "$cap_group/cgroup.procs"
  done
  run_wrk "$proxy" "$run" capped 256 /
  for pid in "${home[@]}"; do echo "${pid%%:*}" > "${pid#*:}/cgroup.procs"; done
  # Proof the cap held: a figure far above the budget means the quota did not apply.
  local cpu=${results[$proxy,capped_cpu,$run]:-0}
  [ "$cpu" -le $((cap_percent + 5)) ] ||
    echo "  ($proxy capped: used ${cpu}% of a core, above its ${cap_percent}% budget)" >&2
}
cap_teardown() { [ -z "$cap_group" ] || rmdir "$cap_group" 2>/dev/null || true; }

run_full_handshakes() {  # proxy run name tls-flag
  local proxy=$1 run=$2 name=$3 flag=$4 port before after total
  port=$(port_of "$proxy")
  before=$(proxy_cpu_ticks "$proxy")
  total=$(bench_full_handshakes "$port" "$flag" "$seconds")
  after=$(proxy_cpu_ticks "$proxy")
  record "$proxy" "${name}_hps" "$run" "$(awk -v n="$total" -v s="$seconds" 'BEGIN {printf "%.0f", n / s}')"
  record "$proxy" "${name}_us" "$run" "$(us_per $((after - before)) "$total")"
  record "$proxy" "${name}_cpu" "$run" "$(utilization $((after - before)) "$seconds")"
}

run_resumed() {  # proxy run
  local proxy=$1 run=$2 port before after out done_reqs secs
  port=$(port_of "$proxy")
  before=$(proxy_cpu_ticks "$proxy")
  out=$(taskset -c 1 h2load --h1 -n 20000 -c 16 -H 'Connection: close' "https://127.0.0.1:$port/" 2>&1)
  after=$(proxy_cpu_ticks "$proxy")
  done_reqs=$(awk '/^requests:/ {print $8}' <<<"$out")
  secs=$(awk '/^finished in/ {gsub("s,", "", $3); print $3}' <<<"$out")
  record "$proxy" resumed_cps "$run" "$(awk '/^finished in/ {gsub(",", "", $4); print $4}' <<<"$out")"
  record "$proxy" resumed_us "$run" "$(us_per $((after - before)) "$done_reqs")"
  record "$proxy" resumed_cpu "$run" "$(utilization $((after - before)) "$secs")"
}

# rate20k: h2load --h1 at a fixed rate per connection; latency percentiles from its per-request
# log (third column: microseconds from sending the request to the end of its response).
run_rate() {  # proxy run
  local proxy=$1 run=$2 port before after out done_reqs secs
  port=$(port_of "$proxy")
  rm -f "$work/rate.log"
  before=$(proxy_cpu_ticks "$proxy")
  out=$(taskset -c 1 h2load --h1 -c $rate_conns --rps=$rate_per_conn -D "$seconds" \
    --log-file="$work/rate.log" "https://127.0.0.1:$port/" 2>&1) || true
  after=$(proxy_cpu_ticks "$proxy")
  done_reqs=$(awk '/^requests:/ {print $8}' <<<"$out")
  secs=$(awk '/^finished in/ {gsub("s,", "", $3); print $3}' <<<"$out")
  if [ -z "$done_reqs" ] || [ "$done_reqs" = 0 ] || [ ! -s "$work/rate.log" ]; then
    echo "  ($proxy rate20k: no requests completed: $(grep -vE '^(progress|spawning|Warm-up|Main)' <<<"$out" | head -8 | tr '\n' ' '))" >&2
    return 0
  fi
  awk '/^status codes:/ && $5 + $7 + $9 > 0 {print "  ('"$proxy"' rate20k: " $0 ")"}' <<<"$out" >&2
  record "$proxy" rate20k_rps "$run" "$(awk -v n="$done_reqs" -v s="$secs" 'BEGIN {printf "%.0f", n / s}')"
  record "$proxy" rate20k_us "$run" "$(us_per $((after - before)) "$done_reqs")"
  record "$proxy" rate20k_cpu "$run" "$(utilization $((after - before)) "$secs")"
  record "$proxy" rate20k_p50 "$run" "$(percentile_ms 50 "$work/rate.log")"
  record "$proxy" rate20k_p99 "$run" "$(percentile_ms 99 "$work/rate.log")"
}
percentile_ms() {  # percent h2load-log -> ms, nearest rank
  cut -f3 "$2" | sort -n | awk -v p="$1" '{v[NR] = $1}
    END {i = int((NR * p + 99) / 100); if (i < 1) i = 1; printf "%.3f", v[i] / 1000}'
}

run_idle() {  # proxy run
  local proxy=$1 run=$2 port before after
  port=$(port_of "$proxy")
  before=$(proxy_rss_kib "$proxy")
  coproc IDLE { taskset -c 1 python3 bench/idle_clients.py --port "$port" --count "$idle_count"; }
  read -r line <&"${IDLE[0]}"
  sleep 1
  after=$(proxy_rss_kib "$proxy")
  exec {IDLE[1]}>&-
  wait "$IDLE_PID" || true
  record "$proxy" idle_kib "$run" "$(awk -v a="$after" -v b="$before" -v n="$idle_count" 'BEGIN {printf "%.1f", (a - b) / n}')"
  record "$proxy" idle_rss_mib "$run" "$(awk -v a="$after" 'BEGIN {printf "%.0f", a / 1024}')"
  sleep 2  # the proxies notice the closes
}

run_flood() {  # proxy run
  local proxy=$1 run=$2 port before peak r flooder at_leave after
  port=$(port_of "$proxy")
  before=$(proxy_rss_kib "$proxy")
  touch "$work/flood.log"
  taskset -c 1 python3 tests/integration/tls_client.py flood --port "$port" --count $flood_clients \
    --hold "$seconds" --path /flood64k >/dev/null &
  flooder=$!
  peak=$before
  while kill -0 $flooder 2>/dev/null; do
    r=$(proxy_rss_kib "$proxy"); [ "$r" -gt "$peak" ] && peak=$r
    sleep 0.2
  done
  wait $flooder || true
  at_leave=$(wc -l < "$work/flood.log")
  sleep 10
  after=$(proxy_rss_kib "$proxy")
  record "$proxy" flood_kib "$run" "$(awk -v a="$peak" -v b="$before" -v n="$flood_clients" 'BEGIN {printf "%.0f", (a - b) / n}')"
  record "$proxy" flood_after_mib "$run" "$(awk -v a="$after" 'BEGIN {printf "%.0f", a / 1024}')"
  record "$proxy" flood_before_mib "$run" "$(awk -v a="$before" 'BEGIN {printf "%.0f", a / 1024}')"
  record "$proxy" flood_served_after "$run" "$(( $(wc -l < "$work/flood.log") - at_leave ))"
}

run_ws() {  # proxy run
  local proxy=$1 run=$2 port before after out messages secs
  variant=ws
  port=$(port_of "$proxy")
  before=$(proxy_cpu_ticks "$proxy")
  out=$(taskset -c 1 python3 bench/ws_echo.py load --port "$port" --seconds "$seconds" 2>&1) ||
    echo "  ($proxy ws: $out)" >&2
  after=$(proxy_cpu_ticks "$proxy")
  variant=
  messages=$(awk 'NR == 1 {print $1}' <<<"$out")
  secs=$(awk 'NR == 1 {print $2}' <<<"$out")
  [[ $messages =~ ^[1-9][0-9]*$ ]] || return 0  # no echo came back: no figure (n/a)
  record "$proxy" ws_mps "$run" "$(awk -v n="$messages" -v s="$secs" 'BEGIN {printf "%.0f", n / s}')"
  record "$proxy" ws_us "$run" "$(us_per $((after - before)) "$messages")"
  record "$proxy" ws_cpu "$run" "$(utilization $((after - before)) "$secs")"
}

for run in $(seq "$runs"); do
  for proxy in $proxies; do
    want ka64 && run_wrk "$proxy" "$run" ka64 64 /
    want ka256 && run_wrk "$proxy" "$run" ka256 256 /
    want capped && run_capped "$proxy" "$run"
    want bulk && run_wrk "$proxy" "$run" bulk 8 /1m.bin
    want full13 && run_full_handshakes "$proxy" "$run" full13 -tls1_3
    want full12 && run_full_handshakes "$proxy" "$run" full12 -tls1_2
    want resumed && run_resumed "$proxy" "$run"
    want rate20k && run_rate "$proxy" "$run"
    want ws && run_ws "$proxy" "$run"
    if want ka256x2; then variant=2; run_wrk "$proxy" "$run" ka256x2 256 /; variant=; fi
    # Once: the memory of the first run's idle connections stays with each proxy's allocator
    # after they close, so a later run's before/after difference would read 0.
    want idle && [ "$run" = 1 ] && run_idle "$proxy" "$run"
    want flood && [ "$run" = 1 ] && run_flood "$proxy" "$run"
    echo "run $run $proxy: ka64 ${results[$proxy,ka64_rps,$run]:-} req/s ${results[$proxy,ka64_us,$run]:-} us/req;" \
      "full13 ${results[$proxy,full13_us,$run]:-} us/hs; bulk ${results[$proxy,bulk_us,$run]:-} us/MiB;" \
      "rate20k ${results[$proxy,rate20k_us,$run]:-} us/req;" \
      "idle ${results[$proxy,idle_kib,$run]:-} KiB/conn" >&2
  done
done

cap_teardown

median_of() {  # proxy metric
  local vals=() run
  for run in $(seq "$runs"); do [ -n "${results[$1,$2,$run]:-}" ] && vals+=("${results[$1,$2,$run]}"); done
  [ ${#vals[@]} -gt 0 ] && median "${vals[@]}"
  return 0
}
cell() {  # proxy metric
  local vals=() run
  for run in $(seq "$runs"); do [ -n "${results[$1,$2,$run]:-}" ] && vals+=("${results[$1,$2,$run]}"); done
  if [ ${#vals[@]} -gt 0 ]; then median_range "${vals[@]}"; else echo "n/a"; fi
}
ratio() {  # metric other-proxy
  local a b
  a=$(median_of ringgate "$1") b=$(median_of "$2" "$1")
  if [ -z "$a" ] || [ -z "$b" ]; then echo "n/a"; return 0; fi
  awk -v a="$a" -v b="$b" 'BEGIN {if (b + 0) printf "%.2fx", a / b; else print "n/a"}'
}
label_of() {
  case $1 in ringgate) echo ringgate ;; nginx) echo nginx ;; haproxy) echo HAProxy ;;
    h2o) echo h2o ;; caddy) echo Caddy ;; esac
}
others=()  # the proxies ringgate is compared with (ratio columns): only when ringgate ran
if selected ringgate; then for p in $proxies; do [ "$p" = ringgate ] || others+=("$p"); done; fi
row() {  # label metric cpu-metric
  local p any='' line cpu='' sep=''
  for p in $proxies; do [ -n "$(median_of "$p" "$2")" ] && any=1; done
  [ -n "$any" ] || return 0  # scenario not run
  line="| $1 |"
  for p in $proxies; do line+=" $(cell "$p" "$2") |"; done
  for p in "${others[@]}"; do
    if [[ $2 == *_gen ]]; then line+=" - |"; else line+=" $(ratio "$2" "$p") |"; fi  # no ratio
  done
  if [ -n "${3:-}" ]; then
    for p in $proxies; do cpu+="$sep$(median_of "$p" "$3")"; [ -n "$(median_of "$p" "$3")" ] && cpu+=% || cpu+=n/a; sep=" / "; done
  fi
  echo "$line $cpu |"
}

report() {
  local p header="| figure |" rule="|---|" names="" sep=""
  for p in $proxies; do header+=" $(label_of "$p") |"; rule+="---|"; names+="$sep$(label_of "$p")"; sep=" / "; done
  for p in "${others[@]}"; do header+=" vs $(label_of "$p") |"; rule+="---|"; done
  header+=" proxy CPU |"; rule+="---|"
  echo
  echo "Medians of $runs runs of ${seconds} s, [min-max]; ratios are ringgate's median over the other's."
  echo "Proxy CPU is each proxy's use of one core during the scenario ($names; the two-worker rows can reach 200%):"
  echo "near 100% means the proxy was the bottleneck, lower means the load generator or backend was."
  echo "n/a: the proxy ran but gave no figure for that row (see the harness's header comment)."
  echo
  echo "$header"
  echo "$rule"
  row "keep-alive 1 KiB, 64 conns: req/s" ka64_rps ka64_cpu
  row "keep-alive 1 KiB, 64 conns: CPU us/request" ka64_us ka64_cpu
  row "keep-alive 1 KiB, 64 conns: p99 ms" ka64_p99 ka64_cpu
  [ -n "$perf_ok" ] && row "keep-alive 1 KiB, 64 conns: syscalls/request" ka64_sys ka64_cpu
  row "keep-alive 1 KiB, 64 conns: load generator's core busy %" ka64_gen ka64_cpu
  row "keep-alive 1 KiB, 256 conns: req/s" ka256_rps ka256_cpu
  row "keep-alive 1 KiB, 256 conns: CPU us/request" ka256_us ka256_cpu
  row "keep-alive 1 KiB, 256 conns: p50 ms" ka256_p50 ka256_cpu
  row "keep-alive 1 KiB, 256 conns: p99 ms" ka256_p99 ka256_cpu
  [ -n "$perf_ok" ] && row "keep-alive 1 KiB, 256 conns: syscalls/request" ka256_sys ka256_cpu
  row "keep-alive 1 KiB, 256 conns: load generator's core busy %" ka256_gen ka256_cpu
  row "capped at ${cap_percent}% of a core, keep-alive 256 conns: req/s" capped_rps capped_cpu
  row "capped at ${cap_percent}% of a core, keep-alive 256 conns: CPU us/request" capped_us capped_cpu
  row "capped at ${cap_percent}% of a core, keep-alive 256 conns: p99 ms" capped_p99 capped_cpu
  [ -n "$perf_ok" ] && row "capped at ${cap_percent}% of a core, keep-alive 256 conns: syscalls/request" capped_sys capped_cpu
  row "capped at ${cap_percent}% of a core: load generator's core busy %" capped_gen capped_cpu
  row "fixed rate $rate_total req/s offered, 1 KiB, $rate_conns conns: req/s achieved" rate20k_rps rate20k_cpu
  row "fixed rate $rate_total req/s offered, 1 KiB, $rate_conns conns: CPU us/request" rate20k_us rate20k_cpu
  row "fixed rate $rate_total req/s offered, 1 KiB, $rate_conns conns: p50 ms" rate20k_p50 rate20k_cpu
  row "fixed rate $rate_total req/s offered, 1 KiB, $rate_conns conns: p99 ms" rate20k_p99 rate20k_cpu
  row "two workers, unpinned, keep-alive 256 conns: req/s" ka256x2_rps ka256x2_cpu
  row "two workers, unpinned, keep-alive 256 conns: CPU us/request" ka256x2_us ka256x2_cpu
  row "two workers, unpinned, keep-alive 256 conns: p99 ms" ka256x2_p99 ka256x2_cpu
  row "1 MiB responses, 8 conns: MiB/s" bulk_mibps bulk_cpu
  row "1 MiB responses, 8 conns: CPU us/MiB" bulk_us bulk_cpu
  row "full TLS 1.3 handshakes/s" full13_hps full13_cpu
  row "full TLS 1.3 handshake: CPU us" full13_us full13_cpu
  row "full TLS 1.2 handshakes/s" full12_hps full12_cpu
  row "full TLS 1.2 handshake: CPU us" full12_us full12_cpu
  row "new conn per request, resumed TLS 1.3: conn/s" resumed_cps resumed_cpu
  row "new conn per request, resumed TLS 1.3: CPU us/conn" resumed_us resumed_cpu
  row "WebSocket echo, 32 conns, 128-byte messages: messages/s" ws_mps ws_cpu
  row "WebSocket echo, 32 conns, 128-byte messages: CPU us/message" ws_us ws_cpu
  row "$idle_count idle TLS conns (first run only): RSS KiB/conn" idle_kib
  row "$idle_count idle TLS conns (first run only): total RSS MiB" idle_rss_mib
  row "flood, $flood_clients clients pipelining without reading (first run only): peak RSS KiB/client" flood_kib
  row "flood: RSS MiB before it" flood_before_mib
  row "flood: RSS MiB 10 s after the clients left" flood_after_mib
  row "flood: requests reaching the backend after the clients left" flood_served_after
}

# What ran, for the results folder: versions, machine, command.
versions() {
  local p
  echo "# Side-by-side, $(date +%F)"
  echo
  [ -n "${RESULTS_NOTE:-}" ] && { echo "$RESULTS_NOTE"; echo; }
  echo "Command: \`RINGGATE_BINARY=${RINGGATE_BINARY:-(built)} SCENARIOS=\"$(echo $scenarios)\" PROXIES=\"$(echo $proxies)\" bash bench/side_by_side.sh $runs $seconds $idle_count\`"
  echo
  echo "Machine: $(nproc) cores, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r)."
  echo
  echo "Versions:"
  for p in $proxies; do
    case $p in
      ringgate) echo "- ringgate: $("$ringgate_binary" --version 2>&1 | head -1), $("$ringgate_binary" --version 2>&1 | sed -n '2s/ (.*//p')" ;;
      nginx) echo "- nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //')" ;;
      haproxy) echo "- HAProxy: $(haproxy -v 2>&1 | head -1 | sed 's/ - http.*//')" ;;
      h2o) echo "- h2o: $(h2o --version 2>&1 | head -1), $(h2o --version 2>&1 | sed -n 2p)" ;;
      caddy) echo "- Caddy: $(caddy version 2>&1 | head -1), $(go_version_of "$(command -v caddy)")" ;;
    esac
  done
  echo "- load: $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), h2load $(h2load --version 2>&1 | awk '{print $NF}'), $(openssl version | cut -d' ' -f1-2) (s_time)"
}
go_version_of() {  # binary -> the Go release it was built with, when readable
  { strings -n 6 "$1" 2>/dev/null || true; } |
    awk '/^go1\.[0-9]+(\.[0-9]+)?$/ && !v {v = $0} END {print v ? v : "Go (version unknown)"}'
}

if [ -z "$results_dir" ]; then
  report
else
  report  # on stdout, as without RESULTS_DIR
  # Every run's value, one per line, for bench/plot_results.py and anyone else.
  {
    printf 'proxy\tscenario\tmetric\trun\tvalue\n'
    for key in "${!results[@]}"; do
      IFS=, read -r p metric run <<<"$key"
      [ -n "${results[$key]}" ] || continue
      printf '%s\t%s\t%s\t%s\t%s\n' "$p" "${metric%%_*}" "${metric#*_}" "$run" "${results[$key]}"
    done | sort -t$'\t' -k1,1 -k2,2 -k3,3 -k4,4n
  } > "$results_dir/data.tsv"
  rm -f "$results_dir/cpu.svg" "$results_dir/latency.svg"
  /usr/bin/python3 bench/plot_results.py "$results_dir/data.tsv" "$results_dir" >&2 ||
    echo "bench: the charts failed (python3-matplotlib: bash scripts/setup.sh --bench)" >&2
  {
    versions
    report
    echo
    echo "Every run's value: [data.tsv](data.tsv) (proxy, scenario, metric, run, value)."
    [ -f "$results_dir/cpu.svg" ] && printf '\n![proxy CPU per unit](cpu.svg)\n'
    [ -f "$results_dir/latency.svg" ] && printf '\n![latency percentiles](latency.svg)\n'
    true
  } > "$results_dir/side-by-side.md"
  echo "bench: wrote $(ls "$results_dir" | tr '\n' ' ')to $results_dir" >&2
fi
