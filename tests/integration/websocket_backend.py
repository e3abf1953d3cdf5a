#!/usr/bin/python3
"""A WebSocket backend for the tunnel tests, on Debian's python3-websockets (asyncio).

  websocket_backend.py --port P

Plain ws:// (ringgate terminates TLS in front of it). By path:
  /close-after  answers the first message, then closes the WebSocket itself (close frame,
                then FIN: the backend ends the tunnel)
  anything else sends every message back as it came (text stays text, binary stays binary)
Prints "ready" once listening, then one line per connection opened and closed.
"""
import argparse
import asyncio
import sys

import websockets


async def handle(websocket, path):
    print(f"open {path}", flush=True)
    try:
        async for message in websocket:
            await websocket.send(message)
            if path == "/close-after":
                await websocket.close(code=1000, reason="backend done")
                break
    except websockets.ConnectionClosed:
        pass
    print(f"closed {path} code={websocket.close_code}", flush=True)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    async with websockets.serve(handle, "127.0.0.1", args.port, max_size=None,
                                compression=None):
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
