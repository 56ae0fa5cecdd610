"""``curvsym prove`` against hostile theorems (issue 24, items 4 and 8): each theorem runs in a process of
its own that is killed from outside, and every theorem gets a row whatever it does.

Real processes and real signals; synchronisation by marker files the theorems write, never by sleeping.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from curvsym.cli import main

from processes import alive, env, wait_for

REPO = Path(__file__).resolve().parents[2]

HEADER = '''
import ctypes, os, signal, time
from pathlib import Path
import curvsym as cs
from curvsym.checks import CheckResult

MARKS = Path({marks!r})


def mark(name):
    MARKS.mkdir(exist_ok=True)
    (MARKS / f"{{name}}-{{os.getpid()}}").write_text("")


def good():
    return cs.Evidence("n/a", CheckResult("claim", 0.0, 1e-10, True), CheckResult("control", 1.0, 1e-10, False))
'''

HOSTILE = {
    "c_loop.py": '''
@cs.theorem("loops in C code", "demo", digits=16)
def c_loop(digits):
    mark("c_loop")
    return sum(range(10 ** 14))
''',
    "catches.py": '''
@cs.theorem("catches the timeout", "demo", digits=16)
def catches(digits):
    mark("catches")
    while True:
        try:
            time.sleep(0.05)
        except BaseException:
            pass
''',
    "oom.py": '''
@cs.theorem("killed as by the OOM killer", "demo", digits=16)
def oom(digits):
    os.kill(os.getpid(), signal.SIGKILL)
''',
    "segfault.py": '''
@cs.theorem("segfaults", "demo", digits=16)
def segfault(digits):
    ctypes.string_at(0)
''',
    "exits.py": '''
@cs.theorem("calls os._exit", "demo", digits=16)
def exits(digits):
    os._exit(3)
''',
    "import_loop.py": '''
while True:
    pass
''',
    "fine.py": '''
@cs.theorem("a fine claim", "demo", digits=16)
def fine(digits):
    return good()
''',
}


def write_theorems(folder: Path, files: dict) -> Path:
    folder.mkdir(exist_ok=True)
    for name, body in files.items():
        (folder / name).write_text(HEADER.format(marks=str(folder.parent / "marks")) + textwrap.dedent(body))
    return folder


def rows(out: str) -> dict:
    """theorem → verdict from the table (``verdict  time  residual/tol  control  theorem`` rows)."""
    table = re.compile(r"^(PASS|FAIL|ERROR|TIMEOUT|CRASHED)\s+\S+\s+\S+\s+\S+\s+(.+)$")
    return {m.group(2).strip(): m.group(1) for m in map(table.match, out.splitlines()) if m}






@pytest.mark.parametrize("jobs", ["1", "2"])
def test_every_hostile_theorem_gets_a_row_and_the_table_prints(tmp_path, capsys, jobs):
    folder = write_theorems(tmp_path / "th", HOSTILE)
    code = main(["prove", str(folder), "-q", "--timeout", "1.5", "--jobs", jobs])
    out = capsys.readouterr().out
    assert code == 1
    verdicts = rows(out)
    assert verdicts["loops in C code"] == "TIMEOUT"
    assert verdicts["catches the timeout"] == "TIMEOUT"
    assert verdicts["import_loop.py (not importable)"] == "TIMEOUT"
    assert verdicts["killed as by the OOM killer"] == "CRASHED"
    assert verdicts["segfaults"] == "CRASHED"
    assert verdicts["calls os._exit"] == "CRASHED"
    assert verdicts["a fine claim"] == "PASS"
    assert "1/7 theorems passed" in out
    assert "killed by SIGKILL — e.g. the out-of-memory killer" in out and "killed by SIGSEGV" in out
    assert "exited with status 3" in out and "importing it did not finish within 1.5 s" in out
    for mark in (tmp_path / "marks").glob("*"):  # the killed theorems are gone, not running on
        wait_for(lambda: not alive(int(mark.name.rsplit("-", 1)[1])), f"{mark.name} to die", 10)




@pytest.mark.parametrize("whom", ["group", "main process only"])
def test_ctrl_c_stops_every_theorem_and_prints_one_line(tmp_path, whom):
    """SIGINT to the process group (a terminal's Ctrl-C) or to the main process only, while two theorems
    loop in C code: exit 130, one line on stderr, no traceback, both theorem processes gone."""
    hang = '''
@cs.theorem("hangs {k}", "demo", digits=16)
def hangs(digits):
    mark("hangs{k}")
    return sum(range(10 ** 14))
'''
    folder = write_theorems(tmp_path / "th", {f"h{k}.py": hang.format(k=k) for k in (1, 2)})
    proc = subprocess.Popen([sys.executable, "-m", "curvsym", "prove", str(folder), "-q", "--jobs", "2"],
                            env=env(), start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        wait_for(lambda: len(list((tmp_path / "marks").glob("hangs*"))) == 2, "both theorems to start")
        t0 = time.monotonic()
        if whom == "group":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        print(f"Ctrl-C ({whom}) to exit: {time.monotonic() - t0:.2f} s")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130
    assert err.strip().splitlines() == ["curvsym: interrupted: every theorem process was stopped; no table"], err
    for mark in (tmp_path / "marks").glob("*"):
        assert not alive(int(mark.name.rsplit("-", 1)[1])), mark.name  # reaped before the CLI exited


def test_a_killed_prove_leaves_no_theorem_running(tmp_path):
    """``curvsym prove`` itself SIGKILLed (nothing of it can clean up): its theorem processes die with it."""
    hang = HOSTILE["c_loop.py"]
    folder = write_theorems(tmp_path / "th", {"h.py": hang})
    proc = subprocess.Popen([sys.executable, "-m", "curvsym", "prove", str(folder), "-q"], env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: list((tmp_path / "marks").glob("c_loop-*")), "the theorem to start")
    proc.kill()
    proc.wait()
    pid = int(next((tmp_path / "marks").glob("c_loop-*")).name.rsplit("-", 1)[1])
    wait_for(lambda: not alive(pid), "the orphaned theorem process to die", 10)


def test_ctrl_c_on_discrete_prints_one_line(tmp_path):
    """``curvsym discrete`` interrupted mid-computation (a marker file says the study has started)."""
    marker = tmp_path / "started"
    script = (
        "import pathlib, sys\n"
        "import curvsym.verify.step_size as vd\n"
        "real = vd.gap_study\n"
        "def study(*a, **k):\n"
        f"    pathlib.Path({str(marker)!r}).touch()\n"
        "    return real(*a, **k)\n"
        "vd.gap_study = study\n"
        "from curvsym.cli import main\n"
        "sys.exit(main(['discrete', '--widths', '4,4,4', '--dps', '250', '--t-end', '50', '--eta', '1e-3']))\n")
    proc = subprocess.Popen([sys.executable, "-c", script], env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for(marker.exists, "the study to start")
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and err.strip() == "curvsym: interrupted", err


@pytest.mark.parametrize("target, message", [("{folder}", "not a file in an existing folder"),
                                             ("/dev/null/x.json", "not a file in an existing folder"),
                                             ("/proc/x.json", "cannot write --json /proc/x.json")])
def test_an_unwritable_json_path_is_one_line(tmp_path, capsys, target, message):
    """Found while looking further: an unwritable --json gave a traceback after every theorem had run."""
    folder = write_theorems(tmp_path / "th", {"fine.py": HOSTILE["fine.py"]})
    assert main(["prove", str(folder), "-q", "--json", target.format(folder=folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_rows_appear_as_theorems_finish_and_the_table_fits_100_columns(tmp_path, capsys):
    """Issue 28: each theorem's row on stderr as it finishes (the quick one before the slow one), a
    table within 100 columns on stdout, details behind --wide, and a last line saying where results are."""
    files = {"slow.py": '''
@cs.theorem("a slow claim whose name is long enough to be cut at the table's edge, so the table stays narrow",
            "demo", digits=16)
def slow(digits):
    time.sleep(1.0)
    return good()
''', "fine.py": HOSTILE["fine.py"]}
    folder = write_theorems(tmp_path / "th", files)
    assert main(["prove", str(folder), "--jobs", "2"]) == 0
    captured = capsys.readouterr()
    live = [ln for ln in captured.err.splitlines() if ln.startswith("[")]
    assert [ln.split()[0] for ln in live] == ["[1/2]", "[2/2]"]
    assert "a fine claim" in live[0] and "a slow claim" in live[1]         # finishing order, not file order
    out = captured.out.splitlines()
    assert max(map(len, out + captured.err.splitlines())) <= 100
    assert out[-1].startswith("results:") and "--wide" in out[-1]
    assert main(["prove", str(folder), "--wide", "-q"]) == 0
    wide = capsys.readouterr().out
    assert "symbolic" in wide and "notes:" not in out and max(map(len, wide.splitlines())) > 100
