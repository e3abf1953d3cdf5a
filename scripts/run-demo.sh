#!/usr/bin/env bash
# Sets up, builds and starts ringgate on its embedded default: a self-signed ECDSA P-256
# certificate (generated on first run into run/), in front of the demo backend on
# 127.0.0.1:8080, listening on https://127.0.0.1:8443/. Ctrl-C stops both.
#
#   bash scripts/run-demo.sh          it prints what to try from another terminal
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build

mkdir -p run
if [ ! -f run/cert.pem ] || [ ! -f run/key.pem ]; then
  echo "run-demo: generating a self-signed ECDSA P-256 certificate in run/"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout run/key.pem -out run/cert.pem 2>/dev/null
fi

python3 tools/demo_backend.py --host 127.0.0.1 --port 8080 &
backend=$!
trap 'kill $backend 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null && break
  sleep 0.1
done

./build/ringgate --listen 127.0.0.1:8443 --backend 127.0.0.1:8080 \
  --cert run/cert.pem --key run/key.pem "$@" &
proxy=$!
trap 'kill $proxy $backend 2>/dev/null || true' EXIT
trap 'kill -TERM $proxy 2>/dev/null || true' INT TERM
for _ in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/8443) 2>/dev/null && break
  kill -0 $proxy 2>/dev/null || break
  sleep 0.1
done
if kill -0 $proxy 2>/dev/null; then
  cat <<'TIPS'

run-demo: ringgate is serving https://127.0.0.1:8443/ (Ctrl-C stops it). Try:
  curl -k https://127.0.0.1:8443/                 a request through the proxy
  curl 127.0.0.1:9901/closures                     how recent connections ended, stage by stage
  curl 127.0.0.1:9901/metrics                      the metrics
  ./build/ringgate --backend HOST:PORT --cert CERT.pem --key KEY.pem
                                                   your own backend and certificate (--help lists every flag)

TIPS
fi
wait $proxy
