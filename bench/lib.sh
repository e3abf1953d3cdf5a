# Shared pieces of the bench scripts (sourced, not run).
# After bench_setup: $work holds cert.pem, key.pem, combined.pem; bench_start_backend starts an
# nginx backend pinned to CPU 1 on $backend_port: 1 KiB at /, 1 MiB at /1m.bin.

bench_require() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null ||
      { echo "bench: $tool is missing (bash scripts/setup.sh --bench installs it)" >&2; exit 1; }
  done
}

bench_setup() {
  work=$(mktemp -d /tmp/ringgate-bench-XXXXXX)
  bench_pids=()
  trap 'for p in "${bench_pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.3; rm -rf "$work"' EXIT
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
  cat "$work/cert.pem" "$work/key.pem" > "$work/combined.pem"
}

bench_start_backend() {
  backend_port=${backend_port:-19080}
  local body
  body=$(head -c 1024 /dev/zero | tr '\0' 'x')
  head -c 1048576 /dev/urandom > "$work/1m.bin"
  chmod 755 "$work" && chmod 644 "$work/1m.bin"  # nginx's workers run as nobody
  cat > "$work/backend.conf" <<CONF
worker_processes 1; worker_cpu_affinity 10; daemon off; pid $work/backend.pid;
error_log $work/backend.err; events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; sendfile on;
  server { listen 127.0.0.1:$backend_port; root $work;
    location = /1m.bin { }
    location / { return 200 "$body"; } } }
CONF
  nginx -c "$work/backend.conf" & bench_pids+=($!)
  sleep 0.5
}

# utime+stime ticks of the given processes, from /proc/<pid>/stat.
cpu_ticks_of() {
  local total=0 p f
  for p in "$@"; do
    read -r -a f < <(sed 's/^.*) //' /proc/$p/stat)
    total=$((total + f[11] + f[12]))
  done
  echo $total
}

# Busy ticks of one core (all but idle and iowait), from /proc/stat: how loaded the load
# generator's core was.
core_busy_ticks() {  # cpu-number
  awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}

# Microseconds of CPU per unit, from a tick delta.
us_per() {  # ticks units
  awk -v t="$1" -v hz="$(getconf CLK_TCK)" -v n="$2" 'BEGIN {printf "%.1f", n ? t / hz * 1e6 / n : 0}'
}

# The median of the numbers given.
median() {
  printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
}

# median [min-max] of the numbers given.
median_range() {
  printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {printf "%s [%s-%s]", v[int((NR+1)/2)], v[1], v[NR]}'
}

# How much larger a is than b, as a signed percentage.
pct() {  # a b
  awk -v a="$1" -v b="$2" 'BEGIN {printf "%+.1f%%", (a - b) / b * 100}'
}

# Two `openssl s_time -new` clients on CPU 1 for $3 seconds against 127.0.0.1:$1 with TLS flag $2
# (-tls1_3, -tls1_2): prints how many full handshakes they completed together.
bench_full_handshakes() {  # port tls-flag seconds
  local clients=() i total=0
  for i in 1 2; do
    taskset -c 1 openssl s_time -connect "127.0.0.1:$1" -new "$2" -time "$3" \
      > "$work/s_time.$i" 2>&1 &
    clients+=($!)
  done
  wait "${clients[@]}" || true
  for i in 1 2; do total=$((total + $(awk '/connections in/ {print $1; exit}' "$work/s_time.$i"))); done
  echo "$total"
}
