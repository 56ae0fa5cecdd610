"""The README is tested: every Python and shell block in it runs as printed.

Each block runs in a fresh interpreter (or bash) in a temporary folder that links
the repository's ``proofs/`` and ``examples/``, with this checkout first on the
import path and ``curvsym`` meaning ``python -m curvsym``.  The exception is the
set-up block at the very top: its two ``pip install`` lines are checked to be the
ones ``.ci/run`` executes (running pip inside the tests would reinstall the package).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = [(m.group(1), m.group(2), README[:m.start()].count("\n") + 1)
          for m in re.finditer(r"^```(python|bash)\n(.*?)^```", README, flags=re.S | re.M)]
SETUP, *EXAMPLES = BLOCKS


def test_the_readme_starts_with_exactly_the_two_setup_commands():
    lang, code, _ = SETUP
    lines = [ln for ln in code.splitlines() if ln.strip()]
    assert lang == "bash" and lines == ['pip install . && curvsym prove proofs/',
                                        'pip install ".[test]" && python -m pytest -q']
    assert README.lstrip().startswith("# curvsym\n\n```bash\n" + code)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "grep -m1 -E '^pip install .*\\.\\[test\\].*pytest' README.md" in ci


def _environment(tmp_path):
    for name in ("proofs", "examples"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), MPLBACKEND="Agg")
    return env


@pytest.mark.parametrize("lang, code, line", EXAMPLES, ids=[f"{b[0]}-line{b[2]}" for b in EXAMPLES])
def test_readme_block_runs_as_printed(lang, code, line, tmp_path):
    env = _environment(tmp_path)
    if lang == "python":
        cmd = [sys.executable, "-c", code]
    else:
        prelude = f'curvsym() {{ "{sys.executable}" -m curvsym "$@"; }}\nset -e\n'
        cmd = ["bash", "-c", prelude + code]
    run = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"README block at line {line} failed:\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
    assert run.stdout.strip(), f"README block at line {line} printed nothing"
