#!/usr/bin/env python3
"""WebSocket echo for the side-by-side benchmark: a backend and a load generator, with only
the standard library (RFC 6455 framing written out: the load must cost the proxy, not this).

  ws_echo.py backend --port P
      plain ws:// echo: every frame back with its opcode, unmasked; prints "ready".
  ws_echo.py load --port P [--conns 32] [--size 128] [--batch 16] [--seconds 10] [--path /ws]
      wss:// clients (certificate not checked), each sending --batch frames of --size bytes and
      reading their echoes before the next batch, for --seconds. Prints "MESSAGES SECONDS".
      Exits 1 if any echo differs or a connection is refused.
"""
import argparse
import asyncio
import base64
import hashlib
import os
import ssl
import struct
import sys
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(opcode, payload, mask=None):
    n = len(payload)
    head = bytes([0x80 | opcode])
    bit = 0x80 if mask is not None else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", n)
    if mask is None:
        return head + payload
    return head + mask + unmask(payload, mask)


def unmask(payload, mask):
    if mask == b"\0\0\0\0" or not payload:
        return payload
    n = len(payload)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


async def read_frame(reader):
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack(">Q", await reader.readexactly(8))[0]
    mask = await reader.readexactly(4) if b1 & 0x80 else None
    payload = await reader.readexactly(n)
    return b0 & 0x0F, unmask(payload, mask) if mask else payload


async def serve(reader, writer):
    head = await reader.readuntil(b"\r\n\r\n")
    key = b""
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"sec-websocket-key:"):
            key = line.split(b":", 1)[1].strip()
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    try:
        while True:
            opcode, payload = await read_frame(reader)
            if opcode == 8:
                writer.write(frame(8, payload[:2]))
                break
            if opcode == 9:
                writer.write(frame(10, payload))
                continue
            writer.write(frame(opcode, payload))
            if writer.transport.get_write_buffer_size() > (1 << 20):
                await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()


async def backend(port):
    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


async def client(port, path, size, batch, deadline, context, counts):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context,
                                                   server_hostname="localhost")
    key = base64.b64encode(os.urandom(16))
    writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key +
                 b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"no 101: {head[:60]!r}")
    payload = os.urandom(size)
    # A zero mask is a valid mask (RFC 6455 5.3) and leaves the payload as it is.
    batch_bytes = frame(2, payload, b"\0\0\0\0") * batch
    while time.monotonic() < deadline:
        writer.write(batch_bytes)
        for _ in range(batch):
            opcode, echoed = await read_frame(reader)
            if opcode != 2 or echoed != payload:
                raise RuntimeError("echo differs")
        counts[0] += batch
    writer.write(frame(8, struct.pack(">H", 1000), b"\0\0\0\0"))
    try:
        await asyncio.wait_for(read_frame(reader), 2)
    except Exception:
        pass
    writer.close()


async def load(args):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    counts = [0]
    started = time.monotonic()
    deadline = started + args.seconds
    await asyncio.gather(*(client(args.port, args.path, args.size, args.batch, deadline, context,
                                  counts) for _ in range(args.conns)))
    print(counts[0], f"{time.monotonic() - started:.3f}", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["backend", "load"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--conns", type=int, default=32)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--path", default="/ws")
    args = parser.parse_args()
    try:
        asyncio.run(backend(args.port) if args.mode == "backend" else load(args))
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
