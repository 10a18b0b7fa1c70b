"""Every stop kd reports is the stop the target made: after .reboot, and after a
restarted kdsim on the same pipe with `reconnect` (issue: stale stops)."""
import re
import subprocess
import time

from kd_helpers import Kdsim, run_kd, tool

RIP = re.compile(r"^rip=([0-9a-f]+)$", re.M)


def stops_and_rips(out):
    """Pairs each reported code location (the line after a stop) with the `r rip` that follows it."""
    pairs = []
    lines = out.splitlines()
    location = None
    for i, line in enumerate(lines):
        m = re.match(r"^([0-9a-f]{8})`([0-9a-f]{8}) ", line)
        if m and i > 0 and lines[i - 1].endswith(":") and not lines[i - 1].startswith("kd>"):
            location = m.group(1) + m.group(2)
        r = RIP.match(line)
        if r:
            pairs.append((location, r.group(1)))
    return pairs


def test_reboot_then_breakpoint_cycles_report_the_right_stop_each_time():
    # After .reboot the kernel asks for boot options (prompt=1); the empty line answers it.
    script = "bp nt!DbgPrint\ng\nr rip\n.reboot\nr rip\ng\nr rip\ng\n\nr rip\ng\nr rip\nq\n"
    rc, out, err = run_kd(["-k", "sim:prompt=1"], script)
    assert rc == 0, err
    pairs = stops_and_rips(out)
    assert len(pairs) == 5, out
    for location, rip in pairs:
        assert location == rip, out
    assert out.count("Breakpoint 0 hit") == 4, out
    assert "KiSystemStartup" in out.split(".reboot", 1)[1], out


def test_a_restarted_kdsim_on_the_same_pipe_is_debugged_after_reconnect(tmp_path):
    sim = Kdsim(tmp_path, "--break-on-boot")
    kd = subprocess.Popen([str(tool("kd")), "-k", sim.connect + ",reconnect"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        kd.stdin.write("r rip\n")
        kd.stdin.flush()
        time.sleep(1.0)
        sim.stop()
        sim = Kdsim(tmp_path, "--break-on-boot")
        time.sleep(1.5)
        # The new kernel waits at its first instruction; the session goes on with it.
        kd.stdin.write("bp nt!DbgPrint\ng\n\nr rip\nq\n")
        kd.stdin.close()
        out = kd.stdout.read()
        kd.wait(60)
    finally:
        if kd.poll() is None:
            kd.kill()
        sim.stop()
    assert "Breakpoint 0 hit" in out, out
    pairs = stops_and_rips(out)
    assert pairs and pairs[-1][0] == pairs[-1][1], out


def test_kdfiles_serves_the_driver_the_kernel_loads(tmp_path):
    """.kdfiles through the session: the kernel's image loader pulls simdrv2.sys
    from kd, and the driver that runs is the served copy."""
    kernel_dir = tool("kd").parent.parent.parent / "simulator" / "kernel"
    original = (kernel_dir / "simdrv2.sys").read_bytes()
    patched = original.replace(b"simdrv2: DriverEntry: loaded at", b"simdrv2: DriverEntry: SERVED at")
    assert patched != original
    served = tmp_path / "simdrv2.sys"
    served.write_bytes(patched)
    # Boot options (the kernel's prompt after g, prompt=1) make the loads come quickly.
    script = f".kdfiles -m simdrv2.sys {served}\ng\ntick=40 load=60 loaded=80\n"
    rc, out, err = run_kd(["-k", "sim:prompt=1"], script, timeout=90)
    assert rc == 0, err
    assert "simdrv2: DriverEntry: SERVED at" in out, out[-3000:]
    assert "simdrv2: DriverEntry: loaded at" not in out
