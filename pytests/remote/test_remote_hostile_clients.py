"""Hostile remoting clients (issue 15): garbage, a huge length prefix,
half-open connections and a client that never reads. Through all of them the
server answers a legitimate client and its memory stays bounded."""
import re
import socket
import struct
import time

import pytest

from remote_helpers import port_of, tcp_client
from wire_client import CLIENT_HELLO, MAGIC, VERSION, WELCOME, frame, read_frame, string

RSS_BOUND_KIB = 96 * 1024  # the server holds at most a few MiB per client (client_queue_limit)


def rss_kib(pid):
    return int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{pid}/status").read()).group(1))


def closed_within(sock, seconds):
    """True if the server closes the connection within `seconds` (reading what it sends)."""
    sock.settimeout(seconds)
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            if not sock.recv(65536):
                return True
    except (socket.timeout, TimeoutError):
        return False
    except OSError:
        return True
    return False


def legitimate_round(remoting, host, text):
    c = remoting.client(tcp_client(host.remotes[0]))
    c.send(f".echo {text}")
    c.wait_for(rf"\n{text}\n", timeout=30)
    c.send(".remote_exit")
    assert c.wait(timeout=30) == 0


@pytest.fixture
def host(remoting):
    remoting.env["OPENKD_REMOTE_PREAUTH_TIMEOUT_MS"] = "1500"
    return remoting.host("tcp:port=0,hidden")


def connect(host):
    return socket.create_connection(("127.0.0.1", port_of(host.remotes[0])), timeout=10)


@pytest.mark.parametrize("junk", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",                # a port scanner's probe
    bytes(range(256)) * 64,                               # binary garbage
    struct.pack("<IB", 0, 1),                             # a frame shorter than its type
    frame(CLIENT_HELLO, struct.pack("<IH", 0xDEADBEEF, VERSION) + string("x")),  # wrong magic
])
def test_garbage_is_dropped_and_the_session_goes_on(remoting, host, junk):
    s = connect(host)
    s.sendall(junk)
    assert closed_within(s, 10), "the server kept a connection that sent garbage"
    s.close()
    legitimate_round(remoting, host, "after-garbage")


def test_a_huge_length_prefix_allocates_nothing(remoting, host):
    before = rss_kib(host.p.pid)
    socks = []
    for _ in range(20):
        s = connect(host)
        # A 4 GiB frame announced, a few bytes sent: the server must not wait
        # for (or reserve) the rest.
        s.sendall(struct.pack("<IB", 0xFFFFFFFF, CLIENT_HELLO) + b"x" * 100)
        socks.append(s)
    for s in socks:
        assert closed_within(s, 10), "a 4 GiB length prefix was not refused"
        s.close()
    assert rss_kib(host.p.pid) - before < 32 * 1024
    legitimate_round(remoting, host, "after-huge-prefix")


def test_half_open_connections_do_not_starve_a_legitimate_client(remoting, host):
    # Half a hello each, then silence, from many connections at once.
    hello = frame(CLIENT_HELLO, struct.pack("<IH", MAGIC, VERSION) + string("TEST\\stall"))
    socks = []
    for i in range(40):
        s = socket.socket()
        s.bind((f"127.0.0.{1 + i % 8}", 0))
        s.connect(("127.0.0.1", port_of(host.remotes[0])))
        s.sendall(hello[: len(hello) // 2])
        socks.append(s)
    t0 = time.monotonic()
    legitimate_round(remoting, host, "while-half-open")  # served while they hang
    assert time.monotonic() - t0 < 10
    for s in socks:  # and each is dropped at the pre-authentication deadline
        assert closed_within(s, 10)
        s.close()


def test_a_client_that_never_reads_is_dropped_and_memory_stays_bounded(remoting, host):
    # Authenticate (no password on this server), then never read again while
    # the session prints far more than the per-client limit.
    s = connect(host)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(frame(CLIENT_HELLO, struct.pack("<IH", MAGIC, VERSION) + string("TEST\\sleeper")))
    ftype, _ = read_frame(s)  # the server's hello
    while ftype != WELCOME:
        ftype, _ = read_frame(s)
    worker = remoting.client(tcp_client(host.remotes[0]))
    peak = 0
    for i in range(6):
        worker.send("big 8000000")  # 8 MB of output to every client
        worker.wait_count(r"big: done", i + 1, timeout=60)
        peak = max(peak, rss_kib(host.p.pid))
    assert peak < RSS_BOUND_KIB, peak
    # Behind for longer than the grace period (2 s): the next output drops it.
    time.sleep(2.5)
    worker.send(".echo poke")
    host.wait_for(r"disconnected .*sleeper.*fell too far behind", timeout=30)
    worker.send(".echo still-served")
    worker.wait_for(r"\nstill-served\n", timeout=30)
    worker.send(".remote_exit")
    assert worker.wait(timeout=30) == 0
    s.close()
