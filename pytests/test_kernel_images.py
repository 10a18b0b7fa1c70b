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
}
# The rest of the kernel API the drivers may import.
KERNEL_API_EXPORTS = {
    "PsCreateSystemThread", "PsTerminateSystemThread", "ExAllocatePoolWithTag",
    "ExFreePoolWithTag", "KeGetCurrentProcessorNumber", "KeGetCurrentThread",
    "KeDelayExecutionThread", "RtlInitUnicodeString", "RtlInitAnsiString",
    "memcpy", "memset", "DbgLoadImageSymbols", "DbgUnLoadImageSymbols",
}
DRIVER_EXPORTS = {
    "simdrv.sys": {"DriverEntry", "TriggerBug"},
    "simdrv2.sys": {"DriverEntry", "DriverUnload"},
}
ENTRY_POINTS = {"simkrnl.exe": "KiSystemStartup", "simdrv.sys": "DriverEntry",
                "simdrv2.sys": "DriverEntry"}
CHAIN = ["Level1", "Level2", "Level3", "Level4", "Level5"]

# Structure sizes and the offsets ABI.md and kd-protocol.md section 5 name.
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
    starts = {f[0] for f in runtime_functions(kdir / "simkrnl.exe")}
    for name in ("KiSystemStartup", "KeBugCheckEx", "KiUnhandledException", "DbgPrint",
                 "DbgBreakPoint", "DbgBreakPointWithStatus", "PsCreateSystemThread"):
        assert table[name] in starts, f"{name} has no RUNTIME_FUNCTION"
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
