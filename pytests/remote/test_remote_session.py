"""Session semantics over tcp and npipe: commands and output reach everyone,
joins/leaves, .servers/.endsrv/.clients, .echo, q, .remote_exit, break-in."""
import re
import signal
import socket

from remote_helpers import port_of, tcp_client


def test_start_message_and_a_command(remoting):
    host = remoting.host("tcp:port=0")
    assert re.search(r"^Server started\.  Client can connect with any of these command lines\n"
                     r"0: kd -remote tcp:Port=\d+,Server=%s\n" % re.escape(socket.gethostname()), host.out)
    c = remoting.client(tcp_client(host.remotes[0]))
    c.wait_for(r"\(tcp 127\.0\.0\.1:\d+\) connected at \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}")
    c.send("r")
    c.wait_for(r"issued: r\nexecuted: r\n")
    host.wait_for(r"\(tcp 127\.0\.0\.1:\d+\) issued: r\n")
    host.wait_for(r"warning: .*neither a password nor TLS", stream="err")


def test_echo_reaches_everyone_and_issuer_is_named(remoting):
    host = remoting.host("tcp:port=0")
    a = remoting.client(tcp_client(host.remotes[0]))
    a.wait_for("connected at")
    b = remoting.client(tcp_client(host.remotes[0]))
    a.wait_for(r"(?s)connected at.*connected at")
    a.send(".echo hello from a")
    m = b.wait_for(r"(\S+ \(tcp 127\.0\.0\.1:\d+\)) issued: \.echo hello from a\nhello from a\n")
    assert "\\" in m.group(1)  # HOST\user
    a.wait_for(r"issued: \.echo hello from a\nhello from a\n")
    host.wait_for(r"hello from a\n")


def test_servers_endsrv_clients(remoting, tmp_path):
    pipe = tmp_path / "tiger"
    host = remoting.host("tcp:port=0,password=Secret", f"npipe:pipe={pipe}")
    assert host.remotes[0].endswith(",Password=*")
    c = remoting.client(f"npipe:server=.,pipe={pipe}")
    c.wait_for("connected at")
    c.send(".servers")
    c.wait_for(r"0 - Debugger Server - tcp:Port=\d+,Server=\S+,Password=\*\n"
               r"1 - Debugger Server - npipe:Pipe=%s,Server=\S+\n" % re.escape(str(pipe)))
    c.send(".clients")
    c.wait_for(r"\S+\\\S+ \(npipe pid \d+\), last active \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n")
    c.send(".endsrv 1")
    c.wait_for("Server 1 disabled: no new clients; attached clients stay.")
    c.send(".servers")
    c.wait_for(r"1 - <Disabled, exit pending>")
    late = remoting.client(f"npipe:server=.,pipe={pipe}")
    assert late.wait() == 1
    assert "cannot connect" in late.err
    c.send(".echo still attached")
    c.wait_for(r"\nstill attached\n")


def test_q_from_a_client_leaves_that_client_only(remoting, tmp_path):
    # KD: q from a client has no effect on the session; that client leaves.
    host = remoting.host(f"npipe:pipe={tmp_path}/q")
    a = remoting.client(f"npipe:server=.,pipe={tmp_path}/q")
    a.wait_for("connected at")
    b = remoting.client(f"npipe:server=.,pipe={tmp_path}/q")
    a.wait_for(r"(?s)connected at.*connected at")
    b.send("q")
    assert b.wait() == 0
    assert "openkd: you left the session (q); it goes on without you\n" in b.out
    a.wait_for(r"\(npipe pid \d+\) left the session \(q\)\n")
    host.wait_for(r"left the session \(q\)\n")
    a.send(".echo still on")
    a.wait_for(r"\nstill on\n")
    assert host.p.poll() is None
    host.send("q")  # q at the host's console ends the session for everyone
    assert a.wait() == 0
    assert "openkd: the debugging session has ended: q issued on the server" in a.out
    assert host.wait() == 0


def test_qq_from_a_client_needs_clientqq(remoting, tmp_path):
    host = remoting.host(f"npipe:pipe={tmp_path}/q1", f"npipe:pipe={tmp_path}/q2,clientqq")
    a = remoting.client(f"npipe:server=.,pipe={tmp_path}/q1")
    a.send("qq")
    a.wait_for(r"qq from a client is refused: this server was not started with clientqq \(q leaves this client only\)\n")
    assert host.p.poll() is None
    b = remoting.client(f"npipe:server=.,pipe={tmp_path}/q2")
    b.send("qq")
    for c in (a, b):
        assert c.wait() == 0
        assert "openkd: the debugging session has ended: qq issued by" in c.out
    assert host.wait() == 0


def test_remote_exit_leaves_alone(remoting, tmp_path):
    host = remoting.host(f"npipe:pipe={tmp_path}/x")
    a = remoting.client(f"npipe:server=.,pipe={tmp_path}/x")
    a.wait_for("connected at")
    b = remoting.client(f"npipe:server=.,pipe={tmp_path}/x")
    a.wait_for(r"(?s)connected at.*connected at")
    b.send(".remote_exit")
    assert b.wait() == 0
    a.wait_for("disconnected at")
    host.wait_for("disconnected at")
    a.send("k")
    a.wait_for("executed: k")


def test_end_of_input_leaves_after_commands_ran(remoting, tmp_path):
    remoting.host(f"npipe:pipe={tmp_path}/e")
    c = remoting.client(f"npipe:server=.,pipe={tmp_path}/e")
    for i in range(5):
        c.send(f"cmd{i}")
    c.close_stdin()
    assert c.wait() == 0
    for i in range(5):
        assert f"executed: cmd{i}\n" in c.out


def test_ctrl_c_sends_a_break_in(remoting, tmp_path):
    remoting.host(f"npipe:pipe={tmp_path}/b")
    a = remoting.client(f"npipe:server=.,pipe={tmp_path}/b")
    a.wait_for("connected at")
    a.send("slow 60000")
    a.wait_for("slow: start")
    a.p.send_signal(signal.SIGINT)
    a.wait_for("slow: interrupted by a break-in request")
    a.send(".echo alive")
    a.wait_for(r"\nalive\n")


def test_noio_host_is_silent(remoting, tmp_path):
    host = remoting.host(f"npipe:pipe={tmp_path}/n,clientqq", noio=True)
    c = remoting.client(f"npipe:server=.,pipe={tmp_path}/n")
    c.send(".echo quiet host")
    c.wait_for(r"\nquiet host\n")
    c.send("qq")
    assert c.wait() == 0
    assert host.wait() == 0
    assert "quiet host" not in host.out


def test_terminal_client_shows_prompt_and_ctrl_b_leaves(remoting, tmp_path):
    import os
    import pty
    import subprocess
    remoting.host(f"npipe:pipe={tmp_path}/t")
    master, slave = pty.openpty()
    p = subprocess.Popen([remoting.exe, "-remote", f"npipe:server=.,pipe={tmp_path}/t"], stdin=slave,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=remoting.env)
    os.close(slave)
    try:
        os.write(master, b".echo typed\n")
        seen = b""
        while b"\ntyped\n" not in seen:
            chunk = os.read(p.stdout.fileno(), 4096)
            assert chunk, "client ended early"
            seen += chunk
        os.write(master, b"\x02")  # Ctrl-B: no Enter needed
        out, err = p.communicate(timeout=60)
        out = seen + out
    finally:
        os.close(master)
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    text = out.decode()
    assert "0: kd> " in text  # the host's prompt, shown on a terminal
    assert "\ntyped\n" in text
    assert "issued: .echo typed" not in text  # the typed line is not echoed back to its typist
