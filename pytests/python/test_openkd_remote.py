"""Remoting from Python: a server on a Debugger, a client running commands."""
import pytest

import openkd


def test_remote_client_runs_commands_in_the_session(kd_remote):
    server, client = kd_remote
    dbg = server.debugger
    rip = dbg.registers()["rip"]
    out = client.execute("r rip")
    assert f"rip={rip:016x}" in out
    assert "KeDelayExecutionThread" not in out
    base = dbg.address("nt!KeBugCheckEx")
    out = client.execute("? nt!KeBugCheckEx")
    assert f"{base:016x}" in out.replace("`", "")
    assert len(server.clients()) == 1


def test_two_clients_see_each_other(kd_session):
    with openkd.RemoteServer(kd_session) as server:
        with openkd.RemoteClient.connect(server.client_string, identity="TEST\\alice") as a, \
                openkd.RemoteClient.connect(server.client_string, identity="TEST\\bob") as b:
            assert len(server.clients()) == 2
            assert "from-alice" in a.execute(".echo from-alice")
            # Everyone sees every command's output: bob gets alice's before his own command ends.
            seen = b.execute(".echo sync") + b.output()
            assert "from-alice" in seen


def test_remote_client_to_nothing_fails(tmp_path):
    with pytest.raises(openkd.ConnectionError):
        openkd.RemoteClient.connect(f"npipe:pipe={tmp_path}/none.sock", timeout=2)


def test_a_client_leaves_while_its_command_runs(kd_session):
    import time
    with openkd.RemoteServer(kd_session) as server:
        client = openkd.RemoteClient.connect(server.client_string)
        with pytest.raises(openkd.TimeoutError):
            client.execute("g", timeout=1)  # the target runs on
        t0 = time.monotonic()
        client.close()
        assert time.monotonic() - t0 < 5
        kd_session.break_in()
        time.sleep(0.5)
    assert kd_session.registers()["rip"]
