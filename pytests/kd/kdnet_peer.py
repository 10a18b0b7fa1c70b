"""KDNET in Python for the end-to-end tests: an independent peer (written from
docs/protocol.md section 6 with hashlib/hmac and python3-cryptography, not
from openkd's C++), a seeded fault-injecting UDP proxy, and port helpers."""
import hashlib
import hmac
import os
import random
import select
import socket
import struct
import threading
import time

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def parse_key(text):
    parts = text.split(".")
    assert len(parts) == 4
    return b"".join(int(p, 36).to_bytes(8, "little") for p in parts)


def hmac_key(root):
    return bytes(b ^ 0xFF for b in root)


def _aes(key, iv, data, encrypt):
    c = Cipher(algorithms.AES(key), modes.CBC(iv))
    op = c.encryptor() if encrypt else c.decryptor()
    return op.update(data) + op.finalize()


def seal(enc_key, root, channel, seq, from_debugger, payload):
    pad = (-(8 + len(payload))) % 16
    plain = seq.to_bytes(7, "big") + bytes([(0x80 if from_debugger else 0) | pad]) + payload + b"\0" * pad
    header = b"MDBG" + bytes([4, channel])
    tag = hmac.new(hmac_key(root), header + plain, hashlib.sha256).digest()[:16]
    return header + _aes(enc_key, tag, plain, True) + tag


def open_datagram(enc_key, root, datagram):
    """(channel, seq, from_debugger, payload) or None when it does not authenticate."""
    if len(datagram) < 38 or datagram[:4] != b"MDBG":
        return None
    header, body, tag = datagram[:6], datagram[6:-16], datagram[-16:]
    if len(body) % 16:
        return None
    plain = _aes(enc_key, tag, body, False)
    if not hmac.compare_digest(hmac.new(hmac_key(root), header + plain, hashlib.sha256).digest()[:16], tag):
        return None
    pad = plain[7] & 0x7F
    return datagram[5], int.from_bytes(plain[:7], "big"), bool(plain[7] & 0x80), plain[8:len(plain) - pad]


def entry(ip, port):
    return b"\0" * 10 + b"\xff\xff" + socket.inet_aton(ip) + struct.pack(">H", port)


def poke_payload(rand, target, host):
    return (b"\x01\x01" + rand + entry(*target) + entry(*host) + entry("0.0.0.0", 0)).ljust(344, b"\0")


def response_payload(target_random, debugger_random):
    return (b"\x01\x02" + target_random + debugger_random).ljust(322, b"\0")


def kd_packet(leader, ptype, pid, body=b""):
    """A KD packet as KDNET carries it: KDCOM's, without the 0xAA trailer."""
    checksum = sum(body) & 0xFFFFFFFF
    return struct.pack("<IHHII", leader, ptype, len(body), pid, checksum) + body


def parse_kd_packet(payload):
    leader, ptype, count, pid, checksum = struct.unpack_from("<IHHII", payload)
    return leader, ptype, count, pid, checksum, payload[16:16 + count]


# ---- ports -------------------------------------------------------------------

def free_port(*addresses):
    """A UDP port free on every one of `addresses` (KDNET uses the same number on both ends)."""
    for _ in range(200):
        port = random.randint(20000, 60000)
        socks = []
        try:
            for a in addresses:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((a, port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free UDP port")


# ---- fault injection -----------------------------------------------------------

class FaultProxy:
    """Forwards opaque datagrams between a target and a debugger through one
    socket at `address`: what comes from `target` goes to `debugger` and back.
    Seeded loss, duplication and reordering (a datagram held back and sent
    after the next one, or after 20 ms). The faults live here, not in the
    code under test."""

    def __init__(self, address, target, debugger, seed, loss=0.0, dup=0.0, reorder=0.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.target, self.debugger = target, debugger
        self.rng = random.Random(seed)
        self.loss, self.dup, self.reorder = loss, dup, reorder
        self.counts = {"forwarded": 0, "lost": 0, "duplicated": 0, "reordered": 0}
        self._held = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _send(self, data, to):
        self.sock.sendto(data, to)
        self.counts["forwarded"] += 1

    def _run(self):
        while not self._stop.is_set():
            ready, _, _ = select.select([self.sock], [], [], 0.02)
            if not ready:
                if self._held:
                    self._send(*self._held)
                    self._held = None
                continue
            data, src = self.sock.recvfrom(65536)
            to = self.debugger if src == self.target else self.target if src == self.debugger else None
            if to is None:
                continue
            r = self.rng.random
            if r() < self.loss:
                self.counts["lost"] += 1
                continue
            if r() < self.dup:
                self.counts["duplicated"] += 1
                self._send(data, to)
            if self._held is None and r() < self.reorder:
                self.counts["reordered"] += 1
                self._held = (data, to)
                continue
            self._send(data, to)
            if self._held:
                self._send(*self._held)
                self._held = None

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


# ---- an independent peer ---------------------------------------------------------

class Peer:
    """One UDP socket speaking KDNET with a key; the handshake either way."""

    def __init__(self, address, key):
        self.root = parse_key(key)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.address = address
        self.data_key = None
        self.seq = 0

    def close(self):
        self.sock.close()

    def recv(self, timeout=10.0):
        self.sock.settimeout(timeout)
        return self.sock.recvfrom(65536)

    def recv_open(self, key, timeout=10.0, channel=None):
        """The next datagram that authenticates with `key` (and is on `channel`)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "no authentic datagram arrived in time"
            data, src = self.recv(left)
            opened = open_datagram(key, self.root, data)
            if opened and (channel is None or opened[0] == channel):
                return opened, src

    def send(self, to, channel, payload, from_debugger, seq=None, key=None):
        if seq is None:
            self.seq += 1
            seq = self.seq
        self.sock.sendto(seal(key or (self.data_key if channel == 0 else self.root), self.root, channel, seq,
                              from_debugger, payload), to)

    # target side: POKE a debugger, take its RESPONSE
    def handshake_as_target(self, debugger, timeout=10.0):
        rand = os.urandom(32)
        self.send(debugger, 1, poke_payload(rand, self.address, debugger), False, seq=1)
        (channel, seq, from_debugger, payload), src = self.recv_open(self.root, timeout, channel=1)
        assert from_debugger and seq == 1 and len(payload) == 322, (seq, len(payload))
        assert payload[:2] == b"\x01\x02" and payload[2:34] == rand
        self.data_key = hashlib.sha256(self.root + payload).digest()
        self.seq = 0
        return src

    # debugger side: wait for a POKE, answer it
    def handshake_as_debugger(self, timeout=10.0):
        (channel, seq, from_debugger, payload), src = self.recv_open(self.root, timeout, channel=1)
        assert not from_debugger and payload[:2] == b"\x01\x01" and len(payload) == 344
        response = response_payload(payload[2:34], os.urandom(32))
        self.send(src, 1, response, True, seq=seq)
        self.data_key = hashlib.sha256(self.root + response).digest()
        self.seq = 0
        return src, payload
