"""kd and kdsim over KDNET on loopback (docs/protocol.md section 6): the target
kdsim on 127.0.0.2, the debugger kd on 127.0.0.1, the same UDP port number on
both (as Windows uses it), a port of each test's own. The same golden
transcript as over a pipe; seeded loss, duplication and reordering from a
Python proxy with a multi-MiB memory round trip compared byte for byte; a
target that boots again; a wrong key; target= initiation; and an independent
Python KDNET peer doing the handshake with each tool."""
import os
import random
import re
import struct
import subprocess
import threading
import time

import pytest

from kd_helpers import GOLDEN, Kdsim, normalise, run_kd, tool
from kdnet_peer import FaultProxy, Peer, free_port, kd_packet, parse_kd_packet
from test_kd_sessions import BASICS, BUGCHECK

KEY = "1.2.3.4"
HOST = "127.0.0.1"
TARGET = "127.0.0.2"
PROXY = "127.0.0.3"
POOL = "fffff800`12000000"  # inside the simulator's pool (docs: simulator/ABI.md), unused at boot


class KdnetSim:
    """kdsim --kdnet, started for one test."""

    def __init__(self, *args, kdnet):
        self.proc = subprocess.Popen([str(tool("kdsim")), "--kdnet", kdnet, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "KDNET target on" not in line:
            self.stop()
            raise AssertionError(f"kdsim did not start: {line} {self.proc.stderr.read()}")

    def stop(self):
        Kdsim.stop(self)  # terminate, then kill after 10 s
        return self.proc.stderr.read()


@pytest.fixture
def sims():
    started = []

    def start(*args, kdnet):
        s = KdnetSim(*args, kdnet=kdnet)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def golden(name):
    return (GOLDEN / f"{name}.txt").read_text()


@pytest.mark.parametrize("name, script, cpus", [
    ("basics_pipe_1cpu", BASICS, 1),
    ("basics_pipe_4cpu", BASICS, 4),
    ("trigger_bug", BUGCHECK, 1),
])
def test_kdnet_sessions_match_the_pipe_golden_transcripts(sims, name, script, cpus):
    port = free_port(HOST, TARGET)
    # The bug check script answers the kernel's boot-options prompt ("quiet").
    prompt = ["--boot-prompt"] if name == "trigger_bug" else []
    sims("--break-on-boot", "--seed", "1", "--cpus", str(cpus), *prompt,
         kdnet=f"hostip={HOST},port={port},key={KEY},bind={TARGET}")
    rc, out, err = run_kd(["-k", f"net:port={port},key={KEY},bind={HOST}"], script)
    assert rc == 0, err
    assert normalise(out) == golden(name)
    assert "0 authentication failures" in err


def test_loss_duplication_and_reordering_lose_nothing(sims, tmp_path):
    # 5% loss, 5% duplication, 5% reordering, seeded; the faults live in the proxy.
    port = free_port(HOST, TARGET, PROXY)
    sims("--break-on-boot", "--seed", "1", kdnet=f"hostip={PROXY},port={port},key={KEY},bind={TARGET}")
    proxy = FaultProxy((PROXY, port), (TARGET, port), (HOST, port), seed=10, loss=0.05, dup=0.05, reorder=0.05)
    size = 2 << 20  # 2 MiB each way
    data = random.Random(5).randbytes(size)
    (tmp_path / "in.bin").write_bytes(data)
    script = BASICS.replace("q\n", "") + (
        f".readmem {tmp_path}/in.bin {POOL} L{size:x}\n"
        f".writemem {tmp_path}/out.bin {POOL} L{size:x}\n"
        "q\n")
    try:
        rc, out, err = run_kd(["-k", f"net:port={port},key={KEY},bind={HOST}"], script, timeout=600)
    finally:
        proxy.close()
    assert rc == 0, err
    # The same transcript as over a pipe, then the memory round trip.
    expected = golden("basics_pipe_1cpu").rsplit("kd> q\n", 1)[0]
    assert normalise(out).startswith(expected)
    assert (tmp_path / "out.bin").read_bytes() == data  # every byte of the simulator's memory
    assert proxy.counts["lost"] > 0 and proxy.counts["duplicated"] > 0 and proxy.counts["reordered"] > 0
    dropped = int(re.search(r"(\d+) replays dropped", err).group(1))
    assert dropped > 0, err  # duplicates were dropped and counted, not delivered twice


def test_a_target_that_boots_again_is_a_new_session_and_kd_goes_on(sims):
    port = free_port(HOST, TARGET)
    kdnet = f"hostip={HOST},port={port},key={KEY},bind={TARGET}"
    first = sims("--break-on-boot", "--seed", "1", kdnet=kdnet)
    kd = subprocess.Popen([str(tool("kd")), "-k", f"net:port={port},key={KEY},bind={HOST}"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(iter(kd.stdout.readline, "")), daemon=True)
    reader.start()

    def wait_for(text, timeout=30, times=1):
        deadline = time.monotonic() + timeout
        while sum(text in l for l in lines) < times:
            assert time.monotonic() < deadline, f"no '{text}' in kd's output: {''.join(lines)}"
            time.sleep(0.05)

    try:
        kd.stdin.write("r rip\n")
        kd.stdin.flush()
        wait_for("rip=fffff80000401000")
        kd.stdin.write("g\n")  # the kernel runs; then the machine boots again
        kd.stdin.flush()
        time.sleep(1)
        first.stop()
        sims("--break-on-boot", "--seed", "1", kdnet=kdnet)
        wait_for("restarted")
        wait_for("nt!KiSystemStartup", timeout=30, times=2)  # the new boot's first stop answers the g
        kd.stdin.write("r rip\nq\n")
        kd.stdin.flush()
        kd.wait(60)
    finally:
        if kd.poll() is None:
            kd.kill()
    reader.join(5)
    out = "".join(lines)
    err = kd.stderr.read()
    assert kd.returncode == 0, (out, err)
    assert f"kd: KDNET: the target at {TARGET}:{port} restarted: a new session begins" in out
    assert out.count("rip=fffff80000401000") == 2, out
    assert "1 target restarts" in err


def test_a_new_kd_takes_over_a_target_whose_debugger_went_away(sims):
    # UDP has no disconnect: the target learns of the new debugger from its
    # RESPONSE to a keep-alive POKE, lets the kernel run on (as when a pipe
    # closes), and the new kd breaks in (-b).
    port = free_port(HOST, TARGET)
    sim = sims("--break-on-boot", "--seed", "1", kdnet=f"hostip={HOST},port={port},key={KEY},bind={TARGET}")
    connect = f"net:port={port},key={KEY},bind={HOST}"
    rc, out, err = run_kd(["-k", connect], "r rip\nq\n")
    assert rc == 0 and "rip=fffff80000401000" in out, err
    rc, out, err = run_kd(["-b", "-k", connect], "r rip\nq\n")
    assert rc == 0, err
    assert re.search(r"rip=fffff800[0-9a-f]{8}", out), out
    assert "a new debugger" in sim.stop()


def test_a_wrong_key_is_one_line_counted_and_the_session_goes_on(sims):
    # A target with the wrong key POKEs kd every 3 s throughout; a right one
    # (on another address) gets a normal session meanwhile.
    port = free_port(HOST, TARGET, "127.0.0.4")
    sims("--seed", "1", kdnet=f"hostip={HOST},port={port},key=1.2.3.5,bind=127.0.0.4")
    time.sleep(0.5)
    sims("--break-on-boot", "--seed", "1", kdnet=f"hostip={HOST},port={port},key={KEY},bind={TARGET}")
    kd = subprocess.Popen([str(tool("kd")), "-k", f"net:port={port},key={KEY},bind={HOST}"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kd.stdin.write("r rip\n")
    kd.stdin.flush()
    time.sleep(7)  # two or three of the wrong target's POKEs while the session runs
    out, err = kd.communicate("r rip\nq\n", timeout=60)
    assert kd.returncode == 0, err
    assert out.count("rip=fffff80000401000") == 2
    line = f"kd: KDNET: authentication failed from 127.0.0.4:{port}: check the key"
    assert out.count("authentication failed") == 1 and line in out.splitlines(), out  # rate-limited: one line
    failures = int(re.search(r"(\d+) authentication failures", err).group(1))
    assert failures >= 2, err  # counted, each one


def test_a_flood_of_forged_and_garbage_datagrams_is_counted_and_the_session_goes_on(sims):
    port = free_port(HOST, TARGET, "127.0.0.5")
    sims("--break-on-boot", "--seed", "1", kdnet=f"hostip={HOST},port={port},key={KEY},bind={TARGET}")
    kd = subprocess.Popen([str(tool("kd")), "-k", f"net:port={port},key={KEY},bind={HOST}"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kd.stdin.write("r rip\n")
    kd.stdin.flush()
    hostile = Peer(("127.0.0.5", port), "9.9.9.9")  # the wrong key
    rng = random.Random(3)
    try:
        for i in range(1500):
            hostile.send((HOST, port), i % 2, rng.randbytes(rng.randrange(1, 400)), False, key=hostile.root)
            hostile.sock.sendto(rng.randbytes(rng.randrange(0, 200)), (HOST, port))  # not KDNET at all
        out, err = kd.communicate("r rip\nq\n", timeout=60)
    finally:
        hostile.close()
        if kd.poll() is None:
            kd.kill()
    assert kd.returncode == 0, err
    assert out.count("rip=fffff80000401000") == 2
    assert 1 <= out.count("authentication failed from 127.0.0.5") <= 2, out  # rate-limited
    assert out.count("bad datagram from 127.0.0.5") <= 2, out
    stats = re.search(r"(\d+) authentication failures, (\d+) malformed, (\d+) not KDNET", err)
    # Counted, each one that arrived (the kernel drops part of a loopback flood).
    assert stats and int(stats.group(1)) > 100 and int(stats.group(3)) > 100, err


def test_target_option_makes_kd_contact_a_waiting_target(sims):
    port = free_port(HOST, TARGET)
    sims("--break-on-boot", "--seed", "1", kdnet=f"port={port},key={KEY},bind={TARGET}")
    rc, out, err = run_kd(["-k", f"net:port={port},key={KEY},target={TARGET},bind={HOST}"], "r rip\nq\n")
    assert rc == 0, err
    assert "rip=fffff80000401000" in out


def test_new_kdnet_key_prints_fresh_random_keys():
    keys = set()
    for name in ("kd", "kdsim", "kd"):
        p = subprocess.run([str(tool(name)), "--new-kdnet-key"], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        key = p.stdout.strip()
        parts = key.split(".")
        assert len(parts) == 4 and all(re.fullmatch(r"[0-9a-z]+", x) and int(x, 36) < 2**64 for x in parts), key
        keys.add(key)
    assert len(keys) == 3


@pytest.mark.parametrize("connect, needle", [
    ("net:port={},key=1.2.3", "key"),
    ("net:port={},key=1.2.3.4,bind=300.1.1.1", "bind"),
    ("net:port={},key=1.2.3.4,bus=x", "bus"),
])
def test_bad_net_strings_are_one_line_errors(connect, needle):
    # A port of its own, should a regression make kd bind before it refuses.
    rc, out, err = run_kd(["-k", connect.format(free_port(HOST, TARGET))], "q\n", timeout=30)
    lines = [l for l in err.splitlines() if l.strip()]
    assert rc != 0 and len(lines) == 1 and needle in lines[0], err


@pytest.mark.parametrize("args, needle", [
    (["--kdnet", "port={},key=1.2.3"], "key"),
    (["--kdnet", "port={},key=1.2.3.4,hostip=1.2.3"], "hostip"),
    (["--kdnet", "port={},key=1.2.3.4,hostip=127.0.0.1", "--baud", "9600"], "--baud"),
])
def test_bad_kdsim_kdnet_options_are_one_line_errors(args, needle):
    port = free_port(HOST, TARGET)
    args = [a.format(port) if a.startswith("port=") else a for a in args]
    p = subprocess.run([str(tool("kdsim")), *args], capture_output=True, text=True, timeout=30)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert p.returncode != 0 and len(lines) == 1 and needle in lines[0], p.stderr


# ---- an independent KDNET peer (Python, python3-cryptography) -------------------

def test_python_target_handshakes_with_kd_and_reads_its_reset():
    port = free_port(HOST, TARGET)
    peer = Peer((TARGET, port), KEY)
    kd = subprocess.Popen([str(tool("kd")), "-k", f"net:port={port},key={KEY},bind={HOST}"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)  # kd binds its port
        src = peer.handshake_as_target((HOST, port))
        assert src == (HOST, port)
        # The pseudo packet with the debugger's address, then kd synchronises: a RESET
        # (leader 69696969, type 6) from id 0x80000000 on, sealed with the data key.
        peer.send(src, 0, struct.pack("<IHH", 0, 0, 0) + bytes([1, 0, 0, 127]), False)
        (channel, seq, from_debugger, payload), _ = peer.recv_open(peer.data_key, channel=0)
        leader, ptype, count, pid, _, _ = parse_kd_packet(payload)
        assert from_debugger and seq >= 1
        assert (leader, ptype, count) == (0x69696969, 6, 0) and len(payload) == 16  # no 0xAA trailer
        # An authentic control datagram with nonsense inside: one logged, counted line, no crash.
        peer.send(src, 1, b"\x01\x09" + bytes(30), False, key=peer.root)
        time.sleep(0.5)
        assert kd.poll() is None
    finally:
        kd.kill()
        out, err = kd.communicate(timeout=30)
        peer.close()
    assert f"kd: KDNET: bad datagram from {TARGET}:{port}: unexpected control message kind 9" in out, out


def test_python_debugger_handshakes_with_kdsim_and_gets_its_stop(sims):
    port = free_port(HOST, TARGET)
    peer = Peer((HOST, port), KEY)
    try:
        sims("--break-on-boot", "--seed", "1", kdnet=f"hostip={HOST},port={port},key={KEY},bind={TARGET}")
        src, poke = peer.handshake_as_debugger()
        assert src == (TARGET, port)
        assert poke[34:52] == b"\0" * 10 + b"\xff\xff" + bytes([127, 0, 0, 2]) + port.to_bytes(2, "big")
        assert poke[52:70] == b"\0" * 10 + b"\xff\xff" + bytes([127, 0, 0, 1]) + port.to_bytes(2, "big")
        (channel, seq, from_debugger, payload), _ = peer.recv_open(peer.data_key, channel=0)
        assert (seq, from_debugger) == (1, False)
        assert payload == bytes(8) + bytes([1, 0, 0, 127])  # the pseudo packet: 127.0.0.1, little-endian
        # A RESET from the debugger's first id; the target answers it, then reports
        # the boot breakpoint: a state change (type 7) with its first id, 0.
        peer.send(src, 0, kd_packet(0x69696969, 6, 0x80000000), True)
        while True:
            (channel, seq, from_debugger, payload), _ = peer.recv_open(peer.data_key, channel=0)
            leader, ptype, count, pid, _, body = parse_kd_packet(payload)
            if ptype != 6:
                break
        assert (leader, ptype, pid) == (0x30303030, 7, 0) and len(payload) == 16 + count
        assert struct.unpack_from("<I", body, 0x20)[0] == 0x80000003  # ExceptionCode: a breakpoint
        peer.send(src, 0, kd_packet(0x69696969, 4, 0), True)  # ACK id 0
    finally:
        peer.close()
