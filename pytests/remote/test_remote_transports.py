"""Each transport end to end: tcp (ranges, ipversion, clicon, ports in use),
npipe (%d), com over a socat pseudo-terminal pair."""
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from remote_helpers import free_port, port_of, tcp_client


def _consecutive_free_ports(n):
    for _ in range(200):
        base = free_port()
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("0.0.0.0", p))
                socks.append(s)
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        if base + n <= 65535:
            return base
    pytest.skip("no run of free ports found")


def test_port_range_skips_a_busy_port(remoting):
    base = _consecutive_free_ports(4)
    busy = socket.socket()
    busy.bind(("0.0.0.0", base))
    busy.listen()
    try:
        host = remoting.host(f"tcp:port={base}:{base + 3}")
        assert re.search(r"tcp:Port=%d:%d,Server=" % (base + 1, base + 3), host.remotes[0])
        c = remoting.client(f"tcp:server=127.0.0.1,port={base + 1}")
        c.send(".echo in range")
        c.wait_for(r"\nin range\n")
    finally:
        busy.close()


def test_port_in_use_is_a_clear_error(remoting):
    busy = socket.socket()
    busy.bind(("0.0.0.0", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        host = remoting.host(f"tcp:port={port}", expect_start=False)
        assert host.wait() == 1
        assert f"port {port} is not available" in host.err
    finally:
        busy.close()


def test_bad_transport_strings_are_one_line_errors(remoting):
    r = remoting.run("-server", "tcp:prot=5")
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0
    assert "option 'prot' is not valid" in r.stderr
    r = remoting.run("-remote", "tcp:port=5")
    assert r.returncode == 1
    assert "missing server= or clicon=" in r.stderr


def test_ipv6(remoting):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    host = remoting.host("tcp:port=0,ipversion=6")
    assert "IpVersion=6" in host.remotes[0]
    c = remoting.client(f"tcp:server=::1,port={port_of(host.remotes[0])},ipversion=6")
    c.wait_for(r"\(tcp \[::1\]:\d+\) connected at")


def test_npipe_printf_codes(remoting, tmp_path):
    host = remoting.host("npipe:pipe=dbg%d")
    pid = host.p.pid
    assert host.remotes[0].startswith(f"npipe:Pipe=dbg{pid},Server=")
    assert (tmp_path / "openkd" / f"dbg{pid}").is_socket()
    c = remoting.client(f"npipe:server=.,pipe=dbg{pid}")
    c.send(".echo via pipe")
    c.wait_for(r"\nvia pipe\n")


def test_clicon_reverse_connection(remoting):
    port = free_port()
    client = remoting.client(f"tcp:clicon=127.0.0.1,port={port}")
    time.sleep(0.3)  # let it listen; the server retries anyway
    host = remoting.host(f"tcp:port={port},clicon=127.0.0.1")
    assert host.remotes[0] == f"tcp:Port={port},CliCon=127.0.0.1"
    client.wait_for("connected at")
    client.send(".echo reversed")
    client.wait_for(r"\nreversed\n")
    q = remoting.run("-QR", "localhost")
    assert f"Port={port}" not in q.stdout  # a reverse server is never listed


def test_qr_lists_running_servers(remoting, tmp_path):
    shown = remoting.host("tcp:port=0")
    remoting.host("tcp:port=0,hidden")
    q = remoting.run("-QR", socket.gethostname())
    assert q.stdout.startswith(f"Servers on \\\\{socket.gethostname()}:\n")
    listed = re.findall(r"^Debugger Server - (\S+)$", q.stdout, re.M)
    assert listed == [shown.remotes[0]]
    shown.kill()  # no chance to clean up: the entry goes stale
    q = remoting.run("-QR", "localhost")
    assert re.findall(r"^Debugger Server - ", q.stdout, re.M) == []
    assert list((tmp_path / "openkd" / "servers").iterdir()) == []
    other = remoting.run("-QR", "some-other-host")
    assert "only list servers on this machine" in other.stdout


@pytest.fixture
def pty_pair(tmp_path):
    if not shutil.which("socat"):
        pytest.skip("socat is not installed")
    a, b = tmp_path / "ttyA", tmp_path / "ttyB"
    p = subprocess.Popen(["socat", "-d", "-d", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not (a.exists() and b.exists()):
        if time.monotonic() > deadline:
            p.kill()
            pytest.fail("socat did not create the pty pair")
        time.sleep(0.05)
    yield str(a), str(b)
    p.kill()
    p.wait()


def test_com_over_a_pty_pair(remoting, pty_pair):
    a, b = pty_pair
    host = remoting.host(f"com:port={a},baud=115200,channel=7")
    assert host.remotes[0] == f"com:Port={a},Baud=115200,Channel=7"
    c = remoting.client(f"com:port={b},baud=115200,channel=7")
    c.wait_for(r"\(com \S+ channel 7\) connected at")
    c.send(".echo over serial")
    c.wait_for(r"\nover serial\n")
    host.send("q")
    assert c.wait() == 0
    assert host.wait() == 0


def test_com_server_killed(remoting, pty_pair):
    a, b = pty_pair
    host = remoting.host(f"com:port={a},channel=0,password=pw")
    c = remoting.client(f"com:port={b},channel=0,password=pw")
    c.wait_for("connected at")
    host.kill()
    assert c.wait() == 1  # a pty never hangs up: the keepalive timeout notices
    assert "lost the connection" in c.err


def test_com_channels_share_one_line(remoting, pty_pair):
    a, b = pty_pair
    host = remoting.host(f"com:port={a},channel=1", f"com:port={a},channel=2")
    assert [r.rsplit(",", 1)[1] for r in host.remotes] == ["Channel=1", "Channel=2"]
    two = remoting.client(f"com:port={b},channel=2")
    two.wait_for(r"\(com \S+ channel 2\) connected at")
    two.send(".servers")
    two.wait_for(r"0 - Debugger Server - com:Port=\S+,Channel=1\n1 - Debugger Server - com:Port=\S+,Channel=2\n")
    two.send(".remote_exit")
    assert two.wait() == 0
    host.wait_for(r"\(com \S+ channel 2\) disconnected at")
    one = remoting.client(f"com:port={b},channel=1")
    one.wait_for(r"\(com \S+ channel 1\) connected at")
    one.send("q")
    assert one.wait() == 0


def test_pipe_path_that_is_a_file_is_not_replaced(remoting, tmp_path):
    keep = tmp_path / "precious"
    keep.write_text("data")
    host = remoting.host(f"npipe:pipe={keep}", expect_start=False)
    assert host.wait() == 1
    assert "exists and is not a socket" in host.err
    assert keep.read_text() == "data"
