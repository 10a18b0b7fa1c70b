"""kdsim behaves as a Windows target where kd can tell (issue 13, the machine half):
no boot-options prompt unless asked (--boot-prompt), and a kernel stopped when its
debugger goes away stays stopped for the next one (--on-detach freeze, the default)
or runs on (--on-detach run)."""
import re

from kd_helpers import run_kd

RIP = re.compile(r"^rip=([0-9a-f]{16})$", re.M)


def test_no_boot_prompt_without_the_option(kdsim):
    sim = kdsim("--break-on-boot", "--seed", "1")
    rc, out, err = run_kd(["-k", sim.connect], "bu simdrv!DriverEntry\ng\nq\n")
    assert rc == 0, err
    assert "simdrv!DriverEntry" in out and "Breakpoint 0 hit" in out, out
    assert "enter boot options" not in out, out
    assert "boot options:" not in out, out


def test_boot_prompt_with_the_option(kdsim):
    sim = kdsim("--break-on-boot", "--seed", "1", "--boot-prompt")
    rc, out, err = run_kd(["-k", sim.connect], "bu simdrv!DriverEntry\ng\nquiet\nq\n")
    assert rc == 0, err
    assert "simkrnl: enter boot options: " in out, out
    assert 'simkrnl: boot options: "quiet"' in out, out
    assert "Breakpoint 0 hit" in out, out


def stopped_at_dbgprint(sim):
    rc, out, err = run_kd(["-k", sim.connect], "bp nt!DbgPrint\ng\nr rip\nq\n")
    assert rc == 0, err
    assert "Breakpoint 0 hit" in out, out
    rips = RIP.findall(out)
    assert len(rips) == 1, out
    return rips[0]


def test_detach_freeze_keeps_the_stop_for_the_next_debugger(kdsim):
    sim = kdsim("--break-on-boot", "--seed", "1")
    rip = stopped_at_dbgprint(sim)
    # kd quit with the kernel stopped at nt!DbgPrint: a new kd is told about that stop.
    rc, out, err = run_kd(["-k", sim.connect], "r rip\nu @rip L1\nq\n")
    assert rc == 0, err
    assert "Break instruction exception - code 80000003" in out, out
    assert RIP.findall(out) == [rip], out
    assert "nt!DbgPrint:" in out, out


def test_detach_run_lets_the_kernel_run_on(kdsim):
    sim = kdsim("--break-on-boot", "--seed", "1", "--on-detach", "run")
    rip = stopped_at_dbgprint(sim)
    # The kernel ran on: the next kd breaks in (-b: a running target reports no
    # stop of its own) somewhere else.
    rc, out, err = run_kd(["-k", sim.connect, "-b"], "r rip\nq\n")
    assert rc == 0, err
    rips = RIP.findall(out)
    assert len(rips) == 1 and rips[0] != rip, out
