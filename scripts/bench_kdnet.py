#!/usr/bin/python3
"""Memory-read throughput of kd against kdsim over a pipe and over KDNET
(loopback), in the same run: `.writemem` of SIZE bytes of the simulator's pool,
timed as (a session with the dump) - (the same session without it). Prints
figures; asserts nothing. Usage: scripts/bench_kdnet.py [BUILD_DIR] [MiB]"""
import os
import random
import socket
import subprocess
import sys
import tempfile
import time

BUILD = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OPENKD_BUILD", "build/release")
MIB = int(sys.argv[2]) if len(sys.argv) > 2 else 4
KD = os.path.join(BUILD, "tools", "kd", "kd")
KDSIM = os.path.join(BUILD, "tools", "kdsim", "kdsim")
POOL = "fffff800`10000000"


def free_port():
    for _ in range(100):
        port = random.randint(20000, 60000)
        try:
            for a in ("127.0.0.1", "127.0.0.2"):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.bind((a, port))
            return port
        except OSError:
            continue
    raise SystemExit("no free UDP port")


def session_seconds(connect, script):
    t0 = time.monotonic()
    p = subprocess.run([KD, "-k", connect], input=script, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise SystemExit(f"kd failed: {p.stderr}")
    return time.monotonic() - t0


def measure(name, start_sim, connect):
    size = MIB << 20
    with tempfile.TemporaryDirectory() as tmp:
        timings = []
        for script in ("r rip\nq\n", f".writemem {tmp}/dump.bin {POOL} L{size:x}\nq\n"):
            sim = start_sim(tmp)
            try:
                timings.append(session_seconds(connect(tmp), script))
            finally:
                sim.terminate()
                sim.wait(10)
        seconds = max(timings[1] - timings[0], 1e-6)
        print(f"{name:6s}: .writemem {MIB} MiB in {seconds:.2f} s: {MIB / seconds:.2f} MiB/s")


def pipe_sim(tmp):
    p = subprocess.Popen([KDSIM, "--listen", f"pipe:{tmp}/kd.sock", "--break-on-boot"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    p.stdout.readline()
    return p


PORT = free_port()


def kdnet_sim(tmp):
    p = subprocess.Popen([KDSIM, "--kdnet", f"hostip=127.0.0.1,port={PORT},key=1.2.3.4,bind=127.0.0.2",
                          "--break-on-boot"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    p.stdout.readline()
    return p


measure("pipe", pipe_sim, lambda tmp: f"com:pipe,port={tmp}/kd.sock")
measure("KDNET", kdnet_sim, lambda tmp: f"net:port={PORT},key=1.2.3.4,bind=127.0.0.1")
