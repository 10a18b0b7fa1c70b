"""Stacks and whole-function disassembly on kdsim over a pipe: `k` five calls deep
in simdrv (every frame named, in the right function, its return address where the
stack holds it), `k` through trap.S's machine frame after a crash, `uf` against the
image's .pdata, gu. The expected functions come from the PDB (llvm-pdbutil-14) and
.pdata (llvm-readobj-14), not from openkd's own readers."""
import re
import shutil
import subprocess

import pytest

from kd_helpers import build_dir, check_golden, run_kd, sanitized

FRAME = re.compile(r"^([0-9a-f]{2}) ([0-9a-f]{8})`([0-9a-f]{8}) ([0-9a-f]{8})`([0-9a-f]{8})     (\S+)$", re.M)
QWORDS = re.compile(r"^([0-9a-f]{8})`([0-9a-f]{8})  ([0-9a-f]{8}`[0-9a-f]{8}) ([0-9a-f]{8}`[0-9a-f]{8})$", re.M)

# simdrv is mapped at this base by the simulated loader (lm shows it).
SIMDRV_BASE = 0xFFFFF80001000000
# The sim's boot prompt takes the line after the second `g` (the empty line).
TO_SIMDRV = "g\ng\n\n"


def kernel_dir():
    return build_dir() / "simulator" / "kernel"


def tool_or_skip(name):
    path = shutil.which(name)
    if not path:
        pytest.skip(f"{name} is not installed")
    return path


def pdata_ranges(image):
    """[(start, end, has_machframe)] from llvm-readobj-14 --unwind (absolute, preferred base)."""
    out = subprocess.run([tool_or_skip("llvm-readobj-14"), "--unwind", str(image)], capture_output=True, text=True,
                         check=True).stdout
    ranges = []
    for block in out.split("RuntimeFunction {")[1:]:
        start = int(re.search(r"StartAddress: \(0x([0-9A-F]+)\)", block).group(1), 16)
        end = int(re.search(r"EndAddress: \(0x([0-9A-F]+)\)", block).group(1), 16)
        ranges.append((start, end, "PUSH_MACHFRAME" in block))
    return ranges


def preferred_base(image):
    out = subprocess.run([tool_or_skip("llvm-readobj-14"), "--file-headers", str(image)], capture_output=True,
                         text=True, check=True).stdout
    return int(re.search(r"ImageBase: 0x([0-9A-F]+)", out).group(1), 16)


def pdb_functions(pdb, section_rva=0x1000):
    """{name: rva} of the PDB's public functions (llvm-pdbutil-14), section 1 being .text at 0x1000."""
    out = subprocess.run([tool_or_skip("llvm-pdbutil-14"), "dump", "--publics", str(pdb)], capture_output=True,
                         text=True, check=True).stdout
    found = {}
    for m in re.finditer(r"S_PUB32 \[size = \d+\] `([^`]+)`\s+flags = function, addr = 0001:(\d+)", out):
        found[m.group(1)] = section_rva + int(m.group(2))
    return found


def frames(out):
    return [(int(m.group(2) + m.group(3), 16), int(m.group(4) + m.group(5), 16), m.group(6))
            for m in FRAME.finditer(out)]


def stack_qwords(out):
    words = {}
    for m in QWORDS.finditer(out):
        address = int(m.group(1) + m.group(2), 16)
        words[address] = int(m.group(3).replace("`", ""), 16)
        words[address + 8] = int(m.group(4).replace("`", ""), 16)
    return words


def function_of(address, ranges):
    for start, end, _ in ranges:
        if start <= address < end:
            return start
    return None


def site_address(site, base_of):
    """The address a Call Site names: `mod+0xOFF` or `mod!Name+0xOFF` (with `base_of` giving module and symbol bases)."""
    m = re.fullmatch(r"(\w+)(?:!(\w+))?(?:\+0x([0-9a-f]+))?", site)
    assert m, site
    return base_of(m.group(1), m.group(2)) + int(m.group(3) or "0", 16)


def test_k_five_calls_deep_names_every_frame_and_matches_the_stack():
    image = kernel_dir() / "simdrv.sys"
    # llvm-readobj-14 writes addresses at the preferred base; the simulated loader maps simdrv at SIMDRV_BASE.
    delta = SIMDRV_BASE - preferred_base(image)
    ranges = [(start + delta, end + delta, mf) for start, end, mf in pdata_ranges(image)]
    functions = pdb_functions(kernel_dir() / "simdrv.pdb")
    level5 = SIMDRV_BASE + functions["Level5"]
    script = TO_SIMDRV + f"bp {level5:x}\ng\n.echo sync\nk\ndq @rsp L50\nq\n"
    rc, out, err = run_kd(["-k", "sim", "-d"], script)
    assert rc == 0, err
    assert "Breakpoint 0 hit" in out, out
    fs = frames(out.split("kd> k\n", 1)[1])
    assert len(fs) >= 7, out
    expected = ["Level5", "Level4", "Level3", "Level2", "Level1", "SimdrvWorkerThread"]
    by_rva = {rva: name for name, rva in functions.items()}

    def base_of(module, symbol):
        if module == "simdrv":
            return SIMDRV_BASE + (functions[symbol] if symbol else 0)
        pytest.skip(f"unexpected module {module}")

    sites = [site_address(site, base_of) if site.startswith("simdrv") else None for _, _, site in fs]
    assert sites[0] == level5, out
    for i, name in enumerate(expected):
        # Every frame's call site lies in the function the PDB names for it.
        start = function_of(sites[i], ranges)
        assert start is not None and by_rva.get(start - SIMDRV_BASE) == name, (i, name, out)
    # The last simdrv frame returns into nt's thread start, and the walk ends at the zero return address.
    assert fs[6][2].startswith("nt!"), out
    assert fs[-1][1] == 0, out
    # Each return address is where the stack holds it: just below the caller's Child-SP.
    stack = stack_qwords(out)
    for (sp, ret, _), (caller_sp, _, _) in zip(fs, fs[1:]):
        assert stack.get(caller_sp - 8) == ret, (hex(sp), hex(ret), out)
    transcript = out.split("Breakpoint 0 hit", 1)[1].split("kd> dq")[0]
    check_golden("stacks/k_level5", transcript)


def test_k_walks_through_the_machine_frame_of_an_unhandled_exception():
    kernel = kernel_dir() / "simkrnl.exe"
    machframes = [s for s, _, mf in pdata_ranges(kernel) if mf]
    assert machframes, "trap.S declares no machine frame"
    script = TO_SIMDRV + "ed simdrv!TriggerBug 1\ng\n.echo sync\nr rsp\nr rip\ng\n.echo sync\nk\nkv\nq\n"
    rc, out, err = run_kd(["-k", "sim", "-d"], script)
    assert rc == 0, err
    assert "Access violation - code c0000005" in out, out
    rsp = int(re.search(r"^rsp=([0-9a-f]+)$", out, re.M).group(1), 16)
    rip = int(re.search(r"^rip=([0-9a-f]+)$", out, re.M).group(1), 16)
    after = out.split("*** Fatal System Error", 1)[1]
    fs = frames(after.split("kd> k\n", 1)[1].split("kd> kv")[0])
    names = [site for _, _, site in fs]
    handler = next(i for i, n in enumerate(names) if n.startswith("nt!KiUnhandledException"))
    # The frame after the handler is the faulting one, recovered from the machine frame.
    assert fs[handler][1] == rip, out
    assert fs[handler + 1][0] == rsp, out
    assert names[handler + 1].startswith("simdrv"), out
    assert len(fs) == handler + 1 + 7 and fs[-1][1] == 0, out  # Level5..Level1, the worker, the thread start
    assert "(machine frame @" in after.split("kd> kv", 1)[1], out
    check_golden("stacks/k_bugcheck", "kd> k\n" + after.split("kd> k\n", 1)[1].split("kd> q")[0])


def test_uf_lists_the_function_by_its_pdata_range_and_gu_returns_to_the_caller():
    kernel = kernel_dir() / "simkrnl.exe"
    ranges = pdata_ranges(kernel)
    rc, out, err = run_kd(["-k", "sim"], "uf nt!KeBugCheckEx\nuf /c nt!KeBugCheckEx\nq\n")
    assert rc == 0, err
    listing = out.split("kd> uf nt!KeBugCheckEx\n", 1)[1].split("kd> uf /c")[0]
    addresses = [(int(m.group(1) + m.group(2), 16), len(m.group(3)) // 2)
                 for m in re.finditer(r"^([0-9a-f]{8})`([0-9a-f]{8}) ([0-9a-f]+) ", listing, re.M)]
    start = addresses[0][0]
    match = [r for r in ranges if r[0] == start]
    assert match, (hex(start), listing)
    assert addresses[-1][0] + addresses[-1][1] == match[0][1], listing  # the last instruction ends the range
    assert all(a < b for (a, _), (b, _) in zip(addresses, addresses[1:])), listing
    calls = out.split("kd> uf /c nt!KeBugCheckEx\n", 1)[1]
    assert "call to nt!DbgBreakPointWithStatus" in calls, out
    check_golden("stacks/uf_kebugcheckex",
                 "kd> uf nt!KeBugCheckEx\n" + out.split("kd> uf nt!KeBugCheckEx\n", 1)[1].split("kd> q")[0])


def at_level5(commands):
    """kd at the breakpoint on simdrv's Level5 (five calls deep), running `commands`
    after `k 4`; returns the output and k 4's frames."""
    level5 = SIMDRV_BASE + pdb_functions(kernel_dir() / "simdrv.pdb")["Level5"]
    rc, out, err = run_kd(["-k", "sim", "-d"], TO_SIMDRV + f"bp {level5:x}\ng\n.echo sync\nk 4\n{commands}q\n")
    assert rc == 0, err
    return out, frames(out.split("kd> k 4\n", 1)[1].split("\nkd> ")[0])


def test_gu_runs_to_the_unwound_return_address():
    out, fs = at_level5("k = @rsp+8 poi(@rsp) 3\nk = @rsp+8 poi(@rsp)\nbc *\ngu\nr rsp\n")
    # `k = StackPtr InstructionPtr FrameCount` (x64 kernel mode): frame 1 on; with two values, the same walk.
    from_caller = frames(out.split("kd> k = @rsp+8 poi(@rsp) 3\n", 1)[1].split("kd> k =")[0])
    assert from_caller == fs[1:4], out
    two_values = frames(out.split("kd> k = @rsp+8 poi(@rsp)\n", 1)[1].split("kd> bc")[0])
    assert two_values[:3] == fs[1:4], out
    rsp = int(re.search(r"^rsp=([0-9a-f]+)$", out.split("kd> gu", 1)[1], re.M).group(1), 16)
    gu_stop = out.split("kd> gu\n", 1)[1].splitlines()
    # gu stops at frame 0's return address with the caller's stack pointer (frame 1's Child-SP).
    assert gu_stop[1].startswith(f"{fs[0][1] >> 32:08x}`{fs[0][1] & 0xFFFFFFFF:08x} "), out
    assert rsp == fs[1][0], out


def test_frame_selects_the_registers_r_shows():
    out, fs = at_level5(".frame 2\nr rsp, rip\nr\n.frame /r 0\nr rsp\n")
    selected = out.split("kd> .frame 2\n", 1)[1]
    # .frame prints the frame's line; r shows its Child-SP and its instruction pointer (frame 1's return address).
    assert selected.startswith(f"02 {fs[2][0] >> 32:08x}`{fs[2][0] & 0xFFFFFFFF:08x} "), out
    assert f"rsp={fs[2][0]:016x} rip={fs[1][1]:016x}" in selected, out
    assert f"rip={fs[1][1]:016x} rsp={fs[2][0]:016x}" in selected.split("kd> r\n", 1)[1], out
    # Back to frame 0: the processor's own rsp.
    assert f"rsp={fs[0][0]:016x}" in out.split("kd> r rsp\n", 1)[1], out
