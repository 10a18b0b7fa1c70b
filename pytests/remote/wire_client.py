"""A minimal openkd remoting client in Python (remote/README.md's wire
protocol), for hostile-load tests: hello, challenge, answer, verdict."""
import hashlib
import hmac
import os
import socket
import struct

MAGIC = 0x52444B4F
VERSION = 1
CLIENT_HELLO, SERVER_HELLO, AUTH_RESPONSE, WELCOME, REJECTED = 1, 2, 3, 4, 5


def frame(ftype, payload=b""):
    return struct.pack("<IB", len(payload) + 1, ftype) + payload


def string(s):
    b = s.encode()
    return struct.pack("<I", len(b)) + b


def read_frame(sock):
    head = _read_exact(sock, 5)
    length, ftype = struct.unpack("<IB", head)
    return ftype, _read_exact(sock, length - 1)


def _read_exact(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out


def binding(kind, identity):
    out = b""
    for s in ("openkd-remote-auth-v1", kind, identity):
        out += string(s)
    return out + struct.pack("<I", 0)


def login(port, password, source="127.0.0.1", identity="TEST\\guesser", timeout=30):
    """Returns ("welcome", name), ("rejected", reason) or ("closed", "")."""
    s = socket.socket()
    s.settimeout(timeout)
    try:
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(frame(CLIENT_HELLO, struct.pack("<IH", MAGIC, VERSION) + string(identity)))
        ftype, payload = read_frame(s)
        if ftype == REJECTED:
            return "rejected", payload[4:].decode()
        assert ftype == SERVER_HELLO, ftype
        auth = payload[2] == 1
        nonce = payload[3:35]
        if auth:
            mac = hmac.new(password.encode(), nonce + binding("tcp", identity), hashlib.sha256).digest()
            s.sendall(frame(AUTH_RESPONSE, mac))
        ftype, payload = read_frame(s)
        if ftype == WELCOME:
            return "welcome", payload
        if ftype == REJECTED:
            return "rejected", payload[4:].decode()
        return "other", str(ftype)
    except (ConnectionError, OSError):
        return "closed", ""
    finally:
        s.close()


def random_password():
    return os.urandom(8).hex()
