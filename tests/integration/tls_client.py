#!/usr/bin/env python3
"""Scripted TLS clients for ringgate's integration tests (Python's ssl module, a real peer).

  tls_client.py burst    --port P --run ID --reps N   N connections, each writes 10 pipelined
                  [--halfclose]                       requests and closes at once
  tls_client.py unwrap   --port P                     a request, then unwrap(): our
                                                      close_notify must come back
  tls_client.py pipeline --port P                     5 pipelined requests, answers in order
  tls_client.py silent   --port P --count N --hold S  N connections that read their response
                                                      and then never answer close_notify
  tls_client.py fin      --port P                     a response, then FIN without close_notify
  tls_client.py rst      --port P --admin-port A      a slow request, then a reset once the
                                                      proxy has it (its /connections says so)
  tls_client.py stall    --port P --hold S            asks for 30 MB and reads none of it
  tls_client.py raw      --port P --hex H             sends raw bytes, prints the answer's first line
  tls_client.py exchange --port P --step H[@N] ...    sends each step's bytes (hex; "-": none)
                  [--quiet S] [--max S]               in turn on one connection; a step ends
                                                      when the connection closes, or when N
                                                      final responses have arrived in all and
                                                      then nothing for S s (or after --max s);
                                                      prints "step I ms=M HEX" per step (M: ms
                                                      from its send to its last byte, -1 if
                                                      none; HEX: what arrived, "-" if nothing),
                                                      then "end closed|quiet|max|reset"
  tls_client.py resume   --port P [--port2 Q]         reconnects (to Q if given) with the first
                                                      session (1.3, 1.2)
  tls_client.py resumechain --port P --count N       N TLS 1.3 connections in a row, each resuming
                                                      with the ticket the one before it got;
                                                      prints "resumed R of N-1" (exit 0 if all)
  tls_client.py idle     --port P --hold S            a request, then waits for the proxy's
                                                      close_notify (exit 0) or a bare EOF
  tls_client.py fdlimit  --port P --pid PID          takes every descriptor under the proxy's
                                                      limit so that accept fails with EMFILE;
                                                      checks that open connections are served
                                                      meanwhile and the waiting newcomer once
                                                      descriptors free up
  tls_client.py flood    --port P --count N --hold S  N connections pipeline GET /bytes/B as fast
                  --bytes B [--path P]                as they can for S s (or GET P), never reading,
                                                      then all close at once; prints
                                                      "flooded requests=R" (R: requests written)
  tls_client.py slowread --port P --reps N --bytes B  N times: a B-byte download read only
                                                      after a pause, then GET / on the same
                                                      connection must be answered promptly
  tls_client.py storm    --port P --count N --pid PID N bare TCP connections opened at once, held
                  --hold S                            until the proxy (PID) has accepted them all
                                                      (at most S s), then all closed at once;
                                                      prints "stormed"

Prints one line of results; exits non-zero when the behaviour is wrong.
"""
import argparse
import json
import os
import re
import resource
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.request


def wait_until(condition, timeout_s):
    """Checks `condition` at once and then at intervals from 1 ms doubling up to 50 ms, until it
    holds or `timeout_s` has passed; returns whether it held. (The harness's PollUntil, for waits
    that only the client can make.)"""
    deadline = time.monotonic() + timeout_s
    interval = 0.001
    while not condition():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(interval, left))
        interval = min(interval * 2, 0.05)
    return True


def admin_get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as answer:
        return answer.read()


def descriptors_of(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def context():
    # Not ssl.create_default_context(): it loads the system's CA certificates, 37 ms per
    # connection here, for a verification that is switched off anyway.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def connect(port):
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return context().wrap_socket(raw, server_hostname="localhost")


def read_responses(tls, count):
    """Reads `count` Content-Length-framed responses; returns their bodies."""
    buf = bytearray()
    bodies = []
    while len(bodies) < count:
        while b"\r\n\r\n" not in buf:
            chunk = tls.recv(65536)
            if not chunk:
                raise EOFError("connection ended after %d responses" % len(bodies))
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(buf) < length:
            chunk = tls.recv(65536)
            if not chunk:
                raise EOFError("body cut short")
            buf += chunk
        bodies.append(bytes(buf[:length]))
        del buf[:length]
    return bodies


def burst(args):
    # Alternate the two ways clients end: a bare close (FIN, then RST when our answers arrive)
    # and close_notify followed by close. With --halfclose, each ends with a TCP half-close
    # instead and reads to EOF: on a lossy network a bare close resets the connection while
    # the lost requests still wait for retransmission, and they never arrive anywhere.
    for rep in range(args.reps):
        tls = connect(args.port)
        tls.sendall(b"".join(
            b"GET /burst/%s/%d/%d HTTP/1.1\r\nHost: test\r\n\r\n" % (args.run.encode(), rep, i)
            for i in range(10)))
        if args.halfclose:
            tls.shutdown(socket.SHUT_WR)  # SSLSocket drops TLS here: a bare FIN
            try:
                while tls.recv(65536):
                    pass
            except (ssl.SSLError, OSError):
                pass
            tls.close()
        elif rep % 2:
            try:
                tls.unwrap().close()
            except (ssl.SSLError, OSError):
                tls.close()
        else:
            tls.close()
    print("sent %d bursts" % args.reps)


def unwrap(args):
    tls = connect(args.port)
    tls.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
    read_responses(tls, 1)
    raw = tls.unwrap()  # sends our close_notify and waits for the proxy's
    raw.close()
    print("unwrap completed")


def pipeline(args):
    tls = connect(args.port)
    paths = ["/p/%d" % i for i in range(5)]
    tls.sendall(b"".join(b"GET %s HTTP/1.1\r\nHost: test\r\n\r\n" % p.encode() for p in paths))
    bodies = read_responses(tls, len(paths))
    expected = [("GET %s\n" % p).encode() for p in paths]
    tls.close()
    if bodies != expected:
        print("out of order: %r" % bodies)
        return 1
    print("5 responses in order")
    return 0


def fin(args):
    """A response, then a TCP FIN without close_notify; reads the proxy's answer to EOF."""
    tls = connect(args.port)
    tls.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
    read_responses(tls, 1)
    tls.shutdown(socket.SHUT_WR)  # SSLSocket drops TLS here: a bare FIN, no close_notify
    tail = b""
    while True:
        chunk = tls.recv(65536)
        if not chunk:
            break
        tail += chunk
    tls.close()
    # Our close_notify is one TLS 1.3 record (type 23 on the wire); anything arriving proves
    # the proxy kept writing after the client's FIN.
    print("fin: %d bytes after FIN" % len(tail))
    return 0 if tail else 1


def rst(args):
    """A request for a slow response, then an abortive close (SO_LINGER 0: RST)."""
    tls = connect(args.port)
    tls.sendall(b"GET /delay/300 HTTP/1.1\r\nHost: test\r\n\r\n")
    # The reset must come while the proxy works on the request, not before it has read it.
    def working_on_it():
        return any(c["state"] == "data_transfer" and c["requests"] == 1
                   for c in json.loads(admin_get(args.admin_port, "/connections")))

    if not wait_until(working_on_it, 5):
        print("the proxy did not start on the request within 5 s")
        return 1
    tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    tls.close()
    print("rst sent")
    return 0


def idle(args):
    """A request, then waits on the open connection until the proxy ends it; exit 0 only if it
    ended with close_notify (a bare EOF raises with suppress_ragged_eofs off)."""
    raw = socket.create_connection(("127.0.0.1", args.port), timeout=args.hold)
    tls = context().wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
    tls.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
    read_responses(tls, 1)
    print("ready", flush=True)
    try:
        while tls.recv(65536):
            pass
    except ssl.SSLEOFError:
        print("bare eof")
        return 1
    except socket.timeout:
        print("still open")
        return 2
    print("close_notify")
    return 0


def stall(args):
    """Asks for a large body and never reads it."""
    tls = connect(args.port)
    tls.sendall(b"GET /bytes/30000000 HTTP/1.1\r\nHost: test\r\n\r\n")
    print("ready", flush=True)
    time.sleep(args.hold)  # the point: the connection stays open, unread, for --hold s
    return 0


def raw(args):
    """Sends the bytes given in hex and prints the first line the proxy answers (or 'closed')."""
    tls = connect(args.port)
    tls.sendall(bytes.fromhex(args.hex))
    buf = b""
    try:
        while b"\r\n" not in buf:
            chunk = tls.recv(65536)
            if not chunk:
                break
            buf += chunk
    except (ssl.SSLError, OSError):
        pass
    print(buf.split(b"\r\n", 1)[0].decode(errors="replace") if buf else "closed")
    return 0


FINAL_STATUS_LINE = re.compile(rb"(?:^|\n)HTTP/1\.[01] [2-5][0-9][0-9] ")


def exchange(args):
    """Scripted conversation with exact bytes both ways (see the module's docstring)."""
    tls = connect(args.port)
    received = b""
    end = "quiet"
    for index, step in enumerate(args.step):
        data, _, wanted = step.partition("@")
        wanted = int(wanted or 0)
        got = b""
        last_ms = -1
        started = time.monotonic()
        last_activity = started
        try:
            if data != "-":
                tls.sendall(bytes.fromhex(data))
            tls.settimeout(0.05)
            while True:
                now = time.monotonic()
                if now - started > args.max:
                    end = "max"
                    break
                if (len(FINAL_STATUS_LINE.findall(received)) >= wanted and
                        now - last_activity >= args.quiet):
                    end = "quiet"
                    break
                try:
                    chunk = tls.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    end = "closed"
                    break
                received += chunk
                got += chunk
                last_activity = time.monotonic()
                last_ms = int((last_activity - started) * 1000)
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            end = "reset"
        print("step %d ms=%d %s" % (index, last_ms, got.hex() or "-"), flush=True)
        if end in ("closed", "reset"):
            break
    print("end %s" % end)
    tls.close()
    return 0


def resume(args):
    """Reconnects with the session of a first connection, for TLS 1.3 and 1.2; exit 0 if both
    handshakes were resumptions."""
    ok = True
    for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        ctx = context()
        ctx.maximum_version = version
        first = ctx.wrap_socket(socket.create_connection(("127.0.0.1", args.port), timeout=10),
                                server_hostname="localhost")
        first.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        read_responses(first, 1)  # the TLS 1.3 ticket arrives after the handshake
        session = first.session
        first.close()
        second = ctx.wrap_socket(socket.create_connection(("127.0.0.1", args.port2 or args.port),
                                                          timeout=10),
                                 server_hostname="localhost", session=session)
        second.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        read_responses(second, 1)
        print("%s resumed=%s" % (second.version(), second.session_reused))
        ok = ok and second.session_reused
        second.close()
    return 0 if ok else 1


def resumechain(args):
    """A client that always resumes with its newest ticket, as curl, h2load or a health checker
    in a loop does: each connection after the first must be a resumption."""
    ctx = context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    session = None
    resumed = 0
    for i in range(args.count):
        try:
            tls = ctx.wrap_socket(socket.create_connection(("127.0.0.1", args.port), timeout=10),
                                  server_hostname="localhost", session=session)
            tls.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            read_responses(tls, 1)  # the ticket arrives after the handshake, before the answer
        except (OSError, ssl.SSLError, EOFError) as e:
            print("connection %d failed: %s" % (i + 1, e))
            break
        if i > 0 and tls.session_reused:
            resumed += 1
        session = tls.session
        tls.close()
    print("resumed %d of %d" % (resumed, args.count - 1))
    return 0 if resumed == args.count - 1 else 1


def slowread(args):
    """A client that starts reading a large response late makes the proxy pause reading from the
    backend. The backend connection then goes back to the pool; the next request, which reuses it,
    must be answered at once (not after the upstream response timeout)."""
    greeting = b"hello from the ringgate demo backend\n"
    for rep in range(args.reps):
        raw_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw_socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills at once
        raw_socket.settimeout(10)
        raw_socket.connect(("127.0.0.1", args.port))
        tls = context().wrap_socket(raw_socket, server_hostname="localhost")
        tls.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: test\r\n\r\n" % args.bytes)
        time.sleep(0.2)  # the point: a reader that starts late, so that the proxy pauses
        body = read_responses(tls, 1)[0]
        if len(body) != args.bytes:
            print("rep %d: download cut to %d bytes" % (rep, len(body)))
            return 1
        started = time.monotonic()
        tls.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        answer = read_responses(tls, 1)[0]
        elapsed_ms = (time.monotonic() - started) * 1000
        tls.close()
        if answer != greeting or elapsed_ms > 500:
            print("rep %d: next request got %r after %.0f ms" % (rep, answer[:40], elapsed_ms))
            return 1
    print("%d slow downloads, each followed by a prompt answer" % args.reps)
    return 0


def fdlimit(args):
    greeting = b"hello from the ringgate demo backend\n"
    resident = connect(args.port)
    resident.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
    read_responses(resident, 1)  # a backend connection is now open and pooled
    # Bare TCP connections take every descriptor left under the proxy's limit (the proxy was
    # started with a low one)...
    limit = resource.prlimit(args.pid, resource.RLIMIT_NOFILE)[0]
    fillers = []
    def below_limit():  # descriptors inherited above the limit take no slot under it
        return len([n for n in os.listdir("/proc/%d/fd" % args.pid) if int(n) < limit])

    while below_limit() < limit and len(fillers) < limit:
        taken = below_limit()
        fillers.append(socket.create_connection(("127.0.0.1", args.port)))
        # One at a time, each accepted before the next, so that none is left in the backlog
        # ahead of the newcomer. (A filler the proxy accepts and drops at once takes no slot;
        # after a second the loop goes on regardless.)
        wait_until(lambda: below_limit() > taken or below_limit() >= limit, 1)
    # ...so the next one waits in the listen backlog while accept(2) fails with EMFILE.
    result = {}

    def newcomer():
        try:
            tls = connect(args.port)
            tls.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            result["body"] = read_responses(tls, 1)[0]
            result["at"] = time.monotonic()
            tls.close()
        except (OSError, EOFError) as e:
            result["error"] = repr(e)

    waiting = threading.Thread(target=newcomer)
    waiting.start()
    # Not a wait for a condition: the newcomer must still be waiting after half a second, and
    # only letting that time pass shows it.
    time.sleep(0.5)
    if "body" in result or "error" in result:
        print("the newcomer was not kept waiting: %r" % result)
        return 1
    resident.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
    if read_responses(resident, 1)[0] != greeting:
        print("the open connection was not served while accepting was paused")
        return 1
    freed_at = time.monotonic()
    for f in fillers:
        f.close()
    waiting.join(15)
    if result.get("body") != greeting:
        print("the newcomer was not served after descriptors freed up: %r" % result)
        return 1
    resident.close()
    print("served while paused; newcomer served %.1f s after descriptors freed up"
          % (result["at"] - freed_at))
    return 0


def silent(args):
    # Handshakes first, then all requests at once, so that every close_notify deadline on the
    # proxy starts within a few milliseconds of the others.
    held = [connect(args.port) for _ in range(args.count)]
    for tls in held:
        tls.sendall(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    for tls in held:
        read_responses(tls, 1)
    # From here on: never read again, never close; the proxy's close_notify goes unanswered.
    print("ready", flush=True)
    time.sleep(args.hold)  # the point: silent for --hold s, past the proxy's deadline
    return 0


def flood(args):
    """Clients that pipeline requests and never read: the proxy must bound what each costs."""
    path = args.path or f"/bytes/{args.bytes}"
    request = (f"GET {path} HTTP/1.1\r\nHost: flood\r\n\r\n").encode()
    batch = request * 16
    conns = [connect(args.port) for _ in range(args.count)]
    written = [0] * args.count
    deadline = time.monotonic() + args.hold

    def pump(i):
        tls = conns[i]
        tls.settimeout(None)
        try:
            # Bounded in time (the deadline) and in count: at most 100,000 requests each.
            while time.monotonic() < deadline and written[i] < 100000:
                tls.sendall(batch)  # blocks once the proxy stops reading; unblocked at the deadline
                written[i] += 16
        except (OSError, ssl.SSLError, ValueError):
            pass

    threads = [threading.Thread(target=pump, args=(i,), daemon=True) for i in range(args.count)]
    for t in threads:
        t.start()
    time.sleep(max(0.0, deadline - time.monotonic()))  # the point: the flood lasts --hold s
    for tls in conns:  # unread responses in the socket: the kernel answers the close with RST
        try:
            tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            tls.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    for t in threads:
        t.join(timeout=5)
    for tls in conns:
        try:
            tls.close()
        except OSError:
            pass
    print(f"flooded requests={sum(written)}", flush=True)
    return 0


def storm(args):
    """Many connections arriving together and, once the proxy holds them all, closing together."""
    before = descriptors_of(args.pid)
    socks = []
    for _ in range(args.count):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", args.port))
        socks.append(s)
    # At most --hold s: a proxy slower to accept them gets their closes anyway, as any would.
    wait_until(lambda: descriptors_of(args.pid) >= before + args.count, args.hold)
    for s in socks:
        s.close()
    print("stormed")
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["burst", "unwrap", "pipeline", "silent", "fin", "rst", "idle", "stall", "raw", "resume", "resumechain", "slowread", "fdlimit",
                                         "exchange", "flood", "storm"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--run", default="run")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--hold", type=float, default=3.0)
    parser.add_argument("--hex", default="")
    parser.add_argument("--bytes", type=int, default=0)
    parser.add_argument("--pid", type=int, default=0)
    parser.add_argument("--halfclose", action="store_true")
    parser.add_argument("--port2", type=int, default=0)
    parser.add_argument("--step", action="append", default=[])
    parser.add_argument("--quiet", type=float, default=0.3)
    parser.add_argument("--max", type=float, default=10.0)
    parser.add_argument("--path", default="")
    parser.add_argument("--admin-port", type=int, default=0)
    args = parser.parse_args()
    modes = {"burst": burst, "unwrap": unwrap, "pipeline": pipeline, "silent": silent, "fin": fin,
             "rst": rst, "idle": idle,
             "stall": stall, "raw": raw, "resume": resume, "resumechain": resumechain, "slowread": slowread, "fdlimit": fdlimit,
             "exchange": exchange, "flood": flood, "storm": storm}
    return modes[args.mode](args) or 0


if __name__ == "__main__":
    sys.exit(main())
