"""Tests of kdsim's modelled Windows builds (simulator/kernel/builds.py): the per-build
kernel images and PDBs, and running targets read the way an independent client does.
The table is loaded from the source tree; the openkd package from $OPENKD_BUILD/python."""
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # simbuilds_table

try:
    import openkd  # noqa: F401
except ImportError:
    build_dir = os.environ.get("OPENKD_BUILD")
    if build_dir and os.path.isdir(os.path.join(build_dir, "python", "openkd")):
        sys.path.insert(0, os.path.join(build_dir, "python"))


@pytest.fixture(scope="session")
def kernel_dir():
    explicit = os.environ.get("OPENKD_KERNEL_DIR")
    build_dir = os.environ.get("OPENKD_BUILD")
    if explicit:
        directory = Path(explicit)
    elif build_dir:
        directory = Path(build_dir) / "simulator" / "kernel"
    else:
        pytest.skip("set OPENKD_BUILD (or OPENKD_KERNEL_DIR) to find the kernel images")
    if not (directory / "builds").is_dir():
        pytest.skip(f"no per-build kernels in {directory}/builds")
    return directory
