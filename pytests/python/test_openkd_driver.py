"""Scenario control: simdrv2.sys loaded and unloaded on demand
(Simulator(driver_cycle="manual"), load_driver(), unload_driver()), seen by a
debugger as real module load and unload events."""
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

import openkd

# Manual mode with a fast automatic pacing in the boot options: were the
# automatic cycle still running, simdrv2.sys would come and go every 32 yields.
MANUAL = pytest.mark.openkd(driver_cycle="manual", boot_options="tick=64 load=16 loaded=16")


def names(modules):
    return [m.name for m in modules]


def drain(dbg):
    return list(dbg.events())


def stops(events, reason):
    """simdrv2.sys's load or unload stops among `events`."""
    return [e.stop for e in events if e.kind == "stop" and e.stop.reason == reason and "simdrv2" in e.stop.module]


def run_a_while(dbg, ticks=3):
    """Lets the kernel run for `ticks` tick lines (64 worker iterations each), then breaks in."""
    dbg.continue_(wait=False)
    for _ in range(ticks):
        dbg.wait_for_print("simkrnl: tick", timeout=60)
    dbg.break_in()
    assert dbg.wait(timeout=30).reason == "break"


@MANUAL
@pytest.mark.parametrize("cpus", [1, 4])
def test_load_and_unload_on_demand(kd_session, kdsim, cpus):
    dbg = kd_session
    drain(dbg)
    assert "simdrv2" not in names(dbg.modules())
    assert kdsim.driver_state in ("starting", "unloaded")

    dbg.continue_(wait=False)
    image = kdsim.load_driver(timeout=60)
    assert image.name == "simdrv2.sys" and image.size > 0
    assert kdsim.driver_state == "loaded"
    dbg.break_in()
    assert dbg.wait(timeout=30).reason == "break"
    loaded = {m.name: m for m in dbg.modules()}
    assert "simdrv2" in loaded
    assert (loaded["simdrv2"].base, loaded["simdrv2"].size) == (image.base, image.size)
    lm = dbg.execute("lm n")  # image names (plain lm shows a module not yet needed as "(deferred)")
    assert "simdrv2.sys" in lm and f"{image.base:016x}" in lm.replace("`", "")
    events = drain(dbg)
    loads = stops(events, "module_load")
    assert len(loads) == 1 and "simdrv2" in loads[0].module and loads[0].module_base == image.base
    assert any(e.kind == "print" and e.text.startswith("simdrv2: DriverEntry") for e in events)

    # It stays: the automatic cycle (every 32 yields here) is off.
    run_a_while(dbg)
    assert "simdrv2" in names(dbg.modules())
    assert not stops(drain(dbg), "module_unload")

    dbg.continue_(wait=False)
    kdsim.unload_driver(timeout=60)
    assert kdsim.driver_state == "unloaded"
    dbg.break_in()
    assert dbg.wait(timeout=30).reason == "break"
    assert "simdrv2" not in names(dbg.modules())
    assert "simdrv2" not in dbg.execute("lm")
    assert "simdrv2.sys" not in names(kdsim.modules())
    events = drain(dbg)
    unloads = stops(events, "module_unload")
    assert len(unloads) == 1 and unloads[0].module_base == image.base
    assert any(e.kind == "print" and e.text.startswith("simdrv2: DriverUnload") for e in events)

    # And it stays unloaded.
    run_a_while(dbg)
    assert "simdrv2" not in names(dbg.modules())
    assert not stops(drain(dbg), "module_load")


@MANUAL
def test_load_stops_at_the_module_load_event_with_sxe_ld(kd_session, kdsim):
    dbg = kd_session
    dbg.execute("sxe ld; sxe ud")  # KD: ld and ud are separate filters
    dbg.continue_(wait=False)
    done = []
    loader = threading.Thread(target=lambda: done.append(kdsim.load_driver(timeout=60)))
    loader.start()
    stop = dbg.wait(timeout=60)
    assert stop.reason == "module_load" and "simdrv2" in stop.module
    assert kdsim.driver_state == "loading"  # the kernel waits for the debugger, in the middle of the load
    assert not done
    dbg.continue_(wait=False)
    loader.join(timeout=60)
    assert done and done[0].base == stop.module_base
    assert kdsim.driver_state == "loaded"
    dbg.break_in()
    dbg.wait(timeout=30)

    dbg.continue_(wait=False)
    unloader = threading.Thread(target=kdsim.unload_driver, kwargs={"timeout": 60})
    unloader.start()
    stop = dbg.wait(timeout=60)
    assert stop.reason == "module_unload" and stop.module_base == done[0].base
    dbg.continue_(wait=False)
    unloader.join(timeout=60)
    assert kdsim.driver_state == "unloaded"
    dbg.break_in()
    dbg.wait(timeout=30)


@MANUAL
def test_load_times_out_while_the_target_is_stopped(kd_session, kdsim):
    dbg = kd_session  # broken in: nothing runs
    drain(dbg)
    began = time.monotonic()
    with pytest.raises(openkd.TimeoutError, match="stopped in the debugger.*withdrawn"):
        kdsim.load_driver(timeout=0.5)
    assert 0.5 <= time.monotonic() - began < 30  # it gave up, rather than hang
    # Withdrawn: continuing later loads nothing.
    run_a_while(dbg)
    assert "simdrv2" not in names(dbg.modules())
    assert "simdrv2.sys" not in names(kdsim.modules())
    assert kdsim.driver_state == "unloaded"
    assert not stops(drain(dbg), "module_load")


@MANUAL
def test_requests_in_the_wrong_state_are_refused(kd_session, kdsim):
    dbg = kd_session
    with pytest.raises(openkd.Error, match="unload_driver: simdrv2.sys is not loaded"):
        kdsim.unload_driver(timeout=1)
    dbg.continue_(wait=False)
    kdsim.load_driver(timeout=60)
    with pytest.raises(openkd.Error, match="load_driver: simdrv2.sys is already loaded"):
        kdsim.load_driver(timeout=1)
    kdsim.unload_driver(timeout=60)
    dbg.break_in()
    dbg.wait(timeout=30)


def test_automatic_cycle_refuses_requests(kd_session, kdsim):
    assert kdsim.driver_state == "automatic"
    with pytest.raises(openkd.Error, match='driver_cycle="manual"'):
        kdsim.load_driver(timeout=1)
    with pytest.raises(openkd.Error, match='driver_cycle="manual"'):
        kdsim.unload_driver(timeout=1)
    with pytest.raises(openkd.Error, match="driver_cycle"):
        openkd.Simulator(driver_cycle="sometimes")


def _kernel_images():
    candidates = [os.environ.get("OPENKD_KERNEL_DIR"),
                  os.path.join(os.path.dirname(openkd.__file__), "kernel"),
                  os.environ.get("OPENKD_BUILD") and os.path.join(os.environ["OPENKD_BUILD"], "simulator", "kernel")]
    for c in candidates:
        if c and os.path.isfile(os.path.join(c, "simkrnl.exe")):
            return Path(c)
    pytest.skip("cannot find the kernel images (set OPENKD_BUILD or OPENKD_KERNEL_DIR)")


def test_load_without_simdrv2_fails_clearly(tmp_path, monkeypatch):
    for name in ("simkrnl.exe", "simkrnl.pdb", "simdrv.sys", "simdrv.pdb"):  # no simdrv2.sys
        shutil.copy(_kernel_images() / name, tmp_path / name)
    monkeypatch.setenv("OPENKD_KERNEL_DIR", str(tmp_path))
    with openkd.Simulator(driver_cycle="manual") as sim:
        with openkd.Debugger.connect(sim) as dbg:
            dbg.boot()
            dbg.continue_(wait=False)
            with pytest.raises(openkd.TimeoutError, match="could not load simdrv2.sys"):
                sim.load_driver(timeout=60)
            assert sim.driver_state == "failed"
            dbg.wait_for_print("could not map simdrv2.sys", timeout=30)
            dbg.break_in()
            dbg.wait(timeout=30)
            assert "simdrv2" not in names(dbg.modules())


@MANUAL
def test_ctrl_c_withdraws_the_request(kd_session, kdsim):
    import _thread
    dbg = kd_session  # broken in: the request cannot finish
    drain(dbg)
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        kdsim.load_driver(timeout=60)
    timer.join()
    assert time.monotonic() - began < 30
    run_a_while(dbg)
    assert "simdrv2" not in names(dbg.modules())
    assert not stops(drain(dbg), "module_load")
    dbg.continue_(wait=False)
    kdsim.load_driver(timeout=60)  # a fresh request still works
    dbg.break_in()
    dbg.wait(timeout=30)
    assert "simdrv2" in names(dbg.modules())
