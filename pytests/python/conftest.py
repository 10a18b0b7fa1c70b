"""The openkd Python package's scenario tests. They need the package built
(make test puts ${build}/python on PYTHONPATH and loads openkd.pytest_plugin);
without it they are skipped."""
import os
import sys

import pytest

try:
    import openkd  # noqa: F401
except ImportError:
    build = os.environ.get("OPENKD_BUILD")
    if build and os.path.isdir(os.path.join(build, "python", "openkd")):
        sys.path.insert(0, os.path.join(build, "python"))
    try:
        import openkd  # noqa: F401
    except ImportError:
        openkd = None

if openkd is None:
    collect_ignore_glob = ["test_*.py"]


def pytest_configure(config):
    # Run by hand without -p openkd.pytest_plugin: load it now (its options take their defaults).
    if openkd is not None and not config.pluginmanager.has_plugin("openkd.pytest_plugin"):
        import openkd.pytest_plugin as plugin
        config.pluginmanager.register(plugin, "openkd.pytest_plugin")
