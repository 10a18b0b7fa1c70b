"""One kernel image and PDB per modelled build (simulator/kernel/builds.py): the PDB's
types (read with llvm-pdbutil-14, not openkd's code), NtBuildNumber, NtBuildLab and the
debugger data block's Offset*/Size* fields in the image agree with the table."""
import shutil
import struct
import sys

import pytest

from simbuilds_table import ROOT, TABLE

sys.path.insert(0, str(ROOT / "pytests"))
from test_kernel_images import PeFile, exports, pdb_structs as pdb_types  # noqa: E402

PDBUTIL = "llvm-pdbutil-14"
READOBJ = "llvm-readobj-14"
BUILDS = sorted(TABLE.BUILDS)


@pytest.fixture(scope="module", autouse=True)
def tools():
    for tool in (PDBUTIL, READOBJ):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed")


class Image(PeFile):
    """The kernel PE file with its exports (llvm-readobj-14)."""

    def __init__(self, path):
        super().__init__(path)
        self.exports = exports(path)

    def export(self, name, size):
        return self.read(self.exports[name], size)


@pytest.fixture(scope="module")
def images(kernel_dir):
    return {b: kernel_dir / "builds" / str(b) for b in BUILDS}


def expect(members, offsets, struct_name, build):
    for field, offset in offsets.items():
        if field == "size":
            continue
        assert field in members, f"{build}: {struct_name}.{field} missing from the PDB"
        assert members[field] == offset, \
            f"{build}: {struct_name}.{field} at {members[field]:#x} in the PDB, the table says {offset:#x}"


@pytest.mark.parametrize("build", BUILDS)
def test_pdb_layouts_are_the_tables(images, build):
    entry = TABLE.BUILDS[build]
    types = pdb_types(images[build] / "simkrnl.pdb")
    size, members = types["_EPROCESS"]
    expect(members, dict(entry["eprocess"], Pcb=0), "_EPROCESS", build)
    assert size == entry["eprocess"]["size"]
    size, members = types["_KPROCESS"]
    expect(members, TABLE.KPROCESS_COMMON, "_KPROCESS", build)
    assert size == entry["kprocess_size"]
    size, members = types["_KTHREAD"]
    expect(members, entry["kthread"], "_KTHREAD", build)
    assert size == entry["kthread"]["size"]
    size, members = types["_ETHREAD"]
    expect(members, entry["ethread"], "_ETHREAD", build)
    assert members["Tcb"] == 0
    # The kernel's own fields come after the real ETHREAD.
    assert members["SimExtension"] == entry["ethread"]["size"]
    for dotted, offset in TABLE.FIXED.items():
        struct_name, field = dotted.split(".")
        _, members = types["_" + struct_name]
        assert members[field] == offset, f"{build}: {dotted}"
    assert types["_CLIENT_ID"] == (16, {"UniqueProcess": 0, "UniqueThread": 8})


@pytest.mark.parametrize("build", BUILDS)
def test_build_number_and_lab_are_initialised_data(images, build):
    """Right from the first instruction, as Windows' are (no boot code sets them)."""
    image = Image(images[build] / "simkrnl.exe")
    number = struct.unpack("<I", image.export("NtBuildNumber", 4))[0]
    assert number == 0xF0000000 | build
    lab = image.export("NtBuildLab", 80).split(b"\0")[0].decode()
    assert lab == TABLE.BUILDS[build]["lab"]
    assert lab.startswith(f"{build}.")


# KDDEBUGGER_DATA64 offsets of the Offset*/Size* fields (Windows' wdbgexts.h layout,
# simulator/kernel/sdk/kd.h) and what each must be, from the table.
def kdbg_fields(entry):
    kt, et, ep = entry["kthread"], entry["ethread"], entry["eprocess"]
    return {
        0x29A: ("H", kt["Teb"]), 0x29C: ("H", kt["KernelStack"]), 0x29E: ("H", kt["InitialStack"]),
        0x2A0: ("H", kt["ApcState"] + 0x20), 0x2A2: ("H", kt["State"]),
        0x2A8: ("H", ep["size"]), 0x2AA: ("H", ep["Peb"]),
        0x2AC: ("H", ep["InheritedFromUniqueProcessId"]),
        0x2AE: ("H", TABLE.KPROCESS_COMMON["DirectoryTableBase"]),
        0x2B4: ("H", TABLE.FIXED["KPRCB.CurrentThread"]), 0x2BE: ("H", TABLE.FIXED["KPRCB.Number"]),
        0x2C0: ("H", et["size"]),
        0x2E6: ("H", TABLE.FIXED["KPCR.Prcb"]),
        0x340: ("I", kt["StackLimit"]), 0x344: ("I", kt["StackBase"]),
    }


@pytest.mark.parametrize("build", BUILDS)
def test_debugger_data_offsets_are_the_tables(images, build):
    image = Image(images[build] / "simkrnl.exe")
    block = image.export("KdDebuggerDataBlock", 0x380)
    assert block[0x10:0x14] == b"KDBG"
    for offset, (kind, value) in kdbg_fields(TABLE.BUILDS[build]).items():
        got = struct.unpack_from("<" + kind, block, offset)[0]
        assert got == value, f"{build}: KDDEBUGGER_DATA64+{offset:#x} is {got:#x}, the table says {value:#x}"


def test_unverified_values_are_listed():
    """Layouts not read from a public dump are named in the table (and the README)."""
    for build, parts in TABLE.UNVERIFIED.items():
        assert build in TABLE.BUILDS
        assert set(parts) <= {"kthread", "ethread", "eprocess", "kprocess_size"}
