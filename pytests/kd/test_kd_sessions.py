"""kd end to end: the real executable against kdsim over a pipe and against the
embedded simulator, with transcripts compared to golden files."""
import pytest

from kd_helpers import check_golden, run_kd

BASICS = """r
lm
db nt L20
bp nt!DbgPrint
bl
g
p
t
r rax=5
r rax
? 0n10 + 0x10 * 2
? poi(nt) & 0xffff
.echo hello from the script
bc *
bl
q
"""

BUGCHECK = """bu simdrv!DriverEntry
g
quiet
bc *
ed simdrv!TriggerBug 1
dd simdrv!TriggerBug L1
g
g
q
"""


@pytest.mark.parametrize("cpus", [1, 4])
def test_basics_over_a_pipe_match_the_golden_transcript(kdsim, cpus):
    sim = kdsim("--break-on-boot", "--seed", "1", "--cpus", str(cpus))
    rc, out, err = run_kd(["-k", sim.connect], BASICS)
    assert rc == 0, err
    check_golden(f"basics_pipe_{cpus}cpu", out)


def test_embedded_simulator_gives_the_same_session_as_kdsim(kdsim):
    sim = kdsim("--break-on-boot", "--seed", "1")
    # -k sim finds its kernel's PDBs by default; kd on a pipe is told where they are.
    from kd_helpers import build_dir
    kernel = build_dir() / "simulator/kernel"
    rc_pipe, out_pipe, _ = run_kd(["-k", sim.connect, "-y", f"{kernel}/builds/19041;{kernel}"], BASICS)
    rc_sim, out_sim, err = run_kd(["-k", "sim:seed=1"], BASICS)
    assert rc_pipe == 0 and rc_sim == 0, err
    from kd_helpers import normalise
    assert normalise(out_sim) == normalise(out_pipe)


def test_trigger_bug_gives_an_access_violation_then_the_bug_check(kdsim):
    # --boot-prompt: the script's "quiet" answers the kernel's boot-options prompt.
    sim = kdsim("--break-on-boot", "--seed", "1", "--boot-prompt")
    rc, out, err = run_kd(["-k", sim.connect], BUGCHECK)
    assert rc == 0, err
    assert "Access violation - code c0000005 (first chance)" in out
    assert "*** Fatal System Error: 0x0000007e" in out
    check_golden("trigger_bug", out)


def test_c_option_runs_commands_first():
    rc, out, err = run_kd(["-k", "sim", "-c", "r rip; q"], "")
    assert rc == 0, err
    assert "kd> r rip; q" in out
    assert "rip=fffff80000401000" in out


def test_bad_commands_are_one_line_errors_and_the_session_goes_on():
    rc, out, err = run_kd(["-k", "sim"], "nonsense\ndb nt!NoSuchSymbol\ndb 1234`5678\n? (1+\nr rip\nq\n")
    assert rc == 0, err
    assert "rip=fffff80000401000" in out  # the session went on after every error
    assert "NoSuchSymbol" in out


@pytest.mark.parametrize("connect, needle", [
    ("com:pipe", "port="),
    ("com:pipe,port=/nonexistent/openkd.sock", "/nonexistent/openkd.sock"),
    ("bogus:x", "bogus"),
    ("sim:cpus=99", "cpus"),
])
def test_bad_connection_strings_are_one_line_errors(connect, needle):
    rc, out, err = run_kd(["-k", connect], "q\n", timeout=30)
    assert rc != 0
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and needle in lines[0], err


def test_a_dropped_target_is_reported_and_kd_exits(kdsim):
    sim = kdsim("--break-on-boot", "--seed", "1")
    import subprocess, threading
    from kd_helpers import tool
    p = subprocess.Popen([str(tool("kd")), "-k", sim.connect], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.stdin.write("r rip\n")
    p.stdin.flush()
    threading.Timer(2.0, sim.stop).start()
    p.stdin.write("g\n")
    p.stdin.flush()
    out, err = p.communicate(timeout=60)
    assert "connection to the target lost" in (out + err)
    assert p.returncode == 1, (out, err)  # a script must see that the target went away
