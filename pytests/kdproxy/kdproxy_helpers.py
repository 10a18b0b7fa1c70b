"""kdproxy between kd and kdsim, each test with its own sockets in its own temp dir.
kd and kdsim are started with pytests/kd's helpers."""
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "kd"))

from kd_helpers import Kdsim, normalise, run_kd, stop_process, tool, wait_listening  # noqa: E402,F401


def start_kdsim(tmp_path, name, *args):
    """kdsim on <tmp>/<name>/kd.sock (Kdsim names its socket kd.sock)."""
    d = tmp_path / name
    d.mkdir(exist_ok=True)
    return Kdsim(d, *args)


class Kdproxy:
    """kdproxy --listen com:pipe,port=<tmp>/px.sock --connect TARGET [args]."""

    def __init__(self, tmp_path, target, *args):
        self.path = tmp_path / "px.sock"
        self.log = tmp_path / "proxy.log"
        self.proc = subprocess.Popen(
            [str(tool("kdproxy")), "--listen", f"com:pipe,port={self.path}", "--connect", target,
             "--log", str(self.log), *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wait_listening(self.proc, self.path, "kdproxy")

    @property
    def connect(self):
        return f"com:pipe,port={self.path}"

    def stop(self):
        stop_process(self.proc)

    def output(self):
        self.stop()
        return self.proc.stdout.read()

    def log_lines(self):
        return self.log.read_text().splitlines() if self.log.exists() else []


def session_text(out):
    """kd's output without what names the connection (the pipe differs) or the time."""
    return "\n".join(l for l in normalise(out).splitlines() if not l.startswith("Opened "))
