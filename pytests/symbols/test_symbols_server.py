"""Symbols from a symbol server: kd downloads each module's PDB once into the
cache (store layout name.pdb/GUIDAGE/name.pdb), then works from the cache with the
server gone; a corrupt or mismatched PDB is refused with one line and the module's
export symbols are used; a compressed name.pd_ (a CAB) is expanded. The server is
python's http.server on a free loopback port; GUIDs come from llvm-pdbutil-14."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from symbol_server import SymbolServer, cab, guid_text, pdb_key, store

sys.path.insert(0, str(Path(__file__).parent.parent / "kd"))
import kd_helpers  # noqa: E402  (build_dir, tool, check_golden: shared with pytests/kd)

# Stop at the first driver load (simdrv): past the kernel's own load event first.
TO_SIMDRV = "sxe ld\ng\ng\n"


def kd_path():
    return kd_helpers.tool("kd")


def kernel_dir():
    return kd_helpers.build_dir() / "simulator" / "kernel"


def run_kd(args, script, timeout=120):
    env = dict(os.environ)
    env.pop("_NT_SYMBOL_PATH", None)
    p = subprocess.run([str(kd_path()), "-k", "sim", *args], input=script, capture_output=True, text=True,
                       timeout=timeout, env=env)
    assert p.returncode == 0, p.stderr + p.stdout[-3000:]
    return p.stdout


def module_line(out, name):
    lines = [l for l in out.splitlines() if re.match(rf"^[0-9a-f`]+ [0-9a-f`]+   {name} ", l)]
    assert lines, out[-3000:]
    return lines[-1]


def reload_ms(out):
    return [int(m) for m in re.findall(r"with PDB symbols \((\d+) ms\)", out)]


@pytest.fixture
def server_root(tmp_path):
    root = tmp_path / "server"
    root.mkdir()
    return root


def serve_real(root, names=("simkrnl.pdb", "simdrv.pdb")):
    for name in names:
        pdb = kernel_dir() / name
        store(root, name, pdb_key(pdb)[2], pdb.read_bytes())


def test_first_load_downloads_second_works_offline(server_root, tmp_path):
    serve_real(server_root)
    cache = tmp_path / "cache"
    server = SymbolServer(server_root)
    try:
        path = f"srv*{cache}*{server.url}"
        first = run_kd(["-y", path], TO_SIMDRV + ".reload /f\nlm\nx simdrv!Level3\nq\n")
    finally:
        server.stop()
    keys = {n: pdb_key(kernel_dir() / n)[2] for n in ("simkrnl.pdb", "simdrv.pdb")}
    for name, key in keys.items():
        assert server.requests[f"/{name}/{key}/{name}"] == 1, server.requests
        cached = cache / name / key / name
        assert cached.read_bytes() == (kernel_dir() / name).read_bytes()
        assert not list(cached.parent.glob("*.tmp*")), "a temporary download file was left behind"
    assert f"(pdb symbols)          {cache}/simdrv.pdb/{keys['simdrv.pdb']}/simdrv.pdb" in module_line(first, "simdrv")
    assert f"{cache}/simkrnl.pdb/{keys['simkrnl.pdb']}/simkrnl.pdb" in module_line(first, "nt")
    assert re.search(r"simdrv!Level3 \(_SIMDRV_WORK_ITEM \*", first), first[-2000:]
    assert "ERROR" not in first

    # The server is gone: everything comes from the cache.
    second = run_kd(["-y", path], TO_SIMDRV + ".reload /f\nlm\nx simdrv!Level3\nq\n")
    assert module_line(second, "simdrv") == module_line(first, "simdrv")
    assert module_line(second, "nt") == module_line(first, "nt")
    assert "ERROR" not in second
    print(f"\n.reload /f with the server (first): {reload_ms(first)} ms; from the cache (second): {reload_ms(second)} ms")


def test_a_corrupt_pdb_is_refused_once_and_exports_are_used(server_root, tmp_path):
    serve_real(server_root, ("simkrnl.pdb",))
    key = pdb_key(kernel_dir() / "simdrv.pdb")[2]
    store(server_root, "simdrv.pdb", key, b"Microsoft C/C++ MSF 7.00\r\n\x1aDS\0\0\0" + bytes(range(256)) * 40)
    cache = tmp_path / "cache"
    server = SymbolServer(server_root)
    try:
        out = run_kd(["-y", f"srv*{cache}*{server.url}"],
                     TO_SIMDRV + "x simdrv!DriverEntry\n.reload\nln simdrv!DriverEntry\nln nt!KeBugCheckEx\nlm\nq\n")
    finally:
        server.stop()
    refusals = [l for l in out.splitlines() if "Symbol file could not be found for simdrv.sys" in l]
    assert len(refusals) == 1, out[-3000:]
    assert f"GUID {guid_text(kernel_dir() / 'simdrv.pdb')} age 1" in refusals[0]
    assert "corrupt" in refusals[0] and "defaulted to export symbols" in refusals[0]
    assert "(export symbols)       simdrv.sys" in module_line(out, "simdrv")
    assert re.search(r"[0-9a-f`]+ simdrv!DriverEntry \(<no parameter info>\)", out)
    assert not (cache / "simdrv.pdb" / key / "simdrv.pdb").exists(), "a corrupt download stayed in the cache"
    assert "(pdb symbols)" in module_line(out, "nt")


def test_a_mismatched_pdb_is_refused_with_the_guid_looked_for(server_root, tmp_path):
    serve_real(server_root, ("simkrnl.pdb",))
    key = pdb_key(kernel_dir() / "simdrv.pdb")[2]
    store(server_root, "simdrv.pdb", key, (kernel_dir() / "simdrv2.pdb").read_bytes())
    server = SymbolServer(server_root)
    try:
        out = run_kd(["-y", f"srv*{tmp_path / 'cache'}*{server.url}"], TO_SIMDRV + ".reload /f\nlm\nq\n")
    finally:
        server.stop()
    refusals = [l for l in out.splitlines() if "Symbol file could not be found for simdrv.sys" in l]
    assert len(refusals) == 1, out[-3000:]
    assert f"GUID {guid_text(kernel_dir() / 'simdrv.pdb')} age 1" in refusals[0]
    assert f"mismatched" in refusals[0] and guid_text(kernel_dir() / "simdrv2.pdb") in refusals[0]
    assert "(export symbols)       simdrv.sys" in module_line(out, "simdrv")


def test_a_compressed_pd_underscore_is_expanded(server_root, tmp_path):
    for name in ("simkrnl.pdb", "simdrv.pdb"):
        pdb = kernel_dir() / name
        store(server_root, name[:-1] + "_", pdb_key(pdb)[2], cab(name, pdb.read_bytes()))
    cache = tmp_path / "cache"
    server = SymbolServer(server_root)
    try:
        out = run_kd(["-y", f"srv*{cache}*{server.url}"], TO_SIMDRV + ".reload /f\nlm\nq\n")
    finally:
        server.stop()
    key = pdb_key(kernel_dir() / "simdrv.pdb")[2]
    assert server.requests[f"/simdrv.pdb/{key}/simdrv.pdb"] == 1  # asked first, 404
    assert server.requests[f"/simdrv.pdb/{key}/simdrv.pd_"] == 1
    assert (cache / "simdrv.pdb" / key / "simdrv.pdb").read_bytes() == (kernel_dir() / "simdrv.pdb").read_bytes()
    assert "(pdb symbols)" in module_line(out, "simdrv")
    assert "ERROR" not in out


def test_noisy_shows_every_path_tried(tmp_path):
    out = run_kd(["-y", f"{tmp_path / 'empty'};{kernel_dir()}"], "!sym noisy\n" + TO_SIMDRV + "lm\nx simdrv!Level1\nq\n")
    assert f"DBGHELP: {tmp_path / 'empty'}/simdrv.pdb - file not found" in out
    assert f"DBGHELP: {kernel_dir()}/simdrv.pdb - OK" in out


def normalise(text):
    """What differs between builds: the build folder, GUIDs and link timestamps, timings."""
    text = text.replace(str(kernel_dir()), "KERNELDIR")
    text = re.sub(r"\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}", "{GUID}", text)
    text = re.sub(r"Timestamp:        [0-9A-F]{8}", "Timestamp:        TIMESTAMP", text)
    return re.sub(r"\(\d+ ms\)", "(N ms)", text)


def test_golden_lm_v_x_ln():
    """lm v, x (plain, /t, /v) and ln from a local symbol folder (flat layout), with -n."""
    script = TO_SIMDRV + (".reload /f\nlm v\nx simdrv!Level*\nx /t simdrv!Simdrv*\nx /v nt!KeTickCount\n"
                          "ln simdrv!Level3+0x10\nln simdrv!DriverEntry\nlm n\nlm sm\nq\n")
    # kd_helpers keeps goldens in pytests/kd/golden; this one lives in pytests/symbols/golden.
    kd_helpers.check_golden("../../symbols/golden/lm_x_ln", normalise(run_kd(["-n", "-y", str(kernel_dir())], script)))


def test_sympath_takes_the_whole_line_and_sympath_plus_appends(tmp_path):
    """`.sympath A;B` keeps its ';' (a symbol path, not two commands), `.sympath+` appends,
    and modules refused under the old path are looked for again under the new one."""
    script = (f".sympath {tmp_path / 'none'};{tmp_path / 'empty'}\n.sympath+ {kernel_dir()}\n"
              + TO_SIMDRV + "x simdrv!Level1\nlm\nq\n")
    out = run_kd([], script)
    assert f"Symbol search path is: {tmp_path / 'none'};{tmp_path / 'empty'};{kernel_dir()}" in out
    assert "Unknown command" not in out
    assert f"(pdb symbols)          {kernel_dir()}/simdrv.pdb" in module_line(out, "simdrv")
    # nt's PDB came from -k sim's default path (its build's folder) before the path changed.
    assert re.search(r"\(pdb symbols\)\s+\S+/simkrnl\.pdb", module_line(out, "nt")), out
