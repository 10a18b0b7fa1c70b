"""dt and the type-driven extensions with types from the simulated kernel's own
PDB (the default symbol path of -k sim), on three modelled builds. Offsets are
checked against llvm-pdbutil-14's dump of that build's PDB, and the process list
against the processes simulator/kernel/builds.py says each build has."""
import re
import subprocess

import pytest

from kd_helpers import build_dir, run_kd

PROCESSES = {"System": 0x4, "smss.exe": 0x174, "csrss.exe": 0x1F4, "explorer.exe": 0x1208}


def pdbutil_offsets(pdb, type_name):
    """Field name -> offset of `type_name`'s definition, from llvm-pdbutil-14 (not openkd)."""
    dump = subprocess.run(["llvm-pdbutil-14", "dump", "-types", str(pdb)], capture_output=True, text=True,
                          check=True).stdout
    records = dict(re.findall(r"^\s+(0x[0-9A-F]+) \| (.*?)(?=^\s+0x[0-9A-F]+ \| |\Z)", dump, re.M | re.S))
    # The definition (not the forward reference) names its field list.
    lists = [re.search(r"field list: (0x[0-9A-F]+)", r).group(1) for r in records.values()
             if r.startswith(f"LF_STRUCTURE [size = ") and f"`{type_name}`" in r and "field list: 0x" in r]
    assert lists, f"no definition of {type_name} in {pdb}"
    members = re.findall(r"- LF_MEMBER \[name = `([^`]+)`, Type = [^,]+, offset = (\d+)", records[lists[0]])
    return {name: int(off) for name, off in members}


@pytest.mark.parametrize("build", [7601, 19041, 26100])
def test_dt_eprocess_offsets_are_the_pdbs(build):
    rc, out, err = run_kd(["-k", f"sim:build={build}"], "dt nt!_EPROCESS\nq\n")
    assert rc == 0, err
    shown = {name: int(off, 16) for off, name in re.findall(r"^\s+\+0x([0-9a-f]+) (\w+)", out, re.M)}
    truth = pdbutil_offsets(build_dir() / "simulator/kernel/builds" / str(build) / "simkrnl.pdb", "_EPROCESS")
    for field in ("UniqueProcessId", "ActiveProcessLinks", "ImageFileName", "Peb"):
        assert shown[field] == truth[field], (build, field, out)


@pytest.mark.parametrize("build", [7601, 19041, 26100])
def test_process_list_and_the_current_thread(build):
    script = "bp nt!KeDelayExecutionThread\ng\n!process 0 0\ndt nt!_KPRCB @$prcb\n? @$thread\n!thread\nq\n"
    rc, out, err = run_kd(["-k", f"sim:build={build}"], script)
    assert rc == 0, err
    listing = out.split("kd> !process 0 0\n", 1)[1].split("kd> ")[0]
    found = dict(re.findall(r"Cid: ([0-9a-f]{4}) .*\n.*\n\s+Image: (\S+)", listing))
    assert {name: int(cid, 16) for cid, name in found.items()} == PROCESSES, listing
    current = re.search(r"CurrentThread\s+: (0x[0-9a-f`]+)", out).group(1).replace("`", "")
    assert re.search(rf"Evaluate expression: -?\d+ = {int(current, 16) >> 32:08x}`{int(current, 16) & 0xFFFFFFFF:08x}",
                     out), out
    assert re.search(rf"THREAD {int(current, 16):x}\s+Cid 0004\.", out), out
