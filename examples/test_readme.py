import openkd

def test_breakpoint_hit():
    with openkd.Simulator(cpus=1, seed=0) as sim, openkd.Debugger.connect(sim.listen()) as dbg:
        dbg.boot()                                           # run to "boot complete", break in
        bp = dbg.set_breakpoint("nt!KeDelayExecutionThread")
        stop = dbg.continue_(timeout=60)
        assert stop.reason == "breakpoint" and bp.hits == 1
        assert dbg.registers()["rip"] == bp.address
        assert dbg.registers()["rcx"] == 0                   # KeDelayExecutionThread(KernelMode, ...)
