#!/usr/bin/python3
"""Memory-read throughput of kd against kdsim over each -k transport, in one run:
a Unix-socket pipe, KDNET on loopback, and a serial line (a socat pty pair with kd
and kdsim both paced at --baud, 8N1: baud/10 bytes/s). Prints figures; it asserts
nothing (performance claims live in benchmarks, not tests).

    OPENKD_BUILD=build/release /usr/bin/python3 scripts/bench_backends.py [--mib N] [--serial-kib N] [--baud N]

Each figure is one `.writemem` of the simulator's nonpaged pool timed inside one
kd session, from kd echoing the command to the end of its progress line (so
connecting and the banner do not count), and the file's size is checked."""
import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The simulated kernel's nonpaged pool (simkrnl prints it at boot): 64 MiB of mapped memory.
POOL = 0xFFFFF80010000000


def measure(kd, connect, tmp, size):
    """Bytes per second of one `.writemem` of `size` bytes, read as kd prints it."""
    out_file = tmp / "mem.bin"
    p = subprocess.Popen([kd, "-k", connect], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
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
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    got = out_file.stat().st_size if out_file.exists() else 0
    if got != size:
        sys.exit(f".writemem wrote {got} bytes, not {size}:\n{''.join(seen)}")
    out_file.unlink()
    return size / took


def start_kdsim(kdsim, args):
    p = subprocess.Popen([kdsim, *args, "--break-on-boot"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True)
    first = p.stdout.readline()
    if not first.startswith(("kdsim: listening on", "kdsim: KDNET target on")):
        p.kill()
        p.wait()
        sys.exit(f"kdsim {' '.join(args)} did not start: {first.strip()}")
    return p


def stop(*procs):
    for p in procs:
        p.terminate()
        p.wait(10)


def free_udp_port():
    """A port free on both 127.0.0.1 (kd) and 127.0.0.2 (kdsim)."""
    for _ in range(100):
        port = random.randint(20000, 60000)
        try:
            for address in ("127.0.0.1", "127.0.0.2"):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.bind((address, port))
            return port
        except OSError:
            continue
    sys.exit("no free UDP port")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=4, help="MiB read over the pipe and KDNET (default 4)")
    ap.add_argument("--serial-kib", type=int, default=64, help="KiB read over the serial line (default 64)")
    ap.add_argument("--baud", type=int, default=115200)
    a = ap.parse_args()
    build = Path(os.environ.get("OPENKD_BUILD", "build/release"))
    kd, kdsim = str(build / "tools/kd/kd"), str(build / "tools/kdsim/kdsim")
    if not shutil.which("socat"):
        sys.exit("socat is needed for the pty pair")
    size, serial_size = a.mib << 20, a.serial_kib << 10
    line_rate = a.baud / 10
    rates = {}
    with tempfile.TemporaryDirectory(prefix="openkd-bench-") as d:
        tmp = Path(d)
        sim = start_kdsim(kdsim, ["--listen", f"pipe:{tmp}/kd.sock"])
        try:
            rates["pipe"] = measure(kd, f"com:pipe,port={tmp}/kd.sock", tmp, size)
        finally:
            stop(sim)

        port, key = free_udp_port(), "1.2.3.4"
        sim = start_kdsim(kdsim, ["--kdnet", f"hostip=127.0.0.1,port={port},key={key},bind=127.0.0.2"])
        try:
            rates["KDNET"] = measure(kd, f"net:port={port},key={key},bind=127.0.0.1", tmp, size)
        finally:
            stop(sim)

        socat = subprocess.Popen(["socat", f"pty,raw,echo=0,link={tmp}/a", f"pty,raw,echo=0,link={tmp}/b"],
                                 stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while not ((tmp / "a").exists() and (tmp / "b").exists()):
                if time.monotonic() > deadline:
                    sys.exit("socat made no pty pair")
                time.sleep(0.02)
            sim = start_kdsim(kdsim, ["--serial", f"{tmp}/b", "--baud", str(a.baud)])
            try:
                rates["serial"] = measure(kd, f"com:port={tmp}/a,baud={a.baud}", tmp, serial_size)
            finally:
                stop(sim)
        finally:
            stop(socat)

    print(f"kd .writemem from kdsim's pool, one run ({a.mib} MiB over pipe and KDNET, {a.serial_kib} KiB serial):")
    print(f"  pipe (Unix socket):   {rates['pipe'] / 2**20:8.2f} MiB/s")
    print(f"  KDNET (UDP loopback): {rates['KDNET'] / 2**20:8.2f} MiB/s = {rates['KDNET'] / rates['pipe']:.2f}x the pipe")
    print(f"  serial at {a.baud} baud 8N1 (line {line_rate:,.0f} bytes/s): {rates['serial']:,.0f} bytes/s = "
          f"{rates['serial'] / line_rate:.1%} of the line")


if __name__ == "__main__":
    main()
