"""kd's console as a user meets it: leaving while the target runs, end of input
while the target runs, Ctrl-C stopping a long search (at a real pseudo-terminal)."""
import os
import pty
import select
import subprocess
import time

from kd_helpers import run_kd, tool


class PtyKd:
    """kd with a pseudo-terminal as its console (stdin, stdout and stderr)."""

    def __init__(self, *args):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([str(tool("kd")), *args], stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True, close_fds=True,
                                     preexec_fn=lambda: __import__("fcntl").ioctl(0, __import__("termios").TIOCSCTTY, 0))
        os.close(slave)
        self.text = ""

    def read_until(self, needle, timeout=30):
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"never saw {needle!r}; screen:\n{self.text}")
            r, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if r:
                try:
                    self.text += os.read(self.master, 65536).decode(errors="replace")
                except OSError:
                    break
        return self.text

    def send(self, data):
        os.write(self.master, data.encode())

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        finally:
            self.close()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        try:
            os.close(self.master)
        except OSError:
            pass


def test_q_while_the_target_runs_leaves_kd():
    kd = PtyKd("-k", "sim:prompt=1")
    try:
        kd.read_until("kd> ")
        kd.send("g\r")
        kd.read_until("enter boot options:")
        kd.send("\r")  # the simulated kernel's boot prompt: no options
        kd.read_until("simkrnl: tick")  # running
        t0 = time.monotonic()
        kd.send("q\r")
        assert kd.wait(10) is not None
        assert time.monotonic() - t0 < 5
    finally:
        kd.close()


def test_ctrl_c_stops_a_long_search_and_the_session_goes_on():
    kd = PtyKd("-k", "sim")
    try:
        kd.read_until("kd> ")
        # 256 MiB of mostly unmapped kernel space: minutes of round trips without Ctrl-C.
        # The simulator searches a short pattern itself in well under a second, so the
        # pattern is longer than s hands to the target (cmd_memory.cpp): kd reads and scans.
        kd.send("s -a fffff800`00000000 L?10000000 \"" + "openkd" * 50 + "\"\r")
        time.sleep(1.0)
        kd.send("\x03")
        kd.read_until("^C", timeout=20)
        kd.send("r rip\r")
        kd.read_until("rip=", timeout=20)
        kd.send("q\r")
        assert kd.wait(10) == 0
    finally:
        kd.close()


def test_end_of_input_while_the_target_runs_breaks_in_and_ends():
    t0 = time.monotonic()
    rc, out, err = run_kd(["-k", "sim"], "g\n", timeout=60)
    assert rc == 0, err
    assert "end of input while the target runs: breaking in" in out, out
    assert "Break instruction exception" in out.split("breaking in", 1)[1], out
    assert time.monotonic() - t0 < 30


def test_a_script_that_ends_after_g_still_sees_the_stop():
    rc, out, err = run_kd(["-k", "sim"], "bp nt!DbgPrint\ng\n", timeout=60)
    assert rc == 0, err
    assert "Breakpoint 0 hit" in out, out
    assert "breaking in" not in out, out
