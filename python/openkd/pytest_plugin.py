"""pytest plugin for openkd: simulators, debuggers and remoting as fixtures.

Enable it with ``-p openkd.pytest_plugin`` (or installed, through its
``pytest11`` entry point). Fixtures:

- ``kdsim``: a fresh Simulator per test, listening on a Unix socket in its own
  temporary directory (nothing shared between tests or xdist workers), or where
  ``@pytest.mark.openkd(listen="kdnet:")`` says (any ``Simulator.listen`` string;
  ``"kdnet:"`` takes a free UDP port and a fresh key).
- ``kd_session``: a Debugger attached to ``kdsim``, booted and broken in.
- ``kd_remote``: a remoting server on ``kd_session`` with a client attached.
- ``cpus``: the simulator's processors (parametrize it: ``@pytest.mark.parametrize("cpus", [1, 4])``).
- ``faults``: the link fault spec of the test (``@pytest.mark.faults("drop=0.01,seed=3")``
  or ``@pytest.mark.parametrize("faults", [...], indirect=True)``), None without.

Options: ``--openkd-cpus N``, ``--openkd-seed S``; ``@pytest.mark.openkd(cpus=4, seed=1, listen=...)``
overrides them per test (also ``boot_options=``, and ``driver_cycle="manual"`` for
``kdsim.load_driver()`` / ``unload_driver()``). A failing test's report gets a section with the tail
of the decoded KD traffic of every debugger the test opened.
"""
from __future__ import annotations

import pytest

import openkd


def pytest_addoption(parser):
    group = parser.getgroup("openkd")
    group.addoption("--openkd-cpus", type=int, default=1, help="processors of each simulated target (default 1)")
    group.addoption("--openkd-seed", type=int, default=0, help="seed of each simulated target (default 0)")
    group.addoption("--openkd-build", type=int, default=19041,
                    help="Windows build each simulated target models (default 19041; kdsim --build)")
    group.addoption("--openkd-traffic", type=int, default=40,
                    help="lines of KD traffic shown for a failing test (default 40)")


def pytest_configure(config):
    config.addinivalue_line("markers", "faults(spec): run the test's simulator under seeded link faults "
                                       "(kdsim syntax: drop=P,corrupt=P,dup=P,truncate=P,delay=MS,seed=N)")
    config.addinivalue_line("markers", "openkd(cpus=N, seed=S, build=B, boot_options=..., listen=WHERE, driver_cycle=...): "
                                       "the test's simulator settings")


def _setting(request, name, default):
    m = request.node.get_closest_marker("openkd")
    if m is not None and name in m.kwargs:
        return m.kwargs[name]
    return default


@pytest.fixture
def faults(request):
    """The link fault spec for this test, or None."""
    if hasattr(request, "param"):
        return request.param
    m = request.node.get_closest_marker("faults")
    if m is not None:
        return m.args[0] if m.args else ",".join(f"{k}={v}" for k, v in m.kwargs.items())
    return None


@pytest.fixture
def cpus(request):
    """Processors of the test's simulator: ``@pytest.mark.parametrize("cpus", [1, 4])``,
    ``@pytest.mark.openkd(cpus=N)`` or ``--openkd-cpus`` (default 1)."""
    if hasattr(request, "param"):
        return request.param
    return _setting(request, "cpus", request.config.getoption("openkd_cpus", 1))


@pytest.fixture
def build(request):
    """The Windows build of the test's simulator: ``@pytest.mark.parametrize("build", [7601, 26100])``,
    ``@pytest.mark.openkd(build=N)`` or ``--openkd-build`` (default 19041)."""
    if hasattr(request, "param"):
        return request.param
    return _setting(request, "build", request.config.getoption("openkd_build", 19041))


@pytest.fixture
def kdsim(request, faults, cpus, build):
    """A fresh simulated kernel listening on its own socket (closed after the test)."""
    sim = openkd.Simulator(cpus=cpus, build=build,
                           seed=_setting(request, "seed", request.config.getoption("openkd_seed", 0)),
                           faults=faults, boot_options=_setting(request, "boot_options", ""),
                           driver_cycle=_setting(request, "driver_cycle", None))
    sim.listen(_setting(request, "listen", None))
    yield sim
    sim.close()


@pytest.fixture
def kd_session(kdsim, faults):
    """A Debugger attached to ``kdsim``, the kernel booted and broken in."""
    dbg = openkd.Debugger.connect(kdsim, timeout=60 if faults else 30, request_timeout=20 if faults else 10)
    dbg.boot(timeout=120 if faults else 60)
    yield dbg
    dbg.close()


@pytest.fixture
def kd_remote(kd_session):
    """(server, client): a remoting server on ``kd_session`` (a private Unix socket) and a client attached."""
    server = openkd.RemoteServer(kd_session)
    client = openkd.RemoteClient.connect(server.client_string)
    yield server, client
    client.close()
    server.close()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item._openkd_first_serial = next(openkd._serials)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when not in ("call", "setup") or not report.failed:
        return
    first = getattr(item, "_openkd_first_serial", 0)
    lines = item.config.getoption("openkd_traffic", 40)
    for dbg in sorted(list(openkd._live), key=lambda d: d._serial):
        if dbg._serial < first or dbg.closed:
            continue
        try:
            tail = dbg.traffic(lines)
            packets = dbg.packets(lines)
            counters = dbg.counters()
        except Exception as e:  # the report must not fail because the session did
            report.sections.append((f"openkd debugger {dbg._serial}", f"(no traffic record: {e})"))
            continue
        figures = ", ".join(f"{k}={counters[k]}" for k in ("packets_sent", "packets_received", "retransmissions",
                                                           "resyncs", "bad_checksums") if k in counters)
        report.sections.append((f"openkd KD traffic (debugger {dbg._serial}: last {len(tail)} requests)",
                                "\n".join(tail) + f"\n[{figures}]"))
        report.sections.append((f"openkd KD packets (debugger {dbg._serial}: last {len(packets)})", "\n".join(packets)))
