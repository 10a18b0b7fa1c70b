"""!analyze -v, !idt and !irql on kdsim over a pipe, checked against what the
kernel image and the bug check say independently (llvm-pdbutil-14's publics, the
Fatal System Error line kd printed from KiBugCheckData)."""
import re

from kd_helpers import run_kd
from test_stacks import SIMDRV_BASE, TO_SIMDRV, kernel_dir, pdb_functions


def test_analyze_names_the_bug_check_the_faulting_ip_and_the_driver():
    script = TO_SIMDRV + "ed simdrv!TriggerBug 1\ng\n.echo sync\n!analyze\ng\n.echo sync\n!analyze -v\nq\n"
    rc, out, err = run_kd(["-k", "sim", "-d"], script)
    assert rc == 0, err
    before, after = out.split("*** Fatal System Error", 1)
    assert "no bug check has occurred" in before, out
    params = re.search(r"\(0x([0-9A-F]+),0x([0-9A-F]+),0x([0-9A-F]+),0x([0-9A-F]+)\)", after).groups()
    analysis = after.split("kd> !analyze -v\n", 1)[1]
    assert "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED (7e)" in analysis, analysis
    for i, p in enumerate(params):
        assert f"Arg{i + 1}: {int(p, 16):016x}" in analysis, analysis
    # The faulting IP is Arg2, inside simdrv's Level5 (the PDB's publics say where that is).
    level5 = SIMDRV_BASE + pdb_functions(kernel_dir() / "simdrv.pdb")["Level5"]
    faulting = int(params[1], 16)
    assert level5 <= faulting < SIMDRV_BASE + pdb_functions(kernel_dir() / "simdrv.pdb")["Level4"], analysis
    ip_line = analysis.split("FAULTING_IP: \n", 1)[1].splitlines()[1]
    assert ip_line.startswith(f"{faulting >> 32:08x}`{faulting & 0xFFFFFFFF:08x} "), analysis
    stack = analysis.split("STACK_TEXT:  \n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert any("nt!KiUnhandledException" in line for line in stack), analysis
    assert len(stack) == 11, analysis
    assert "MODULE_NAME: simdrv" in analysis and "IMAGE_NAME:  simdrv.sys" in analysis, analysis


def test_idt_and_irql():
    handler = 0xFFFFF80000400000 + pdb_functions(kernel_dir() / "simkrnl.pdb")["KiUnhandledException"]
    rc, out, err = run_kd(["-k", "sim"], "!idt\n!idt e\n!irql\nq\n")
    assert rc == 0, err
    full = out.split("kd> !idt\n", 1)[1].split("kd> !idt e")[0]
    gates = re.findall(r"^([0-9a-f]{2}):\t([0-9a-f]{16}) (\S*)", full, re.M)
    # simulator/machine.cpp points every vector of the boot IDT at KiUnhandledException.
    assert len(gates) == 256, full
    assert all(int(a, 16) == handler and name == "nt!KiUnhandledException" for _, a, name in gates), full
    one = out.split("kd> !idt e\n", 1)[1].split("kd> !irql")[0]
    assert re.findall(r"^([0-9a-f]{2}):", one, re.M) == ["0e"], one
    assert re.search(r"Debugger saved IRQL for processor 0x0 -- \d+", out), out
