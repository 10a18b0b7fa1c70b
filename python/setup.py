"""The openkd wheel: `python3 -m pip wheel --no-build-isolation python/` (or
`python3 -m build --wheel --no-isolation python/` with Debian's python3-build).

The extension is built by the project's own CMake (target openkd_python) in
$OPENKD_BUILD (default: build/wheel at the top of the tree), and the simulated
kernel's images go into the package (openkd/kernel), so Simulator() works
wherever the wheel is installed. Everything comes from Debian packages; no
build isolation (that would fetch setuptools from PyPI).
"""
import glob
import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build = os.environ.get("OPENKD_BUILD") or os.path.join(ROOT, "build", "wheel")
        if not os.path.exists(os.path.join(build, "build.ninja")):
            subprocess.check_call(["cmake", "-S", ROOT, "-B", build, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                                   "-DPYBIND11_FINDPYTHON=ON", f"-DPython_EXECUTABLE={sys.executable}"])
        subprocess.check_call(["cmake", "--build", build, "--target", "openkd_python"])
        built = glob.glob(os.path.join(build, "python", "openkd", "_openkd*.so"))
        if not built:
            raise RuntimeError(f"the openkd extension was not built in {build} (is pybind11-dev installed?)")
        dest = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy2(built[0], dest)
        kernel = os.path.join(os.path.dirname(dest), "kernel")
        os.makedirs(kernel, exist_ok=True)
        for f in glob.glob(os.path.join(build, "simulator", "kernel", "*")):
            if f.endswith((".exe", ".sys", ".pdb")):
                shutil.copy2(f, kernel)
        # One kernel per modelled Windows build (simulator/kernel/builds.py): builds/<N>/.
        for f in glob.glob(os.path.join(build, "simulator", "kernel", "builds", "*", "simkrnl.*")):
            if f.endswith((".exe", ".pdb")):
                per_build = os.path.join(kernel, "builds", os.path.basename(os.path.dirname(f)))
                os.makedirs(per_build, exist_ok=True)
                shutil.copy2(f, per_build)


setup(
    name="openkd",
    version="0.1.0",
    description="Windows kernel debugger (KD) protocol toolkit: simulated targets, debuggers and remoting for tests",
    packages=["openkd"],
    package_data={"openkd": ["*.pyi", "py.typed"]},
    ext_modules=[Extension("openkd._openkd", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    entry_points={"pytest11": ["openkd.pytest_plugin = openkd.pytest_plugin"]},
    python_requires=">=3.9",
    zip_safe=False,
)
