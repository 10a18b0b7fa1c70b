#!/usr/bin/env python3
"""Figures for remoting under hostile load (issue 9), not a pass/fail test:
  1. wrong-password guesses per second the server checks, from one source
     address and from many (127.0.0.1 .. 127.0.0.200 on loopback);
  2. the server's peak RSS with 500 idle connections open (they never send a
     hello), from 50 source addresses.
Usage: preauth_figures.py BUILD_DIR [SECONDS]   (BUILD_DIR holds tools/kdremote_testhost)"""
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "pytests" / "remote"))
from wire_client import login, random_password  # noqa: E402


def start_host(exe, transport, runtime):
    env = dict(os.environ, XDG_RUNTIME_DIR=runtime)
    p = subprocess.Popen([exe, "-server", transport], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=env)
    line = b""
    while b"-remote" not in line:
        line = p.stdout.readline()
        if not line:
            raise SystemExit("the host did not start")
    threading.Thread(target=lambda: [None for _ in iter(p.stdout.readline, b"")], daemon=True).start()
    return p, int(re.search(rb"Port=(\d+)", line).group(1))


def rss_kib(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def guess_rate(port, sources, seconds, threads=32):
    checked = 0
    refused = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(i):
        nonlocal checked, refused
        n = 0
        while time.monotonic() < stop:
            src = sources[(i + n) % len(sources)]
            n += threads
            verdict, reason = login(port, random_password(), source=src, timeout=10)
            with lock:
                if reason == "password rejected by server":
                    checked += 1
                else:
                    refused += 1

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return checked, refused


def main():
    build = Path(sys.argv[1])
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 30  # 0: the RSS figure only
    exe = str(build / "tools/kdremote_testhost/kdremote_testhost")
    with tempfile.TemporaryDirectory() as runtime:
        for label, sources in () if seconds <= 0 else (("one source", ["127.0.0.1"]),
                               ("200 sources", [f"127.0.0.{i}" for i in range(1, 201)])):
            p, port = start_host(exe, "tcp:port=0,password=Figures1", runtime)
            checked, refused = guess_rate(port, sources, seconds)
            print(f"guesses checked from {label}: {checked} in {seconds:g} s = {checked / seconds:.2f}/s "
                  f"({refused} attempts refused without a check)")
            p.kill()
            p.wait()

        p, port = start_host(exe, "tcp:port=0,hidden", runtime)
        base = rss_kib(p.pid, "VmRSS")
        socks, failed = [], 0
        for i in range(500):
            s = socket.socket()
            try:
                s.bind((f"127.0.0.{1 + i % 50}", 0))
                s.connect(("127.0.0.1", port))
                socks.append(s)
            except OSError:
                failed += 1
        time.sleep(1.0)
        open_now = 0
        for s in socks:  # refused ones got a Rejected line and were closed at once
            s.setblocking(False)
            try:
                s.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                open_now += 1  # nothing said yet: still waiting for its hello
            except OSError:
                pass
        peak = rss_kib(p.pid, "VmHWM")
        print(f"500 idle connections: {open_now} held by the server (cap 128 unauthenticated), "
              f"{500 - open_now - failed} refused at once; RSS before {base} KiB, peak {peak} KiB")
        for s in socks:
            s.close()
        p.kill()
        p.wait()


if __name__ == "__main__":
    main()
