#!/usr/bin/env python3
"""TLS record-level clients for ringgate's integration tests: Python's ssl module writes a real
ClientHello into memory, and this script frames it into records as it likes before sending.

  tls_records.py fragment --port P --record-size N   the ClientHello in N-byte records; then the
                                                     whole handshake and one request; prints
                                                     "ok <first line of the response>"
  tls_records.py padded   --port P --body-bytes N    the ClientHello grown to N bytes (handshake
                                                     body) with unknown (GREASE) extensions, in
                                                     16 KiB records; prints what came back first:
                                                     "server_hello", "alert <description>" or
                                                     "closed"
  tls_records.py ccs      --port P [--empty-session-id]
                                                     a TLS 1.3 ClientHello (with Python's 32-byte
                                                     legacy_session_id, or none); prints the
                                                     server's first flight as record types, e.g.
                                                     "records 22 20 23 23 23 23"

Exits non-zero when the server's answer cannot be read at all.
"""
import argparse
import socket
import ssl
import struct
import sys

HANDSHAKE = 22
ALERT = 21


def client_hello():
    """A TLS 1.3-capable ClientHello from Python's ssl, as (ssl object, bios, handshake message)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    data = outgoing.read()
    message = b""
    while data:  # strip the record headers
        length = struct.unpack(">H", data[3:5])[0]
        message += data[5:5 + length]
        data = data[5 + length:]
    return tls, incoming, outgoing, message


def records(message, size):
    out = b""
    for at in range(0, len(message), size):
        piece = message[at:at + size]
        out += bytes([HANDSHAKE, 3, 1]) + struct.pack(">H", len(piece)) + piece
    return out


def read_record(sock):
    """One record as (type, payload); None at EOF."""
    header = b""
    while len(header) < 5:
        chunk = sock.recv(5 - len(header))
        if not chunk:
            return None
        header += chunk
    length = struct.unpack(">H", header[3:5])[0]
    payload = b""
    while len(payload) < length:
        chunk = sock.recv(length - len(payload))
        if not chunk:
            return None
        payload += chunk
    return header[0], payload


def split_hello(message):
    """(offset of legacy_session_id's length byte, offset of the extensions' length)."""
    at = 4 + 2 + 32
    session_id_at = at
    at += 1 + message[at]
    at += 2 + struct.unpack(">H", message[at:at + 2])[0]
    at += 1 + message[at]
    return session_id_at, at


def with_length(message, body):
    return bytes([message[0]]) + struct.pack(">I", len(body))[1:] + body


def fragment(args):
    tls, incoming, outgoing, message = client_hello()
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    sock.sendall(records(message, args.record_size))
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            pending = outgoing.read()
            if pending:
                sock.sendall(pending)
            data = sock.recv(65536)
            if not data:
                print("closed during the handshake")
                return 1
            incoming.write(data)
    tls.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    sock.sendall(outgoing.read())
    response = b""
    while b"\r\n" not in response:
        data = sock.recv(65536)
        if not data:
            break
        incoming.write(data)
        try:
            response += tls.read(65536)
        except ssl.SSLWantReadError:
            continue
    print("ok", response.split(b"\r\n")[0].decode(errors="replace"))
    return 0


def padded(args):
    _, _, _, message = client_hello()
    _, extensions_at = split_hello(message)
    body = message[4:]
    grow = args.body_bytes - len(body)
    extra = b""
    grease = [0x0A0A, 0x1A1A, 0x2A2A, 0x3A3A]
    while grow > 0:
        size = min(grow - 4, 65000)
        extra += struct.pack(">HH", grease.pop(0), max(size, 0)) + bytes(max(size, 0))
        grow -= 4 + max(size, 0)
    old_length = struct.unpack(">H", message[extensions_at:extensions_at + 2])[0]
    if old_length + len(extra) > 0xFFFF:
        print("cannot grow the extensions past 65535 bytes")
        return 2
    body = (message[4:extensions_at] + struct.pack(">H", old_length + len(extra)) +
            message[extensions_at + 2:] + extra)
    grown = with_length(message, body)
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    sock.sendall(records(grown, 16384))
    record = read_record(sock)
    if record is None:
        print("closed")
    elif record[0] == HANDSHAKE and record[1][:1] == b"\x02":
        print("server_hello")
    elif record[0] == ALERT:
        print("alert", record[1][1] if len(record[1]) > 1 else -1)
    else:
        print("record", record[0])
    return 0


def ccs(args):
    _, _, _, message = client_hello()
    if args.empty_session_id:
        session_id_at, _ = split_hello(message)
        length = message[session_id_at]
        body = message[4:session_id_at] + b"\x00" + message[session_id_at + 1 + length:]
        message = with_length(message, body)
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    sock.sendall(records(message, 16384))
    types = []
    # The server's first flight: ServerHello, maybe a ChangeCipherSpec, then the encrypted
    # EncryptedExtensions, Certificate, CertificateVerify and Finished (wolfSSL: one record each).
    while len([t for t in types if t == 23]) < 4:
        record = read_record(sock)
        if record is None:
            break
        types.append(record[0])
        if record[0] == ALERT:
            break
    print("records", " ".join(str(t) for t in types))
    return 0 if types else 1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["fragment", "padded", "ccs"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record-size", type=int, default=1)
    parser.add_argument("--body-bytes", type=int, default=60000)
    parser.add_argument("--empty-session-id", action="store_true")
    args = parser.parse_args()
    return {"fragment": fragment, "padded": padded, "ccs": ccs}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
