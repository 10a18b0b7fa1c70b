"""Remoting through the real kd (tools/kd) with the simulated target: kd
-server hosts the session, kd -remote joins it. Skipped until kd is built."""
import os
import re
import subprocess
from pathlib import Path

import pytest

from remote_helpers import BUILD, Proc


@pytest.fixture
def kd(tmp_path):
    if not BUILD:
        pytest.skip("OPENKD_BUILD is not set (run through `make pytest` or set it to the build dir)")
    exe = Path(BUILD) / "tools/kd/kd"
    if not exe.exists():
        pytest.skip(f"{exe} is not built")
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path))
    procs = []

    def start(*args):
        p = Proc([str(exe), *args], env)
        procs.append(p)
        return p

    start.exe = str(exe)
    start.env = env
    yield start
    for p in procs:
        p.kill()


def _host(kd, tmp_path, *extra):
    host = kd("-server", f"npipe:pipe={tmp_path}/kd", *extra, "-k", "sim")
    m = host.wait_for(r"Server started\.  Client can connect with any of these command lines\n"
                      r"0: kd -remote (npipe:Pipe=\S+)\n", timeout=120)
    return host, m.group(1)


def test_kd_server_and_client(kd, tmp_path):
    host, remote = _host(kd, tmp_path)
    assert remote == f"npipe:Pipe={tmp_path}/kd,Server={os.uname().nodename}"
    a = kd("-remote", remote)
    a.wait_for("connected at", timeout=60)
    b = kd("-remote", f"npipe:server=.,pipe={tmp_path}/kd")
    b.wait_for("connected at", timeout=60)
    a.send(".echo hello from a")
    b.wait_for(r"issued: \.echo hello from a\n(?:.*\n)?hello from a\n", timeout=60)
    host.wait_for(r"hello from a\n", timeout=60)
    b.send(".servers")
    a.wait_for(r"0 - Debugger Server - npipe:Pipe=\S+", timeout=60)
    b.send(".clients")
    a.wait_for(r"\(npipe pid \d+\), last active ", timeout=60)
    b.send(".remote_exit")
    assert b.wait(timeout=60) == 0
    a.wait_for("disconnected at", timeout=60)
    a.send("q")  # a client's q leaves that client only (KD)
    assert a.wait(timeout=60) == 0
    assert "you left the session (q)" in a.out
    assert host.p.poll() is None
    a = kd("-remote", remote)
    a.wait_for("connected at", timeout=60)
    host.send("q")  # the host's q ends the session for everyone
    assert a.wait(timeout=60) == 0
    assert "the debugging session has ended" in a.out
    assert host.wait(timeout=60) == 0


def test_kd_query_servers(kd, tmp_path):
    host, remote = _host(kd, tmp_path)
    r = subprocess.run([kd.exe, "-QR", "localhost"], env=kd.env, capture_output=True, text=True, timeout=60)
    assert f"Debugger Server - {remote}" in r.stdout


def test_kd_server_killed(kd, tmp_path):
    host, remote = _host(kd, tmp_path)
    c = kd("-remote", remote)
    c.wait_for("connected at", timeout=60)
    host.kill()
    assert c.wait(timeout=60) != 0
    assert "lost the connection" in c.err


def test_kd_wrong_password(kd, tmp_path):
    host = kd("-server", f"npipe:pipe={tmp_path}/pw,password=Right", "-k", "sim")
    host.wait_for("Server started", timeout=120)
    c = kd("-remote", f"npipe:server=.,pipe={tmp_path}/pw,password=wrong")
    assert c.wait(timeout=60) == 1
    assert "openkd: password rejected by server" in c.err


def test_kd_secure_mode_refuses_from_console_and_client(kd, tmp_path):
    host, remote = _host(kd, tmp_path, "-secure")
    c = kd("-remote", remote)
    c.wait_for("connected at", timeout=60)
    refusals = [
        (".server tcp:port=0", r"\.server is disabled: the session is in secure mode"),
        (".endsrv 0", r"\.endsrv is disabled: the session is in secure mode"),
        (f".writemem {tmp_path}/w.bin nt L10", r"\.writemem is disabled: the session is in secure mode"),
        (f".logopen {tmp_path}/log.txt", r"\.logopen is disabled: the session is in secure mode"),
        (".shell ls", r"\.shell is disabled for this session"),
        (".kdfiles -m a.sys b.sys", r"\.kdfiles changes are disabled: the session is in secure mode"),
    ]
    for command, refusal in refusals:
        c.send(command)
        c.wait_for(refusal, timeout=60)
    for command, refusal in refusals:
        host.send(command)
    host.wait_count(r"(?:is disabled|changes are disabled)", 2 * len(refusals), timeout=60)
    assert not (tmp_path / "w.bin").exists() and not (tmp_path / "log.txt").exists()
    c.send(".servers")
    c.wait_for(r"0 - Debugger Server - npipe:Pipe=", timeout=60)
    assert "1 - Debugger Server" not in c.out


def test_kd_help_lists_the_remoting_commands(kd, tmp_path):
    host, remote = _host(kd, tmp_path)
    host.send(".help")
    for line in (r"\.server TRANSPORT", r"\.servers ", r"\.endsrv N", r"\.clients ", r"qq "):
        host.wait_for(r"\n  " + line, timeout=60)
