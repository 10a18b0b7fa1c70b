"""Runs kd against kdsim (over a Unix-socket pipe) or the embedded simulator, and
compares transcripts with golden files. OPENKD_REBASE=1 rewrites the goldens."""
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"


def build_dir():
    b = os.environ.get("OPENKD_BUILD")
    if not b:
        pytest.skip("OPENKD_BUILD is not set (make test sets it to the build directory)")
    return Path(b)


def sanitized():
    """An ASan/UBSan build: slower, and its shadow memory inflates RSS."""
    cache = build_dir() / "CMakeCache.txt"
    return cache.exists() and "OPENKD_SANITIZE:BOOL=ON" in cache.read_text()


def tool(name):
    path = build_dir() / "tools" / name / name
    if not path.exists():
        pytest.skip(f"{path} is not built")
    return path


class Kdsim:
    """kdsim --listen pipe:PATH, started for one test."""

    def __init__(self, tmp_path, *args):
        self.path = tmp_path / "kd.sock"
        self.proc = subprocess.Popen(
            [str(tool("kdsim")), "--listen", f"pipe:{self.path}", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wait_listening(self.proc, self.path, "kdsim")

    @property
    def connect(self):
        return f"com:pipe,port={self.path}"

    def stop(self):
        stop_process(self.proc)


def wait_listening(proc, path, name):
    """Waits (30 s at most) for `proc` to create its socket at `path`; stops it if it does not."""
    deadline = time.monotonic() + 30
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            out = proc.stdout.read() if proc.poll() is not None else ""
            stop_process(proc)
            raise AssertionError(f"{name} did not start listening: {out}")
        time.sleep(0.02)


def stop_process(proc):
    """SIGTERM, then SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_kd(args, script, timeout=120):
    """kd with `script` on stdin (no terminal); returns (exit status, stdout, stderr)."""
    p = subprocess.run([str(tool("kd")), *args], input=script, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def finish_kd(kd, script, timeout=60):
    """Sends the last of a running kd's script, ends its input and returns all it printed
    (stdout, with stderr if the Popen joined them); kd is killed if it does not end."""
    try:
        kd.stdin.write(script)
        kd.stdin.close()
        out = kd.stdout.read()
        kd.wait(timeout)
        return out
    finally:
        if kd.poll() is None:
            kd.kill()
            kd.wait()


# Lines that differ between runs for reasons that are not the target's: dates.
_VOLATILE = [
    (re.compile(r"target at \(.*\), ptr64"), "target at (DATE), ptr64"),
    (re.compile(r"^Debug session time: .*$", re.M), "Debug session time: DATE"),
    (re.compile(r"^Opened .*$", re.M), "Opened CONNECTION"),
]


def normalise(text):
    for pattern, repl in _VOLATILE:
        text = pattern.sub(repl, text)
    return text


def check_golden(name, text):
    path = GOLDEN / f"{name}.txt"
    text = normalise(text)
    if os.environ.get("OPENKD_REBASE") == "1":
        path.write_text(text)
        return
    assert path.exists(), f"no golden file {path}; run with OPENKD_REBASE=1 to create it"
    expected = path.read_text()
    assert text == expected, f"kd output differs from {path} (OPENKD_REBASE=1 rewrites it)"
