#!/usr/bin/python3
"""`make bench`: openkd's speed against the physical limit and against gdb +
QEMU, measured side by side in one run (issue 16). Figures, not pass/fail: each
is the median over interleaved rounds, shown with its limit or peer measured in
the same run, the ratio, and the goal the issue sets.

    OPENKD_BUILD=build/release /usr/bin/python3 scripts/bench.py [--quick] [--rounds N] [--only NAME,...]

Writes bench/results.json and, with matplotlib, bench/results.png.

What is compared:
- the limit: tools/bench_pingpong, two processes doing stop-and-wait exchanges
  of a KD exchange's bytes over the same kind of socket (no framing, no parsing);
- the peer: gdb against QEMU's gdbstub (qemu-system-x86_64 -S -gdb, TCG), the
  stack a user of emulated targets would otherwise pick. QEMU runs no guest OS:
  memory is loaded with `-device loader`, steps and breakpoints run a two-byte
  loop written at 0x7c00.
- openkd: kd against kdsim over a Unix-socket pipe, TCP, KDNET and `-k sim`.
Every bulk read is checked byte for byte against a random file loaded into the
target first (.readmem for kd, `-device loader` for QEMU).
"""
import argparse
import contextlib
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POOL = 0xFFFFF80010000000  # the simulated kernel's 64 MiB nonpaged pool (simulator/machine.hpp)
# A KDCOM ReadVirtualMemory exchange: request 16+56+1 and the ACK of the last reply (16);
# reply: the target's ACK (16) and 16+56+3944+1 (3944 bytes: the most one packet carries).
READ_REQUEST, READ_REPLY = 89, 4033
# One step: Continue2 (16+56+1) + ACK out; state change (16+240+1) + ACK back.
STEP_REQUEST, STEP_REPLY = 89, 273


class BenchError(Exception):
    pass


# --------------------------------------------------------------------------- processes
class Lines:
    """A process whose output lines are collected with the time each arrived."""

    def __init__(self, argv, stdin=True, env=None):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, bufsize=0)
        self.lines = []  # (time, text)
        self.partial = (0, "")  # the line being written (no newline yet)
        self.matched = ""  # the text wait_for last matched
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        # Chunks, not lines: a prompt ("enter boot options: ") ends without a newline.
        fd, partial = self.p.stdout.fileno(), b""
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            now = time.perf_counter()
            parts = (partial + chunk).split(b"\n")
            partial = parts.pop()
            with self.cond:
                self.lines.extend((now, line.decode(errors="replace") + "\n") for line in parts)
                self.partial = (now, partial.decode(errors="replace"))
                self.cond.notify_all()
        with self.cond:
            if partial:
                self.lines.append((time.perf_counter(), partial.decode(errors="replace")))
            self.partial = (0, "")
            self.cond.notify_all()

    def send(self, text):
        self.p.stdin.write((text + "\n").encode())
        return time.perf_counter()

    def wait_for(self, pattern, start=0, timeout=300):
        """(index, time) of the first line at or after `start` matching `pattern`."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.lines):
                    if rx.search(self.lines[i][1]):
                        self.matched = self.lines[i][1]
                        return i, self.lines[i][0]
                    i += 1
                if self.partial[1] and rx.search(self.partial[1]):
                    self.matched = self.partial[1]
                    return i, self.partial[0]
                if self.p.poll() is not None and i >= len(self.lines):
                    raise BenchError(f"{self.p.args[0]} ended before /{pattern}/:\n{self.text()[-1500:]}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError(f"no /{pattern}/ within {timeout} s:\n{self.text()[-1500:]}")
                self.cond.wait(min(left, 0.5))

    def text(self):
        with self.cond:
            return "".join(t for _, t in self.lines)

    def close(self, quit_line="q"):
        try:
            if self.p.poll() is None and self.p.stdin:
                self.p.stdin.write((quit_line + "\n").encode())
                self.p.stdin.close()
            self.p.wait(20)
        except (OSError, subprocess.TimeoutExpired, BrokenPipeError):
            pass
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def free_port(kind=socket.SOCK_STREAM, hosts=("127.0.0.1",)):
    for _ in range(200):
        port = random.randint(20000, 60000)
        try:
            for h in hosts:
                with socket.socket(socket.AF_INET, kind) as s:
                    s.bind((h, port))
            return port
        except OSError:
            continue
    raise BenchError("no free port")


class Tools:
    def __init__(self, build):
        self.build = build
        self.kd = str(build / "tools/kd/kd")
        self.kdsim = str(build / "tools/kdsim/kdsim")
        self.pingpong = str(build / "tools/bench_pingpong/bench_pingpong")
        self.bench_remote = str(build / "tools/bench_remote/bench_remote")
        for t in (self.kd, self.kdsim, self.pingpong):
            if not os.access(t, os.X_OK):
                raise SystemExit(f"bench: {t} is missing: build first (make build)")
        self.qemu = shutil.which("qemu-system-x86_64")
        self.gdb = shutil.which("gdb")


class Target:
    """kdsim serving one kind of link, stopped at its first instruction; kd's -k string for it."""

    def __init__(self, tools, kind, tmp, memory=512):
        self.kind, self.proc = kind, None
        args = [tools.kdsim, "--break-on-boot", "--memory", str(memory)]
        if kind == "sim":
            self.connect = f"sim"
            return
        if kind == "pipe":
            sock = tmp / f"kd-{random.randrange(1 << 30)}.sock"
            args += ["--listen", f"pipe:{sock}"]
            self.connect = f"com:pipe,port={sock}"
        elif kind == "tcp":
            port = free_port()
            args += ["--listen", f"tcp:127.0.0.1:{port}"]
            self.connect = f"com:ipport={port},port=127.0.0.1"
        elif kind == "kdnet":
            port, key = free_port(socket.SOCK_DGRAM, ("127.0.0.1", "127.0.0.2")), "1.2.3.4"
            args += ["--kdnet", f"hostip=127.0.0.1,port={port},key={key},bind=127.0.0.2"]
            self.connect = f"net:port={port},key={key},bind=127.0.0.1"
        else:
            raise BenchError(f"unknown target kind {kind}")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        first = self.proc.stdout.readline()
        if "listening on" not in first and "KDNET target on" not in first:
            self.close()
            raise BenchError(f"kdsim {kind} did not start: {first.strip()}")

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def boot(kd, start):
    """Runs the target from its first instruction to the end of boot, answering
    the boot-options prompt if this kernel asks one."""
    i, _ = kd.wait_for(r"enter boot options|boot complete", start, timeout=120)
    if "enter boot options" in kd.matched:
        kd.send("")
        kd.wait_for(r"boot complete", i, timeout=120)


@contextlib.contextmanager
def kd_on(tools, kind, tmp):
    """kd attached to a fresh kdsim of `kind`, stopped at boot; both closed after."""
    target = Target(tools, kind, tmp)
    try:
        kd = kd_session(tools, target)
        try:
            yield kd
        finally:
            kd.close()
    finally:
        target.close()


def kd_session(tools, target, extra=()):
    args = [tools.kd, "-k", target.connect, *extra]
    if target.kind == "sim":
        args += ["-b"]  # stop at boot as --break-on-boot does for the others
    kd = Lines(args)
    kd.wait_for(r"kd> |Break instruction exception|Kernel Debugger connection established", timeout=120)
    return kd


class QemuGdb:
    """QEMU stopped at reset with its gdbstub on a free port, and a gdb driven
    through its Python API (one command a line on stdin, timings printed)."""

    def __init__(self, tools, tmp, load=None):
        if not tools.qemu or not tools.gdb:
            raise BenchError("qemu-system-x86_64 or gdb is missing (make bench installs them)")
        self.port = free_port()
        args = [tools.qemu, "-S", "-gdb", f"tcp:127.0.0.1:{self.port}", "-m", "512", "-display", "none",
                "-nodefaults", "-no-user-config", "-machine", "accel=tcg"]
        for path, addr in (load or []):
            args += ["-device", f"loader,file={path},addr={addr:#x},force-raw=on"]
        self.qemu = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.qemu.poll() is not None:
                    self.close()
                    raise BenchError("QEMU's gdbstub did not come up")
                time.sleep(0.05)
        # The probe connection above was the stub's one client; QEMU takes the next.
        # gdb reads its commands from stdin (not a terminal) one line at a time.
        self.gdb = Lines([tools.gdb, "-q", "-nx", "-ex", "set pagination off", "-ex", "set confirm off",
                          "-ex", f"target remote 127.0.0.1:{self.port}", "-ex", "python import time"])

    def timed(self, command, timeout=600):
        """Runs one gdb command and returns its wall time measured inside gdb."""
        tag = f"T{random.randrange(1 << 30)}"
        start = len(self.gdb.lines)
        self.gdb.send(f"python t0 = time.perf_counter()")
        self.gdb.send(command)
        self.gdb.send(f"python print('{tag}', time.perf_counter() - t0)")
        self.gdb.wait_for(rf"{tag} [\d.e-]+\n", start, timeout)
        return float(re.search(rf"{tag} ([\d.e-]+)", self.gdb.matched).group(1))

    def close(self):
        if hasattr(self, "gdb"):
            self.gdb.close("kill")
        if self.qemu.poll() is None:
            self.qemu.kill()
        self.qemu.wait()


def pingpong(tools, sock, request, reply, seconds=1.5):
    out = subprocess.run([tools.pingpong, "--socket", sock, "--request", str(request), "--reply", str(reply),
                          "--seconds", str(seconds), "--json"], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise BenchError(out.stderr.strip())
    return json.loads(out.stdout)["exchanges_per_s"]


# --------------------------------------------------------------------------- measures
def kd_bulk_read(tools, kind, tmp, data_file, size):
    """MB/s of one .writemem of `size` bytes of the pool, after .readmem put `data_file` there."""
    out = tmp / f"dump-{kind}.bin"
    with kd_on(tools, kind, tmp) as kd:
        start = len(kd.lines)
        kd.send(f".readmem {data_file} {POOL:#x} L?{size:#x}")
        kd.send(".echo loaded")
        kd.wait_for(r"^loaded", start, timeout=600)
        start = len(kd.lines)
        t0 = kd.send(f".writemem {out} {POOL:#x} L?{size:#x}")
        kd.send(".echo dumped")
        _, t1 = kd.wait_for(r"^dumped", start, timeout=600)
    if out.read_bytes() != data_file.read_bytes()[:size]:
        raise BenchError(f"kd's dump over {kind} differs from the bytes loaded")
    out.unlink()
    return size / (t1 - t0) / 1e6


def gdb_bulk_read(tools, tmp, data_file, size):
    q = QemuGdb(tools, tmp, load=[(data_file, 0x1000000)])
    try:
        out = tmp / "dump-gdb.bin"
        took = q.timed(f"dump binary memory {out} 0x1000000 {0x1000000 + size:#x}")
    finally:
        q.close()
    if out.read_bytes() != data_file.read_bytes()[:size]:
        raise BenchError("gdb's dump differs from the bytes QEMU loaded")
    out.unlink()
    return size / took / 1e6


def kd_steps(tools, tmp, count):
    with kd_on(tools, "pipe", tmp) as kd:
        start = len(kd.lines)
        t0 = kd.send(f"t 0n{count}")
        kd.send(".echo stepped")
        _, t1 = kd.wait_for(r"^stepped", start, timeout=600)
    return count / (t1 - t0)


def kd_breakpoint_cycles(tools, tmp, count):
    """Hits per second of a breakpoint with a pass count (each pass: stop, step off, continue)."""
    with kd_on(tools, "pipe", tmp) as kd:
        start = len(kd.lines)
        kd.send("g")
        boot(kd, start)
        kd.p.send_signal(signal.SIGINT)
        kd.wait_for(r"Break instruction exception", start, timeout=60)
        start = len(kd.lines)
        kd.send("bp nt!KeDelayExecutionThread")
        kd.send("g")
        kd.wait_for(r"Breakpoint 0 hit", start, timeout=120)  # the first hit, outside the timing
        kd.send("bc *")
        start = len(kd.lines)
        t0 = kd.send(f"bp nt!KeDelayExecutionThread 0n{count}")
        kd.send("g")
        _, t1 = kd.wait_for(r"Breakpoint 0 hit", start, timeout=600)
    return count / (t1 - t0)


LOOP = bytes([0x40, 0xEB, 0xFD])  # 0x7c00: inc ax; jmp 0x7c00 (real mode)


def gdb_steps_and_cycles(tools, tmp, steps, cycles):
    loop = tmp / "loop.bin"
    loop.write_bytes(LOOP)
    q = QemuGdb(tools, tmp, load=[(loop, 0x7C00)])
    try:
        q.gdb.send("set $cs = 0")
        q.gdb.send("set $pc = 0x7c00")
        stepi = steps / q.timed(f"stepi {steps}")
        q.gdb.send("break *0x7c00")
        q.gdb.send(f"ignore 1 {cycles}")
        bp = cycles / q.timed("continue")
    finally:
        q.close()
    return stepi, bp


def kd_start_to_exit(tools, tmp, kind):
    """Seconds from starting `kd -k ... -c q` to its exit."""
    target = Target(tools, kind, tmp) if kind != "sim" else None
    try:
        connect = target.connect if target else "sim"
        t0 = time.perf_counter()
        r = subprocess.run([tools.kd, "-k", connect, "-c", "q"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=120)
        took = time.perf_counter() - t0
        if r.returncode != 0:
            raise BenchError(f"kd -k {connect} -c q failed: {r.stdout[-500:]}{r.stderr[-500:]}")
        return took
    finally:
        if target:
            target.close()


def gdb_attach_and_kill(tools, tmp):
    t0 = time.perf_counter()
    q = QemuGdb(tools, tmp)
    q.timed("info registers rip")
    q.close()
    return time.perf_counter() - t0


def kd_break_in_latency(tools, tmp, kind):
    """Seconds from Ctrl-C (SIGINT to kd) during `g` to kd's report of the stop."""
    target = Target(tools, kind, tmp) if kind != "sim" else None
    kd = Lines([tools.kd, "-k", target.connect if target else "sim", "-b"])
    try:
        kd.wait_for(r"Break instruction exception|kd> ", timeout=120)
        start = len(kd.lines)
        kd.send("g")
        boot(kd, start)
        samples = []
        for i in range(6):
            if i:
                kd.send("g")
            start = len(kd.lines)
            time.sleep(0.3)
            t0 = time.perf_counter()
            kd.p.send_signal(signal.SIGINT)
            _, t1 = kd.wait_for(r"Break instruction exception", start, timeout=60)
            samples.append(t1 - t0)
        return samples
    finally:
        kd.close()
        if target:
            target.close()


def kdsim_speed(tools, cpus, instructions):
    r = subprocess.run([tools.kdsim, "--bench", str(instructions), "--cpus", str(cpus)], capture_output=True,
                       text=True, timeout=600)
    m = re.search(r"([\d.]+)\s*(?:M|million) instructions/s", r.stdout + r.stderr)
    if not m:
        raise BenchError(f"kdsim --bench printed no rate: {(r.stdout + r.stderr)[-300:]}")
    return float(m.group(1))


# --------------------------------------------------------------------------- the run
class Results:
    def __init__(self):
        self.rows = []

    def add(self, name, value, unit, reference=None, reference_name=None, goal=None, goal_text="", ratio=None,
            note=""):
        if ratio is None and reference:
            ratio = value / reference
        self.rows.append({"name": name, "value": value, "unit": unit, "reference": reference,
                          "reference_name": reference_name, "ratio": ratio, "goal": goal,
                          "goal_text": goal_text, "met": (ratio >= goal) if (goal and ratio is not None) else None,
                          "note": note})

    def error(self, name, why):
        self.rows.append({"name": name, "error": str(why)})
        print(f"  {name}: NOT MEASURED: {why}", file=sys.stderr)

    def table(self):
        lines = [f"{'measure':<46} {'openkd':>14} {'limit or peer':>30} {'ratio':>7}  goal"]
        for r in self.rows:
            if "error" in r:
                lines.append(f"{r['name']:<46} {'not measured: ' + r['error'][:60]}")
                continue
            ref = f"{r['reference']:.4g} ({r['reference_name']})" if r["reference"] else ""
            ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else ""
            goal = r["goal_text"] + ("" if r["met"] is None else ("  met" if r["met"] else "  NOT met"))
            lines.append(f"{r['name']:<46} {r['value']:>9.4g} {r['unit']:<4} {ref:>30} {ratio:>7}  {goal}")
        return "\n".join(lines)


def median_ratio(pairs):
    """The median of per-round ratios a/b (so load drifting between rounds weighs on both)."""
    return statistics.median(a / b for a, b in pairs)


def run(args, tools, tmp, res):
    rounds = args.rounds
    size = (4 if args.quick else 64) << 20
    data = tmp / "random.bin"
    data.write_bytes(random.Random(16).randbytes(size))
    only = set(args.only.split(",")) if args.only else None

    def wanted(name):
        return only is None or name in only

    if wanted("bulk"):
        print(f"bulk read: {size >> 20} MiB, {rounds} interleaved rounds", file=sys.stderr)
        for kind, sock in (("pipe", "unix"), ("tcp", "tcp"), ("kdnet", "udp"), ("sim", "unix")):
            try:
                pairs, gdb_pairs = [], []
                for _ in range(rounds):
                    kd_rate = kd_bulk_read(tools, kind, tmp, data, size)
                    limit = pingpong(tools, sock, READ_REQUEST, READ_REPLY) * 3944 / 1e6
                    pairs.append((kd_rate, limit))
                    if kind == "pipe":
                        try:
                            gdb_pairs.append((kd_rate, gdb_bulk_read(tools, tmp, data, size)))
                        except BenchError as e:
                            res.error("bulk read, gdb + QEMU", e)
                value = statistics.median(p[0] for p in pairs)
                res.add(f"bulk read {size >> 20} MiB, {kind}", value, "MB/s",
                        statistics.median(p[1] for p in pairs), f"raw {sock} ping-pong MB/s",
                        goal=0.7 if kind in ("pipe", "sim") else None,
                        goal_text=">= 0.7x the raw ping-pong" if kind in ("pipe", "sim") else "",
                        ratio=median_ratio(pairs))
                if gdb_pairs:
                    res.add(f"bulk read {size >> 20} MiB, pipe vs gdb + QEMU", value, "MB/s",
                            statistics.median(p[1] for p in gdb_pairs), "gdb dump binary memory MB/s",
                            goal=8, goal_text=">= 8x gdb", ratio=median_ratio(gdb_pairs))
            except BenchError as e:
                res.error(f"bulk read, {kind}", e)

    if wanted("steps"):
        steps, cycles = (500, 200) if args.quick else (3000, 1000)
        print(f"steps ({steps}) and breakpoint cycles ({cycles}), {rounds} rounds", file=sys.stderr)
        try:
            step_raw, step_gdb, bp_raw, bp_gdb = [], [], [], []
            for _ in range(rounds):
                s = kd_steps(tools, tmp, steps)
                b = kd_breakpoint_cycles(tools, tmp, cycles)
                raw = pingpong(tools, "unix", STEP_REQUEST, STEP_REPLY)
                step_raw.append((s, raw))
                bp_raw.append((b, raw))
                try:
                    gs, gb = gdb_steps_and_cycles(tools, tmp, steps, cycles)
                    step_gdb.append((s, gs))
                    bp_gdb.append((b, gb))
                except BenchError as e:
                    res.error("steps, gdb + QEMU", e)
            sv, bv = statistics.median(p[0] for p in step_raw), statistics.median(p[0] for p in bp_raw)
            res.add("single steps (t N), pipe", sv, "/s", statistics.median(p[1] for p in step_raw),
                    "raw exchanges/s", goal=0.5, goal_text=">= 0.5x one raw exchange", ratio=median_ratio(step_raw))
            if step_gdb:
                res.add("single steps vs gdb stepi on QEMU", sv, "/s", statistics.median(p[1] for p in step_gdb),
                        "gdb stepi/s", goal=5, goal_text=">= 5x gdb", ratio=median_ratio(step_gdb))
            res.add("breakpoint hit + continue, pipe", bv, "/s", statistics.median(p[1] for p in bp_raw),
                    "raw exchanges/s", goal=0.25, goal_text=">= 0.25x one raw exchange", ratio=median_ratio(bp_raw))
            if bp_gdb:
                res.add("breakpoint cycles vs gdb ignore count", bv, "/s", statistics.median(p[1] for p in bp_gdb),
                        "gdb hits/s", goal=4, goal_text=">= 4x gdb", ratio=median_ratio(bp_gdb))
        except BenchError as e:
            res.error("steps and breakpoint cycles", e)

    if wanted("startup"):
        n = 3 if args.quick else 10
        print(f"start to exit, {n} runs each", file=sys.stderr)
        for kind in ("sim", "pipe"):
            try:
                times = [kd_start_to_exit(tools, tmp, kind) for _ in range(n)]
                peer = []
                try:
                    peer = [gdb_attach_and_kill(tools, tmp) for _ in range(n)]
                except BenchError as e:
                    res.error("gdb + QEMU attach and kill", e)
                res.add(f"kd -k {kind} -c q, start to exit (max {max(times) * 1000:.0f} ms)",
                        statistics.median(times) * 1000, "ms",
                        statistics.median(peer) * 1000 if peer else None, "gdb + QEMU attach+kill ms",
                        ratio=(statistics.median(peer) / statistics.median(times)) if peer else None,
                        goal_text="< 150 ms every time" if kind == "sim" else "",
                        note=f"max {max(times) * 1000:.0f} ms")
                if kind == "sim":
                    res.rows[-1]["met"] = max(times) < 0.150
            except BenchError as e:
                res.error(f"start to exit, {kind}", e)

    if wanted("breakin"):
        for kind in ("pipe", "sim"):
            try:
                samples = kd_break_in_latency(tools, tmp, kind)
                res.add(f"break-in latency, {kind} (max {max(samples) * 1000:.1f} ms)",
                        statistics.median(samples) * 1000, "ms", goal_text="Ctrl-C stops -k sim within 10 ms"
                        if kind == "sim" else "", note=f"max {max(samples) * 1000:.1f} ms")
                if kind == "sim":
                    res.rows[-1]["met"] = max(samples) < 0.010
            except BenchError as e:
                res.error(f"break-in latency, {kind}", e)

    if wanted("kdsim"):
        n = 20_000_000 if args.quick else 100_000_000
        try:
            one, four = kdsim_speed(tools, 1, n), kdsim_speed(tools, 4, n)
            res.add("kdsim, 1 CPU, no debugger", one, "M/s")
            res.add("kdsim, 4 CPUs, no debugger", four, "M/s", one, "1 CPU M/s", goal=0.85,
                    goal_text="within 15% of 1 CPU")
        except BenchError as e:
            res.error("kdsim speed", e)


def chart(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench: python3-matplotlib is missing: no chart", file=sys.stderr)
        return False
    rows = [r for r in results.rows if "error" not in r and r.get("ratio") is not None]
    if not rows:
        return False
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.5))
    names = [r["name"] for r in rows]
    ratios = [r["ratio"] for r in rows]
    colors = ["tab:green" if r["met"] else ("tab:red" if r["met"] is False else "tab:blue") for r in rows]
    ax.barh(names, ratios, color=colors)
    for i, r in enumerate(rows):
        if r["goal"]:
            ax.plot([r["goal"], r["goal"]], [i - 0.4, i + 0.4], color="black", linewidth=2)
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("ratio to the limit or peer measured in the same run (log; black: the goal)")
    ax.set_title("openkd make bench")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes and few rounds (a smoke run)")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds per figure (default 5; 1 quick)")
    ap.add_argument("--only", help="comma-separated: bulk,steps,startup,breakin,kdsim")
    ap.add_argument("--out", default=str(ROOT / "bench"), help="where results.json and results.png go")
    args = ap.parse_args()
    args.rounds = args.rounds or (1 if args.quick else 5)
    tools = Tools(Path(os.environ.get("OPENKD_BUILD", ROOT / "build/release")).resolve())
    res = Results()
    with tempfile.TemporaryDirectory(prefix="openkd-bench-") as d:
        run(args, tools, Path(d), res)
    print(res.table())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    machine = {"cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
                           platform.processor()), "cores": os.cpu_count(), "kernel": platform.release(),
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "quick": args.quick,
               "rounds": args.rounds, "load_before": os.getloadavg()}
    (out / "results.json").write_text(json.dumps({"machine": machine, "rows": res.rows}, indent=1) + "\n")
    drew = chart(res, out / "results.png")
    print(f"bench: wrote {out / 'results.json'}" + (f" and {out / 'results.png'}" if drew else ""))


if __name__ == "__main__":
    main()
