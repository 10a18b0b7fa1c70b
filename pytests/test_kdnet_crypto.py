"""Cross-checks openkd's KDNET codec (core/wire/kdnet.cpp, through the kdnet_tool CLI)
against an independent computation with hashlib/hmac and python3-cryptography.

The Python reference below is written from docs/protocol.md section 6 and is
itself checked against cpp_tests/vectors/kdnet.json first, so a disagreement with the
tool points at the C++ code. Run with OPENKD_BUILD set to a build directory that
contains kdnet_tool (the Makefile sets it).
"""
import hashlib
import hmac
import json
import os
import pathlib
import random
import subprocess

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

VECTORS = pathlib.Path(__file__).resolve().parent.parent / "cpp_tests" / "vectors" / "kdnet.json"
BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


# ---- independent reference ---------------------------------------------------

def key_string(parts):
    """Canonical `w.x.y.z` for four u64 parts."""
    def b36(v):
        digits = ""
        while True:
            v, d = divmod(v, 36)
            digits = BASE36[d] + digits
            if v == 0:
                return digits
    return ".".join(b36(p) for p in parts)


def root_key(parts):
    return b"".join(p.to_bytes(8, "little") for p in parts)


def hmac_key(root):
    return bytes(b ^ 0xFF for b in root)


def data_key(root, response_payload):
    return hashlib.sha256(root + response_payload).digest()


def response_payload(target_random, debugger_random):
    return (b"\x01\x02" + target_random + debugger_random).ljust(322, b"\0")


def aes_cbc(key, iv, data, encrypt):
    c = Cipher(algorithms.AES(key), modes.CBC(iv))
    op = c.encryptor() if encrypt else c.decryptor()
    return op.update(data) + op.finalize()


def seal(enc_key, mac_key, channel, seq, from_debugger, payload, version=4):
    padding = -(8 + len(payload)) % 16
    plaintext = (seq.to_bytes(7, "big") + bytes([(0x80 if from_debugger else 0) | padding])
                 + payload + bytes(padding))
    header = b"MDBG" + bytes([version, channel])
    tag = hmac.new(mac_key, header + plaintext, hashlib.sha256).digest()[:16]
    return header + aes_cbc(enc_key, tag, plaintext, True) + tag


def open_datagram(enc_key, mac_key, datagram):
    """(version, channel, seq, from_debugger, payload), or None when the tag is wrong."""
    header, ciphertext, tag = datagram[:6], datagram[6:-16], datagram[-16:]
    plaintext = aes_cbc(enc_key, tag, ciphertext, False)
    if not hmac.compare_digest(hmac.new(mac_key, header + plaintext, hashlib.sha256).digest()[:16], tag):
        return None
    padding = plaintext[7] & 0x7F
    return (header[4], header[5], int.from_bytes(plaintext[:7], "big"), bool(plaintext[7] & 0x80),
            plaintext[8:len(plaintext) - padding])


# ---- the reference reproduces the independent vectors -------------------------

def vectors():
    return json.loads(VECTORS.read_text())


@pytest.mark.parametrize("entry", vectors()["keys"], ids=lambda e: e["key"])
def test_reference_reproduces_vectors(entry):
    parts = [int(p, 16) for p in entry["parts"]]
    root = root_key(parts)
    assert key_string(parts) == entry["key"]
    assert root.hex() == entry["K_hex"]
    assert hmac_key(root).hex() == entry["hmac_key_hex"]
    hs = entry["handshake"]
    resp = response_payload(bytes.fromhex(hs["target_random_hex"]), bytes.fromhex(hs["debugger_random_hex"]))
    assert resp.hex() == hs["response"]["payload_hex"]
    dk = data_key(root, resp)
    assert dk.hex() == hs["data_key_hex"]
    for d in [hs["poke"], hs["response"], *entry["data_channel"]]:
        enc = root if d["channel"] == 1 else dk
        wire = seal(enc, hmac_key(root), d["channel"], d["seq"], d["direction"] == "debugger->target",
                    bytes.fromhex(d["payload_hex"]), d["version"])
        assert wire.hex() == d["datagram_hex"], d["name"]


# ---- the C++ codec agrees with the reference ----------------------------------

@pytest.fixture(scope="module")
def tool():
    build = os.environ.get("OPENKD_BUILD")
    if not build:
        pytest.skip("OPENKD_BUILD is not set: point it at a build directory containing kdnet_tool")
    found = sorted(p for p in pathlib.Path(build).rglob("kdnet_tool") if p.is_file() and os.access(p, os.X_OK))
    if not found:
        pytest.skip(f"no kdnet_tool under OPENKD_BUILD={build}: build target kdnet_tool (cpp_tests/kdnet)")
    path = str(found[0])

    def run(*args, expect_ok=True):
        r = subprocess.run([path, *map(str, args)], capture_output=True, text=True, timeout=30)
        if expect_ok:
            assert r.returncode == 0, f"kdnet_tool {' '.join(map(str, args))}: {r.stderr.strip()}"
            return r.stdout.split()
        return r
    return run


def hexarg(b):
    return b.hex() if b else "-"


def random_parts(rng):
    edge = [0, 1, 35, 36, 2**64 - 1, 2**63]
    return [rng.choice(edge) if rng.random() < 0.25 else rng.getrandbits(64) for _ in range(4)]


def random_length(rng):
    return rng.choice([0, 1, 7, 8, 9, 15, 16, 17, 24, 322, 344, 1500, rng.randrange(0, 1501)])


@pytest.mark.parametrize("seed", range(12))
def test_key_string_and_hmac_key(tool, seed):
    rng = random.Random(seed)
    parts = random_parts(rng)
    text = key_string(parts)
    if rng.random() < 0.5:
        text = text.upper()  # base-36 digits read case-insensitively
    root = root_key(parts)
    assert tool("key", text) == [root.hex(), hmac_key(root).hex()]


@pytest.mark.parametrize("seed", range(40))
def test_datagrams_match_byte_exact_both_ways(tool, seed):
    rng = random.Random(1000 + seed)
    parts = random_parts(rng)
    root = root_key(parts)
    key = key_string(parts)
    resp = response_payload(rng.randbytes(32), rng.randbytes(32))
    dk = data_key(root, resp)
    channel = rng.choice([0, 1])
    seq = rng.choice([0, 1, 2**56 - 1, rng.getrandbits(56), rng.randrange(1, 1000)])
    from_debugger = rng.random() < 0.5
    payload = rng.randbytes(random_length(rng))
    enc = dk if channel == 0 else root
    expected = seal(enc, hmac_key(root), channel, seq, from_debugger, payload)
    direction = "debugger" if from_debugger else "target"

    # C++ encrypts exactly as Python does.
    got = tool("encrypt", key, channel, seq, direction, hexarg(payload), dk.hex())
    assert got == [expected.hex()]

    # C++ decrypts Python's datagram to the same fields.
    assert tool("decrypt", key, expected.hex(), dk.hex()) == ["4", str(channel), str(seq), direction, hexarg(payload)]

    # Python opens what C++ made (already equal bytes, but this checks the reference's reader too).
    assert open_datagram(enc, hmac_key(root), bytes.fromhex(got[0])) == (4, channel, seq, from_debugger, payload)

    # One changed byte anywhere: C++ refuses it (exit 1, a message, no payload).
    tampered = bytearray(expected)
    tampered[rng.randrange(len(tampered))] ^= 1 << rng.randrange(8)
    r = tool("decrypt", key, bytes(tampered).hex(), dk.hex(), expect_ok=False)
    assert r.returncode == 1 and r.stdout == "" and "KDNET" in r.stderr


@pytest.mark.parametrize("seed", range(12))
def test_response_payload_and_data_key(tool, seed):
    rng = random.Random(2000 + seed)
    parts = random_parts(rng)
    root = root_key(parts)
    target_random, debugger_random = rng.randbytes(32), rng.randbytes(32)
    resp = response_payload(target_random, debugger_random)
    assert tool("response", target_random.hex(), debugger_random.hex()) == [resp.hex()]
    assert tool("datakey", key_string(parts), resp.hex()) == [data_key(root, resp).hex()]


def test_data_channel_needs_the_data_key(tool):
    root = root_key([1, 2, 3, 4])
    wire = seal(data_key(root, response_payload(bytes(32), bytes(32))), hmac_key(root), 0, 1, False, b"b")
    r = tool("decrypt", "1.2.3.4", wire.hex(), expect_ok=False)
    assert r.returncode == 1 and "data key" in r.stderr


def test_data_channel_is_authenticated_with_inverted_root_not_data_key(tool):
    # A sender that MACs data datagrams with the inverted data key is refused.
    root = root_key([1, 2, 3, 4])
    dk = data_key(root, response_payload(bytes(32), bytes(32)))
    wrong = seal(dk, hmac_key(dk), 0, 1, True, b"b")
    r = tool("decrypt", "1.2.3.4", wrong.hex(), dk.hex(), expect_ok=False)
    assert r.returncode == 1 and "tag mismatch" in r.stderr
