"""Passwords (challenge-response, never in clear) and TLS: good, wrong and
pinned certificates, TLS versions, spipe."""
import re
import socket
import subprocess
import time

import pytest

from remote_helpers import port_of, tcp_client


def _make_cert(tmp_path, name):
    key, crt = tmp_path / f"{name}.key", tmp_path / f"{name}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(crt), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    pem = tmp_path / f"{name}.pem"
    pem.write_text(crt.read_text() + key.read_text())
    fp = subprocess.run(["openssl", "x509", "-in", str(crt), "-noout", "-fingerprint", "-sha256"],
                        check=True, capture_output=True, text=True).stdout
    pin = "sha256:" + fp.split("=", 1)[1].strip().replace(":", "")
    return {"pem": str(pem), "crt": str(crt), "pin": pin}


@pytest.fixture
def certs(tmp_path):
    return {"good": _make_cert(tmp_path, "good"), "other": _make_cert(tmp_path, "other")}


def test_password_right_wrong_and_not_in_clear(remoting):
    # Watch the bytes a client sends: the password must not be among them.
    host = remoting.host("tcp:port=0,password=Hunter2Secret")
    port = port_of(host.remotes[0])
    wrong = remoting.client(f"tcp:server=127.0.0.1,port={port},password=hunter2secret")
    assert wrong.wait() == 1
    assert wrong.err.endswith("\nopenkd: password rejected by server\n")
    host.wait_for(r"rejected \S+ \(tcp 127\.0\.0\.1:\d+\): wrong password")
    none = remoting.client(f"tcp:server=127.0.0.1,port={port}")
    assert none.wait() == 1
    assert "requires a password" in none.err
    good = remoting.client(f"tcp:server=127.0.0.1,port={port},password=Hunter2Secret")
    good.send(".echo in")
    good.wait_for(r"\nin\n")


def test_password_never_crosses_the_wire(remoting, tmp_path):
    # A tiny relay between client and server records every byte in both directions.
    host = remoting.host("tcp:port=0,password=PlainTextNever")
    server_port = port_of(host.remotes[0])
    relay = socket.socket()
    relay.bind(("127.0.0.1", 0))
    relay.listen()
    seen = bytearray()
    import threading

    def pump(src, dst):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                break
            if not data:
                break
            seen.extend(data)
            try:
                dst.sendall(data)
            except OSError:
                break
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def accept():
        a, _ = relay.accept()
        b = socket.create_connection(("127.0.0.1", server_port))
        threading.Thread(target=pump, args=(a, b), daemon=True).start()
        threading.Thread(target=pump, args=(b, a), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    c = remoting.client(f"tcp:server=127.0.0.1,port={relay.getsockname()[1]},password=PlainTextNever")
    c.send(".echo relayed")
    c.wait_for(r"\nrelayed\n")
    c.send(".remote_exit")
    assert c.wait() == 0
    assert b"PlainTextNever" not in bytes(seen)
    relay.close()


def test_ssl_with_a_trusted_certificate(remoting, certs):
    g = certs["good"]
    host = remoting.host(f"ssl:proto=tls1.2,certuser={g['pem']},port=0")
    c = remoting.client(f"ssl:proto=tls1.2,certuser={g['crt']},server=127.0.0.1,port={port_of(host.remotes[0])}")
    c.wait_for(r"\(ssl 127\.0\.0\.1:\d+\) connected at")
    c.send(".echo secure")
    c.wait_for(r"\nsecure\n")


def test_ssl_refuses_an_unverifiable_certificate(remoting, certs):
    host = remoting.host(f"ssl:certuser={certs['good']['pem']},port=0")
    port = port_of(host.remotes[0])
    c = remoting.client(f"ssl:certuser={certs['other']['crt']},server=127.0.0.1,port={port}")
    assert c.wait() == 1
    assert "cannot verify the server's certificate" in c.err
    assert "refusing to connect" in c.err
    # Without any trust anchor the system store does not know a self-signed cert either.
    c = remoting.client(f"ssl:server=127.0.0.1,port={port}")
    assert c.wait() == 1
    assert "cannot verify" in c.err


def test_ssl_pinned_fingerprint(remoting, certs):
    host = remoting.host(f"ssl:certuser={certs['good']['pem']},port=0,password=pw")
    port = port_of(host.remotes[0])
    good = remoting.client(f"ssl:certuser={certs['good']['pin']},server=127.0.0.1,port={port},password=pw")
    good.send(".echo pinned")
    good.wait_for(r"\npinned\n")
    bad = remoting.client(f"ssl:certuser={certs['other']['pin']},server=127.0.0.1,port={port},password=pw")
    assert bad.wait() == 1
    assert "does not match the pinned" in bad.err


def test_tls_versions(remoting, certs):
    g = certs["good"]
    host = remoting.host(f"ssl:proto=tls1.3,certuser={g['pem']},port=0")
    port = port_of(host.remotes[0])
    ok = remoting.client(f"ssl:proto=tls1.3,certuser={g['crt']},server=127.0.0.1,port={port}")
    ok.send(".echo v13")
    ok.wait_for(r"\nv13\n")
    old = remoting.client(f"ssl:proto=tls1.2,certuser={g['crt']},server=127.0.0.1,port={port}")
    assert old.wait() == 1
    assert "TLS handshake failed" in old.err
    r = remoting.run("-server", f"ssl:proto=tls1,certuser={g['pem']},port=0")
    assert r.returncode == 1 and "insecure" in r.stderr


def test_spipe(remoting, certs, tmp_path):
    g = certs["good"]
    host = remoting.host(f"spipe:proto=tls1.2,certuser={g['pem']},pipe={tmp_path}/sp,password=pw")
    c = remoting.client(f"spipe:proto=tls1.2,certuser={g['pin']},server=.,pipe={tmp_path}/sp,password=pw")
    c.wait_for(r"\(spipe pid \d+\) connected at")
    c.send(".echo spipe works")
    c.wait_for(r"\nspipe works\n")
    wrong = remoting.client(f"spipe:certuser={certs['other']['crt']},server=.,pipe={tmp_path}/sp,password=pw")
    assert wrong.wait() == 1
    assert "cannot verify" in wrong.err


def test_server_with_a_bad_certificate_file(remoting, tmp_path):
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    r = remoting.run("-server", f"ssl:certuser={tmp_path}/junk.pem,port=0")
    assert r.returncode == 1
    assert "cannot load the certificate" in r.stderr
