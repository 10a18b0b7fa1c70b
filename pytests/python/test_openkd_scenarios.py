"""Scenario tests of the openkd Python package, through its pytest plugin
(fixtures kdsim, kd_session, faults). Each test has its own simulator on its
own socket, so they run in parallel (pytest -n)."""
import struct
import threading
import time

import pytest

import openkd

POOL = 0xFFFFF80010000000  # simulator/machine.hpp kPoolBase: 64 MiB of mapped pool
ONE_AND_FOUR = pytest.mark.parametrize("cpus", [1, 4])
# Windows 7, 10 2004 and 11 24H2 kernels (simulator/kernel/builds.py): the tests marked
# with it run on each (the plugin's `build` fixture).
THREE_BUILDS = pytest.mark.parametrize("build", [7601, 19041, 26100])


def run_to_breakpoint(dbg, bp, timeout=60):
    stop = dbg.continue_(timeout=timeout)
    assert stop.reason == "breakpoint", stop
    assert stop.address == bp.address
    return stop


@ONE_AND_FOUR
def test_breakpoint_by_symbol_hits_and_registers(kd_session, kdsim, cpus):
    dbg = kd_session
    assert dbg.processors == kdsim.cpus == cpus
    bp = dbg.set_breakpoint("nt!KeDelayExecutionThread")
    assert bp.address == dbg.address("nt!KeDelayExecutionThread") == kdsim.symbol("nt!KeDelayExecutionThread")
    assert bp.hits == 0
    stop = run_to_breakpoint(dbg, bp)
    assert bp.hits == 1 and stop.breakpoint == bp.id
    regs = dbg.registers()
    assert regs["rip"] == bp.address
    assert regs["rcx"] == 0  # KeDelayExecutionThread(KernelMode = 0, ...)
    # The debugger's view equals the machine's own registers for that processor.
    truth = kdsim.registers(stop.processor)
    assert (regs["rsp"], regs["rcx"], regs["rdx"]) == (truth["rsp"], truth["rcx"], truth["rdx"])
    assert dbg.symbol(regs["rip"]) == "nt!KeDelayExecutionThread"
    for expected in (2, 3):
        run_to_breakpoint(dbg, bp)
        assert bp.hits == expected
    bp.remove()
    dbg.execute("bc *")


@THREE_BUILDS
def test_breakpoint_pass_count_counts_every_hit(kd_session):
    dbg = kd_session
    out = dbg.execute("bp nt!KeDelayExecutionThread 3")
    assert "error" not in out.lower()
    bp = dbg.set_breakpoint("nt!KeDelayExecutionThread")  # redefines the same breakpoint (pass count 1)
    run_to_breakpoint(dbg, bp)
    assert bp.hits == 1


@ONE_AND_FOUR
def test_step_moves_one_instruction(kd_session, kdsim, cpus):
    dbg = kd_session
    bp = dbg.set_breakpoint("nt!KeDelayExecutionThread")
    stop = run_to_breakpoint(dbg, bp)
    bp.remove()
    before = dbg.registers()["rip"]
    stop = dbg.step()
    assert stop.reason == "single_step"
    after = dbg.registers()["rip"]
    assert after != before and 0 < after - before < 16
    assert kdsim.registers(stop.processor)["rip"] == after
    stop = dbg.step_over()
    assert dbg.registers()["rip"] != after


@pytest.mark.openkd(boot_options="load=16 loaded=16")
@THREE_BUILDS
def test_module_load_and_unload_events(kd_session):
    dbg = kd_session
    dbg.execute("sxe ld; sxe ud")  # KD: ld and ud are separate filters
    seen = []
    deadline = time.monotonic() + 60
    while len({s.reason for s in seen}) < 2 and time.monotonic() < deadline:
        stop = dbg.continue_(timeout=60)
        assert stop.reason in ("module_load", "module_unload"), stop
        seen.append(stop)
        if stop.reason == "module_load":
            assert "simdrv2" in stop.module
            assert "simdrv2" in [m.name for m in dbg.modules()]
    assert {s.reason for s in seen} == {"module_load", "module_unload"}
    events = [e for e in dbg.events() if e.kind == "stop"]
    assert any(e.stop.reason == "module_load" for e in events)


@ONE_AND_FOUR
def test_dbgprint_capture(kd_session, kdsim, cpus):
    dbg = kd_session
    for _ in dbg.prints():  # what boot printed
        pass
    got = []
    dbg.on_print(got.append)
    dbg.continue_(wait=False)
    kdsim.emit_print("openkd-test: hello from the test\n")
    text = dbg.wait_for_print("openkd-test:", timeout=30)
    assert text == "openkd-test: hello from the test\n"
    dbg.wait_for_print("simkrnl: tick", timeout=60)  # the kernel's own prints keep coming
    dbg.break_in()
    stop = dbg.wait(timeout=30)
    assert stop.reason == "break"
    deadline = time.monotonic() + 5
    while "openkd-test: hello from the test\n" not in got and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "openkd-test: hello from the test\n" in got


@ONE_AND_FOUR
def test_bug_check(kd_session, kdsim, cpus):
    dbg = kd_session
    kdsim.trigger_bug()
    stop = dbg.continue_(timeout=60)
    # First chance: the access violation in simdrv's Level5 (a write to address 0x10).
    assert stop.reason == "exception" and stop.code == 0xC0000005 and stop.first_chance
    assert stop.parameters[:2] == [1, 0x10]
    assert dbg.symbol(stop.address).startswith("simdrv")
    text = dbg.execute("g", timeout=60)  # kd passes it on (gN): the kernel bug checks
    assert "*** Fatal System Error: 0x0000007e" in text
    stop = dbg.last_stop
    assert stop.reason == "bugcheck"
    assert stop.address == dbg.address("nt!RtlpBreakWithStatusInstruction")
    data = dbg.read_virtual(dbg.address("nt!KiBugCheckData"), 40)
    code, p1, _, _, _ = struct.unpack("<5Q", data)
    assert (code, p1) == (0x7E, 0xC0000005)


@THREE_BUILDS
def test_trigger_break(kd_session, kdsim):
    dbg = kd_session
    kdsim.trigger_break()
    stop = dbg.continue_(timeout=60)
    assert stop.reason == "break" and stop.code == 0x80000003
    assert dbg.symbol(stop.address).startswith("nt!DbgBreakPoint")


@ONE_AND_FOUR
def test_memory_ground_truth_after_writes(kd_session, kdsim, cpus):
    dbg = kd_session
    pattern = bytes((i * 7 + 3) & 0xFF for i in range(3 * 4096 + 123))
    address = POOL + 0x3FF000 + 17
    assert dbg.write_virtual(address, pattern) == len(pattern)
    assert kdsim.read_memory(address, len(pattern)) == pattern
    assert dbg.read_virtual(address, len(pattern)) == pattern
    kdsim.write_memory(address, b"\xAA" * 8)
    assert dbg.read_virtual(address, 8) == b"\xAA" * 8
    page = dbg.read_virtual(POOL, 4096)
    assert page == kdsim.read_memory(POOL, 4096)


def test_errors_carry_kd_messages(kd_session):
    dbg = kd_session
    with pytest.raises(openkd.TargetError) as e:
        dbg.read_virtual(0x10, 16)
    assert "0000000000000010" in str(e.value)
    with pytest.raises(openkd.Error):
        dbg.set_breakpoint("nosuchmodule!NoSuchSymbol")
    with pytest.raises(openkd.Error):
        dbg.address("nt!NoSuchExport")
    with pytest.raises(openkd.Error):
        dbg.set_register("nosuchreg", 1)
    dbg.set_register("rax", 0x1234)
    assert dbg.registers()["rax"] == 0x1234


@ONE_AND_FOUR
@pytest.mark.faults("drop=0.02,corrupt=0.02,dup=0.01,seed=11")
def test_memory_survives_link_faults(kd_session, kdsim, cpus):
    dbg = kd_session
    for i in range(20):
        data = bytes([(i + j) & 0xFF for j in range(2048)])
        dbg.write_virtual(POOL + 0x100000 + i * 4096, data)
        assert dbg.read_virtual(POOL + 0x100000 + i * 4096, 2048) == data
        assert kdsim.read_memory(POOL + 0x100000 + i * 4096, 2048) == data
    c = dbg.counters()
    faults = kdsim.fault_counters()
    assert faults["in_dropped"] + faults["out_dropped"] + faults["in_corrupted"] + faults["out_corrupted"] > 0
    assert c["retransmissions"] + c["resyncs"] + c["bad_checksums"] > 0


@pytest.mark.openkd(cpus=4)
def test_four_processors(kd_session, kdsim):
    dbg = kd_session
    assert dbg.processors == 4 and kdsim.cpus == 4
    bp = dbg.set_breakpoint("nt!KeDelayExecutionThread")
    processors = set()
    for _ in range(12):
        stop = run_to_breakpoint(dbg, bp)
        processors.add(stop.processor)
        assert dbg.registers()["rsp"] == kdsim.registers(stop.processor)["rsp"]
    assert bp.hits == 12
    assert processors <= {0, 1, 2, 3}


def test_reads_from_several_threads(kd_session, kdsim):
    dbg = kd_session
    expected = kdsim.read_memory(POOL, 64 * 1024)
    errors = []

    def reader(k):
        try:
            for i in range(20):
                off = ((k * 20 + i) * 1024) % (60 * 1024)
                assert dbg.read_virtual(POOL + off, 1024) == expected[off:off + 1024]
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_reads_fail_fast_while_running(kd_session):
    dbg = kd_session
    dbg.continue_(wait=False)
    with pytest.raises(openkd.RunningError):
        dbg.read_virtual(POOL, 16)
    with pytest.raises(openkd.TimeoutError):
        dbg.wait(timeout=0.2)
    dbg.break_in()
    assert dbg.wait(timeout=30).reason == "break"


def test_ctrl_c_breaks_in(kd_session):
    import _thread
    dbg = kd_session
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        dbg.continue_(timeout=60)
    timer.join()
    assert not dbg.running
    assert dbg.last_stop.reason == "break"
    assert len(dbg.read_virtual(POOL, 16)) == 16


@THREE_BUILDS
def test_physical_memory_is_the_same_bytes(kd_session, kdsim):
    import re
    dbg = kd_session
    # kd's own page walk names the physical page behind the pool's first page.
    pte = re.findall(r"contains ([0-9A-Fa-f]{16})", dbg.execute(f"!pte {POOL:x}"))[-1]
    physical = int(pte, 16) & 0x000FFFFFFFFFF000
    dbg.write_virtual(POOL + 0x40, b"virtual->physical")
    assert dbg.read_physical(physical + 0x40, 17) == b"virtual->physical"
    dbg.write_physical(physical + 0x80, b"physical->virtual")
    assert kdsim.read_memory(POOL + 0x80, 17) == b"physical->virtual"


def test_large_transfers_match_ground_truth(kd_session, kdsim):
    dbg = kd_session
    data = bytes((i * 131 + (i >> 12)) & 0xFF for i in range(3 * 1024 * 1024 + 5))
    assert dbg.write_virtual(POOL + 0x800000, data) == len(data)
    assert dbg.read_virtual(POOL + 0x800000, len(data)) == data
    assert kdsim.read_memory(POOL + 0x800000, len(data)) == data
    assert dbg.write_virtual(POOL, b"") == 0
