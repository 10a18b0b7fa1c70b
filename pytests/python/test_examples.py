"""The README's ten-line pytest and examples/ stay true: run them as a user would."""
import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_examples_suite_passes():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "openkd.pytest_plugin", "-p", "no:cacheprovider", "-q",
                        "-p", "no:xdist", str(EXAMPLES)], cwd=EXAMPLES, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "10 passed" in r.stdout
