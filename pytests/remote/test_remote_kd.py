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
    a.send("q")
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
