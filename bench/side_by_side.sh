#!/usr/bin/env bash
# Side-by-side load test: ringgate, nginx and HAProxy as TLS-terminating proxies in front of the
# same backend, in one run, under identical conditions. Not part of CI.
#
#   bash bench/side_by_side.sh [runs=3] [seconds=10] [idle_connections=10000]
#   SCENARIOS="bulk full13" bash bench/side_by_side.sh      # only some of: ka64 ka256 bulk
#                                                           # full13 full12 resumed idle ka256x2
#                                                           # flood ws
#   PROXIES=ringgate RINGGATE_FLAGS="--max-conn-buffer=131072" SCENARIOS=flood \
#     bash bench/side_by_side.sh 1                          # one proxy, with extra flags
#   RINGGATE_BINARY=/tmp/old/ringgate ...                   # another ringgate build
#
# - one ECDSA P-256 certificate; TLS 1.3 with AES-128-GCM (the clients' first choice), plus a
#   TLS 1.2 full-handshake scenario
# - each proxy: one worker pinned to CPU 0; backend (nginx: 1 KiB and 1 MiB bodies) and the load
#   generators on CPU 1
# - scenarios: keep-alive 1 KiB at 64 and 256 connections (wrk); 1 MiB responses (wrk, 8
#   connections); full handshakes, TLS 1.3 and 1.2 (two `openssl s_time -new` clients: connect,
#   handshake, close); a new connection per request with a resumed TLS 1.3 session (h2load --h1,
#   Connection: close); N idle TLS connections (bench/idle_clients.py), for memory: measured in
#   the first run only, after the other scenarios have warmed each proxy up
# - flood: 100 TLS clients pipeline GETs for 64 KiB responses for the scenario's seconds and never
#   read a byte, then all close (tests/integration/tls_client.py flood); the proxy's peak RSS per
#   client, its RSS 10 s after they left, and the requests reaching the backend after they left
#   (the backend's access log for that path); first run only, like idle
# - ws: WebSocket echo through each proxy (bench/ws_echo.py, standard library only: 32 wss://
#   clients each send 16 binary frames of 128 bytes and read their echoes, in a loop, against an
#   echo backend on CPU 1); the proxy's CPU per message echoed (one message in, one out). nginx
#   and HAProxy tunnel /ws to the echo backend; ringgate, which has no routing by path, runs a
#   second pinned instance in front of it
# - ka256x2: the keep-alive scenario at 256 connections against a second instance of each proxy
#   with two workers and no pinning (wrk with two threads, unpinned): what the kernel's
#   SO_REUSEPORT / accept spreading and the scheduler make of two workers on two shared cores
# - the proxy's own CPU time (utime+stime of its processes, /proc/<pid>/stat) per request, per
#   handshake, per MiB; system calls per keep-alive request (perf's raw_syscalls tracepoint,
#   where perf is allowed); its RSS per idle connection; its CPU use during the scenario, which says
#   whether the proxy was the bottleneck (at ~100% of its one core) or the load generator/backend
# Prints Markdown: for every figure the median over the runs with [min-max], and ringgate's
# ratio to nginx and to HAProxy (ratio of medians).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
seconds=${2:-10}
idle_count=${3:-10000}
source bench/lib.sh
scenarios=" ${SCENARIOS:-ka64 ka256 bulk full13 full12 resumed idle ka256x2 flood ws} "
flood_clients=100
want() { [[ $scenarios == *" $1 "* ]]; }
bash scripts/setup.sh --bench >/dev/null
bench_require nginx haproxy wrk h2load taskset openssl
bash scripts/build.sh build >/dev/null
bench_setup
backend_port=19080 ringgate_port=19443 nginx_port=19444 haproxy_port=19445
ringgate2_port=19446 nginx2_port=19447 haproxy2_port=19448  # the two-worker, unpinned instances
ws_backend_port=19081 ringgatews_port=19449  # WebSocket echo, and ringgate's instance in front of it
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

taskset -c 0 "${RINGGATE_BINARY:-./build/ringgate}" --listen 127.0.0.1:$ringgate_port --backend 127.0.0.1:$backend_port \
  --cert "$work/cert.pem" --key "$work/key.pem" --threads 1 --cpus 0 --log-level warn \
  --admin-listen off ${RINGGATE_FLAGS:-} & bench_pids+=($!)
ringgate_pid=$!
nginx -c "$work/nginx.conf" & bench_pids+=($!)
nginx_master=$!
haproxy -f "$work/haproxy.cfg" -db & bench_pids+=($!)
haproxy_pid=$!
ringgate2_pid= nginx2_master= haproxy2_pid= ringgatews_pid=
if want ws; then
  taskset -c 1 python3 bench/ws_echo.py backend --port $ws_backend_port >/dev/null & bench_pids+=($!)
  taskset -c 0 "${RINGGATE_BINARY:-./build/ringgate}" --listen 127.0.0.1:$ringgatews_port \
    --backend 127.0.0.1:$ws_backend_port --cert "$work/cert.pem" --key "$work/key.pem" --threads 1 \
    --cpus 0 --log-level warn --admin-listen off ${RINGGATE_FLAGS:-} & bench_pids+=($!)
  ringgatews_pid=$!
fi
if want ka256x2; then
  "${RINGGATE_BINARY:-./build/ringgate}" --listen 127.0.0.1:$ringgate2_port --backend 127.0.0.1:$backend_port \
    --cert "$work/cert.pem" --key "$work/key.pem" --threads 2 --log-level warn \
    --admin-listen off & bench_pids+=($!)
  ringgate2_pid=$!
  nginx -c "$work/nginx2.conf" & bench_pids+=($!)
  nginx2_master=$!
  haproxy -f "$work/haproxy2.cfg" -db & bench_pids+=($!)
  haproxy2_pid=$!
fi
sleep 1

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
    ringgatews) echo $ringgatews_pid ;;
    nginxws) echo $nginx_master $(pgrep -P $nginx_master) ;;
    haproxyws) echo $haproxy_pid ;;
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
  local load=(taskset -c 1 wrk -t1)
  [ -n "$variant" ] && load=(wrk -t2)  # the two-worker variant: nothing pinned
  out=$("${load[@]}" -c"$conns" -d"${seconds}s" --latency "https://127.0.0.1:$port$path" 2>&1)
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
  if [ "$path" = /1m.bin ]; then  # per MiB: each response is exactly 1 MiB of body
    record "$proxy" "${name}_mibps" "$run" "$(awk -v r="$reqs" -v s="$secs" 'BEGIN {printf "%.0f", r / s}')"
  fi
  grep -q "Non-2xx\|Socket errors" <<<"$out" && echo "  ($proxy $name: $(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr '\n' ' '))" >&2
  return 0
}

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
  record "$proxy" ws_mps "$run" "$(awk -v n="$messages" -v s="$secs" 'BEGIN {printf "%.0f", n / s}')"
  record "$proxy" ws_us "$run" "$(us_per $((after - before)) "$messages")"
  record "$proxy" ws_cpu "$run" "$(utilization $((after - before)) "$secs")"
}

for run in $(seq "$runs"); do
  for proxy in ${PROXIES:-ringgate nginx haproxy}; do
    want ka64 && run_wrk "$proxy" "$run" ka64 64 /
    want ka256 && run_wrk "$proxy" "$run" ka256 256 /
    want bulk && run_wrk "$proxy" "$run" bulk 8 /1m.bin
    want full13 && run_full_handshakes "$proxy" "$run" full13 -tls1_3
    want full12 && run_full_handshakes "$proxy" "$run" full12 -tls1_2
    want resumed && run_resumed "$proxy" "$run"
    want ws && run_ws "$proxy" "$run"
    if want ka256x2; then variant=2; run_wrk "$proxy" "$run" ka256x2 256 /; variant=; fi
    # Once: the memory of the first run's idle connections stays with each proxy's allocator
    # after they close, so a later run's before/after difference would read 0.
    want idle && [ "$run" = 1 ] && run_idle "$proxy" "$run"
    want flood && [ "$run" = 1 ] && run_flood "$proxy" "$run"
    echo "run $run $proxy: ka64 ${results[$proxy,ka64_rps,$run]:-} req/s ${results[$proxy,ka64_us,$run]:-} us/req;" \
      "full13 ${results[$proxy,full13_us,$run]:-} us/hs; bulk ${results[$proxy,bulk_us,$run]:-} us/MiB;" \
      "idle ${results[$proxy,idle_kib,$run]:-} KiB/conn" >&2
  done
done

median_of() {  # proxy metric
  local vals=() run
  for run in $(seq "$runs"); do [ -n "${results[$1,$2,$run]:-}" ] && vals+=("${results[$1,$2,$run]}"); done
  median "${vals[@]}"
}
cell() {  # proxy metric
  local vals=() run
  for run in $(seq "$runs"); do [ -n "${results[$1,$2,$run]:-}" ] && vals+=("${results[$1,$2,$run]}"); done
  median_range "${vals[@]}"
}
ratio() {  # metric other-proxy
  awk -v a="$(median_of ringgate "$1")" -v b="$(median_of "$2" "$1")" 'BEGIN {printf "%.2fx", b ? a / b : 0}'
}
row() {  # label metric cpu-metric
  [ -n "${results[ringgate,$2,1]:-}" ] || return 0  # scenario not run
  local cpu=""
  [ -n "${3:-}" ] && cpu="$(median_of ringgate "$3")% / $(median_of nginx "$3")% / $(median_of haproxy "$3")%"
  echo "| $1 | $(cell ringgate "$2") | $(cell nginx "$2") | $(cell haproxy "$2") | $(ratio "$2" nginx) | $(ratio "$2" haproxy) | $cpu |"
}

echo
echo "Medians of $runs runs of ${seconds} s, [min-max]; ratios are ringgate's median over the other's."
echo "Proxy CPU is each proxy's use of one core during the scenario (ringgate / nginx / HAProxy; the two-worker rows can reach 200%):"
echo "near 100% means the proxy was the bottleneck, lower means the load generator or backend was."
echo
echo "| figure | ringgate | nginx | HAProxy | vs nginx | vs HAProxy | proxy CPU |"
echo "|---|---|---|---|---|---|---|"
row "keep-alive 1 KiB, 64 conns: req/s" ka64_rps ka64_cpu
row "keep-alive 1 KiB, 64 conns: CPU us/request" ka64_us ka64_cpu
row "keep-alive 1 KiB, 64 conns: p99 ms" ka64_p99 ka64_cpu
[ -n "$perf_ok" ] && row "keep-alive 1 KiB, 64 conns: syscalls/request" ka64_sys ka64_cpu
row "keep-alive 1 KiB, 256 conns: req/s" ka256_rps ka256_cpu
row "keep-alive 1 KiB, 256 conns: CPU us/request" ka256_us ka256_cpu
row "keep-alive 1 KiB, 256 conns: p50 ms" ka256_p50 ka256_cpu
row "keep-alive 1 KiB, 256 conns: p99 ms" ka256_p99 ka256_cpu
[ -n "$perf_ok" ] && row "keep-alive 1 KiB, 256 conns: syscalls/request" ka256_sys ka256_cpu
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
