#!/usr/bin/env python3
"""The small plain-HTTP/1.1 backend that ringgate's demo and tests put behind the proxy.

  python3 tools/demo_backend.py --port 8080

Routes:
  GET  /                   a greeting
  GET  /bytes/N            N deterministic bytes (see pattern_bytes) for hash-checked downloads
  POST /sha256             the SHA-256 and length of the request body (Content-Length or chunked)
  GET  /delay/MS           answers after MS milliseconds (for upstream timeouts)
  GET  /headers            the request line and headers it received, as JSON
  GET  /requests?prefix=P  how many requests whose path starts with P it has seen
  GET  /truncate           promises 1000 bytes, sends 100 and closes
  GET  /healthz            200 "ok", or the status set by /set-health/N (for health checks)
  GET  /set-health/N       /healthz answers N from now on (e.g. 503 to fail the health check)
  GET  /garbage            answers with bytes that are not HTTP, then closes
  anything else            200 with the method and path
"""
import argparse
import hashlib
import json
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

PATTERN = bytes((i * 131 + 7) & 0xFF for i in range(251))  # 251: prime, never record-aligned


def pattern_bytes(n):
    reps = n // len(PATTERN) + 1
    return (PATTERN * reps)[:n]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Head and body go out in separate writes; with Nagle on, the body waits for the proxy's
    # delayed ACK (about 40 ms) on every reused connection.
    disable_nagle_algorithm = True
    seen_paths = []
    seen_lock = threading.Lock()
    health_status = 200

    def log_message(self, fmt, *args):  # quiet: tests read their own output
        pass

    def _send(self, status, body, content_type="text/plain", extra=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            h = hashlib.sha256()
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return h, total
                remaining = size
                while remaining:
                    chunk = self.rfile.read(min(remaining, 1 << 16))
                    h.update(chunk)
                    remaining -= len(chunk)
                total += size
                self.rfile.readline()
        length = int(self.headers.get("Content-Length", "0") or 0)
        h = hashlib.sha256()
        remaining = length
        while remaining:
            chunk = self.rfile.read(min(remaining, 1 << 16))
            if not chunk:
                break
            h.update(chunk)
            remaining -= len(chunk)
        return h, length

    def _route(self):
        url = urlsplit(self.path)
        with Handler.seen_lock:
            Handler.seen_paths.append(url.path)
        digest, length = self._read_body()
        parts = url.path.split("/")
        if url.path == "/":
            return self._send(200, b"hello from the ringgate demo backend\n")
        if len(parts) == 3 and parts[1] == "bytes":
            return self._send(200, pattern_bytes(int(parts[2])), "application/octet-stream")
        if url.path == "/sha256":
            body = json.dumps({"sha256": digest.hexdigest(), "bytes": length}).encode()
            return self._send(200, body, "application/json")
        if len(parts) == 3 and parts[1] == "delay":
            time.sleep(int(parts[2]) / 1000)
            return self._send(200, b"late\n")
        if url.path == "/headers":
            body = json.dumps({"request_line": self.requestline,
                               "headers": [[k, v] for k, v in self.headers.items()]}).encode()
            return self._send(200, body, "application/json")
        if url.path == "/requests":
            prefix = parse_qs(url.query).get("prefix", [""])[0]
            with Handler.seen_lock:
                n = sum(1 for p in Handler.seen_paths if p.startswith(prefix))
            return self._send(200, str(n).encode())
        if url.path == "/healthz":
            status = Handler.health_status
            return self._send(status, b"ok\n" if status < 400 else b"unhealthy\n")
        if len(parts) == 3 and parts[1] == "set-health":
            Handler.health_status = int(parts[2])
            return self._send(200, f"healthz answers {Handler.health_status}\n".encode())
        if url.path == "/garbage":
            self.wfile.write(b"THIS IS NOT HTTP\r\n\r\n")
            self.wfile.flush()
            self.close_connection = True
            return None
        if url.path == "/truncate":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"x" * 100)
            self.wfile.flush()
            self.close_connection = True
            return None
        return self._send(200, f"{self.command} {url.path}\n".encode())

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _route


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    server = Server((args.host, args.port), Handler)
    print(f"demo backend listening on {args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
