"""Hostile connections before authentication (issue 9): the crash recipe
(idle connections, then a mass close timed to the server's hello or TLS
handshake timeout), which freed a stream under a queued timer handler."""
import os
import select
import socket
import time

import pytest

from remote_helpers import port_of
from test_remote_security import certs  # noqa: F401  (fixture)

# Short pre-authentication deadlines so a round takes about a second.
TIMEOUT_MS = 400


def _idle_tcp(port, n):
    socks = []
    for i in range(n):
        s = socket.socket()
        # Ten source addresses on loopback, so the per-source cap on
        # unauthenticated connections does not refuse most of them.
        s.bind((f"127.0.0.{1 + i % 10}", 0))
        s.connect(("127.0.0.1", port))
        socks.append(s)
    return socks


def _idle_unix(path, n):
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(path))
        socks.append(s)
    return socks


def _crash_round(opener):
    """Opens 100 idle connections; when the server drops the first at its
    timeout, closes the other 99 at once, racing their own timers."""
    socks = opener(100)
    first = socks[0]
    r, _, _ = select.select([first], [], [], 30)
    assert r, "the server never dropped an idle connection"
    for s in socks[1:]:
        s.close()
    first.close()


def _alive(remoting, host, client_transport):
    assert host.p.poll() is None, f"server died: {host.err[-2000:]}"
    c = remoting.client(client_transport)
    c.send(".echo still here")
    c.wait_for(r"\nstill here\n", timeout=30)
    c.send(".remote_exit")
    assert c.wait(timeout=30) == 0


@pytest.fixture
def short_timeouts(remoting):
    remoting.env["OPENKD_REMOTE_PREAUTH_TIMEOUT_MS"] = str(TIMEOUT_MS)
    return remoting


@pytest.mark.parametrize("rounds", [4])
def test_mass_close_at_hello_timeout_tcp(short_timeouts, rounds):
    remoting = short_timeouts
    host = remoting.host("tcp:port=0,hidden")
    port = port_of(host.remotes[0])
    for _ in range(rounds):
        _crash_round(lambda n: _idle_tcp(port, n))
    _alive(remoting, host, f"tcp:server=127.0.0.1,port={port}")


def test_mass_close_at_hello_timeout_npipe(short_timeouts, tmp_path):
    remoting = short_timeouts
    path = tmp_path / "crash"
    host = remoting.host(f"npipe:pipe={path},hidden")
    for _ in range(4):
        _crash_round(lambda n: _idle_unix(path, n))
    _alive(remoting, host, f"npipe:server=.,pipe={path}")


def test_mass_close_at_tls_handshake_timeout(short_timeouts, certs):  # noqa: F811
    remoting = short_timeouts
    g = certs["good"]
    host = remoting.host(f"ssl:certuser={g['pem']},port=0,hidden")
    port = port_of(host.remotes[0])
    for _ in range(4):
        _crash_round(lambda n: _idle_tcp(port, n))
    _alive(remoting, host, f"ssl:certuser={g['pin']},server=127.0.0.1,port={port}")


def test_timeout_option_is_honoured(short_timeouts):
    # An idle connection is dropped at the short deadline, not after 10 s.
    host = short_timeouts.host("tcp:port=0,hidden")
    s = socket.create_connection(("127.0.0.1", port_of(host.remotes[0])))
    t0 = time.monotonic()
    r, _, _ = select.select([s], [], [], 10)
    assert r and s.recv(100) == b""
    assert time.monotonic() - t0 < 3
    s.close()
