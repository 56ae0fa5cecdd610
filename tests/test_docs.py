"""The documentation site is tested.

* ``mkdocs build --strict`` builds the site into a temporary folder: a broken link, nav entry or
  cross-reference in the API reference fails (skipped when MkDocs is not installed: ``pip install ".[docs]"``).
  Notebooks are rendered without being executed (see mkdocs.yml), so the build takes well under a minute.
* The docstrings' examples run as doctests (``python -m pytest --doctest-modules curvsym``, about 20 s).
* Every Python and shell block of the pages in ``PAGES`` runs as printed, like the README's
  (tests/test_readme.py): a page's Python blocks run in order in one interpreter (later blocks may use
  earlier names, as on "Your first theorem"), then its shell blocks, in a temporary folder that links
  ``proofs/`` and ``examples/``.  Shell blocks that start with ``pip install`` are not run: they must be
  the README's set-up lines.  A block headed ```` ```python title="NAME.py" ```` is a file: it is
  written to the folder, not run.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = ["first-theorem.md", "getting-started.md", "concepts/deriving.md", "concepts/codegen.md",
         "concepts/high-precision.md", "concepts/checks-and-theorems.md", "concepts/learning-rules.md",
         "concepts/nonlinear.md", "concepts/discrete.md", "papers/mulayoff2020.md", "papers/bernacchia2018.md",
         "papers/elkabetz2021.md", "papers/duersch2024.md"]
FENCE = re.compile(r'^```(python|bash)((?: +\w+="[^"]*")*)\n(.*?)^```', flags=re.S | re.M)


def blocks(page: str):
    text = (DOCS / page).read_text()
    out = []
    for m in FENCE.finditer(text):
        title = re.search(r'title="([^"]+)"', m.group(2))
        out.append((m.group(1), title.group(1) if title else None, m.group(3), text[:m.start()].count("\n") + 1))
    return out


def _environment(tmp_path):
    for name in ("proofs", "examples"):
        (tmp_path / name).symlink_to(ROOT / name)
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), MPLBACKEND="Agg")


@pytest.mark.parametrize("page", PAGES)
def test_page_blocks_run_as_printed(page, tmp_path):
    found = blocks(page)
    assert found, f"{page} has no code blocks"
    env = _environment(tmp_path)
    python = []
    for lang, title, code, line in found:
        if title:
            (tmp_path / title).write_text(code)
        elif lang == "python":
            python.append((code, line))
    if python:  # one interpreter, blocks in order; a failure names its block's line
        script = "import sys\n" + "".join(
            f"print('--- block at line {line}', file=sys.stderr)\nexec(compile({code!r}, "
            f"'{page}:{line}', 'exec'))\n" for code, line in python)
        run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=900)
        assert run.returncode == 0, f"{page}: {run.stdout[-2000:]}\n{run.stderr[-3000:]}"
        assert run.stdout.strip(), f"{page}: the Python blocks printed nothing"
    prelude = f'curvsym() {{ "{sys.executable}" -m curvsym "$@"; }}\nset -e\n'
    for lang, title, code, line in found:
        if lang == "bash" and not title and code.lstrip().startswith("pip install"):
            # the set-up commands: the README's own (tests/test_readme.py); pip is never run by the tests
            readme = (ROOT / "README.md").read_text()
            assert all(ln in readme for ln in code.splitlines() if ln.strip()), f"{page}:{line}: not the README's"
        elif lang == "bash" and not title:
            run = subprocess.run(["bash", "-c", prelude + code], cwd=tmp_path, env=env, capture_output=True,
                                 text=True, timeout=600)
            assert run.returncode == 0, f"{page}:{line}: {run.stdout[-2000:]}\n{run.stderr[-3000:]}"


def test_site_builds_in_strict_mode(tmp_path):
    if shutil.which("mkdocs") is None and subprocess.run([sys.executable, "-c", "import mkdocs, material, "
                                                           "mkdocstrings_handlers.python, mkdocs_jupyter"],
                                                          capture_output=True).returncode:
        pytest.skip('MkDocs is not installed (pip install ".[docs]")')
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(ROOT / "mkdocs.yml"),
                          "-d", str(tmp_path / "site")], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    for page in ("index.html", "first-theorem/index.html", "api/symbolic/index.html",
                 "notebooks/flat_minima/index.html", "mathematics/index.html", "sweeps/index.html"):
        assert (tmp_path / "site" / page).exists(), page


def test_docstring_examples_run_as_doctests():
    """Every ``>>>`` example in the package (they are all fast: about 20 s in all)."""
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--doctest-modules",
                          "curvsym"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg"))
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert re.search(r"\d+ passed", run.stdout), run.stdout[-2000:]
