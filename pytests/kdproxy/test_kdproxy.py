"""kd <-> kdproxy <-> kdsim over Unix sockets: the session is the same as without
the proxy (with and without seeded faults), the log names the packets and APIs,
the pcap is dissected by tshark with tools/wireshark/kd.lua and decoded back by
`kdproxy decode` into the log's own lines."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kdproxy_helpers import run_kd, session_text, tool

REPO = Path(__file__).resolve().parents[2]
LUA = REPO / "tools" / "wireshark" / "kd.lua"

SCRIPT = """version
db nt L100
r
bp nt!DbgPrint
g
r rip
bc *
q
"""

# Memory dumps with enough round trips (100 reads, some 400 chunks on the link)
# that 1% faults hit them for certain.
DUMP = "db nt L4000\n" + "".join(f"dq nt+{i * 0x200:x} L4\n" for i in range(100)) + "r\nq\n"

SIM_ARGS = ("--break-on-boot", "--seed", "1")


def direct_and_proxied(rig, script, *proxy_args):
    """The same script against two kdsims of the same seed: directly, and through kdproxy."""
    direct = rig.kdsim("a", *SIM_ARGS)
    rc, out_direct, err = run_kd(["-k", direct.connect], script)
    assert rc == 0, err
    behind = rig.kdsim("b", *SIM_ARGS)
    proxy = rig.kdproxy(behind.connect, *proxy_args)
    rc, out_proxied, err = run_kd(["-k", proxy.connect], script)
    assert rc == 0, err
    return session_text(out_direct), session_text(out_proxied), proxy


def packet_lines(lines):
    """The packet and framing lines of a log, without time (link: and fault: notes left out)."""
    out = []
    for l in lines:
        m = re.match(r"\s*\d+\.\d+ (dbg->tgt|tgt->dbg) (.*)$", l)
        if m and not m.group(2).startswith(("link:", "fault:")):
            out.append(f"{m.group(1)} {m.group(2)}")
    return out


def test_a_session_through_kdproxy_is_the_same_as_without_it(rig):
    direct, proxied, proxy = direct_and_proxied(rig, SCRIPT)
    assert "fffff800`00400000  4d 5a" in direct  # the dump really happened
    assert proxied == direct
    log = "\n".join(proxy.log_lines())
    assert "dbg->tgt KD_STATE_MANIPULATE id=8080000" in log
    assert "GetVersion -> STATUS_SUCCESS 15.19041" in log
    assert re.search(r"dbg->tgt KD_STATE_MANIPULATE id=\w+ ReadVirtualMemory fffff800`00400000 L 0x100$", log, re.M)
    assert re.search(r"tgt->dbg KD_STATE_MANIPULATE id=\w+ ReadVirtualMemory fffff800`00400000 L 0x100 "
                     r"-> STATUS_SUCCESS \(0x100 bytes\)", log)
    assert "WriteBreakPoint" in log and "Continue2 DBG_CONTINUE" in log
    assert "KD_STATE_CHANGE64 id=80800800 Exception 80000003 at fffff800`00401000 first-chance" in log
    assert "KD_DEBUG_IO" in log or "Exception 80000003" in log.split("Continue2", 1)[1]
    assert "dbg->tgt KD_RESET id=00000000" in log


@pytest.mark.parametrize("seed", [3, 11])
def test_faults_through_kdproxy_lose_nothing(rig, seed):
    direct, proxied, proxy = direct_and_proxied(rig, DUMP, "--faults", f"drop=0.01,corrupt=0.01,seed={seed}")
    assert proxied == direct
    lines = proxy.log_lines()
    faults = [l for l in lines if " fault: " in l]
    assert faults, "no fault was injected: the test proves nothing"
    # What the faults did shows as link events in the log.
    log = "\n".join(lines)
    assert re.search(r"KD_RESEND|bad checksum|garbage skipped|\(retransmission\)|abandoned", log), faults


def test_faults_in_one_direction_only(rig):
    direct, proxied, proxy = direct_and_proxied(rig, DUMP, "--faults-to-debugger", "drop=0.1,seed=4")
    assert proxied == direct
    faults = [l for l in proxy.log_lines() if " fault: " in l]
    assert faults and all(" tgt->dbg fault: dropped" in l for l in faults), faults


def test_the_pcap_is_dissected_by_tshark_and_decoded_back_into_the_log(rig, tmp_path):
    pcap = tmp_path / "kd.pcap"
    _, _, proxy = direct_and_proxied(rig, SCRIPT, "--pcap", str(pcap))
    proxy.stop()
    assert shutil.which("tshark"), "tshark is required (scripts/deps.sh installs it)"
    p = subprocess.run(["tshark", "-X", f"lua_script:{LUA}", "-r", str(pcap), "-V"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    v = p.stdout
    for needle in ["KD packet: KD_RESET", "KD packet: KD_STATE_CHANGE64", "KD packet: KD_STATE_MANIPULATE",
                   "KD packet: KD_ACKNOWLEDGE", "Packet type: KD_STATE_MANIPULATE (2)",
                   "API: ReadVirtualMemory (0x00003130)", "API: GetVersion (0x00003146)",
                   "Return status: STATUS_SUCCESS (0x00000000)", "Address: 0xfffff80000400000",
                   "New state: Exception (0x00003030)", "Exception code: 0x80000003",
                   "Direction: dbg->tgt", "Direction: tgt->dbg", "Checksum status: good"]:
        assert needle in v, needle
    assert "Checksum status: bad" not in v
    # The one-line summary per frame names the packets too.
    p = subprocess.run(["tshark", "-X", f"lua_script:{LUA}", "-r", str(pcap)],
                       capture_output=True, text=True, timeout=120)
    assert re.search(r"KDCOM .* dbg->tgt .*ReadVirtualMemory fffff800`00400000 L 0x100", p.stdout)
    # kdproxy decode reads the capture back into the very lines of the live log.
    d = subprocess.run([str(tool("kdproxy")), "decode", str(pcap)], capture_output=True, text=True, timeout=60)
    assert d.returncode == 0, d.stderr
    assert packet_lines(d.stdout.splitlines()) == packet_lines(proxy.log_lines())
    assert re.search(r"KDCOM segments [1-9]", d.stdout)


def test_a_new_debugger_and_a_restarted_target_each_get_a_session(rig, tmp_path):
    sim = rig.kdsim("a", *SIM_ARGS)
    proxy = rig.kdproxy(sim.connect)
    for _ in range(2):  # the proxy waits for the next debugger after the first leaves
        rc, out, err = run_kd(["-k", proxy.connect], "r rip\nq\n")
        assert rc == 0 and "rip=" in out, err
    sim.stop()
    sim2 = rig.kdsim("a", *SIM_ARGS)  # a new target on the same socket path: the proxy dials it
    rc, out, err = run_kd(["-k", proxy.connect], "r rip\nq\n")
    assert rc == 0 and "rip=" in out, err
    text = proxy.output()
    assert text.count("target pipe") >= 3 and "session over: debugger closed the connection" in text, text
    sim2.stop()


@pytest.mark.parametrize("args,needle", [
    (["--listen", "com:pipe", "--connect", "com:pipe,port=/tmp/x"], "--listen: "),
    (["--listen", "pty", "--connect", "net:port=50000,key=1.2.3.4"], "KDNET relays to KDNET only"),
    (["--listen", "net:port=50000,key=1.2.3.4", "--connect", "com:pipe,port=/tmp/x"], "kdnet:hostip=IP"),
    (["--listen", "kdnet:port=50000", "--connect", "net:port=50001,key=1.2.3.4"], "needs port= and key="),
    (["--listen", "pty", "--connect", "bogus"], "--connect: "),
    (["--listen", "pty"], "--connect CONNECTION is required"),
    (["--listen", "pty", "--connect", "com:pipe,port=/tmp/x", "--faults", "drop=2"], "--faults: drop must be"),
    (["--listen", "pty", "--connect", "com:pipe,port=/tmp/x", "--faults-to-target", "x"], "--faults-to-target: "),
    (["decode"], "decode needs a capture file"),
    (["decode", "/nonexistent.pcap"], "cannot open"),
    (["decode", __file__], "not a pcap or pcapng capture"),
    (["decode", __file__, "--key", "1.2.3.4!"], "--key: "),
])
def test_bad_arguments_are_one_line_errors(args, needle):
    p = subprocess.run([str(tool("kdproxy")), *args], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and needle in lines[0], p.stderr


def test_kdnet_is_relayed_and_re_encrypted_between_two_keys(tmp_path):
    """kd (key 1.2.3.4) <-> kdproxy <-> kdsim --kdnet (another key): the session is the
    one kd gets from the same kdsim directly."""
    from kdnet_peer import free_port  # pytests/kd, on the path through kdproxy_helpers
    from kd_helpers import stop_process

    host, proxy_ip, target_ip = "127.0.0.1", "127.0.0.5", "127.0.0.6"
    key_dbg, key_tgt = "1.2.3.4", "5.6.7.8"
    script = "version\ndb nt L100\nr\nq\n"
    procs = []

    def kdsim(port, key, hostip):
        p = subprocess.Popen([str(tool("kdsim")), "--kdnet", f"hostip={hostip},port={port},key={key},bind={target_ip}",
                              *SIM_ARGS], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(p)
        assert "KDNET target on" in p.stdout.readline()
        return p

    try:
        port = free_port(host, target_ip)
        sim = kdsim(port, key_dbg, host)
        rc, direct, err = run_kd(["-k", f"net:port={port},key={key_dbg},bind={host}"], script)
        assert rc == 0, err
        stop_process(sim)

        p_dbg, p_tgt = free_port(host, proxy_ip), free_port(host, target_ip)
        kdsim(p_tgt, key_tgt, host)
        log = tmp_path / "kdnet.log"
        proxy = subprocess.Popen([str(tool("kdproxy")), "--listen", f"kdnet:hostip={host},port={p_dbg},key={key_dbg},"
                                  f"bind={proxy_ip}", "--connect", f"net:port={p_tgt},key={key_tgt},bind={host}",
                                  "--log", str(log)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(proxy)
        rc, proxied, err = run_kd(["-k", f"net:port={p_dbg},key={key_dbg},bind={host}"], script)
        assert rc == 0, err
        assert session_text(proxied) == session_text(direct)
        text = log.read_text()
        assert "KDNET pseudo packet (host 127.0.0.1)" in text
        assert re.search(r"dbg->tgt KD_STATE_MANIPULATE id=\w+ ReadVirtualMemory fffff800`00400000 L 0x100$", text, re.M)
        assert "GetVersion -> STATUS_SUCCESS" in text
    finally:
        for p in reversed(procs):
            stop_process(p)


@pytest.mark.parametrize("side", ["tcp", "pty"])
def test_a_debugger_on_tcp_or_a_pty_gets_the_same_session(rig, tmp_path, side):
    import socket
    from kd_helpers import stop_process

    direct = rig.kdsim("a", *SIM_ARGS)
    rc, out_direct, err = run_kd(["-k", direct.connect], "r\nq\n")
    assert rc == 0, err
    behind = rig.kdsim("b", *SIM_ARGS)
    if side == "tcp":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        listen, connect = f"com:ipport={port},port=127.0.0.1", f"com:ipport={port},port=127.0.0.1"
    else:
        listen = "pty"
    proxy = subprocess.Popen([str(tool("kdproxy")), "--listen", listen, "--connect", behind.connect],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proxy.stderr.readline()  # "kdproxy: debugger side tcp 127.0.0.1:PORT" / "pty /dev/pts/N"
        assert first.startswith("kdproxy: debugger side "), first
        if side == "pty":
            connect = "com:port=" + re.search(r"pty (/dev/pts/\d+)", first).group(1) + ",baud=115200"
        rc, out_proxied, err = run_kd(["-k", connect], "r\nq\n")
        assert rc == 0, err
        assert session_text(out_proxied) == session_text(out_direct)
    finally:
        stop_process(proxy)
