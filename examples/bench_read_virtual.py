#!/usr/bin/python3
"""Figures, not pass/fail: 10,000 read_virtual calls of 4 KiB from Python against
the same 10,000 reads issued by kd's own .writemem (the same engine kd runs),
on one simulated target, in one run. Prints the times and the ratio.

    PYTHONPATH=build/release/python /usr/bin/python3 examples/bench_read_virtual.py [count]

Also shows one .writemem of the whole range (kd reads 64 KiB at a time there,
so it needs fewer packets than 4 KiB reads: a different workload, for scale),
and, when OPENKD_BUILD names a build with tools/kd/kd, the kd executable
running the same .writemem lines (minus its start-up and attach time).
"""
import os
import subprocess
import sys
import tempfile
import time

import openkd

POOL = 0xFFFFF80010000000  # 64 MiB of mapped pool (simulator/machine.hpp)
PAGE = 4096


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    span = 64 << 20
    addresses = [POOL + (i * PAGE) % span for i in range(count)]
    tmp = tempfile.mkdtemp(prefix="okb-")
    # .writemem writes to /dev/null: what is compared is the reads, not the host's file system
    # (a real file adds about 0.6 ms of open/truncate/close per command on this machine).
    out_file = "/dev/null"
    with openkd.Simulator(memory=512) as sim:
        conn = sim.listen()
        with openkd.Debugger.connect(sim) as dbg:
            dbg.read_virtual(POOL, PAGE)  # warm up (first packets, caches)

            # Interleaved rounds (the order alternating), so a machine whose load drifts
            # (other builds) weighs on both sides alike.
            rounds = 10
            per = max(1, count // rounds)
            t_python = t_writemem = 0.0
            ratios = []
            for r in range(rounds):
                chunk = addresses[r * per:(r + 1) * per] if r < rounds - 1 else addresses[r * per:]

                def python_reads():
                    t = time.perf_counter()
                    for a in chunk:
                        dbg.read_virtual(a, PAGE)
                    return time.perf_counter() - t

                def kd_reads():
                    # kd's .writemem, one per 4 KiB page, as one command line in kd's engine.
                    line = ";".join(f".writemem {out_file} {a:#x} L{PAGE:#x}" for a in chunk)
                    t = time.perf_counter()
                    text = dbg.execute(line)
                    spent = time.perf_counter() - t
                    assert text.count("Writing 1000 bytes.") == len(chunk), text[:400]
                    return spent

                if r % 2 == 0:
                    p, k = python_reads(), kd_reads()
                else:
                    k, p = kd_reads(), python_reads()
                t_python += p
                t_writemem += k
                ratios.append(p / k)

            total = count * PAGE
            big = min(total, span)
            t0 = time.perf_counter()
            dbg.execute(f".writemem {out_file} {POOL:#x} L{big:#x}")
            t_big = time.perf_counter() - t0
            counters = dbg.counters()

        t_kd = None
        build = os.environ.get("OPENKD_BUILD")
        kd = os.path.join(build, "tools", "kd", "kd") if build else None
        if kd and os.path.exists(kd):
            script = os.path.join(tmp, "cmds.txt")
            with open(script, "w") as f:
                for a in addresses:
                    f.write(f".writemem {out_file} {a:#x} L{PAGE:#x}\n")
                f.write("q\n")
            empty = os.path.join(tmp, "q.txt")
            with open(empty, "w") as f:
                f.write("q\n")

            def run_kd(cf):
                t = time.perf_counter()
                subprocess.run([kd, "-k", conn, "-b", "-noio", "-cf", cf], check=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=600)
                return time.perf_counter() - t

            t_kd = run_kd(script) - run_kd(empty)

    print(f"openkd read benchmark: {count} reads of 4 KiB ({count * PAGE / 2**20:.0f} MiB) from a simulated target over a Unix-socket pipe")
    print(f"  Python read_virtual x{count}:          {t_python:8.3f} s  {count / t_python:8.0f} reads/s")
    print(f"  kd engine .writemem x{count} (4 KiB):  {t_writemem:8.3f} s  {count / t_writemem:8.0f} reads/s")
    if t_kd is not None:
        print(f"  kd executable -cf .writemem x{count}: {t_kd:8.3f} s  (minus start-up and attach)")
    print(f"  one .writemem of {big / 2**20:.0f} MiB (64 KiB chunks):  {t_big:8.3f} s")
    print(f"  ratio Python / kd .writemem (same reads): {t_python / t_writemem:.2f} "
          f"(per round: min {min(ratios):.2f}, median {sorted(ratios)[len(ratios) // 2]:.2f}, max {max(ratios):.2f})")
    if t_kd is not None:
        print(f"  ratio Python / kd executable:            {t_python / t_kd:.2f}")
    print(f"  link: {counters['packets_sent']} packets sent, {counters['retransmissions']} retransmissions")


if __name__ == "__main__":
    main()
