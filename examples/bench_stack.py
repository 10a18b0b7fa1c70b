#!/usr/bin/python3
"""Figures, not pass/fail: how long `k` takes over a pipe to kdsim and how many
KD round trips (request packets) it needs, on the deepest stack the simulated
kernel has: the bug check after simdrv's access violation (11 frames, through
trap.S's machine frame). Prints the first `k` (the modules' exception
directories and .pdata read) and the repeated `k` (directories cached; the
.pdata tables, unwind infos and stack read again).

    PYTHONPATH=build/release/python /usr/bin/python3 examples/bench_stack.py [repeats]
"""
import sys
import time

import openkd


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    with openkd.Simulator() as sim:
        sim.listen()  # a Unix-socket pipe, as `kd -k com:pipe,port=PATH`
        with openkd.Debugger.connect(sim) as dbg:
            dbg.boot()
            sim.trigger_bug()
            dbg.continue_()  # the first-chance access violation
            dbg.continue_()  # the bug check
            frames = 0

            def run_k():
                nonlocal frames
                before = dbg.counters()["packets_sent"]
                t = time.perf_counter()
                text = dbg.execute("k")
                spent = time.perf_counter() - t
                frames = sum(1 for line in text.splitlines() if line[:2].isalnum() and line[2:3] == " ")
                return spent, dbg.counters()["packets_sent"] - before

            first_time, first_trips = run_k()
            times, trips = [], []
            for _ in range(repeats):
                t, n = run_k()
                times.append(t)
                trips.append(n)
            times.sort()
            print(f"k on a {frames}-frame stack over a pipe to kdsim")
            print(f"  first k:    {first_time * 1000:.2f} ms, {first_trips} round trips")
            print(f"  repeated k: median {times[len(times) // 2] * 1000:.2f} ms "
                  f"(min {times[0] * 1000:.2f}, max {times[-1] * 1000:.2f}) over {repeats} runs, "
                  f"{trips[0]} round trips each")


if __name__ == "__main__":
    main()
