"""The openkd package's API outside the scenario fixtures: connection strings,
transports, errors, lifetime, and the plugin's failure report."""
import gc
import os
import subprocess
import sys
import textwrap
import time

import pytest

import openkd


def test_parse_connection_is_kds_parser():
    d = openkd.parse_connection("com:pipe,port=/tmp/x.sock,resets=0,reconnect")
    assert (d["kind"], d["path"], d["resets"], d["reconnect"]) == ("pipe", "/tmp/x.sock", 0, True)
    d = openkd.parse_connection("sim:cpus=4,seed=9")
    assert (d["kind"], d["cpus"], d["seed"]) == ("sim", 4, 9)
    # Every kind the parser knows comes back with its fields, the newest included.
    d = openkd.parse_connection("com:?")
    assert (d["kind"], d["canonical"]) == ("list_ports", "com:?")
    d = openkd.parse_connection("com:port=/dev/ttyUSB0,baud=57600,flow=rtscts")
    assert (d["kind"], d["path"], d["baud"], d["flow"]) == ("serial", "/dev/ttyUSB0", 57600, "rtscts")
    d = openkd.parse_connection("net:port=50000,key=1.2.3.4,target=10.0.0.2,bind=10.0.0.1")
    assert (d["kind"], d["port"], d["key"], d["target"], d["bind"]) == ("net", 50000, "1.2.3.4", "10.0.0.2",
                                                                       "10.0.0.1")
    with pytest.raises(openkd.Error) as e:
        openkd.parse_connection("com:bogus")
    assert "com:bogus" in str(e.value) and "\n" not in str(e.value)


def test_connect_to_nothing_is_a_connection_error(tmp_path):
    with pytest.raises(openkd.ConnectionError) as e:
        openkd.Debugger.connect(f"com:pipe,port={tmp_path}/nobody.sock", timeout=5)
    assert "nobody.sock" in str(e.value)
    with pytest.raises(openkd.Error) as e:
        openkd.Debugger.connect("net:key=1.2.3.4")
    assert "port=" in str(e.value) and "\n" not in str(e.value)


def test_silent_target_times_out():
    import socket
    # Something accepts the connection but never speaks KD.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(openkd.TimeoutError):
        openkd.Debugger.connect(f"com:ipport={port},port=127.0.0.1", timeout=1.5)
    assert time.monotonic() - t0 < 10
    srv.close()


def test_ctrl_c_ends_an_attach_that_waits():
    import _thread
    import socket
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        openkd.Debugger.connect(f"com:ipport={port},port=127.0.0.1", timeout=30)
    assert time.monotonic() - t0 < 5
    timer.join()
    srv.close()


def test_in_process_sim_target():
    with openkd.Debugger.connect("sim:cpus=2,seed=3") as dbg:
        assert dbg.processors == 2
        truth = dbg.simulator
        assert truth.cpus == 2
        assert truth.instruction_count == 0  # held at its first instruction
        assert dbg.registers()["rip"] == truth.registers(0)["rip"]
        dbg.boot()
        assert truth.instruction_count > 0
        truth.trigger_break()
        assert dbg.continue_(timeout=60).reason == "break"
        names = [m.name for m in dbg.modules()]
        assert names[:2] == ["nt", "simdrv"]


@pytest.mark.parametrize("where", ["tcp:127.0.0.1:0", "pty"])
def test_listen_tcp_and_pty(where):
    with openkd.Simulator(seed=1) as sim:
        conn = sim.listen(where)
        assert openkd.parse_connection(conn)["kind"] in ("tcp_serial", "serial")
        with openkd.Debugger.connect(sim, timeout=30) as dbg:
            assert dbg.registers()["rip"] == sim.registers(0)["rip"]
            assert dbg.read_virtual(0xFFFFF80000400000, 2) == b"MZ"


def test_garbage_collection_closes_without_hanging():
    sim = openkd.Simulator()
    dbg = openkd.Debugger.connect(sim.listen())
    dbg.continue_(wait=False)  # left running
    t0 = time.monotonic()
    del dbg
    del sim
    gc.collect()
    assert time.monotonic() - t0 < 15


def test_failing_test_report_shows_kd_traffic(tmp_path):
    test = tmp_path / "test_fails.py"
    test.write_text(textwrap.dedent("""
        def test_fails(kd_session):
            kd_session.read_virtual(0xFFFFF80000400000, 64)
            assert kd_session.registers()["rax"] == 0x123456789
    """))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "openkd.pytest_plugin", "-q", "-p", "no:cacheprovider",
                        str(test)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "openkd KD traffic" in r.stdout
    assert "ReadVirtualMemory 0xfffff80000400000 L0x40 -> ok" in r.stdout
    assert "GetContext" in r.stdout
    assert "openkd KD packets" in r.stdout
    assert "<- KD_STATE_MANIPULATE id 0x" in r.stdout and "GetContext status 00000000" in r.stdout
