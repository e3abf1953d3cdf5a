#!/usr/bin/env python3
"""A plain HTTP/1.1 backend for the HTTP-semantics tests that records exactly what it receives.

  recording_backend.py --port P --control-port C

Raw sockets, one thread per connection. Every byte received on a connection is recorded as it
arrives; requests are framed here, strictly and independently of ringgate (Content-Length,
chunked, or no body; both, several Content-Length, a coding other than chunked, bare LF or
obs-fold are errors: 400 and close), and each request is answered by its path:

  /respond/<hex>[?then=close]  exactly the decoded bytes (a 204 with Content-Length, a response
                               whose Connection names Content-Length, one stalled mid-body...),
                               then the next request is read (or the connection closed)
  /respond/<hex>?later=<hex>   the same, then 300 ms later the second bytes (a body sent after
                               a response that has none)
  /drop                        closes the connection without answering
  /drop-on-reuse               the same on a connection that has answered before; a
                               connection's first request gets the default answer
  anything else                200 with Content-Length, body "<METHOD> <target>\\n"

A request with `Connection: close` (or HTTP/1.0 without keep-alive) is answered, then closed.

The control port (plain HTTP, for the test itself):
  GET  /log      JSON: {"connections": [{"id", "closed", "closed_by", "received_hex",
                 "error", "requests": [{"method", "target", "version", "headers", "framing",
                 "head_hex", "body_hex", "answer"}]}]}
  GET  /log.txt  the same as lines for C++: "connection ID open|closed RECEIVED_HEX",
                 "request ID HEAD_HEX BODY_HEX FRAMING", "error ID MESSAGE_HEX" ("-" if empty)
  POST /reset    forgets everything recorded so far; open connections record anew
"""
import argparse
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
REQUEST_LINE = re.compile(rb"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP/(\d)\.(\d)$")

lock = threading.Lock()
connections = []  # the records since the last reset, in order of first activity
next_id = [1]


class FramingError(Exception):
    pass


class Record:
    def __init__(self, conn_id):
        self.id = conn_id
        self.closed_by = None
        self.received = bytearray()
        self.requests = []
        self.error = None

    def as_json(self):
        return {"id": self.id, "closed": self.closed_by is not None, "closed_by": self.closed_by,
                "received_hex": self.received.hex(), "error": self.error,
                "requests": self.requests}


class Connection:
    """One backend connection: reads, records, frames and answers."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.answered = 0
        with lock:
            self.id = next_id[0]
            next_id[0] += 1
        self.record = None

    def current(self):
        """This connection's record since the last reset (made on first use after one)."""
        if self.record is None or self.record not in connections:
            self.record = Record(self.id)
            connections.append(self.record)
        return self.record

    def more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError
        with lock:
            self.current().received += chunk
        self.buf += chunk

    def take_until(self, marker):
        while marker not in self.buf:
            self.more()
        at = self.buf.index(marker) + len(marker)
        taken = bytes(self.buf[:at])
        del self.buf[:at]
        return taken

    def take(self, n):
        while len(self.buf) < n:
            self.more()
        taken = bytes(self.buf[:n])
        del self.buf[:n]
        return taken

    def read_request(self):
        head = self.take_until(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        if any(b"\n" in l or b"\r" in l for l in lines):
            raise FramingError("bare CR or LF in the head")
        match = REQUEST_LINE.match(lines[0])
        if not match:
            raise FramingError("bad request line %r" % lines[0])
        headers = []
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not TOKEN.match(name):
                raise FramingError("bad header line %r" % line)
            headers.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
        lengths = [v for k, v in headers if k.lower() == "content-length"]
        codings = [c.strip().lower() for k, v in headers if k.lower() == "transfer-encoding"
                   for c in v.split(",")]
        if lengths and codings:
            raise FramingError("Content-Length with Transfer-Encoding")
        if codings:
            if codings != ["chunked"]:
                raise FramingError("Transfer-Encoding %r" % codings)
            framing, body = "chunked", self.read_chunked()
        elif lengths:
            if len(lengths) > 1 or not lengths[0].isdigit():
                raise FramingError("Content-Length %r" % lengths)
            framing, body = "content-length", self.take(int(lengths[0]))
        else:
            framing, body = "none", b""
        return {"method": match.group(1).decode(), "target": match.group(2).decode("latin-1"),
                "version": "%s.%s" % (match.group(3).decode(), match.group(4).decode()),
                "headers": headers, "framing": framing, "head_hex": head.hex(),
                "body_hex": body.hex()}

    def read_chunked(self):
        body = bytearray()
        while True:
            line = self.take_until(b"\r\n")[:-2]
            size = line.split(b";", 1)[0]
            if not re.match(rb"^[0-9A-Fa-f]{1,8}$", size):
                raise FramingError("bad chunk size line %r" % line)
            size = int(size, 16)
            if size == 0:
                while self.take_until(b"\r\n") != b"\r\n":  # trailers
                    pass
                return bytes(body)
            body += self.take(size)
            if self.take(2) != b"\r\n":
                raise FramingError("chunk data not followed by CRLF")

    def answer(self, request):
        """Sends the answer; returns (how it was answered, close afterwards)."""
        target = request["target"]
        path, _, query = target.partition("?")
        connection = ",".join(v.lower() for k, v in request["headers"] if k.lower() == "connection")
        close = "close" in connection or (request["version"] == "1.0" and
                                          "keep-alive" not in connection)
        if path == "/drop" or (path == "/drop-on-reuse" and self.answered > 0):
            return "dropped", True
        if path.startswith("/respond/"):
            self.sock.sendall(bytes.fromhex(path[len("/respond/"):]))
            if query.startswith("later="):
                time.sleep(0.3)  # the point: the rest of a scripted answer arrives later
                self.sock.sendall(bytes.fromhex(query[len("later="):]))
            return "scripted", close or query == "then=close"
        body = ("%s %s\n" % (request["method"], target)).encode("latin-1")
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
                % len(body))
        self.sock.sendall(head if request["method"] == "HEAD" else head + body)
        return "default", close

    def serve(self):
        closed_by = "backend"
        try:
            while True:
                try:
                    request = self.read_request()
                except FramingError as e:
                    with lock:
                        self.current().error = str(e)
                    self.sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                      b"Connection: close\r\n\r\n")
                    break
                request["answer"] = "pending"
                with lock:
                    self.current().requests.append(request)
                how, close = self.answer(request)
                with lock:
                    request["answer"] = how
                self.answered += 1
                if close:
                    break
        except EOFError:
            closed_by = "peer"
        except OSError:
            closed_by = "reset"
        finally:
            with lock:
                if self.record is not None and self.record in connections:
                    self.record.closed_by = closed_by
            self.sock.close()


def log_lines():
    out = []
    for c in connections:
        out.append("connection %d %s %s" % (c.id, "closed" if c.closed_by else "open",
                                            c.received.hex() or "-"))
        for r in c.requests:
            out.append("request %d %s %s %s" % (c.id, r["head_hex"], r["body_hex"] or "-",
                                                r["framing"]))
        if c.error:
            out.append("error %d %s" % (c.id, c.error.encode().hex()))
    return "".join(line + "\n" for line in out)


class Control(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, body, content_type="text/plain"):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with lock:
            if self.path == "/log":
                body = json.dumps({"connections": [c.as_json() for c in connections]}, indent=1)
                return self.reply(body.encode(), "application/json")
            if self.path == "/log.txt":
                return self.reply(log_lines().encode())
        self.send_error(404)

    def do_POST(self):
        if self.path != "/reset":
            return self.send_error(404)
        with lock:
            del connections[:]
        return self.reply(b"reset\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--control-port", type=int, required=True)
    args = parser.parse_args()
    control = ThreadingHTTPServer(("127.0.0.1", args.control_port), Control)
    control.daemon_threads = True
    threading.Thread(target=control.serve_forever, daemon=True).start()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(1024)
    print("recording backend on 127.0.0.1:%d, control on %d" % (args.port, args.control_port),
          flush=True)
    while True:
        sock, _ = listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=Connection(sock).serve, daemon=True).start()


if __name__ == "__main__":
    main()
