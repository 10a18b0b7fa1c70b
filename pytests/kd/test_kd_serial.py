"""kd over a serial line: a socat pseudo-terminal pair, kdsim --serial on one
end, kd -k com:port= on the other, both paced like a 115200-baud UART. The
session is the pipe's, byte for byte; the device vanishing is one message, and
with `reconnect` kd waits for it and goes on."""
import re
import subprocess
import threading
import time

import pytest

from kd_helpers import check_golden, finish_kd, run_kd, stop_process, tool
from serial_helpers import SerialKdsim, SocatLine
from test_kd_sessions import BASICS


@pytest.fixture
def line(tmp_path):
    made = []

    def start():
        s = SocatLine(tmp_path)
        made.append(s)
        return s

    yield start
    for s in made:
        s.stop()


@pytest.fixture
def serial_kdsim():
    sims = []

    def start(device, *args):
        s = SerialKdsim(device, *args)
        sims.append(s)
        return s

    yield start
    for s in sims:
        s.stop()


def test_basics_over_a_paced_serial_line_match_the_pipe_golden(line, serial_kdsim):
    ln = line()
    serial_kdsim(ln.b, "--break-on-boot", "--seed", "1", "--baud", "115200")
    rc, out, err = run_kd(["-k", f"com:port={ln.a},baud=115200"], BASICS)
    assert rc == 0, err
    assert out.count("\nOpened com:port=") == 1
    check_golden("basics_pipe_1cpu", out)  # the same transcript as over the pipe


def start_kd(connect, limit=120):
    """kd reading a script from a pipe; killed after `limit` s so no read of its output waits forever."""
    kd = subprocess.Popen([str(tool("kd")), "-k", connect], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(limit, lambda: kd.poll() is None and kd.kill())
    watchdog.daemon = True
    watchdog.start()
    return kd


def read_until(kd, text):
    """kd's output up to and including the first line holding `text` (all of it if kd ends first)."""
    seen = []
    for got in iter(kd.stdout.readline, ""):
        seen.append(got)
        if text in got:
            break
    return "".join(seen)


def test_the_device_vanishing_is_one_message_and_kd_exits(line, serial_kdsim):
    ln = line()
    sim = serial_kdsim(ln.b, "--break-on-boot", "--baud", "115200")
    kd = start_kd(f"com:port={ln.a},baud=115200")
    kd.stdin.write("r rip\n")
    kd.stdin.flush()
    out = read_until(kd, "rip=")
    ln.stop()  # the adapter is pulled while kd is connected
    out += finish_kd(kd, "g\n")
    # One notice, naming the device; the command that was waiting fails with the same words.
    said = [l for l in out.splitlines() if l.startswith("kd: connection to the target lost")]
    assert said == [f"kd: connection to the target lost (serial {ln.a} @115200: End of file)"], out
    assert kd.returncode == 1, out
    assert sim.wait_for(f"kdsim: lost {ln.b} (hung up)"), sim.said
    assert sim.stop().count("kdsim: lost") == 1


def test_reconnect_waits_for_the_device_and_the_session_goes_on(line, serial_kdsim):
    ln = line()
    # --on-detach run: the kernel runs on while the line is down (what this tests);
    # --boot-prompt: the empty line below answers its boot-options prompt.
    sim = serial_kdsim(ln.b, "--break-on-boot", "--seed", "1", "--baud", "115200", "--on-detach", "run",
                       "--boot-prompt")
    kd = start_kd(f"com:port={ln.a},baud=115200,reconnect")
    kd.stdin.write("r rip\n.echo before\n")
    kd.stdin.flush()
    out = read_until(kd, "before")
    ln.stop()  # unplugged
    out += read_until(kd, "waiting to reconnect")
    time.sleep(1.0)  # kd tries the missing device a few times
    ln.start()  # plugged back in, under the same names
    out += read_until(kd, "Reconnected to")
    # The kernel ran on while the line was down; a breakpoint shows the session works again.
    # (The empty line answers the boot-options prompt if the kernel is still there.)
    out += finish_kd(kd, "r rip\nbp nt!DbgPrint\ng\n\n.echo after\nq\n")
    assert kd.returncode == 0, out
    lost = [l for l in out.splitlines() if "Lost connection to" in l]
    assert len(lost) == 1 and "waiting to reconnect" in lost[0], out
    assert f"Reconnected to serial {ln.a} @115200" in out, out
    assert len(re.findall(r"^rip=[0-9a-f]{16}$", out, re.M)) == 2, out
    after = out[out.index("Reconnected"):]
    assert "Breakpoint 0 hit\nnt!DbgPrint:" in after, out
    assert out.index("before") < out.index("Reconnected") < out.index("\nafter\n"), out
    assert sim.wait_for(f"kdsim: {ln.b} is back"), sim.said


def test_a_missing_device_is_one_line_and_the_list_says_what_there_is():
    rc, out, err = run_kd(["-k", "com:port=/dev/openkd-no-such-tty,baud=115200"], "q\n", timeout=30)
    assert rc == 1
    lines = [l for l in err.splitlines() if l.strip()]
    assert lines == ["kd: no serial port /dev/openkd-no-such-tty (kd -k com:? lists the serial ports)"], err
    rc, out, err = run_kd(["-k", "com:?"], "", timeout=30)
    assert rc == 0, err
    assert re.match(r"^(No serial ports found|\d+ serial ports?:\n(  /dev/\S+ .*\n)+)", out), out
    sim = subprocess.run([str(tool("kdsim")), "--list-ports"], capture_output=True, text=True, timeout=30)
    assert sim.returncode == 0 and sim.stdout == out


def test_kdsim_pty_closing_is_one_message_and_a_second_kd_finds_the_line_busy():
    sim = subprocess.Popen([str(tool("kdsim")), "--pty", "--break-on-boot", "--baud", "115200"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        pty = sim.stdout.readline().strip().removeprefix("kdsim: listening on pty:")
        assert pty.startswith("/dev/pts/"), pty
        kd = start_kd(f"com:port={pty},baud=115200")
        kd.stdin.write("r rip\n")
        kd.stdin.flush()
        out = read_until(kd, "rip=")
        rc, _, err = run_kd(["-k", f"com:port={pty},baud=115200"], "q\n", timeout=30)
        assert rc == 1 and err.strip() == f"kd: serial port {pty} is busy: another program has it open", err
        stop_process(sim)  # the peer closes the line
        out += read_until(kd, "connection to the target lost")
        out += finish_kd(kd, "q\n")
    finally:
        stop_process(sim)
    said = [l for l in out.splitlines() if "lost" in l]
    assert said == [f"kd: connection to the target lost (serial {pty} @115200: End of file)"], out
    assert kd.returncode == 1, out
