"""The remoting commands as one family (remote/remote_commands.hpp): secure
mode, what a client may start, secrets kept out of ps, the bound address."""
import os
import re

from remote_helpers import port_of


def test_secure_mode_refuses_server_commands_from_console_and_client(remoting, tmp_path):
    host = remoting.host(f"npipe:pipe={tmp_path}/s", secure=True)
    host.send(".server tcp:port=0")
    host.wait_for(r".server is disabled: the session is in secure mode \(-secure\); servers are started only "
                  r"with -server on kd's command line\n")
    c = remoting.client(f"npipe:server=.,pipe={tmp_path}/s")
    c.send(".server tcp:port=0")
    c.wait_for(r"\.server is disabled: the session is in secure mode")
    c.send(".endsrv 0")
    c.wait_for(r"\.endsrv is disabled: the session is in secure mode")
    c.send(".servers")
    c.wait_for(r"0 - Debugger Server - npipe:Pipe=")
    assert "1 - Debugger Server" not in c.out


def test_client_started_server_inherits_the_password(remoting):
    host = remoting.host("tcp:port=0,bind=127.0.0.1,password=Inherit1")
    port = port_of(host.remotes[0])
    c = remoting.client(f"tcp:server=127.0.0.1,port={port},password=Inherit1")
    c.send(".server tcp:port=0,bind=127.0.0.1")
    c.wait_for(r"\(the new server takes the password of the server this client came through\)\n")
    m = c.wait_for(r"0: kd -remote (tcp:Port=(\d+),Server=127\.0\.0\.1,Password=\*)\n")
    new_port = int(m.group(2))
    none = remoting.client(f"tcp:server=127.0.0.1,port={new_port}")
    assert none.wait() == 1
    assert "requires a password" in none.err
    ok = remoting.client(f"tcp:server=127.0.0.1,port={new_port},password=Inherit1")
    ok.send(".echo through the new one")
    ok.wait_for(r"\nthrough the new one\n")


def test_client_of_a_local_server_cannot_open_it_to_the_network(remoting, tmp_path):
    host = remoting.host(f"npipe:pipe={tmp_path}/l")
    c = remoting.client(f"npipe:server=.,pipe={tmp_path}/l")
    c.send(".server tcp:port=0")
    c.wait_for(r"Server could not start: a client of a local-only server may start a server reachable from the "
               r"network only with password= or TLS")
    c.send(".server tcp:port=0,bind=127.0.0.1")
    c.wait_for(r"0: kd -remote tcp:Port=\d+,Server=127\.0\.0\.1\n")
    # The host's console is not restricted.
    host.send(".server tcp:port=0")
    host.wait_for(r"(?s)Server started.*Server started.*Server started")


def test_password_from_file_and_environment(remoting, tmp_path):
    secret = tmp_path / "pw.txt"
    secret.write_text("FromFile9\nignored second line\n")
    remoting.env["OKD_TEST_PW"] = "FromEnv7"
    host = remoting.host(f"tcp:port=0,bind=127.0.0.1,password=@{secret}", "tcp:port=0,bind=127.0.0.1,password=env:OKD_TEST_PW")
    assert "hint" not in host.err
    a = remoting.client(f"tcp:server=127.0.0.1,port={port_of(host.remotes[0])},password=@{secret}")
    a.send(".echo file ok")
    a.wait_for(r"\nfile ok\n")
    assert "hint" not in a.err
    b = remoting.client(f"tcp:server=127.0.0.1,port={port_of(host.remotes[1])},password=env:OKD_TEST_PW")
    b.send(".echo env ok")
    b.wait_for(r"\nenv ok\n")
    wrong = remoting.client(f"tcp:server=127.0.0.1,port={port_of(host.remotes[1])},password=FromFile9")
    assert wrong.wait() == 1
    missing = remoting.run("-server", "tcp:port=0,password=env:OKD_NOT_SET_ANYWHERE")
    assert missing.returncode == 1
    assert "password=env:OKD_NOT_SET_ANYWHERE: the environment variable is not set" in missing.stderr


def test_plain_password_prints_a_hint(remoting):
    host = remoting.host("tcp:port=0,bind=127.0.0.1,password=Visible")
    host.wait_for(r"openkd: hint: a password given as text is visible to other local users \(ps\); "
                  r"password=@FILE or password=env:NAME keeps it out\n", stream="err")
    c = remoting.client(f"tcp:server=127.0.0.1,port={port_of(host.remotes[0])},password=Visible")
    c.wait_for("openkd: hint: a password given as text", stream="err")


def test_join_line_shows_the_bound_address(remoting):
    host = remoting.host("tcp:port=0,bind=127.0.0.1")
    assert re.fullmatch(r"tcp:Port=\d+,Server=127\.0\.0\.1", host.remotes[0])
    c = remoting.client(f"tcp:server=127.0.0.1,port={port_of(host.remotes[0])}")
    c.send(".servers")
    c.wait_for(r"0 - Debugger Server - tcp:Port=\d+,Server=127\.0\.0\.1\n")
    anyhost = remoting.host("tcp:port=0")
    assert f"Server={os.uname().nodename}" in anyhost.remotes[0]
