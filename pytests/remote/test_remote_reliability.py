"""Killed clients and servers, and many clients at once."""
import re
import time

from remote_helpers import tcp_client


def test_client_killed_mid_command(remoting, tmp_path):
    host = remoting.host(f"npipe:pipe={tmp_path}/k")
    victim = remoting.client(f"npipe:server=.,pipe={tmp_path}/k")
    victim.wait_for("connected at")
    other = remoting.client(f"npipe:server=.,pipe={tmp_path}/k")
    other.wait_for("connected at")
    victim.send("slow 1500")
    other.wait_for("slow: start")
    victim.kill()
    other.wait_for("slow: done")
    other.wait_for("disconnected at")
    other.send(".echo session goes on")
    other.wait_for(r"\nsession goes on\n")
    assert host.p.poll() is None


def test_server_killed(remoting, tmp_path):
    host = remoting.host("tcp:port=0", f"npipe:pipe={tmp_path}/s")
    a = remoting.client(tcp_client(host.remotes[0]))
    a.wait_for("connected at")
    b = remoting.client(f"npipe:server=.,pipe={tmp_path}/s")
    a.wait_for(r"(?s)connected at.*connected at")
    host.kill()
    for c in (a, b):
        assert c.wait() == 1
        assert "openkd: lost the connection to the server" in c.err


def test_64_clients_see_the_same_session(remoting, tmp_path):
    n, per_client = 64, 3
    host = remoting.host(f"npipe:pipe={tmp_path}/many")
    clients = [remoting.client(f"npipe:server=.,pipe={tmp_path}/many") for _ in range(n)]
    host.wait_count(r" connected at ", n, timeout=180)
    for k in range(per_client):
        for i, c in enumerate(clients):
            c.send(f"c{i}-{k}")
    total = n * per_client

    def session(c):
        return re.findall(r"^(?:\S+ \(npipe pid \d+\) issued: (c\d+-\d+)|executed: (c\d+-\d+))$", c.out, re.M)

    for c in clients:
        c.wait_count(r"^executed: c\d+-\d+$", total, timeout=240)
    reference = session(clients[0])
    assert len(reference) == 2 * total
    for j in range(0, len(reference), 2):
        assert reference[j][0] and reference[j + 1][1] == reference[j][0]  # each command, then its output
    for c in clients[1:]:
        assert session(c) == reference
    host.send("q")
    for c in clients:
        assert c.wait() == 0
