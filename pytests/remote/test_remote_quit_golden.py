"""KD's quit semantics for remote clients as golden transcripts (what a client
sees): q from a client, qq refused and allowed, .remote_exit, q at the host.
OPENKD_REBASE=1 rewrites the golden files."""
import os
import re
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"


def normalise(text):
    text = re.sub(r"\S+\\\S+ \((npipe|tcp) [^)]*\)", r"HOST\\user (\1 PEER)", text)
    text = re.sub(r"at \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}", "at DATE", text)
    return text


def check_golden(name, text):
    path = GOLDEN / f"{name}.txt"
    text = normalise(text)
    if os.environ.get("OPENKD_REBASE") == "1":
        path.write_text(text)
        return
    assert path.exists(), f"no golden file {path}; run with OPENKD_REBASE=1 to create it"
    assert text == path.read_text(), f"transcript differs from {path} (OPENKD_REBASE=1 rewrites it)\n{text}"


def test_quit_semantics_transcript(remoting, tmp_path):
    host = remoting.host(f"npipe:pipe={tmp_path}/g", f"npipe:pipe={tmp_path}/g2,clientqq")
    watcher = remoting.client(f"npipe:server=.,pipe={tmp_path}/g")
    watcher.wait_for("connected at")
    leaver = remoting.client(f"npipe:server=.,pipe={tmp_path}/g")
    watcher.wait_count(r" connected at ", 2)
    leaver.send(".echo one")
    watcher.wait_for(r"\none\n")
    leaver.send("q")
    assert leaver.wait() == 0
    watcher.wait_for("disconnected at")
    watcher.send("qq")
    watcher.wait_for("qq from a client is refused")
    exiter = remoting.client(f"npipe:server=.,pipe={tmp_path}/g")
    watcher.wait_count(r" connected at ", 3)
    exiter.send(".remote_exit")
    assert exiter.wait() == 0
    watcher.wait_count(r" disconnected at ", 2)
    ender = remoting.client(f"npipe:server=.,pipe={tmp_path}/g2")
    watcher.wait_count(r" connected at ", 4)
    ender.send("qq")
    for c in (watcher, ender):
        assert c.wait() == 0
    assert host.wait() == 0
    check_golden("quit_watcher", watcher.out)
    check_golden("quit_leaver", leaver.out)
    check_golden("quit_ender", ender.out)
