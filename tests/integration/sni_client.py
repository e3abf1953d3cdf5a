#!/usr/bin/env python3
"""TLS clients that ask for a server name (SNI), for tests/integration/sni_test.cc.

  sni_client.py handshakes --port P --name N [--name M ...] --count C --max S
      Handshakes one after another, cycling through the names ("-": no SNI), until C have been
      made or S seconds have passed. Prints "ready" after the first, then at the end
      "handshakes=H failed=F" and, per name, "NAME certificates=K" (K: how many different
      certificates it was given, by their DER bytes). Exit 0 if none failed.
  sni_client.py resume --port P --name N
      For TLS 1.3 and 1.2: a request on a first connection, then a second connection with its
      session; prints "VERSION resumed=True|False" for each.

Verification is off: the test compares the certificates itself.
"""
import argparse
import hashlib
import socket
import ssl
import sys
import time


def context(version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if version is not None:
        ctx.maximum_version = version
    return ctx


def connect(ctx, port, name, session=None):
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return ctx.wrap_socket(sock, server_hostname=None if name == "-" else name, session=session)


def handshakes(args):
    ctx = context()
    seen = {name: set() for name in args.name}
    made = failed = 0
    deadline = time.monotonic() + args.max
    while made + failed < args.count and time.monotonic() < deadline:
        name = args.name[(made + failed) % len(args.name)]
        try:
            tls = connect(ctx, args.port, name)
            seen[name].add(hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest())
            tls.close()
            made += 1
        except (OSError, ssl.SSLError) as error:
            failed += 1
            print("failed %s: %s" % (name, error), file=sys.stderr, flush=True)
        if made + failed == 1:
            print("ready", flush=True)
    print("handshakes=%d failed=%d" % (made, failed))
    for name in args.name:
        print("%s certificates=%d" % (name, len(seen[name])))
    return 0 if failed == 0 else 1


def read_response(tls):
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = tls.recv(4096)
        if not chunk:
            break
        got += chunk
    return got


def resume(args):
    for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        ctx = context(version)
        first = connect(ctx, args.port, args.name[0])
        first.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        read_response(first)  # the TLS 1.3 ticket arrives after the handshake
        session = first.session
        first.close()
        second = connect(ctx, args.port, args.name[0], session=session)
        print("%s resumed=%s" % (second.version(), second.session_reused))
        second.close()
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["handshakes", "resume"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", action="append", required=True)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--max", type=float, default=5.0)
    args = parser.parse_args()
    return {"handshakes": handshakes, "resume": resume}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
