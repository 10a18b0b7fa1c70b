"""A CI suite for a KD transport, written against the openkd pytest plugin.

    PYTHONPATH=build/release/python python3 -m pytest -p openkd.pytest_plugin -n auto examples/

Fixtures: kdsim (a fresh simulator on its own socket), kd_session (attached,
booted, broken in), kd_remote (server + client); markers: faults, openkd.
"""
import struct

import pytest

import openkd

POOL = 0xFFFFF80010000000  # the simulated kernel's pool (64 MiB, mapped from boot)

LINKS = [None, "drop=0.02,seed=1", "corrupt=0.02,seed=2", "dup=0.02,truncate=0.01,seed=3"]


@pytest.mark.parametrize("faults", LINKS, indirect=True)
def test_memory_round_trip_on_a_bad_link(kd_session, kdsim, faults):
    data = bytes(range(256)) * 16
    for i in range(8):
        kd_session.write_virtual(POOL + i * 0x10000, data)
        assert kd_session.read_virtual(POOL + i * 0x10000, len(data)) == data
        assert kdsim.read_memory(POOL + i * 0x10000, len(data)) == data  # ground truth


@pytest.mark.parametrize("cpus", [1, 4])
def test_breakpoint_on_every_processor_count(cpus):
    with openkd.Simulator(cpus=cpus, seed=5) as sim, openkd.Debugger.connect(sim) as dbg:
        dbg.boot()
        bp = dbg.set_breakpoint("nt!KeDelayExecutionThread")
        for n in range(1, 6):
            stop = dbg.continue_(timeout=60)
            assert stop.reason == "breakpoint" and bp.hits == n
            assert dbg.registers()["rsp"] == sim.registers(stop.processor)["rsp"]


def test_crash_is_reported_as_a_bug_check(kd_session, kdsim):
    kdsim.trigger_bug()
    assert kd_session.continue_(timeout=60).code == 0xC0000005
    kd_session.continue_(timeout=60)
    assert kd_session.last_stop.reason == "bugcheck"
    code = struct.unpack("<Q", kd_session.read_virtual(kd_session.address("nt!KiBugCheckData"), 8))[0]
    assert code == 0x7E


def test_the_kernel_talks(kd_session):
    kd_session.continue_(wait=False)
    assert "simdrv: pass" in kd_session.wait_for_print("simdrv: pass", timeout=60)
    kd_session.break_in()
    assert kd_session.wait(timeout=30).reason == "break"


def test_a_remote_client_sees_the_session(kd_remote):
    server, client = kd_remote
    assert "nt" in client.execute("lm")
