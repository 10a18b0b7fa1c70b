"""The simulated kernel's images (simulator/kernel) as a debugger will see them.

Checks the PE32+ files and their PDBs with the LLVM 14 tools (llvm-readobj-14,
llvm-pdbutil-14) and a small PE reader: headers, exports and imports of simulator/ABI.md,
unwind data for the crash call chain, RSDS records matching the PDBs, the types in the
PDBs and the statically initialised debugger data block.

Images are found in $OPENKD_KERNEL_DIR, else $OPENKD_BUILD/simulator/kernel.
"""

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

READOBJ = "llvm-readobj-14"
PDBUTIL = "llvm-pdbutil-14"
IMAGES = ("simkrnl.exe", "simdrv.sys", "simdrv2.sys")
KERNEL_BASE = 0xFFFFF80000400000

# simulator/ABI.md "Exports the simulator and debugger look up by name".
ABI_KERNEL_EXPORTS = {
    "KiSystemStartup", "PsLoadedModuleList", "KdDebuggerDataBlock",
    "KdpDebuggerDataListHead", "NtBuildLab", "KeTickCount", "KiBugCheckData",
    "KiUnhandledException", "RtlpBreakWithStatusInstruction", "KiProcessorBlock",
    "DbgPrint", "DbgPrompt", "DbgBreakPoint", "DbgBreakPointWithStatus", "KeBugCheckEx",
    "KdpCauseBugCheck",
}
# The rest of the kernel API the drivers may import.
KERNEL_API_EXPORTS = {
    "PsCreateSystemThread", "PsTerminateSystemThread", "ExAllocatePoolWithTag",
    "ExFreePoolWithTag", "KeGetCurrentProcessorNumber", "KeGetCurrentThread",
    "KeDelayExecutionThread", "RtlInitUnicodeString", "RtlInitAnsiString",
    "memcpy", "memset", "DbgLoadImageSymbols", "DbgUnLoadImageSymbols",
}
# simdrv2.sys on request (imagectl.c), written and read by the Python host.
IMAGE_CYCLER_EXPORTS = {"ExpImageCyclerMode", "ExpImageRequest", "ExpImageState"}
DRIVER_EXPORTS = {
    "simdrv.sys": {"DriverEntry", "TriggerBug"},
    "simdrv2.sys": {"DriverEntry", "DriverUnload"},
}
ENTRY_POINTS = {"simkrnl.exe": "KiSystemStartup", "simdrv.sys": "DriverEntry",
                "simdrv2.sys": "DriverEntry"}
CHAIN = ["Level1", "Level2", "Level3", "Level4", "Level5"]

# Structure sizes and the offsets ABI.md and docs/protocol.md section 5 name.
PDB_STRUCTS = {
    "_LIST_ENTRY": (0x10, {"Flink": 0x0, "Blink": 0x8}),
    "_UNICODE_STRING": (0x10, {"Length": 0x0, "MaximumLength": 0x2, "Buffer": 0x8}),
    "_KPCR": (None, {"Self": 0x18, "CurrentPrcb": 0x20, "Prcb": 0x180}),
    "_KPRCB": (None, {"CurrentThread": 0x8, "NextThread": 0x10, "IdleThread": 0x18,
                      "Number": 0x24}),
    "_KTHREAD": (None, {"InitialStack": 0x28, "StackLimit": 0x30, "StackBase": 0x38,
                        "KernelStack": 0x58}),
    "_LDR_DATA_TABLE_ENTRY": (0xA0, {
        "InLoadOrderLinks": 0x0, "InMemoryOrderLinks": 0x10,
        "InInitializationOrderLinks": 0x20, "DllBase": 0x30, "EntryPoint": 0x38,
        "SizeOfImage": 0x40, "FullDllName": 0x48, "BaseDllName": 0x58, "Flags": 0x68,
        "LoadCount": 0x6C}),
    "_KDDEBUGGER_DATA64": (0x380, {
        "Header": 0x0, "KernBase": 0x18, "BreakpointWithStatus": 0x20,
        "SavedContext": 0x28, "PsLoadedModuleList": 0x48, "PsActiveProcessHead": 0x50,
        "PspCidTable": 0x58, "KiBugcheckData": 0x88, "MmPfnDatabase": 0xC0,
        "NtBuildLab": 0x208, "KiProcessorBlock": 0x218, "CmNtCSDVersion": 0x268}),
    "_CONTEXT": (0x4D0, {"ContextFlags": 0x30, "SegCs": 0x38, "EFlags": 0x44,
                         "Rax": 0x78, "Rsp": 0x98, "Rip": 0xF8, "FltSave": 0x100}),
    "_KSPECIAL_REGISTERS": (0xE0, {"Cr0": 0x0, "Gdtr": 0x50, "Idtr": 0x60, "Tr": 0x70,
                                   "Cr8": 0xA0, "Xcr0": 0xD8}),
    "_DRIVER_OBJECT": (0x150, {"DriverStart": 0x18, "DriverUnload": 0x68}),
}


def image_dir():
    explicit = os.environ.get("OPENKD_KERNEL_DIR")
    build = os.environ.get("OPENKD_BUILD")
    if explicit:
        directory = Path(explicit)
    elif build:
        directory = Path(build) / "simulator" / "kernel"
    else:
        pytest.skip("set OPENKD_BUILD (or OPENKD_KERNEL_DIR) to find the kernel images")
    missing = [name for name in IMAGES if not (directory / name).is_file()]
    if missing:
        pytest.skip(f"kernel images not built in {directory}: missing {', '.join(missing)}")
    for tool in (READOBJ, PDBUTIL):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed")
    return directory


@pytest.fixture(scope="module")
def kdir():
    return image_dir()


def run(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


class PeFile:
    """Just enough of a PE32+ reader to map RVAs to file bytes."""

    def __init__(self, path):
        self.data = Path(path).read_bytes()
        pe = struct.unpack_from("<I", self.data, 0x3C)[0]
        assert self.data[pe:pe + 4] == b"PE\0\0"
        sections = struct.unpack_from("<H", self.data, pe + 6)[0]
        optional_size = struct.unpack_from("<H", self.data, pe + 20)[0]
        optional = pe + 24
        self.image_base = struct.unpack_from("<Q", self.data, optional + 24)[0]
        self.entry_rva = struct.unpack_from("<I", self.data, optional + 16)[0]
        self.sections = []
        for i in range(sections):
            at = optional + optional_size + 40 * i
            name, vsize, rva, raw_size, raw_ptr = struct.unpack_from("<8sIIII", self.data, at)
            self.sections.append((name.rstrip(b"\0").decode(), rva, vsize, raw_ptr, raw_size))

    def section_rva(self, index):
        """RVA of the 1-based section a PDB address names."""
        return self.sections[index - 1][1]

    def read(self, rva, size):
        for _, start, vsize, raw_ptr, raw_size in self.sections:
            if start <= rva and rva + size <= start + max(vsize, raw_size):
                offset = rva - start
                chunk = self.data[raw_ptr + offset:raw_ptr + min(offset + size, raw_size)]
                return chunk + b"\0" * (size - len(chunk))  # .bss tail reads as zeros
        raise AssertionError(f"RVA {rva:#x} is in no section")


def readobj_blocks(text, header):
    """Each `header { ... }` block of llvm-readobj output as {key: value}."""
    blocks, current = [], None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped == header + " {":
            current = {}
        elif current is not None and stripped == "}":
            blocks.append(current)
            current = None
        elif current is not None and ":" in stripped:
            key, value = stripped.split(":", 1)
            current[key.strip()] = value.strip()
    return blocks


def exports(path):
    blocks = readobj_blocks(run(READOBJ, "--coff-exports", str(path)), "Export")
    return {b["Name"]: int(b["RVA"], 16) for b in blocks if b.get("Name")}


def imports(path):
    text = run(READOBJ, "--coff-imports", str(path))
    result, current = {}, None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("Name:"):
            current = stripped.split(":", 1)[1].strip()
            result[current] = set()
        elif stripped.startswith("Symbol:") and current:
            result[current].add(stripped.split(":", 1)[1].split("(")[0].strip())
    return result


def publics(pdb):
    """{name: (section, offset)} from the PDB's public symbols."""
    text = run(PDBUTIL, "dump", "-publics", str(pdb))
    found = {}
    for match in re.finditer(r"S_PUB32 \[size = \d+\] `([^`]+)`\s*\n\s*flags = [^,]*, "
                             r"addr = (\d+):(\d+)", text):
        found[match.group(1)] = (int(match.group(2)), int(match.group(3)))
    return found


def runtime_functions(path):
    """[(start RVA, end RVA, unwind codes)] from .pdata."""
    text = run(READOBJ, "--unwind", str(path))
    base = PeFile(path).image_base
    functions = []
    for chunk in text.split("RuntimeFunction {")[1:]:
        start = int(re.search(r"StartAddress: .*?\(0x([0-9A-Fa-f]+)\)", chunk).group(1), 16)
        end = int(re.search(r"EndAddress: .*?\(0x([0-9A-Fa-f]+)\)", chunk).group(1), 16)
        codes = re.findall(r"0x[0-9A-Fa-f]+: (\w+)", chunk)
        functions.append((start - base, end - base, codes))
    return functions


def pdb_structs(pdb):
    """{struct name: (sizeof, {member: offset})} for the PDB's complete structures."""
    text = run(PDBUTIL, "dump", "-types", str(pdb))
    records = {}
    for chunk in re.split(r"\n(?=\s+0x[0-9A-F]+ \| )", text):
        head = re.match(r"\s+(0x[0-9A-F]+) \| (LF_\w+)", chunk)
        if head:
            records[int(head.group(1), 16)] = (head.group(2), chunk)
    structs = {}
    for kind, chunk in records.values():
        if kind != "LF_STRUCTURE":
            continue
        name = re.search(r"`([^`]+)`", chunk).group(1)
        fields = re.search(r"field list: (0x[0-9A-F]+)", chunk)
        if not fields:
            continue  # a forward reference
        members = {m.group(1): int(m.group(2)) for m in re.finditer(
            r"LF_MEMBER \[name = `([^`]+)`, Type = [^,]+, offset = (\d+)",
            records[int(fields.group(1), 16)][1])}
        size = int(re.search(r"sizeof (\d+)", chunk).group(1))
        structs[name] = (size, members)
    return structs


def guid_from_rsds(byte_text):
    raw = bytes(int(b, 16) for b in byte_text.strip("()").split())
    d1, d2, d3 = struct.unpack_from("<IHH", raw)
    tail = raw[8:].hex().upper()
    return f"{d1:08X}-{d2:04X}-{d3:04X}-{tail[:4]}-{tail[4:]}"


@pytest.mark.parametrize("image", IMAGES)
def test_pe32plus_amd64_native(kdir, image):
    text = run(READOBJ, "--file-headers", str(kdir / image))
    assert "IMAGE_FILE_MACHINE_AMD64" in text
    assert re.search(r"Magic: 0x20B", text), "not PE32+"
    assert "IMAGE_SUBSYSTEM_NATIVE" in text


def test_kernel_at_its_preferred_base_drivers_need_relocation(kdir):
    assert PeFile(kdir / "simkrnl.exe").image_base == KERNEL_BASE
    for driver in ("simdrv.sys", "simdrv2.sys"):
        pe = PeFile(kdir / driver)
        assert pe.image_base != KERNEL_BASE and pe.image_base < 0xFFFF800000000000
        relocs = run(READOBJ, "--coff-basereloc", str(kdir / driver))
        assert "DIR64" in relocs, f"{driver} has no 64-bit relocations to apply"


def test_kernel_exports(kdir):
    names = set(exports(kdir / "simkrnl.exe"))
    assert ABI_KERNEL_EXPORTS <= names, ABI_KERNEL_EXPORTS - names
    assert KERNEL_API_EXPORTS <= names, KERNEL_API_EXPORTS - names
    assert IMAGE_CYCLER_EXPORTS <= names, IMAGE_CYCLER_EXPORTS - names


@pytest.mark.parametrize("driver", sorted(DRIVER_EXPORTS))
def test_driver_exports(kdir, driver):
    names = set(exports(kdir / driver))
    assert DRIVER_EXPORTS[driver] <= names


@pytest.mark.parametrize("image", IMAGES)
def test_entry_point_is_the_named_export(kdir, image):
    assert PeFile(kdir / image).entry_rva == exports(kdir / image)[ENTRY_POINTS[image]]


@pytest.mark.parametrize("driver", ["simdrv.sys", "simdrv2.sys"])
def test_drivers_import_only_from_the_kernel(kdir, driver):
    table = imports(kdir / driver)
    assert set(table) == {"simkrnl.exe"}
    kernel = set(exports(kdir / "simkrnl.exe"))
    assert "DbgPrint" in table["simkrnl.exe"]
    assert table["simkrnl.exe"] <= kernel, table["simkrnl.exe"] - kernel


def test_crash_chain_has_unwind_data(kdir):
    """Level1..Level5 each have a .pdata entry with a real frame, so `k` can walk
    from the faulting write in Level5 back to the worker."""
    pe = PeFile(kdir / "simdrv.sys")
    symbols = publics(kdir / "simdrv.pdb")
    functions = runtime_functions(kdir / "simdrv.sys")
    for name in CHAIN:
        assert name in symbols, f"{name} is not a public in simdrv.pdb"
        section, offset = symbols[name]
        rva = pe.section_rva(section) + offset
        covering = [f for f in functions if f[0] == rva]
        assert covering, f"no RUNTIME_FUNCTION starts at {name} ({rva:#x})"
        assert covering[0][2], f"{name} has no unwind codes (no frame)"


def test_kernel_entry_points_have_unwind_data(kdir):
    pe = PeFile(kdir / "simkrnl.exe")
    table = exports(kdir / "simkrnl.exe")
    functions = {f[0]: f[2] for f in runtime_functions(kdir / "simkrnl.exe")}
    starts = set(functions)
    for name in ("KiSystemStartup", "KeBugCheckEx", "KiUnhandledException", "DbgPrint",
                 "DbgBreakPoint", "DbgBreakPointWithStatus", "PsCreateSystemThread"):
        assert table[name] in starts, f"{name} has no RUNTIME_FUNCTION"
    # Walks continue from the exception entry into the faulting frame through the
    # simulator's interrupt frame.
    assert functions[table["KiUnhandledException"]][-1] == "PUSH_MACHFRAME"
    assert functions[table["KdpCauseBugCheck"]][-1] == "PUSH_MACHFRAME"
    # The bug check breakpoint is an int 3 inside DbgBreakPointWithStatus.
    assert pe.read(table["RtlpBreakWithStatusInstruction"], 1) == b"\xCC"


@pytest.mark.parametrize("image", IMAGES)
def test_rsds_matches_pdb(kdir, image):
    stem = Path(image).stem
    text = run(READOBJ, "--coff-debug-directory", str(kdir / image))
    info = readobj_blocks(text, "PDBInfo")
    assert len(info) == 1
    assert info[0]["PDBSignature"] == "0x53445352"  # "RSDS"
    assert info[0]["PDBFileName"] == f"{stem}.pdb"
    summary = run(PDBUTIL, "dump", "-summary", str(kdir / f"{stem}.pdb"))
    pdb_guid = re.search(r"GUID: \{([0-9A-F-]+)\}", summary).group(1)
    pdb_age = int(re.search(r"Age: (\d+)", summary).group(1))
    assert guid_from_rsds(info[0]["PDBGUID"]) == pdb_guid
    assert int(info[0]["PDBAge"]) == pdb_age


def test_kernel_pdb_types(kdir):
    structs = pdb_structs(kdir / "simkrnl.pdb")
    for name, (size, offsets) in PDB_STRUCTS.items():
        assert name in structs, f"{name} missing from simkrnl.pdb"
        actual_size, members = structs[name]
        if size is not None:
            assert actual_size == size, f"sizeof {name}"
        for member, offset in offsets.items():
            assert members.get(member) == offset, f"{name}.{member}"
    assert structs["_KPCR"][0] <= 0x1000, "a KPCR must fit its page"


def test_kernel_pdb_publics(kdir):
    names = set(publics(kdir / "simkrnl.pdb"))
    assert {"KiSystemStartup", "KeBugCheckEx", "RtlpBreakWithStatusInstruction",
            "KdDebuggerDataBlock", "PsLoadedModuleList", "KiIdleLoop"} <= names


def test_debugger_data_block_is_valid_before_boot(kdir):
    """KdDebuggerDataBlock is initialised in the image, so a debugger that attaches at
    the first instruction already finds it through KdpDebuggerDataListHead."""
    pe = PeFile(kdir / "simkrnl.exe")
    table = exports(kdir / "simkrnl.exe")
    va = {name: pe.image_base + rva for name, rva in table.items()}
    head = struct.unpack("<QQ", pe.read(table["KdpDebuggerDataListHead"], 16))
    assert head == (va["KdDebuggerDataBlock"], va["KdDebuggerDataBlock"])
    block = pe.read(table["KdDebuggerDataBlock"], 0x380)
    flink, blink, tag, size = struct.unpack_from("<QQ4sI", block, 0)
    assert (flink, blink) == (va["KdpDebuggerDataListHead"],) * 2
    assert tag == b"KDBG" and size == 0x380

    def field(offset):
        return struct.unpack_from("<Q", block, offset)[0]

    assert field(0x18) == KERNEL_BASE
    assert field(0x20) == va["RtlpBreakWithStatusInstruction"]
    assert field(0x48) == va["PsLoadedModuleList"]
    assert field(0x88) == va["KiBugCheckData"]
    assert field(0x208) == va["NtBuildLab"]
    assert field(0x218) == va["KiProcessorBlock"]
    for offset in (0x50, 0xC0, 0x268):  # PsActiveProcessHead, MmPfnDatabase, CmNtCSDVersion
        assert KERNEL_BASE < field(offset) < KERNEL_BASE + 0x1000000
    # PsLoadedModuleList starts as an empty list (pointing at itself).
    assert struct.unpack("<QQ", pe.read(table["PsLoadedModuleList"], 16)) == \
        (va["PsLoadedModuleList"],) * 2
    lab = pe.read(table["NtBuildLab"], 64).split(b"\0")[0].decode()
    assert re.fullmatch(r"\d+\.\d+\.amd64fre\.\w+\.\d{6}-\d{4}", lab), lab


# ---------------------------------------------------------------------------------
# Behaviour: the kernel booted on simulator/kernel/tools/minimachine.py, a small
# Unicorn harness that follows simulator/ABI.md (not the simulator itself).

TOOLS = Path(__file__).resolve().parents[1] / "simulator" / "kernel" / "tools"
SIMDRV2_PATH = "\\SystemRoot\\system32\\drivers\\simdrv2.sys"
FAST_PACING = b"tick=40 load=60 loaded=80"


def minimachine():
    import ctypes
    import sys
    try:
        ctypes.CDLL("libunicorn.so.2")
    except OSError:
        pytest.skip("libunicorn.so.2 is not installed")
    if str(TOOLS) not in sys.path:
        sys.path.insert(0, str(TOOLS))
    import minimachine as module
    return module


def symbolizer(kdir):
    """(module, rva) -> "function" through the PDB publics."""
    tables = {}
    for module, image in (("nt", "simkrnl"), ("simdrv", "simdrv")):
        pe = PeFile(kdir / f"{image}.exe" if image == "simkrnl" else kdir / f"{image}.sys")
        tables[module] = sorted((pe.section_rva(section) + offset, name)
                                for name, (section, offset) in publics(kdir / f"{image}.pdb").items())

    def name(frame):
        module, rva = frame
        best = [n for start, n in tables.get(module, []) if start <= rva]
        return best[-1] if best else f"{module}+{rva:#x}"
    return name


def lines_in_order(text, expected):
    at = 0
    for line in expected:
        found = text.find(line, at)
        assert found >= 0, f"{line!r} missing (or out of order) in:\n{text}"
        at = found + len(line)


def test_boot_loads_and_unloads_simdrv2(kdir):
    mm = minimachine()
    machine = mm.MiniMachine(kdir, cpus=1, prompt_reply=FAST_PACING)
    seen = []

    def loaded(m):
        if "simdrv2: DriverEntry" in m.text() and not seen:
            seen.append(m.loaded_modules())
        return "unloaded image" in m.text()

    assert machine.run(40000, until=loaded), machine.text()
    lines_in_order(machine.text(), [
        "simkrnl: 19041.1.amd64fre.vb_release.191206-1406, 1 processor(s)",
        f'simkrnl: boot options: "{FAST_PACING.decode()}"',
        "simkrnl: pacing: tick every 40, simdrv2.sys load after 60, unload after 80",
        f"simkrnl: {SIMDRV2_PATH} was not served by the debugger (status 0xc000000f)",
        "simdrv: DriverEntry: driver object",
        "simkrnl: boot complete",
        "simdrv: worker thread",
        "simkrnl: loaded simdrv2.sys at FFFFF80001100000",
        "simdrv2: DriverEntry: loaded at FFFFF80001100000",
        "simkrnl: tick 1 on cpu 0",
        "simdrv2: DriverUnload",
        "simkrnl: unloaded image at FFFFF80001100000",
    ])
    assert seen == [["simkrnl.exe", "simdrv.sys", "simdrv2.sys"]]
    assert machine.loaded_modules() == ["simkrnl.exe", "simdrv.sys"]
    symbols = [e[:2] for e in machine.events if e[0] in ("load", "unload")]
    assert symbols == [
        ("load", "\\SystemRoot\\system32\\simkrnl.exe"),
        ("load", "\\SystemRoot\\system32\\drivers\\simdrv.sys"),
        ("load", SIMDRV2_PATH),
        ("unload", SIMDRV2_PATH),
    ]
    assert ("prompt", "simkrnl: enter boot options: ") in machine.events
    assert ("file_open", SIMDRV2_PATH) in machine.events


def test_build_number_chooses_the_build_lab(kdir):
    mm = minimachine()
    # One kernel per modelled build (simulator/kernel/builds.py): builds/<N>/simkrnl.exe,
    # its NtBuildLab initialised for that build, whatever the loader block says.
    machine = mm.MiniMachine(kdir, build=22621)
    assert machine.run(2000, until=lambda m: "boot complete" in m.text())
    assert "simkrnl: 22621.1.amd64fre.ni_release.220506-1250," in machine.text()
    lab = machine.read(machine.kernel_exports["NtBuildLab"], 64).split(b"\0")[0]
    assert lab == b"22621.1.amd64fre.ni_release.220506-1250"


def test_served_file_is_read_whole(kdir):
    mm = minimachine()
    served = (kdir / "simdrv2.sys").read_bytes()
    machine = mm.MiniMachine(kdir, serve_files={SIMDRV2_PATH: served})
    assert machine.run(2000, until=lambda m: "boot complete" in m.text())
    assert (f"simkrnl: the debugger served {SIMDRV2_PATH}: {len(served)} bytes "
            f"(an MZ image)") in machine.text()


def test_served_simdrv2_is_the_one_loaded(kdir):
    """.kdfiles: the image cycler asks before each load and maps the served copy."""
    mm = minimachine()
    original = (kdir / "simdrv2.sys").read_bytes()
    patched = original.replace(b"simdrv2: DriverEntry: loaded at", b"simdrv2: DriverEntry: SERVED at")
    assert patched != original
    machine = mm.MiniMachine(kdir, prompt_reply=FAST_PACING, serve_files={SIMDRV2_PATH: patched})
    assert machine.run(20000, until=lambda m: "simdrv2: DriverEntry" in m.text()), machine.text()
    lines_in_order(machine.text(), [
        f"simkrnl: loading simdrv2.sys from the debugger's copy ({len(patched)} bytes)",
        "simkrnl: loaded simdrv2.sys at FFFFF80001100000",
        "simdrv2: DriverEntry: SERVED at FFFFF80001100000",
    ])
    assert ("map", "simdrv2.sys", True) in machine.events


def test_same_seed_same_output(kdir):
    mm = minimachine()
    texts = []
    for _ in range(2):
        machine = mm.MiniMachine(kdir, cpus=2, prompt_reply=FAST_PACING, seed=7)
        machine.run(3000)
        texts.append(machine.text())
    assert texts[0] == texts[1] and "tick 1" in texts[0]


def test_trigger_bug_bug_checks_with_a_walkable_stack(kdir):
    mm = minimachine()
    machine = mm.MiniMachine(kdir, cpus=2, prompt_reply=b"quiet")
    assert machine.run(4000, until=lambda m: "simdrv: worker thread" in m.text())
    machine.write(machine.driver_exports["TriggerBug"], struct.pack("<I", 1))
    assert machine.run(4000, until=lambda m: m.bugcheck is not None), machine.text()

    violation = next(e for e in machine.events if e[0] == "access_violation")
    _, rip, access, address = violation
    assert (access, address) == (1, 0x10)  # a write through a NULL structure pointer
    code, p1, p2, p3, p4 = machine.bugcheck["data"]
    assert (code, p1, p2, p4) == (0x7E, 0xC0000005, rip, 0)
    record = machine.read(p3, 0x28)  # EXCEPTION_RECORD: code, flags, next, address, count
    assert struct.unpack_from("<IIQQI", record) == (0xC0000005, 1, 0, rip, 2)

    name = symbolizer(kdir)
    stack = [name(frame) for frame in machine.bugcheck["stack"]]
    assert stack == ["RtlpBreakWithStatusInstruction", "KeBugCheckEx",
                     "KiDispatchUnhandledException", "KiUnhandledException",
                     "Level5", "Level4", "Level3", "Level2", "Level1",
                     "SimdrvWorkerThread", "PspSystemThreadStartup"], stack

    # After the bug check every processor stops: no more output.
    machine.run(2000)
    before = machine.text()
    machine.run(2000)
    assert machine.text() == before
    assert all(cpu["for_good"] or cpu["halted"] for cpu in machine.cpus)


def test_crash_request_bug_checks_the_running_thread(kdir):
    mm = minimachine()
    machine = mm.MiniMachine(kdir, cpus=1, prompt_reply=b"quiet")
    assert machine.run(4000, until=lambda m: "simdrv: worker thread" in m.text())
    machine.run(7)  # somewhere in the middle of the threads' work
    machine.cause_bugcheck(0)
    assert machine.run(100, until=lambda m: m.bugcheck is not None), machine.text()
    assert machine.bugcheck["data"] == [0xE2, 0, 0, 0, 0]
    stack = [symbolizer(kdir)(frame) for frame in machine.bugcheck["stack"]]
    assert stack[:3] == ["RtlpBreakWithStatusInstruction", "KeBugCheckEx", "KdpCauseBugCheck"]
    # The walk goes on through the interrupted thread down to its start.
    assert stack[-1] == "PspSystemThreadStartup", stack


def test_trigger_bug_2_is_one_hard_coded_breakpoint(kdir):
    mm = minimachine()
    machine = mm.MiniMachine(kdir, cpus=1, prompt_reply=b"quiet")
    assert machine.run(4000, until=lambda m: "simdrv: worker thread" in m.text())
    trigger = machine.driver_exports["TriggerBug"]
    machine.write(trigger, struct.pack("<I", 2))
    assert machine.run(4000, until=lambda m: any(e[0] == "breakpoint" for e in m.events))
    breaks = [e[1] for e in machine.events if e[0] == "breakpoint"]
    assert breaks == [machine.kernel_exports["DbgBreakPoint"]]
    # Continued past the int 3, the worker goes on; the trigger has reset itself.
    passes = machine.driver_exports["SimdrvPasses"]
    before = machine.read_u64(passes)
    machine.run(400)
    assert machine.read_u64(passes) > before
    assert struct.unpack("<I", machine.read(trigger, 4))[0] == 0
    assert machine.bugcheck is None
