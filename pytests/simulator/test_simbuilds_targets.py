"""kdsim on every modelled build, read the way an independent KD client reads it: raw
virtual and physical reads (openkd.Debugger.read_virtual/read_physical) and the build's
offsets from simulator/kernel/builds.py; not openkd's module, process or symbol code.

The version reply (as `vertarget` shows it), NtBuildNumber, NtBuildLab and the debugger
data block agree with the table; from PsActiveProcessHead every process is found by name
and pid; each user process's modules are walked PEB -> Ldr -> InLoadOrderModuleList in
its own address space, translated through its DirectoryTableBase by physical reads."""
import re
import struct

import pytest

from simbuilds_table import TABLE

openkd = pytest.importorskip("openkd")

BUILDS = sorted(TABLE.BUILDS)
KERNEL_BASE_TEXT = re.compile(r"Kernel base = 0x([0-9a-f`]+)")
# What the kernel creates (simulator/kernel/ntos/process.c): name -> (pid, modules).
EXPECTED = {
    "System": (4, None),
    "smss.exe": (0x174, ["smss.exe", "ntdll.dll"]),
    "csrss.exe": (0x1F4, ["csrss.exe", "ntdll.dll", "CSRSRV.dll"]),
    "explorer.exe": (0x1208, ["Explorer.EXE", "ntdll.dll", "KERNEL32.DLL"]),
}


class Reader:
    """A debugger's view from raw reads only."""

    def __init__(self, dbg):
        self.dbg = dbg

    def virt(self, va, size):
        return self.dbg.read_virtual(va, size)

    def u64(self, va):
        return struct.unpack("<Q", self.virt(va, 8))[0]

    def u32(self, va):
        return struct.unpack("<I", self.virt(va, 4))[0]

    def export(self, base, name):
        """The kernel export `name`, from the PE export directory in memory."""
        pe = base + struct.unpack("<I", self.virt(base + 0x3C, 4))[0]
        export_rva = struct.unpack("<I", self.virt(pe + 24 + 112, 4))[0]  # DataDirectory[0]
        directory = self.virt(base + export_rva, 40)
        count_names, functions, names, ordinals = struct.unpack_from("<IIII", directory, 24)
        for i in range(count_names):
            name_rva = struct.unpack("<I", self.virt(base + names + 4 * i, 4))[0]
            text = self.virt(base + name_rva, 64).split(b"\0")[0].decode()
            if text == name:
                ordinal = struct.unpack("<H", self.virt(base + ordinals + 2 * i, 2))[0]
                return base + struct.unpack("<I", self.virt(base + functions + 4 * ordinal, 4))[0]
        raise AssertionError(f"no export {name}")

    # ---- a process's own address space, through its page tables ----------------
    def translate(self, cr3, va):
        table = cr3 & ~0xFFF
        for level in (39, 30, 21, 12):
            entry = struct.unpack("<Q", self.dbg.read_physical(table + 8 * ((va >> level) & 0x1FF), 8))[0]
            assert entry & 1, f"{va:#x} is not present (level {level})"
            if level == 12:
                return (entry & 0x000FFFFFFFFFF000) | (va & 0xFFF)
            assert not entry & 0x80, "large pages are not expected"
            table = entry & 0x000FFFFFFFFFF000
        raise AssertionError("unreachable")

    def user(self, cr3, va, size):
        out = b""
        while len(out) < size:
            at = va + len(out)
            n = min(size - len(out), 0x1000 - (at & 0xFFF))
            out += self.dbg.read_physical(self.translate(cr3, at), n)
        return out

    def user_u64(self, cr3, va):
        return struct.unpack("<Q", self.user(cr3, va, 8))[0]

    def user_unicode(self, cr3, va):
        length, _, buffer = struct.unpack("<HHxxxxQ", self.user(cr3, va, 16))
        return self.user(cr3, buffer, length).decode("utf-16-le")


def boot(build):
    """Connected and booted: broken in after the kernel printed "boot complete" (its
    processes exist by then), not earlier."""
    dbg = openkd.Debugger.connect(f"sim:build={build}", timeout=30)
    dbg.continue_(wait=False)
    try:
        dbg.wait_for_print("boot complete", timeout=60)
    except TimeoutError:
        traffic = "\n".join(dbg.traffic(40))
        dbg.close()
        pytest.fail(f"build {build}: no \"boot complete\" within 60 s; last KD traffic:\n{traffic}")
    dbg.break_in()
    dbg.wait(60)
    return dbg


@pytest.fixture(scope="module", params=BUILDS)
def target(request):
    dbg = boot(request.param)
    yield request.param, dbg, Reader(dbg)
    dbg.close()


def kernel_base(dbg):
    text = dbg.execute("vertarget")
    return int(KERNEL_BASE_TEXT.search(text).group(1).replace("`", ""), 16), text


def test_version_build_number_and_lab_agree(target):
    build, dbg, rd = target
    entry = TABLE.BUILDS[build]
    base, text = kernel_base(dbg)
    assert re.search(rf"^{entry['product']} Kernel Version {build} (UP|MP) \(1 procs\) Free x64$", text, re.M), text
    assert f"Built by: {entry['lab']}\n" in text
    assert rd.u32(rd.export(base, "NtBuildNumber")) == 0xF0000000 | build
    assert rd.virt(rd.export(base, "NtBuildLab"), 80).split(b"\0")[0].decode() == entry["lab"]


def debugger_data(rd, base):
    head = rd.export(base, "KdpDebuggerDataListHead")
    block = rd.u64(head)
    assert rd.virt(block + 0x10, 4) == b"KDBG"
    return block


def test_debugger_data_in_memory_is_the_tables(target):
    build, dbg, rd = target
    entry = TABLE.BUILDS[build]
    base, _ = kernel_base(dbg)
    block = rd.virt(debugger_data(rd, base), 0x380)
    size_eprocess, peb, parent, dtb = struct.unpack_from("<HHHH", block, 0x2A8)
    assert (size_eprocess, peb, parent, dtb) == (
        entry["eprocess"]["size"], entry["eprocess"]["Peb"],
        entry["eprocess"]["InheritedFromUniqueProcessId"], TABLE.KPROCESS_COMMON["DirectoryTableBase"])
    assert struct.unpack_from("<H", block, 0x2C0)[0] == entry["ethread"]["size"]
    assert struct.unpack_from("<HH", block, 0x29A) == (entry["kthread"]["Teb"], entry["kthread"]["KernelStack"])


def walk_processes(rd, base, entry):
    """[(name, pid, eprocess)] from PsActiveProcessHead through ActiveProcessLinks."""
    head = rd.u64(debugger_data(rd, base) + 0x50)  # KDDEBUGGER_DATA64.PsActiveProcessHead
    ep = entry["eprocess"]
    found, link = [], rd.u64(head)
    while link != head:
        assert len(found) < 64, "the process list does not come back to its head"
        process = link - ep["ActiveProcessLinks"]
        name = rd.virt(process + ep["ImageFileName"], 15).split(b"\0")[0].decode()
        found.append((name, rd.u64(process + ep["UniqueProcessId"]), process))
        assert rd.u64(link + 8) != 0  # Blink
        link = rd.u64(link)
    return found


def test_process_walk_finds_every_process(target):
    build, dbg, rd = target
    entry = TABLE.BUILDS[build]
    base, _ = kernel_base(dbg)
    processes = walk_processes(rd, base, entry)
    assert [(n, pid) for n, pid, _ in processes] == [(n, pid) for n, (pid, _) in EXPECTED.items()]
    tables = {rd.u64(p + TABLE.KPROCESS_COMMON["DirectoryTableBase"]) for _, _, p in processes}
    assert len(tables) == len(processes), "every process has its own DirectoryTableBase"


def test_threads_are_on_both_lists_with_cids(target):
    build, dbg, rd = target
    entry = TABLE.BUILDS[build]
    kt, et, ep = entry["kthread"], entry["ethread"], entry["eprocess"]
    base, _ = kernel_base(dbg)
    for name, pid, process in walk_processes(rd, base, entry):
        head = process + ep["ThreadListHead"]
        threads, link = [], rd.u64(head)
        while link != head and len(threads) < 64:
            threads.append(link - et["ThreadListEntry"])
            link = rd.u64(link)
        assert threads, f"{name} has no threads"
        kthreads, link = [], rd.u64(process + TABLE.KPROCESS_COMMON["ThreadListHead"])
        while link != process + TABLE.KPROCESS_COMMON["ThreadListHead"] and len(kthreads) < 64:
            kthreads.append(link - kt["ThreadListEntry"])
            link = rd.u64(link)
        assert kthreads == threads, f"{name}: the KPROCESS and EPROCESS thread lists differ"
        for thread in threads:
            assert rd.u64(thread + et["Cid"]) == pid
            assert rd.u64(thread + et["Cid"] + 8) % 4 == 0 and rd.u64(thread + et["Cid"] + 8) != 0
            assert rd.u64(thread + kt["Process"]) == process
            assert rd.u64(thread + kt["ApcState"] + 0x20) == process


def test_user_process_modules_through_its_own_page_tables(target):
    build, dbg, rd = target
    entry = TABLE.BUILDS[build]
    base, _ = kernel_base(dbg)
    fixed = TABLE.FIXED
    for name, pid, process in walk_processes(rd, base, entry):
        modules = EXPECTED[name][1]
        peb = rd.u64(process + entry["eprocess"]["Peb"])
        if modules is None:
            assert peb == 0  # System has no PEB
            continue
        cr3 = rd.u64(process + TABLE.KPROCESS_COMMON["DirectoryTableBase"])
        ldr = rd.user_u64(cr3, peb + fixed["PEB.Ldr"])
        head = ldr + fixed["PEB_LDR_DATA.InLoadOrderModuleList"]
        seen, link = [], rd.user_u64(cr3, head)
        while link != head and len(seen) < 16:
            seen.append(rd.user_unicode(cr3, link + fixed["LDR_DATA_TABLE_ENTRY.BaseDllName"]))
            link = rd.user_u64(cr3, link)
        assert seen == modules, f"{name}"
        # The first module is the process image (PEB.ImageBaseAddress is its DllBase).
        first = rd.user_u64(cr3, head)
        assert rd.user_u64(cr3, first + fixed["LDR_DATA_TABLE_ENTRY.DllBase"]) == \
            rd.user_u64(cr3, peb + fixed["PEB.ImageBaseAddress"])
        # The same user address is not mapped in the kernel's own (System) space.
        with pytest.raises(openkd.Error):
            rd.virt(peb, 8)


@pytest.mark.parametrize("build", [7601, 26100])
def test_first_state_change_names_a_real_thread(build):
    """The boot stop (the kernel's first instruction) reports processor 0's idle thread,
    an ETHREAD of the kernel's, not 0; its stack fields are filled once the processor
    has initialised it."""
    kt = TABLE.BUILDS[build]["kthread"]
    with openkd.Debugger.connect(f"sim:build={build}", timeout=30) as dbg:
        stop = dbg.last_stop
        assert stop.thread >= 0xFFFFF80000400000, stop
        rd = Reader(dbg)
        base, _ = kernel_base(dbg)
        assert rd.u64(rd.export(base, "KiIdleThreadTable")) == stop.thread
        dbg.boot()
        assert rd.u64(stop.thread + kt["StackBase"]) != 0


def test_unmodelled_build_is_refused_with_the_list():
    with pytest.raises(openkd.Error) as e:
        openkd.Simulator(build=12345)
    message = str(e.value)
    assert "12345" in message
    assert ", ".join(str(b) for b in BUILDS) in message


def tool(name):
    import os
    from pathlib import Path
    build_dir = os.environ.get("OPENKD_BUILD")
    path = Path(build_dir or ".") / "tools" / name / name
    if not build_dir or not path.exists():
        pytest.skip(f"{name} is not built (set OPENKD_BUILD)")
    return str(path)


@pytest.mark.parametrize("build", [7601, 9600, 26100])
def test_kd_banner_names_the_build(build):
    """kd's banner, `version`'s text and the kernel agree (KD calls 6.3 "Windows 8" and
    Windows 11 "Windows 10" in its banner)."""
    import subprocess
    entry = TABLE.BUILDS[build]
    p = subprocess.run([tool("kd"), "-k", f"sim:build={build}"], input="version\nq\n",
                       capture_output=True, text=True, timeout=60)
    assert f"Connected to {entry['product']} {build} x64 target at (" in p.stdout, p.stdout
    line = f"{entry['product']} Kernel Version {build} UP (1 procs) Free x64\n"
    assert p.stdout.count(line) == 2, p.stdout  # the banner and `version`
    assert p.stdout.count(f"Built by: {entry['lab']}\n") == 2


def test_kdsim_refuses_an_unmodelled_build():
    import subprocess
    p = subprocess.run([tool("kdsim"), "--build", "12345", "--listen", "pipe:/nonexistent/x"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    out = p.stdout + p.stderr
    assert "build 12345 is not modelled" in out and ", ".join(str(b) for b in BUILDS) in out, out
