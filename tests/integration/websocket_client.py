#!/usr/bin/python3
"""A WebSocket client for the tunnel tests, on Debian's python3-websockets (asyncio), over TLS.

  websocket_client.py --port P MODE [--path /echo]

Modes:
  echo   text and binary messages of 1 byte to 1 MiB (both sides of each frame-length encoding),
         each echoed back and compared byte for byte, with a ping between sizes; then a clean
         close. Prints "ok MESSAGES BYTES" and exits 0, else prints what differed and exits 1.
  wait   sends one message, reads its echo, prints "open" and then waits (at most --max-s) for
         the server side to end the connection. Prints "closed CODE SECONDS" (CODE is the close
         code, 1006 when the connection ended without a close frame) and exits 0; exits 1 if it
         is still open at --max-s.
  halfclose  without the library, on a raw TLS socket: the upgrade, one masked text frame and
         its echo, then our close_notify with the TCP side left open (the client is done
         sending but still reading). Prints "ok BYTES" with how many bytes arrived after that
         until the proxy's close_notify or FIN, and exits 0; exits 1 if the proxy sent no 101
         or the connection is still open at --max-s.
"""
import argparse
import base64
import asyncio
import os
import random
import socket
import ssl
import string
import sys
import time

import websockets

SIZES = [1, 2, 125, 126, 127, 65535, 65536, 65537, 300_000, 1 << 20]


async def echo(uri, context):
    messages = total = 0
    async with websockets.connect(uri, ssl=context, max_size=None, compression=None) as ws:
        for size in SIZES:
            for kind in ("text", "binary"):
                payload = "".join(random.choices(string.ascii_letters, k=size)) \
                    if kind == "text" else os.urandom(size)
                await ws.send(payload)
                back = await asyncio.wait_for(ws.recv(), timeout=10)
                if type(back) is not type(payload) or back != payload:
                    print(f"mismatch: {kind} of {size} bytes came back as "
                          f"{type(back).__name__} of {len(back)}", flush=True)
                    return 1
                messages += 1
                total += size
            pong = await ws.ping()
            await asyncio.wait_for(pong, timeout=10)
        await ws.close()
    print(f"ok {messages} {total}", flush=True)
    return 0


async def wait(uri, context, max_s):
    async with websockets.connect(uri, ssl=context, max_size=None, compression=None,
                                  ping_interval=None) as ws:
        await ws.send("hello")
        await asyncio.wait_for(ws.recv(), timeout=10)
        print("open", flush=True)
        started = time.monotonic()
        try:
            await asyncio.wait_for(ws.wait_closed(), timeout=max_s)
        except asyncio.TimeoutError:
            print("still open", flush=True)
            return 1
        print(f"closed {ws.close_code} {time.monotonic() - started:.3f}", flush=True)
    return 0


def halfclose(port, path, max_s):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port), timeout=max_s)
    tls = context.wrap_socket(raw, server_hostname="localhost")
    key = base64.b64encode(os.urandom(16)).decode()
    tls.sendall((f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = tls.recv(4096)
        if not chunk:
            break
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        print(f"no 101: {head[:80]!r}", flush=True)
        return 1
    rest = head.split(b"\r\n\r\n", 1)[1]
    mask = os.urandom(4)
    payload = b"hi"
    tls.sendall(bytes([0x81, 0x80 | len(payload)]) + mask +
                bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    while len(rest) < 4:
        chunk = tls.recv(4096)
        if not chunk:
            break
        rest += chunk
    if rest[:4] != b"\x81\x02hi":
        print(f"no echo: {rest[:16]!r}", flush=True)
        return 1
    # close_notify only: unwrap() would wait for the proxy's, so the alert is written by hand
    # through the SSL object's shutdown on a non-blocking socket.
    tls.setblocking(False)
    try:
        tls.unwrap()
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        pass
    tls.setblocking(True)
    tls.settimeout(max_s)
    after = 0
    try:
        while True:
            chunk = tls.recv(4096)
            if not chunk:
                break
            after += len(chunk)
    except ssl.SSLZeroReturnError:
        pass
    except (socket.timeout, TimeoutError):
        print("still open", flush=True)
        return 1
    print(f"ok {after}", flush=True)
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/echo")
    parser.add_argument("--max-s", type=float, default=10)
    parser.add_argument("mode", choices=["echo", "wait", "halfclose"])
    args = parser.parse_args()
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    uri = f"wss://127.0.0.1:{args.port}{args.path}"
    if args.mode == "halfclose":
        return halfclose(args.port, args.path, args.max_s)
    if args.mode == "echo":
        return asyncio.run(echo(uri, context))
    return asyncio.run(wait(uri, context, args.max_s))


if __name__ == "__main__":
    sys.exit(main())
