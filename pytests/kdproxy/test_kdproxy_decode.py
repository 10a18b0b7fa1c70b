"""kdproxy decode on KDNET captures built from /work/shared/vectors' kdnet.json
(an independent implementation's datagrams, checked against real WinDbg traffic):
classic pcap, pcapng and gzip; the handshake is followed to the data key, every
datagram decrypted and decoded, tampered ones counted, and a wrong or missing key
said so."""
import gzip
import json
import struct
import subprocess
from pathlib import Path

import pytest

from kdproxy_helpers import tool

VECTORS = Path(__file__).resolve().parents[2] / "cpp_tests" / "vectors" / "kdnet.json"
DEBUGGER = (bytes([192, 168, 56, 1]), 50000)  # the debugger listens on the KDNET port
TARGET = (bytes([192, 168, 56, 101]), 50001)


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_frame(payload, to_debugger):
    src, dst = (TARGET, DEBUGGER) if to_debugger else (DEBUGGER, TARGET)
    udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0x4000, 64, 17, 0, src[0], dst[0])
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00" + ip + udp


def classic_pcap(frames):
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for i, f in enumerate(frames):
        out += struct.pack("<IIII", 1700000000, i * 1000, len(f), len(f)) + f
    return out


def pcapng(frames):
    def block(kind, body):
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", kind, len(body) + 12) + body + struct.pack("<I", len(body) + 12)
    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", 1, 0, 65535))  # Ethernet, microseconds
    for i, f in enumerate(frames):
        ts = 1700000000 * 1000000 + i * 1000
        out += block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(f), len(f)) + f)
    return out


def vector_frames(tampered=False):
    doc = json.loads(VECTORS.read_text())
    k = doc["keys"][0]
    hs = k["handshake"]
    items = [hs["poke"], hs["response"], *k["data_channel"]]
    frames = [udp_frame(bytes.fromhex(v["datagram_hex"]), v["direction"] == "target->debugger") for v in items]
    if tampered:
        frames += [udp_frame(bytes.fromhex(n["datagram_hex"]), False) for n in doc["negative_datagrams"]]
    return k["key"], frames


def decode(path, *args):
    p = subprocess.run([str(tool("kdproxy")), "decode", str(path), *args], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.mark.parametrize("form", ["pcap", "pcapng", "pcap.gz"])
def test_a_kdnet_capture_is_followed_to_the_data_key_and_decoded(tmp_path, form):
    key, frames = vector_frames()
    data = pcapng(frames) if form == "pcapng" else classic_pcap(frames)
    if form.endswith(".gz"):
        data = gzip.compress(data)
    path = tmp_path / f"kdnet.{form}"
    path.write_bytes(data)
    out = decode(path, "--key", key)
    lines = out.splitlines()
    assert "tgt->dbg seq=1 POKE target 192.168.56.20:50000 host 192.168.56.1:50000" in lines[0]
    assert "dbg->tgt seq=1 RESPONSE (data key 1)" in lines[1]
    assert "tgt->dbg seq=1 KDNET pseudo packet (host 192.168.56.1)" in lines[2]
    assert "tgt->dbg seq=2 KD_STATE_CHANGE64 id=00000000 Exception 80000003 at fffff800`007fd0b0" in lines[3]
    assert "dbg->tgt seq=1 KD_ACKNOWLEDGE id=00000000" in lines[4]
    assert "dbg->tgt seq=2 KD_STATE_MANIPULATE id=80000000 GetVersion" in lines[5]
    assert "tgt->dbg seq=3 KD_ACKNOWLEDGE id=80000000" in lines[6]
    assert "tgt->dbg seq=4 KD_STATE_MANIPULATE id=00000002 GetVersion -> STATUS_SUCCESS 15.19041" in lines[7]
    assert ("frames 8, UDP datagrams 8, KDNET datagrams 8, authenticated 8, decrypted 8, POKEs 1, "
            "RESPONSEs 1 (data keys 1), no key 0, unauthentic 0, malformed 0") in out
    assert "manipulate APIs: GetVersion 1" in out
    assert len(lines) == 8 + 4  # every datagram a line, then the counts


def test_tampered_datagrams_wrong_keys_and_no_key_are_counted_not_decoded(tmp_path):
    key, frames = vector_frames(tampered=True)
    path = tmp_path / "kdnet.pcap"
    path.write_bytes(classic_pcap(frames))
    out = decode(path, "--key", key)
    assert "KDNET datagrams 13, authenticated 8, decrypted 8" in out
    assert "unauthentic 4, malformed 1" in out, out  # four tampered, one cut short
    assert out.count("not decoded: ") == 5
    wrong = decode(path, "--key", "5.6.7.8")
    assert "decrypted 0" in wrong and "unauthentic 2" in wrong and "no key 11" in wrong, wrong
    none = decode(path)
    assert "no key 13" in none and "(no --key)" in none
