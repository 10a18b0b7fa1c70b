"""A serial line for kd and kdsim: a pseudo-terminal pair made by socat (a real
tty on both sides), and kdsim serving on one end with --serial."""
import shutil
import subprocess
import threading
import time

import pytest

from kd_helpers import stop_process, tool


class SocatLine:
    """socat joining two ptys, linked as DIR/a (kd's end) and DIR/b (kdsim's)."""

    def __init__(self, tmp_path):
        if not shutil.which("socat"):
            pytest.skip("socat is not installed")
        self.a, self.b = tmp_path / "a", tmp_path / "b"
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["socat", "-d", "-d", f"pty,raw,echo=0,link={self.a}", f"pty,raw,echo=0,link={self.b}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not (self.a.exists() and self.b.exists()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("socat did not create the pty pair")
            time.sleep(0.02)

    def stop(self):
        """The device vanishes: socat ends, both ptys hang up, the links go."""
        if self.proc:
            stop_process(self.proc)


class SerialKdsim:
    """kdsim --serial DIR/b; what it says on stderr is collected as it comes."""

    def __init__(self, device, *args):
        self.proc = subprocess.Popen([str(tool("kdsim")), "--serial", str(device), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.said = []
        self._reader = threading.Thread(target=lambda: self.said.extend(iter(self.proc.stderr.readline, "")),
                                        daemon=True)
        self._reader.start()
        line = self.proc.stdout.readline()
        if not line.startswith("kdsim: listening on serial:"):
            self.stop()
            raise AssertionError(f"kdsim did not open {device}: {line}{''.join(self.said)}")

    def wait_for(self, text, timeout=20):
        """True once a line kdsim printed contains `text`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in list(self.said)):
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        stop_process(self.proc)
        self._reader.join(10)
        return "".join(self.said)
