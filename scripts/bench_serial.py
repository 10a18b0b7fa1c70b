#!/usr/bin/python3
"""Memory-read throughput through kd: `.writemem` of 64 KiB over a serial line
(a socat pty pair, kd and kdsim both paced at 115200 baud, 8N1: 11,520 bytes/s)
and over a pipe, in the same run. Prints figures; it is not a test.

    OPENKD_BUILD=build/release /usr/bin/python3 scripts/bench_serial.py [--baud N] [--kib N]

Each figure is the time from kd echoing the command to the end of its
progress line, as read from kd's output."""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


# The simulated kernel's nonpaged pool (simkrnl prints it at boot): 64 MiB of mapped memory.
POOL = 0xFFFFF80010000000


def measure(kd, connect, tmp, size):
    """Seconds from kd echoing the .writemem command to the end of its progress line,
    read as kd prints them (one session: connecting and the banner do not count)."""
    out_file = tmp / "mem.bin"
    p = subprocess.Popen([kd, "-k", connect], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    p.stdin.write(f".writemem {out_file} {POOL:#x} L?{size:#x}\n")
    p.stdin.flush()
    started = None
    seen = []
    for line in iter(p.stdout.readline, ""):
        seen.append(line)
        if started is None and ".writemem" in line:
            started = time.monotonic()
        elif started is not None and line.startswith("Writing"):
            took = time.monotonic() - started
            break
    else:
        sys.exit(f"kd ended before the transfer did:\n{''.join(seen)}")
    p.stdin.write("q\n")
    p.stdin.close()
    p.wait(60)
    got = out_file.stat().st_size if out_file.exists() else 0
    if got != size:
        sys.exit(f".writemem wrote {got} bytes, not {size}:\n{''.join(seen)}")
    out_file.unlink()
    return size / took


def start_kdsim(kdsim, args):
    p = subprocess.Popen([kdsim, *args, "--break-on-boot"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True)
    if not p.stdout.readline().startswith("kdsim: listening on"):
        sys.exit("kdsim did not start")
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baud", type=int, default=115200)
    ap.add_argument("--kib", type=int, default=64)
    a = ap.parse_args()
    build = Path(os.environ.get("OPENKD_BUILD", "build/release"))
    kd, kdsim = str(build / "tools/kd/kd"), str(build / "tools/kdsim/kdsim")
    if not shutil.which("socat"):
        sys.exit("socat is needed for the pty pair")
    size = a.kib * 1024
    line_rate = a.baud / 10
    with tempfile.TemporaryDirectory(prefix="openkd-bench-") as d:
        tmp = Path(d)
        sock = tmp / "kd.sock"
        sim = start_kdsim(kdsim, ["--listen", f"pipe:{sock}"])
        try:
            pipe_rate = measure(kd, f"com:pipe,port={sock}", tmp, size)
        finally:
            sim.terminate()
            sim.wait()
        socat = subprocess.Popen(["socat", f"pty,raw,echo=0,link={tmp}/a", f"pty,raw,echo=0,link={tmp}/b"],
                                 stderr=subprocess.DEVNULL)
        while not ((tmp / "a").exists() and (tmp / "b").exists()):
            time.sleep(0.02)
        sim = start_kdsim(kdsim, ["--serial", f"{tmp}/b", "--baud", str(a.baud)])
        try:
            serial_rate = measure(kd, f"com:port={tmp}/a,baud={a.baud}", tmp, size)
        finally:
            sim.terminate()
            sim.wait()
            socat.terminate()
            socat.wait()
    print(f".writemem of {a.kib} KiB through kd:")
    print(f"  serial (pty pair paced at {a.baud} baud 8N1, line {line_rate:,.0f} bytes/s): "
          f"{serial_rate:,.0f} bytes/s = {serial_rate / line_rate:.1%} of the line")
    print(f"  pipe (Unix socket, unpaced): {pipe_rate:,.0f} bytes/s "
          f"({pipe_rate / line_rate:,.0f}x the serial line's rate)")


if __name__ == "__main__":
    main()
