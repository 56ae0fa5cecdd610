"""A fast start (issue 23): ``curvsym --version``, ``curvsym --help`` and ``import curvsym`` load no SymPy, SciPy,
Dask or NumPy, and building the command line's parser loads no part of the library (each command imports its
implementation when it runs).  What is imported is checked, not how long it takes (timings: README)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import curvsym

HEAVY = ("sympy", "scipy", "dask", "distributed", "numpy", "mpmath", "flint", "pyarrow", "matplotlib", "sklearn")
ROOT = Path(curvsym.__file__).resolve().parents[1]

_PROBE = """
import json, runpy, sys
sys.argv = ["curvsym"] + json.loads(sys.argv[1])
code = None
try:
    runpy.run_module("curvsym", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code
print("\\n" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _modules(*argv):
    """(exit code, stdout before the report, loaded module names) of ``python -m curvsym *argv`` in a fresh
    interpreter."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    out = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(list(argv))], capture_output=True, text=True,
                         env=env, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    text, _, report = out.stdout.rpartition("\n{")
    report = json.loads("{" + report)
    return report["code"], text, set(report["modules"])


def _heavy(modules):
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["info", "--help"], ["sweep", "--help"],
                                  ["discrete", "--help"]])
def test_the_command_line_starts_without_the_heavy_libraries(argv):
    code, text, modules = _modules(*argv)
    assert code in (0, None), text
    assert _heavy(modules) == []
    library = sorted(m for m in modules if m.startswith("curvsym.") and not m.startswith(
        ("curvsym.cli", "curvsym.errors", "curvsym.version", "curvsym.sweep.commands", "curvsym.sweep.exceptions")))
    assert library in ([], ["curvsym.sweep"])  # the parsers only (curvsym.sweep: the package of sweep.commands)
    if argv == ["--version"]:
        assert text.strip() == f"curvsym {curvsym.__version__}"
    if argv == ["--help"]:
        assert all(c in text for c in ("prove", "derive", "rules", "bench", "sweep", "discrete", "info"))


def test_import_curvsym_loads_no_heavy_library():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", "import sys, curvsym; print(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, env=env, timeout=120, cwd=ROOT, check=True)
    assert _heavy(out.stdout.split()) == []


def test_the_probe_sees_a_heavy_import():
    """The nearest wrong claim: a command that does load the library is seen (the probe is not blind)."""
    code, text, modules = _modules("rules")
    assert code in (0, None) and "sympy" in {m.split(".")[0] for m in modules}


def test_a_run_builds_only_its_command_and_the_help_is_unchanged():
    from curvsym.cli import build_parser
    full = build_parser()
    assert build_parser("").format_help() == full.format_help()  # the top-level help: names and help lines
    commands = full._subparsers._group_actions[0].choices
    for name in commands:
        alone = build_parser(name)._subparsers._group_actions[0].choices
        assert alone[name].format_help() == commands[name].format_help()
        others = [c for c in alone if c != name]
        assert all(len(alone[c]._actions) == 1 for c in others)  # -h only: their options are never built
