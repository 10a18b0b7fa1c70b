"""A client's `g` reaches a DbgPrompt: the host's console answers it, and the
client's Ctrl-C then breaks into the running target (the real kd, -k sim)."""
import os
import signal
from pathlib import Path

import pytest

from remote_helpers import BUILD, Proc


def test_prompt_answered_at_host_then_client_breaks_in(tmp_path):
    if not BUILD:
        pytest.skip("OPENKD_BUILD is not set")
    exe = Path(BUILD) / "tools/kd/kd"
    if not exe.exists():
        pytest.skip(f"{exe} is not built")
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path))
    host = Proc([str(exe), "-server", f"npipe:pipe={tmp_path}/kd", "-k", "sim:prompt=1"], env)
    client = None
    try:
        host.wait_for(r"0: kd -remote (npipe:Pipe=\S+)\n", timeout=120)
        client = Proc([str(exe), "-remote", f"npipe:server=.,pipe={tmp_path}/kd"], env)
        client.wait_for("connected at", timeout=60)
        client.send("g")
        host.wait_for(r"enter boot options: ", timeout=60)
        host.send("quiet")  # the target's DbgPrompt, not a command
        client.wait_for(r'boot options: "quiet"', timeout=60)
        assert "Unknown command" not in host.out
        client.p.send_signal(signal.SIGINT)
        client.wait_for(r"Break instruction exception - code 80000003", timeout=60)
        client.send("r rip")
        client.wait_for(r"rip=[0-9a-f]{16}", timeout=60)
        host.send("q")  # the host's q ends the session; a client's q would leave only itself
        assert client.wait(timeout=60) == 0
        assert host.wait(timeout=60) == 0
    finally:
        if client:
            client.kill()
        host.kill()
