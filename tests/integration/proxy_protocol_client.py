#!/usr/bin/env python3
"""An L4 balancer's side of the PROXY protocol, for ringgate's integration tests: a PROXY header
(formatted here, independently of ringgate's parser) written first on a TCP connection, then TLS
over the same socket (Python's ssl over memory buffers, so that the header and the ClientHello
leave in one send, as a balancer that forwards the client's first bytes at once would send them).

  proxy_protocol_client.py request --port P --admin-port A --header KIND [--source ADDR]
      KIND: v1, v2 (PROXY from --source, IPv4 or IPv6), v2-local or v1-unknown. Sends the header
      and the ClientHello in one send, completes the handshake, asks GET /headers (the demo
      backend echoes the request's header fields) and, with the connection still open, reads
      the admin endpoint's /connections. Prints one JSON line:
      {"xff": <X-Forwarded-For the backend saw>, "peers": [<peer of every live connection>]}

  proxy_protocol_client.py refused --port P [--hex H] [--client-hello] [--bind ADDR] [--max S]
      Sends the bytes H (hex), then a ClientHello if asked, from ADDR if given; then reads until
      the proxy closes (or --max seconds pass). Prints "closed ms=M bytes=N" (M: from just before
      the connect to the close; N: bytes the proxy sent) or "open" if it did not close in time.

Exits non-zero when the exchange fails.
"""
import argparse
import ipaddress
import json
import socket
import ssl
import struct
import sys
import time
import urllib.request

DESTINATION_V4 = "198.51.100.7"
DESTINATION_V6 = "2001:db8::443"
SOURCE_PORT = 51234
DESTINATION_PORT = 443
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def header(kind, source):
    if kind == "v1-unknown":
        return b"PROXY UNKNOWN\r\n"
    if kind == "v2-local":
        return V2_SIGNATURE + bytes([0x20, 0x00]) + struct.pack("!H", 0)
    address = ipaddress.ip_address(source)
    if kind == "v1":
        protocol, destination = ("TCP4", DESTINATION_V4) if address.version == 4 else \
            ("TCP6", DESTINATION_V6)
        return ("PROXY %s %s %s %d %d\r\n" % (protocol, address, destination, SOURCE_PORT,
                                             DESTINATION_PORT)).encode()
    if kind == "v2":
        destination = ipaddress.ip_address(DESTINATION_V4 if address.version == 4 else
                                           DESTINATION_V6)
        family = 0x11 if address.version == 4 else 0x21
        # The addresses, then a TLV the proxy must skip (PP2_TYPE_AUTHORITY: the SNI).
        block = address.packed + destination.packed + struct.pack("!HH", SOURCE_PORT,
                                                                  DESTINATION_PORT)
        block += bytes([0x02]) + struct.pack("!H", 9) + b"localhost"
        return V2_SIGNATURE + bytes([0x21, family]) + struct.pack("!H", len(block)) + block
    raise ValueError("unknown header kind " + kind)


class TlsOverSocket:
    """TLS on a socket through memory BIOs: the first flight can follow other bytes in one send."""

    def __init__(self, sock):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        self.sock = sock
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")

    def client_hello(self):
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        return self.outgoing.read()

    def _flush_and_read(self):
        pending = self.outgoing.read()
        if pending:
            self.sock.sendall(pending)
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the proxy closed the connection")
        self.incoming.write(data)

    def finish_handshake(self):
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush_and_read()
        pending = self.outgoing.read()
        if pending:
            self.sock.sendall(pending)

    def request(self, text):
        """Sends one request; returns the response's body (Content-Length framed)."""
        self.tls.write(text.encode())
        self.sock.sendall(self.outgoing.read())
        received = b""
        while True:
            try:
                received += self.tls.read(65536)
            except ssl.SSLWantReadError:
                self._flush_and_read()
                continue
            head, sep, body = received.partition(b"\r\n\r\n")
            if not sep:
                continue
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(body) >= length:
                return body[:length]


def request(args):
    with socket.create_connection(("127.0.0.1", args.port), timeout=10) as sock:
        tls = TlsOverSocket(sock)
        sock.sendall(header(args.header, args.source) + tls.client_hello())
        tls.finish_handshake()
        body = tls.request("GET /headers HTTP/1.1\r\nHost: localhost\r\n\r\n")
        fields = {name.lower(): value for name, value in json.loads(body)["headers"]}
        with urllib.request.urlopen("http://127.0.0.1:%d/connections" % args.admin_port,
                                    timeout=5) as answer:
            live = json.loads(answer.read())
        print(json.dumps({"xff": fields.get("x-forwarded-for", ""),
                          "peers": [connection["peer"] for connection in live]}))


def refused(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if args.bind:
        sock.bind((args.bind, 0))
    sock.settimeout(10)
    # From before the connect: the proxy's handshake timer starts at its accept, after this.
    started = time.monotonic()
    sock.connect(("127.0.0.1", args.port))
    first = bytes.fromhex(args.hex)
    if args.client_hello:
        first += TlsOverSocket(sock).client_hello()
    if first:
        sock.sendall(first)
    received = 0
    sock.settimeout(args.max)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            received += len(data)
    except socket.timeout:
        print("open")
        return
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    print("closed ms=%d bytes=%d" % ((time.monotonic() - started) * 1000, received))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["request", "refused"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--admin-port", type=int, default=0)
    parser.add_argument("--header", default="v1")
    parser.add_argument("--source", default="192.0.2.1")
    parser.add_argument("--hex", default="")
    parser.add_argument("--client-hello", action="store_true")
    parser.add_argument("--bind", default="")
    parser.add_argument("--max", type=float, default=5.0)
    args = parser.parse_args()
    {"request": request, "refused": refused}[args.mode](args)


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # one line for the test's message, and a failing exit
        print("error: %s: %s" % (type(error).__name__, error))
        sys.exit(1)
