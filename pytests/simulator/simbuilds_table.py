"""simulator/kernel/builds.py (the table of modelled builds), loaded from the source tree."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("sim_builds_table", ROOT / "simulator" / "kernel" / "builds.py")
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    return table


TABLE = _load()
