"""openkd.Simulator as a KDNET target (Simulator.listen("kdnet:..."), the same
target as kdsim --kdnet) and openkd.Debugger over KDNET: each test's simulator
takes a free UDP port on 127.0.0.2 and a fresh key, its debugger the same port
on 127.0.0.1, so tests run in parallel (pytest -n)."""
import re

import pytest

import openkd

POOL = 0xFFFFF80012000000  # inside the simulator's pool (simulator/ABI.md), unused by the kernel
KDNET = pytest.mark.openkd(listen="kdnet:")


def test_listen_kdnet_returns_the_debuggers_string():
    with openkd.Simulator() as a, openkd.Simulator() as b:
        ca, cb = a.listen("kdnet:"), b.listen("kdnet:port=0")
        pattern = r"net:port=(\d+),key=([0-9a-z]+\.[0-9a-z]+\.[0-9a-z]+\.[0-9a-z]+),target=127\.0\.0\.2,bind=127\.0\.0\.1"
        ma, mb = re.fullmatch(pattern, ca), re.fullmatch(pattern, cb)
        assert ma and mb, (ca, cb)
        assert ma.group(1) != mb.group(1) and ma.group(2) != mb.group(2)  # own port, own fresh key
        d = openkd.parse_connection(ca)
        assert d["kind"] == "net" and d["port"] == int(ma.group(1))
        assert a.connect_string == ca
    with openkd.Simulator() as c:
        assert c.kdnet_counters() == {}
        c.listen("tcp:127.0.0.1:0")
        assert c.kdnet_counters() == {}


@KDNET
def test_break_in_memory_and_a_breakpoint_by_symbol_over_kdnet(kd_session, kdsim):
    dbg = kd_session
    assert kdsim.connect_string.startswith("net:port=")
    # Broken in at boot: the debugger's registers are the machine's.
    assert dbg.registers()["rip"] == kdsim.registers(0)["rip"]
    # Memory over KDNET equals the simulator's own: the kernel's headers and a
    # stretch larger than one KD packet (many datagrams).
    base = kdsim.symbol("nt!KeBugCheckEx") & ~0xFFF
    assert dbg.read_virtual(0xFFFFF80000400000, 2) == b"MZ"
    assert dbg.read_virtual(base, 0x5000) == kdsim.read_memory(base, 0x5000)
    data = bytes(range(256)) * 64
    dbg.write_virtual(POOL, data)
    assert kdsim.read_memory(POOL, len(data)) == data
    # A breakpoint by symbol, hit while the kernel runs, then a break-in.
    bp = dbg.set_breakpoint("nt!KeDelayExecutionThread")
    assert bp.address == kdsim.symbol("nt!KeDelayExecutionThread")
    stop = dbg.continue_(timeout=60)
    assert stop.reason == "breakpoint" and stop.address == bp.address and bp.hits == 1, (stop, dbg.packets(30))
    assert dbg.registers()["rip"] == kdsim.registers(stop.processor)["rip"] == bp.address
    bp.remove()
    dbg.continue_(wait=False)
    dbg.wait_for_print("simkrnl: tick", timeout=60)  # the kernel runs on; its prints come over KDNET
    dbg.break_in()
    stop = dbg.wait(timeout=30)
    assert stop.reason == "break"
    assert dbg.registers()["rip"] == kdsim.registers(stop.processor)["rip"]
    counters = dbg.counters()
    assert counters["bytes_received"] > 0x5000


@KDNET
@pytest.mark.parametrize("cpus", [4])
def test_four_processors_over_kdnet(kd_session, kdsim, cpus):
    dbg = kd_session
    assert dbg.processors == kdsim.cpus == 4
    out = dbg.execute("lm")
    assert "simdrv" in out


def test_hostip_the_target_pokes_the_debugger():
    with openkd.Simulator(seed=1) as sim:
        conn = sim.listen("kdnet:hostip=127.0.0.1,key=1.2.3.4")
        m = re.fullmatch(r"net:port=(\d+),key=1\.2\.3\.4,bind=127\.0\.0\.1", conn)
        assert m, conn
        with openkd.Debugger.connect(sim, timeout=30) as dbg:
            assert dbg.read_virtual(0xFFFFF80000400000, 0x1000) == sim.read_memory(0xFFFFF80000400000, 0x1000)


def test_a_wrong_key_is_refused_and_the_right_one_still_attaches():
    with openkd.Simulator(seed=1) as sim:
        conn = sim.listen("kdnet:key=1.2.3.4")
        wrong = conn.replace("key=1.2.3.4", "key=5.6.7.8")
        with pytest.raises(openkd.TimeoutError):
            openkd.Debugger.connect(wrong, timeout=3)
        refused = sim.kdnet_counters()
        assert refused["auth_failures"] > 0 and refused["sessions"] == 0
        with openkd.Debugger.connect(conn, timeout=30) as dbg:
            assert dbg.registers()["rip"] == sim.registers(0)["rip"]
        c = sim.kdnet_counters()
        assert c["sessions"] == 1 and c["data_received"] > 0 and c["auth_failures"] == refused["auth_failures"]


@pytest.mark.parametrize("where, words", [
    ("kdnet:port=x", "port="),
    ("kdnet:key=zz!", "key="),
    ("kdnet:colour=red", "unknown option 'colour'"),
    ("kdnet:hostip=localhost", "hostip="),
    ("kdnet:bind=0.0.0.0", "hostip="),
    ("kdnet:hostip=127.0.0.1,bind=127.0.0.1", "same address"),
])
def test_bad_kdnet_words_are_one_line_errors(where, words):
    with openkd.Simulator() as sim:
        with pytest.raises(openkd.Error) as e:
            sim.listen(where)
        assert words in str(e.value) and "\n" not in str(e.value)
        sim.listen("kdnet:")  # the simulator still listens afterwards


def test_a_second_debugger_takes_over_and_the_kernel_ran_on():
    with openkd.Simulator(seed=1) as sim:
        conn = sim.listen("kdnet:")
        with openkd.Debugger.connect(sim, timeout=30) as first:
            first.continue_(wait=False)
            first.wait_for_print("simkrnl: tick", timeout=60)
        # The first debugger went away without a word (KDNET has no disconnect); the next
        # one is a new session on the same port: the stub starts a fresh link for it.
        with openkd.Debugger.connect(conn, timeout=30) as second:
            rip = second.registers()["rip"]
            assert rip == sim.registers(second.first_stop.processor)["rip"]
            assert second.read_virtual(0xFFFFF80000400000, 0x2000) == sim.read_memory(0xFFFFF80000400000, 0x2000)
        c = sim.kdnet_counters()
        assert c["sessions"] == 2 and c["restarts"] == 1
