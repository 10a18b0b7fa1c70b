"""openkd from Python: simulated Windows kernels, KD debuggers and remoting for tests.

The C++ core does the work (the same session, command engine and simulator as
``kd`` and ``kdsim``); blocking calls release the GIL, and waits for the target
honour Ctrl-C (KeyboardInterrupt breaks in first).

    import openkd
    with openkd.Simulator(cpus=1, seed=0) as sim:
        with openkd.Debugger.connect(sim.listen()) as dbg:
            dbg.boot()                                  # run to "boot complete", break in
            bp = dbg.set_breakpoint("simdrv!Level3")
            stop = dbg.continue_(timeout=30)
            assert stop.reason == "breakpoint" and bp.hits == 1
            assert dbg.registers()["rip"] == bp.address

Errors are ``openkd.Error`` and its subclasses (``openkd.errors``).
"""
from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Union

from . import _openkd
from .errors import ConnectionError, Error, ProtocolError, RunningError, TargetError, TimeoutError

__all__ = [
    "Simulator", "Debugger", "Stop", "Breakpoint", "Module", "Event", "parse_connection",
    "RemoteServer", "RemoteClient",
    "Error", "ProtocolError", "TimeoutError", "TargetError", "RunningError", "ConnectionError",
]
__version__ = "0.1.0"

# Commands that run the target: while one runs, reads fail fast (RunningError)
# instead of waiting for the target to stop.
_RESUMING = {"g", "gh", "gn", "gu", "p", "t", "pc", "tc", ".reboot", ".crash"}

_serials = itertools.count(1)
_live: "weakref.WeakSet[Debugger]" = weakref.WeakSet()


def _kernel_dir() -> str:
    """OPENKD_KERNEL_DIR, else the images installed with the package, else the build tree's."""
    env = os.environ.get("OPENKD_KERNEL_DIR")
    if env:
        return env
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernel")
    if os.path.isfile(os.path.join(here, "simkrnl.exe")):
        return here
    return ""


def parse_connection(text: str) -> Dict[str, object]:
    """Parses a ``-k`` string with kd's own parser (``backends::parse_connect_string``).

    Returns a dict: kind (pipe, serial, tcp_serial, net, sim), path, port, baud,
    resets, reconnect, key, target, cpus, seed, build and the canonical string.
    Raises ``openkd.Error`` with kd's one-line message when the string is bad.
    """
    return _openkd.parse_connection(text)


@dataclass(frozen=True)
class Stop:
    """Why the target stopped.

    reason: "breakpoint" (one of ours), "break" (break-in or a hard-coded int 3),
    "bugcheck", "single_step", "hardware_breakpoint", "exception",
    "module_load", "module_unload" or "command_string".
    """

    reason: str
    code: int = 0
    address: int = 0
    processor: int = 0
    thread: int = 0
    first_chance: bool = True
    parameters: List[int] = field(default_factory=list)
    module: str = ""
    module_base: int = 0
    breakpoint: Optional[int] = None

    @classmethod
    def _from(cls, d: dict) -> "Stop":
        return cls(**d)

    def __str__(self) -> str:
        if self.reason in ("module_load", "module_unload"):
            return f"{self.reason}: {self.module} at {self.module_base:#x} (processor {self.processor})"
        return f"{self.reason} at {self.address:#x} code {self.code:#010x} processor {self.processor}"


@dataclass(frozen=True)
class Module:
    """A loaded module as kd names it ("nt", "simdrv")."""

    name: str
    image_name: str
    base: int
    size: int
    path: str = ""

    @property
    def end(self) -> int:
        return self.base + self.size


@dataclass(frozen=True)
class Event:
    """Something the target or the link reported: kind "print", "stop", "notice" or "connection"."""

    kind: str
    text: str
    stop: Optional[Stop] = None

    @classmethod
    def _from(cls, d: dict) -> "Event":
        return cls(d["kind"], d["text"], Stop._from(d["stop"]) if d["stop"] else None)


class Breakpoint:
    """A software breakpoint (kd's ``bp``). ``hits`` counts every time the target hit it."""

    def __init__(self, debugger: "Debugger", bp_id: int, address: int, expression: str):
        self._debugger = weakref.ref(debugger)
        self.id = bp_id
        self.address = address
        self.expression = expression

    @property
    def hits(self) -> int:
        d = self._debugger()
        return d._d.hits(self.address) if d is not None and not d.closed else 0

    def remove(self) -> None:
        """Clears the breakpoint (``bc``)."""
        d = self._debugger()
        if d is not None:
            d._d.remove_breakpoint(self.id)

    def __repr__(self) -> str:
        return f"<Breakpoint {self.id} at {self.address:#x} ({self.expression}) hits={self.hits}>"


class _Closable:
    """close() on leaving a with block; a private temporary directory removed on close."""

    _tempdir: Optional[str] = None

    def _make_tempdir(self, prefix: str) -> str:
        self._tempdir = tempfile.mkdtemp(prefix=prefix)
        return self._tempdir

    def _remove_tempdir(self) -> None:
        if self._tempdir:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Simulator(_Closable):
    """A simulated Windows x64 kernel (the one ``kdsim`` runs), in this process.

    It starts held at its first instruction (``break_on_boot``) until a debugger
    attaches. ``listen()`` makes it reachable and returns the ``-k`` string a
    debugger needs. Ground truth for assertions (``read_memory``, ``registers``,
    ``instruction_count``, ``modules``) comes from the machine itself, not over KD.

    faults: kdsim's syntax ("drop=0.01,corrupt=0.01,dup=0,truncate=0,delay=MS,seed=N")
    or a dict of the same keys; applied to the link's bytes in both directions.
    driver_cycle: (load, loaded): simdrv2.sys is loaded after ``load`` and unloaded after
    ``loaded`` worker iterations, over and over (the kernel's boot options, answered by a
    Debugger that connects with this Simulator). "manual": it is loaded and unloaded
    only when ``load_driver()`` and ``unload_driver()`` ask.
    boot_prompt: the kernel asks for boot options with DbgPrompt at boot (kdsim
    --boot-prompt); on by itself when ``boot_options`` or a ``driver_cycle`` pacing is
    given (the Debugger answers with them). Windows does not prompt at boot.
    on_detach: "freeze" (as Windows: a stopped kernel stays stopped when its debugger
    goes away, and the next one is told why) or "run" (it continues).
    """

    def __init__(self, cpus: int = 1, seed: int = 0, memory: int = 256, build: int = 19041,
                 faults: Union[None, str, Dict[str, object]] = None, break_on_boot: bool = True,
                 driver_cycle: Union[None, tuple, str] = None, boot_options: str = "",
                 boot_prompt: Optional[bool] = None, on_detach: str = "freeze"):
        if isinstance(faults, dict):
            faults = ",".join(f"{k}={v}" for k, v in faults.items())
        if isinstance(driver_cycle, str) and driver_cycle != "manual":
            raise Error(f"driver_cycle: expected (load, loaded) or \"manual\", got {driver_cycle!r}")
        manual = driver_cycle == "manual"
        self.cpus = cpus
        self.seed = seed
        self.faults = faults or ""
        opts = [boot_options] if boot_options else []
        if driver_cycle and not manual:
            opts.append(f"load={int(driver_cycle[0])} loaded={int(driver_cycle[1])}")
        self.boot_options = " ".join(opts)
        if on_detach not in ("freeze", "run"):
            raise Error(f"on_detach: expected \"freeze\" or \"run\", got {on_detach!r}")
        if boot_prompt is None:
            boot_prompt = bool(self.boot_options)
        self._owned = True
        self._s = _openkd._Simulator(cpus, seed, memory, build, self.faults, break_on_boot, _kernel_dir(), manual,
                                     bool(boot_prompt), on_detach == "run")

    @classmethod
    def _view(cls, raw) -> "Simulator":
        """The simulator a ``sim:`` Debugger runs in process (the Debugger owns and closes it)."""
        sim = cls.__new__(cls)
        sim._s, sim._owned, sim.cpus, sim.seed, sim.faults, sim.boot_options = raw, False, raw.cpus, None, "", ""
        return sim

    def listen(self, where: Optional[str] = None) -> str:
        """Listens for one debugger at a time and returns its ``-k`` string.

        where: "pipe:PATH", "tcp:HOST:PORT" (port 0: a free one), "pty"; None: a
        Unix socket in a fresh temporary directory (nothing shared between tests).
        "kdnet:port=N,key=K[,hostip=IP][,bind=IP]": a KDNET target on UDP like
        ``kdsim --kdnet`` (the same words); port 0 or none: a free port, no key: a
        fresh one. Without hostip it waits on bind (default 127.0.0.2) and returns
        "net:port=N,key=K,target=127.0.0.2,bind=127.0.0.1" (the debugger SOLICITs
        it); with hostip it POKEs the debugger there and returns
        "net:port=N,key=K,bind=HOSTIP". Both ends use port N on their own address.
        """
        if where is None:
            where = "pipe:" + os.path.join(self._make_tempdir("okd-"), "kd.sock")
        return self._s.listen(where)

    @property
    def connect_string(self) -> str:
        """The ``-k`` string (empty before ``listen()``)."""
        return self._s.connect_string

    def read_memory(self, address: int, size: int) -> bytes:
        """Ground truth: guest virtual memory, read by the simulator (TargetError if unmapped)."""
        return self._s.read_memory(address, size)

    def write_memory(self, address: int, data: bytes) -> int:
        """Writes guest virtual memory directly (no debugger involved); returns bytes written."""
        return self._s.write_memory(address, bytes(data))

    def registers(self, cpu: int = 0) -> Dict[str, int]:
        """Ground truth: processor ``cpu``'s registers (rax..r15, rip, efl, segments, dr*)."""
        return self._s.registers(cpu)

    @property
    def instruction_count(self) -> int:
        """Instructions retired by every processor since boot."""
        return self._s.instruction_count()

    def modules(self) -> List[Module]:
        """Ground truth: the images the machine has mapped (kernel and drivers)."""
        return [Module(n, n, b, s) for (n, b, s) in self._s.modules()]

    def symbol(self, name: str) -> Optional[int]:
        """An exported symbol's address ("simdrv!TriggerBug"), read from the machine."""
        return self._s.symbol(name)

    def trigger_bug(self) -> None:
        """Scenario: simdrv's worker writes through a NULL pointer (access violation, then bug check 0x7E)."""
        self._s.trigger_bug(1)

    def trigger_break(self) -> None:
        """Scenario: simdrv's worker calls DbgBreakPoint once (a hard-coded breakpoint)."""
        self._s.trigger_bug(2)

    def emit_print(self, text: str, cpu: int = 0) -> None:
        """Scenario: ``text`` reaches the debugger as a DbgPrint from processor ``cpu`` (while it runs)."""
        self._s.emit_print(text, cpu)

    def load_driver(self, timeout: float = 30.0) -> Module:
        """Scenario: the kernel loads simdrv2.sys now and calls its DriverEntry (needs
        ``driver_cycle="manual"``). Returns the image as the machine mapped it.

        A debugger sees the module load event and the module in ``lm`` /
        ``modules()``, as with the automatic cycle. The target must be running:
        TimeoutError after ``timeout`` seconds if it is stopped in a debugger (the
        request is withdrawn), or at once if the kernel could not load the image
        (no simdrv2.sys, nor a copy served by the debugger). Error when the kernel
        cycles the driver by itself or it is already loaded. Ctrl-C withdraws the
        request and raises KeyboardInterrupt.
        """
        self._driver_request(True, timeout)
        for m in self.modules():
            if m.name.lower() == "simdrv2.sys":
                return m
        raise Error("load_driver: the kernel reports simdrv2.sys loaded but the machine has not mapped it")

    def unload_driver(self, timeout: float = 30.0) -> None:
        """Scenario: the kernel calls simdrv2.sys's DriverUnload and unloads it (the
        debugger sees the unload event). Errors and waiting as ``load_driver``."""
        self._driver_request(False, timeout)

    @property
    def driver_state(self) -> str:
        """simdrv2.sys as the kernel's image cycler reports it: "automatic" (it cycles by
        itself), or with driver_cycle="manual": "starting" (the cycler has not run yet),
        "unloaded", "loading", "loaded", "unloading", "failed" (the last load failed)."""
        return self._s.wait_driver(0)[0]

    def _driver_request(self, load: bool, timeout: float) -> None:
        what = "load_driver" if load else "unload_driver"
        self._s.request_driver(load)
        deadline = time.monotonic() + timeout
        try:
            while True:
                state, pending, running = self._s.wait_driver(0.05)
                if not pending:
                    if state == ("loaded" if load else "unloaded"):
                        return
                    raise TimeoutError(f"{what}: the kernel could not load simdrv2.sys (the simulator has no "
                                       f"simdrv2.sys and the debugger served none, or DriverEntry failed: see its "
                                       f"DbgPrint); state {state!r}")
                if time.monotonic() >= deadline:
                    withdrawn = self._s.withdraw_driver_request()
                    why = ("the target is stopped in the debugger (continue it)" if not running else
                           "the kernel's image cycler has not taken the request (has the kernel booted?)")
                    raise TimeoutError(f"{what}: simdrv2.sys not {'loaded' if load else 'unloaded'} within "
                                       f"{timeout} s: {why}; the request was "
                                       f"{'withdrawn' if withdrawn else 'under way and will finish'}")
        except KeyboardInterrupt:
            self._s.withdraw_driver_request()
            raise

    def fault_counters(self) -> Dict[str, int]:
        """What the fault injector did: in_/out_ chunks, dropped, corrupted, duplicated, truncated."""
        return self._s.fault_counters()

    def kdnet_counters(self) -> Dict[str, int]:
        """The KDNET target's counters when listening on ``kdnet:`` (else empty):
        datagrams_received/sent, auth_failures (a wrong key), not_kdnet, malformed,
        replays_dropped, sessions, restarts (a new debugger), data_sent/received, ..."""
        return self._s.kdnet_counters()

    def console(self) -> str:
        """Text the kernel printed while no debugger took it."""
        return self._s.console()

    def close(self) -> None:
        """Stops the simulator and its listener (idempotent; a ``sim:`` Debugger's own closes with it)."""
        if self._owned:
            self._s.close()
        self._remove_tempdir()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class Debugger(_Closable):
    """A KD debugger attached to a target: ``Debugger.connect(conn)``.

    Runs kd's own session and command engine. Every call is safe from any
    thread; calls that run the target wait in slices so Ctrl-C breaks in.
    """

    def __init__(self, core, simulator: Optional[Simulator] = None):
        self._d = core
        self._closed = False
        self._simulator = simulator
        self._callbacks: List[tuple] = []
        self._dispatcher: Optional[threading.Thread] = None
        self._sink = None
        self._stop_dispatch = threading.Event()
        self._serial = next(_serials)
        self.first_stop = Stop._from(core.last_stop())
        _live.add(self)

    @classmethod
    def connect(cls, conn: Union[str, Simulator], timeout: float = 30.0, request_timeout: float = 10.0,
                boot_options: Optional[str] = None, break_on_module_load: bool = False,
                memory: int = 256, faults: Optional[str] = None) -> "Debugger":
        """Attaches to a target and waits until it stops (breaking in).

        conn: any kd ``-k`` string ("com:pipe,port=PATH", "com:ipport=PORT,port=HOST",
        "com:port=/dev/pts/N,baud=115200", "net:port=N,key=K[,target=HOST][,bind=IP]",
        "sim:cpus=4,seed=1") or a listening Simulator.
        boot_options: the answer to the target's DbgPrompt (a Simulator's own by default).
        break_on_module_load: stop on module load/unload events (kd's ``sxe ld``).
        memory, faults: for ``sim:`` targets only.
        Raises TimeoutError when the target does not answer within ``timeout`` seconds.
        """
        sim = None
        if isinstance(conn, Simulator):
            sim = conn
            if boot_options is None:
                boot_options = conn.boot_options
            conn = conn.connect_string or conn.listen()
        core = _openkd._Debugger(conn, request_timeout, boot_options or "", break_on_module_load,
                                 memory, faults or "", _kernel_dir())
        # The first stop, waited for in slices so Ctrl-C (KeyboardInterrupt) ends the attempt.
        deadline = time.monotonic() + timeout
        try:
            while not core.attach(0.05):
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"no answer from the target on '{conn}' within {timeout} s (is it there?)")
        except BaseException:
            core.close()
            raise
        if sim is None and core.simulator() is not None:
            sim = Simulator._view(core.simulator())
        return cls(core, sim)

    # ---- running and stopping -------------------------------------------------
    def _wait_job(self, timeout: Optional[float]) -> str:
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not self._d.wait_job(0.05):
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"the target did not stop within {timeout} s (it still runs: break_in() or wait())")
        except KeyboardInterrupt:
            # What kd does on Ctrl-C: break in, stop a multi-step command, then report.
            self._d.interrupt()
            end = time.monotonic() + 10
            while not self._d.wait_job(0.05) and time.monotonic() < end:
                pass
            if not self._d.job_active() or self._d.wait_job(0):
                try:
                    self._d.finish_job()
                except Error:
                    pass
            raise
        return self._d.finish_job()

    def _run(self, line: str, wait: bool, timeout: Optional[float]) -> Optional[str]:
        word = line.strip().split(" ", 1)[0].lower() if line.strip() else ""
        self._d.start_job(line, word in _RESUMING)
        if not wait:
            return None
        return self._wait_job(timeout)

    def break_in(self) -> None:
        """Asks the target to stop (safe from any thread, at any time). Then ``wait()``."""
        self._d.break_in()

    def wait(self, timeout: Optional[float] = None) -> Stop:
        """Waits for the running command (``continue_(wait=False)``) to end; returns the stop.

        With nothing running it returns the last stop at once. TimeoutError if the
        target still runs after ``timeout`` seconds (it keeps running).
        """
        if self._d.job_active():
            self.last_output = self._wait_job(timeout)
        return self.last_stop

    def continue_(self, wait: bool = True, timeout: Optional[float] = None) -> Optional[Stop]:
        """Runs the target (kd's ``g``) with the breakpoints in place.

        wait=True: returns the next stop worth reporting (module loads are passed
        unless break_on_module_load). wait=False: returns at once; ``wait()`` later.
        """
        self._run("g", False, None)
        if not wait:
            return None
        return self.wait(timeout)

    def step(self, timeout: Optional[float] = 30.0) -> Stop:
        """Executes one instruction (kd's ``t``)."""
        self.last_output = self._run("t", True, timeout)
        return self.last_stop

    def step_over(self, timeout: Optional[float] = 30.0) -> Stop:
        """Steps over a call (kd's ``p``)."""
        self.last_output = self._run("p", True, timeout)
        return self.last_stop

    def boot(self, timeout: float = 60.0, until: str = "boot complete") -> Stop:
        """Lets a just-attached simulated kernel boot, then breaks in: modules and
        symbols are there afterwards. Done at the DbgPrint containing ``until``, or
        (should a faulty link have lost that print) once the module list shows
        the boot driver."""
        deadline = time.monotonic() + timeout
        self.continue_(wait=False)
        while True:
            left = deadline - time.monotonic()
            try:
                self.wait_for_print(until, max(0.1, min(left, 5.0)))
                break
            except TimeoutError:
                self.break_in()
                self.wait(max(1.0, deadline - time.monotonic()))
                if len(self.modules()) >= 2 or time.monotonic() >= deadline:
                    if len(self.modules()) < 2:
                        raise TimeoutError(f"the target did not boot within {timeout} s") from None
                    return self.last_stop
                self.continue_(wait=False)
        self.break_in()
        return self.wait(max(1.0, deadline - time.monotonic()))

    @property
    def last_stop(self) -> Stop:
        """The most recent stop the session saw."""
        return Stop._from(self._d.last_stop())

    @property
    def running(self) -> bool:
        """True while a command (continue_, step, execute) runs."""
        return self._d.job_active()

    # ---- memory and registers ---------------------------------------------------
    # Large transfers go in 1 MiB pieces: Ctrl-C is seen between them.
    _PIECE = 1 << 20

    def _read(self, fn, address: int, size: int) -> bytes:
        if size <= self._PIECE:
            return fn(address, size)
        return b"".join(fn(address + off, min(self._PIECE, size - off)) for off in range(0, size, self._PIECE))

    def _write(self, fn, address: int, data: bytes) -> int:
        data = bytes(data)
        return sum(fn(address + off, data[off:off + self._PIECE]) for off in range(0, len(data), self._PIECE))

    def read_virtual(self, address: int, size: int) -> bytes:
        """Reads target virtual memory (all of it, or TargetError with the failing address)."""
        return self._read(self._d.read_virtual, address, size)

    def write_virtual(self, address: int, data: bytes) -> int:
        """Writes target virtual memory; returns the bytes written."""
        return self._write(self._d.write_virtual, address, data)

    def read_physical(self, address: int, size: int) -> bytes:
        """Reads target physical memory."""
        return self._read(self._d.read_physical, address, size)

    def write_physical(self, address: int, data: bytes) -> int:
        """Writes target physical memory; returns the bytes written."""
        return self._write(self._d.write_physical, address, data)

    def registers(self) -> Dict[str, int]:
        """The current processor's registers: rax..r15, rip, efl, segments, dr0-dr7."""
        return self._d.registers()

    def set_register(self, name: str, value: int) -> None:
        """Sets a register (any name kd's ``r`` takes: rax, eax, al, efl, zf ...)."""
        self._d.set_register(name, value)

    # ---- breakpoints, modules, symbols ------------------------------------------
    def set_breakpoint(self, where: Union[int, str]) -> Breakpoint:
        """Sets a software breakpoint at an address or a symbol ("simdrv!Level3"), as ``bp``."""
        expr = f"{where:#x}" if isinstance(where, int) else str(where)
        bp_id, address = self._d.set_breakpoint(expr)
        return Breakpoint(self, bp_id, address, expr)

    def modules(self) -> List[Module]:
        """Loaded modules, walked from PsLoadedModuleList."""
        return [Module(n, i, b, s, p) for (n, i, b, s, p) in self._d.modules()]

    def symbol(self, address: int) -> str:
        """"nt!KeBugCheckEx+0x12" for an address ("" outside every module)."""
        return self._d.symbol(address)

    def address(self, name: str) -> int:
        """A symbol's address ("nt!KeBugCheckEx", "simdrv!TriggerBug"); Error if unknown."""
        a = self._d.address(name)
        if a is None:
            raise Error(f"Couldn't resolve error at '{name}'")
        return a

    # ---- commands ---------------------------------------------------------------
    def execute(self, command: str, timeout: Optional[float] = None) -> str:
        """Runs any kd command line and returns what kd would print."""
        return self._run(command, True, timeout)

    # ---- DbgPrint text and events --------------------------------------------------
    def prints(self, timeout: float = 0.0) -> Iterator[str]:
        """DbgPrint text as it arrives; ends when none arrives within ``timeout`` s."""
        while True:
            t = self._d.pop_print(timeout)
            if t is None:
                return
            yield t

    def wait_for_print(self, contains: str, timeout: float = 30.0) -> str:
        """Waits for a DbgPrint containing ``contains``; returns its text (TimeoutError)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no DbgPrint containing {contains!r} within {timeout} s")
            t = self._d.pop_print(min(left, 0.1))
            if t is not None and contains in t:
                return t

    def events(self, timeout: float = 0.0) -> Iterator[Event]:
        """Prints, stops, link notices and connection changes, in order; ends when none arrives within ``timeout``."""
        while True:
            e = self._d.pop_event(timeout)
            if e is None:
                return
            yield Event._from(e)

    def on_print(self, callback: Callable[[str], None]) -> None:
        """Calls ``callback(text)`` for every DbgPrint (on a dispatcher thread)."""
        self._add_callback("print", lambda e: callback(e.text))

    def on_event(self, callback: Callable[[Event], None]) -> None:
        """Calls ``callback(event)`` for every event (on a dispatcher thread)."""
        self._add_callback(None, callback)

    def _add_callback(self, kind, fn) -> None:
        self._callbacks.append((kind, fn))
        if self._dispatcher is None:
            self._sink = _openkd._EventQueue(4096)
            self._d.set_event_sink(self._sink)
            callbacks, sink, stop = self._callbacks, self._sink, self._stop_dispatch

            def dispatch():
                while not stop.is_set():
                    e = sink.pop(0.2)
                    if e is None:
                        continue
                    ev = Event._from(e)
                    for k, f in list(callbacks):
                        if k is None or k == ev.kind:
                            try:
                                f(ev)
                            except Exception:  # a callback's error must not stop the others
                                import traceback
                                traceback.print_exc()

            self._dispatcher = threading.Thread(target=dispatch, name="openkd-callbacks", daemon=True)
            self._dispatcher.start()

    # ---- figures -----------------------------------------------------------------
    def counters(self) -> Dict[str, int]:
        """Link and session figures: retransmissions, resyncs, bytes_sent/received, packets, ..."""
        return self._d.counters()

    def traffic(self, last: int = 50) -> List[str]:
        """The tail of the requests this debugger made (API, arguments, outcome) and the
        stops it saw: bounded (512), newest last."""
        return self._d.traffic(last)

    def packets(self, last: int = 50) -> List[str]:
        """The tail of the session's decoded KD packets (direction, packet type, id, API,
        status, length): the session keeps the last 256, newest last."""
        return self._d.packets(last)

    @property
    def processors(self) -> int:
        return self._d.processors()

    @property
    def simulator(self) -> Optional[Simulator]:
        """The Simulator behind this debugger: the one it was connected with, or for a
        ``sim:`` string the one it runs in process (ground truth and scenario controls)."""
        return self._simulator

    # ---- lifetime ------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Detaches: breaks a running command, closes the transport (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._stop_dispatch.set()
        if self._sink is not None:
            self._d.clear_event_sink()
            self._sink.close()
        self._d.close()
        if self._dispatcher is not None and self._dispatcher is not threading.current_thread():
            self._dispatcher.join(timeout=2)

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class RemoteServer(_Closable):
    """A remoting server on a Debugger (kd's ``.server``): clients' commands run in
    the debugger's engine, one at a time, and every client sees the output.

    transport: a ``-server`` string; the default is a Unix socket in a fresh
    temporary directory (nothing shared between tests). ``client_string`` is the
    ``-remote`` string for a client (``kd -remote`` or ``RemoteClient.connect``).
    """

    def __init__(self, debugger: Debugger, transport: Optional[str] = None):
        if transport is None:
            transport = "npipe:pipe=" + os.path.join(self._make_tempdir("okr-"), "remote.sock")
        self.debugger = debugger
        self._s = _openkd._RemoteServer(debugger._d, transport)

    @property
    def client_string(self) -> str:
        return self._s.client_string

    def clients(self) -> List[str]:
        """The connected clients, as ``.clients`` lists them."""
        return self._s.clients()

    def log(self) -> List[str]:
        """Lines for the host's console since the last call (joins, leaves, "X issued: cmd")."""
        return self._s.take_log()

    def close(self) -> None:
        """Ends the session for every client and stops listening (idempotent)."""
        self._s.close()
        self._remove_tempdir()


class RemoteClient(_Closable):
    """A remoting client (kd's ``-remote``): ``RemoteClient.connect(server.client_string)``."""

    def __init__(self, core):
        self._c = core

    @classmethod
    def connect(cls, transport: str, identity: str = "", timeout: float = 10.0) -> "RemoteClient":
        """Connects and waits to be admitted (ConnectionError with the server's reason if not)."""
        return cls(_openkd._RemoteClient(transport, identity, timeout))

    def execute(self, command: str, timeout: float = 60.0) -> str:
        """Runs a command in the remote session; returns what the session printed for it."""
        return self._c.execute(command, timeout)

    def output(self) -> str:
        """Session output no execute() took (other clients' commands, notices)."""
        return self._c.take_output()

    @property
    def alive(self) -> bool:
        return self._c.alive()

    def close(self) -> None:
        """Leaves the session (idempotent)."""
        self._c.close()
