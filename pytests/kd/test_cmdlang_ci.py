"""issue 14's "Done when": a realistic CI script (aliases, .if/.for over memory, a
breakpoint with a command string, wt, .printf of registers and pseudo-registers,
sxe av, .logopen, a $$>a< helper with arguments, errors it survives) run with
`kd -k sim -cf FILE`; its transcript must equal golden/cmdlang/ci_script.txt with
only the times and the log's path masked."""
import os
import re
import subprocess
from pathlib import Path

from kd_helpers import check_golden, tool

HERE = Path(__file__).parent / "cmdlang"


def run_script(tmp_path, script="ci_script.kd"):
    log = tmp_path / "ci.log"
    env = dict(os.environ, OPENKD_CI_LOG=str(log), OPENKD_CI_HELPER=str(HERE / "ci_helper.kd"))
    p = subprocess.run([str(tool("kd")), "-k", "sim", "-cf", str(HERE / script)], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=120, env=env)
    return p, log


def mask(text, tmp_path):
    text = text.replace(str(tmp_path), "$TMP").replace(str(HERE), "$SCRIPTS")
    return re.sub(r"debugger time: .*", "debugger time: TIME", text)


def test_the_ci_script_gives_the_output_a_kd_user_expects(tmp_path):
    p, log = run_script(tmp_path)
    assert p.returncode == 0, p.stderr
    check_golden("cmdlang/ci_script", mask(p.stdout, tmp_path))
    # The log holds the session from .logopen to .logclose: the commands and their output.
    text = log.read_text()
    assert "kd> wt\n" in text and "Function Name" in text, text
    assert "helper: arg1=first arg2=second" in text, text
    assert "kd> q" not in text, text


def test_help_lists_every_command_of_the_table_and_counts_them(tmp_path):
    script = tmp_path / "help.kd"
    script.write_text(".help\n.help wt\n.help nosuch\nq\n")
    p = subprocess.run([str(tool("kd")), "-k", "sim", "-cf", str(script)], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    listing = p.stdout.split("kd> .help\n", 1)[1].split("kd> .help wt", 1)[0]
    for name in [".if", ".foreach", "$$>a<", "as", ".printf", "sx{e|d|n|i}", "wt", "pt", ".shell", "rm", "~", "c", "m"]:
        assert re.search(rf"^  [^\n]*{re.escape(name)}", listing, re.M), name
    assert "trace the current function's calls" in p.stdout
    assert "No help for 'nosuch'" in p.stdout
    count = re.search(r"^(\d+) command names", p.stdout, re.M)
    assert count and int(count.group(1)) >= 130, p.stdout
