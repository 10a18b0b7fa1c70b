"""Helpers for remoting end-to-end tests: a fake debugger host and remote
clients (tools/kdremote_testhost), each test on its own ports, socket paths
and per-user runtime dir (XDG_RUNTIME_DIR=tmp_path), so `pytest -n auto` works."""
import os
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

BUILD = os.environ.get("OPENKD_BUILD")


def _executable(rel):
    if not BUILD:
        pytest.skip("OPENKD_BUILD is not set (run through `make pytest` or set it to the build dir)")
    path = Path(BUILD) / rel
    if not path.exists():
        pytest.skip(f"{path} is not built")
    return str(path)


class Proc:
    """A child process whose stdout/stderr are collected by threads."""

    def __init__(self, argv, env, stdin=subprocess.PIPE):
        self.argv = argv
        self.p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env)
        self._out = []
        self._err = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._threads = [threading.Thread(target=self._pump, args=(self.p.stdout, self._out), daemon=True),
                         threading.Thread(target=self._pump, args=(self.p.stderr, self._err), daemon=True)]
        for t in self._threads:
            t.start()

    def _pump(self, stream, into):
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(4096)
            if not chunk:
                break
            with self._cond:
                into.append(chunk.decode("utf-8", "replace"))
                self._cond.notify_all()

    @property
    def out(self):
        with self._lock:
            return "".join(self._out)

    @property
    def err(self):
        with self._lock:
            return "".join(self._err)

    def send(self, line):
        self.p.stdin.write((line + "\n").encode())
        self.p.stdin.flush()

    def close_stdin(self):
        try:
            self.p.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    def wait_for(self, pattern, timeout=60, stream="out"):
        """Waits until stdout (or stderr) matches the regex; the timeout is a hang guard."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                text = "".join(self._out if stream == "out" else self._err)
                m = rx.search(text)
                if m:
                    return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.argv[1:]} never printed /{pattern}/; stdout:\n{text}\nstderr:\n"
                                         + "".join(self._err))
                self._cond.wait(min(left, 0.5))

    def wait_count(self, pattern, count, timeout=60):
        """Waits until the regex matches at least `count` times in stdout (a
        repeated-group regex would backtrack for ever on big transcripts)."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                text = "".join(self._out)
                found = len(rx.findall(text))
                if found >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.argv[1:]} printed /{pattern}/ {found} times, not {count}; "
                                         f"stdout tail:\n{text[-2000:]}\nstderr:\n" + "".join(self._err))
                self._cond.wait(min(left, 0.5))

    def wait(self, timeout=60):
        rc = self.p.wait(timeout=timeout)
        for t in self._threads:
            t.join(timeout=10)
        return rc

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


class Remoting:
    """Starts hosts and clients for one test and cleans them up."""

    def __init__(self, tmp_path):
        self.exe = _executable("tools/kdremote_testhost/kdremote_testhost")
        self.tmp = tmp_path
        self.env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path))
        self.procs = []

    def host(self, *transports, noio=False, expect_start=True, secure=False):
        argv = [self.exe]
        for t in transports:
            argv += ["-server", t]
        if noio:
            argv.append("-noio")
        if secure:
            argv.append("-secure")
        p = Proc(argv, self.env)
        self.procs.append(p)
        p.remotes = []
        if expect_start:
            for i in range(len(transports)):
                m = p.wait_for(r"(?s)(?:.*?Client can connect with any of these command lines\n0: kd -remote (\S+)\n){%d}" % (i + 1))
            p.remotes = re.findall(r"0: kd -remote (\S+)\n", p.out)
        return p

    def client(self, transport, identity_env=None):
        p = Proc([self.exe, "-remote", transport], self.env)
        self.procs.append(p)
        return p

    def run(self, *args, timeout=60):
        return subprocess.run([self.exe, *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    def cleanup(self):
        for p in self.procs:
            p.kill()


def port_of(remote):
    return int(re.search(r"Port=(\d+)", remote).group(1))


def tcp_client(remote, extra=""):
    return f"tcp:server=127.0.0.1,port={port_of(remote)}{extra}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
