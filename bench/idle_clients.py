#!/usr/bin/env python3
"""Opens N TLS connections to a proxy, completes each handshake, and holds them idle until its
standard input closes. Prints "ready N" once all are open. Used by bench/side_by_side.sh to
measure a proxy's memory per idle TLS connection.

  python3 bench/idle_clients.py --port 19443 --count 10000
"""
import argparse
import resource
import socket
import ssl
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, default=10000)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.count + 256), hard))
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    held = []
    for _ in range(args.count):
        raw = socket.create_connection(("127.0.0.1", args.port), timeout=30)
        held.append(ctx.wrap_socket(raw, server_hostname="localhost"))
    print("ready %d" % len(held), flush=True)
    sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
