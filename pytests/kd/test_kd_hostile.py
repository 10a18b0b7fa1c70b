"""kd against a mutating target (hostile_target.py's `mutate` mode, issue 15):
lengths that lie, huge counts, wrong APIs, ids out of order, replies nobody
asked for, short bodies, impossible state changes, bursts of RESETs, prints and
garbage. Whatever the seed, kd never crashes, keeps its memory bounded, ends
within its deadlines and says what went wrong instead of printing silence."""
import re
import signal
import threading
import time

import pytest

from test_kd_storms import Watched, rss_bound_kib

# Commands that drive every kind of exchange: version, context, control space,
# memory (several sizes, so replies are split), a resume and its stop, a
# processor switch and registers again.
SCRIPT = "\n".join([
    "vertarget", "r", "r cr3", "db fffff800`00400000 L80", "dq fffff800`00401000 L40",
    "dd fffff800`00402000 L400", "u fffff800`00401000", "g", "r rip", "~1s", "r rip",
    "db fffff800`00403000 L20", "q", ""])

# What kd says when the target misbehaves (the core's words); a command that got
# nothing back says one of these, so no damage passes in silence.
COMPLAINTS = re.compile(r"Memory read failed|malformed|did not answer|refused|failed|error|Error|"
                        r"unexpected|resynchron|RESET|lost", re.I)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_kd_survives_a_mutating_target(tmp_path, seed):
    kd = Watched(tmp_path, "mutate", seed=seed, rate=0.35)

    # A target may mangle the stop that should end `g` (or a processor switch):
    # kd then waits as KD does, until the user presses Ctrl-C. So does this test,
    # every 3 s after the first 15, which breaks in and lets the script go on.
    def press_ctrl_c():
        time.sleep(15)
        while kd.proc.poll() is None:
            kd.proc.send_signal(signal.SIGINT)
            time.sleep(3)

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    rc, out = kd.run(SCRIPT, timeout=150)
    print(f"\nseed {seed}: mutations sent {kd.target.mutations}")
    kd.report(f"mutate seed {seed}")
    # Ended by q, not by a signal, a sanitizer or the timeout.
    assert rc == 0, out[-3000:]
    assert kd.peak_rss < rss_bound_kib(), kd.peak_rss
    assert "kd> q" in out, out[-3000:]
    assert "AddressSanitizer" not in out and "runtime error" not in out, out[-3000:]
    # Every command ran: each prompt echoed in order.
    for command in ["vertarget", "r cr3", "dd fffff800`00402000", "r rip", "db fffff800`00403000"]:
        assert command in out, (command, out[-3000:])
    if sum(kd.target.mutations.values()) >= 3:
        assert COMPLAINTS.search(out), out[-3000:]
