"""The package tree tells the truth about the pipeline: one-way layers, no cycles, tables that match the tree.

The layer contracts themselves live in ``.importlinter`` (kernels < symbolic < codegen | data <
integrate < verify < papers < sweep < bench < cli, plus forbidden imports: no SymPy in kernels or
integrate); ``lint-imports`` checks them here and in ``.ci/run``.
"""

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

import curvsym as cs

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "curvsym"
SUBPACKAGES = ["kernels", "symbolic", "codegen", "data", "integrate", "verify", "laws", "papers", "sweep", "bench", "cli"]

grimp = pytest.importorskip("grimp")


def _graph():
    return grimp.build_graph("curvsym", exclude_type_checking_imports=True)


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter is not installed")
def test_import_contracts_hold():
    out = subprocess.run(["lint-imports"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:]
    assert "0 broken" in out.stdout


def test_no_import_cycles_and_nothing_imports_the_facade():
    g = _graph()
    G = nx.DiGraph((m, i) for m in g.modules for i in g.find_modules_directly_imported_by(m))
    cycles = [sorted(c) for c in nx.strongly_connected_components(G) if len(c) > 1]
    assert cycles == []
    assert g.find_modules_that_directly_import("curvsym") == set()


def test_an_upward_import_is_caught(tmp_path):
    """The contracts can fail: a copy of the package whose symbolic layer imports the integrators breaks them."""
    if shutil.which("lint-imports") is None:
        pytest.skip("import-linter is not installed")
    shutil.copytree(PACKAGE, tmp_path / "curvsym", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    victim = tmp_path / "curvsym" / "symbolic" / "calculus.py"
    victim.write_text(victim.read_text() + "\nfrom ..integrate import runner  # an upward import\n")
    out = subprocess.run(["lint-imports"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin:" + str(Path(sys.executable).parent)})
    assert out.returncode != 0 and "BROKEN" in out.stdout


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_each_package_table_lists_exactly_its_modules(package):
    root = PACKAGE / package
    doc = ast.get_docstring(ast.parse((root / "__init__.py").read_text())) or ""
    modules = [p.stem for p in root.glob("*.py") if p.stem != "__init__"]
    modules += [p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    missing = [m for m in modules if not re.search(rf"``{m}``|^{m}\s|^\w\s+{m}\s", doc, re.M)]
    assert missing == [], f"{package}/__init__.py does not describe {missing}"
    named = set(re.findall(r"^``(\w+)``\s{2,}", doc, re.M))
    assert named <= set(modules), f"{package}/__init__.py describes modules that are gone: {named - set(modules)}"


def test_no_two_modules_share_a_name():
    stems = [p.stem for p in PACKAGE.rglob("*.py") if p.stem != "__init__"]
    assert sorted(s for s in set(stems) if stems.count(s) > 1) == []


def test_importing_curvsym_loads_no_sympy_scipy_or_dask():
    code = "import sys, curvsym; print(sorted({'sympy', 'scipy', 'dask', 'numpy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_users_error_in_a_loss_is_not_swallowed():
    """A CurvsymError raised by the caller's loss reaches the caller (it is no 'unknown loss')."""
    from curvsym.integrate.iteration import iterate_sweep
    m = cs.model(cs.chain([2, 2]))
    inst = cs.problems.random_instance(m.network, seed=0)

    def loss(state):
        raise cs.ShapeError("the caller's own mistake")

    with pytest.raises(cs.ShapeError, match="own mistake"):   # η = 50 diverges: the loss is read then
        iterate_sweep(cs.generate_flow(cs.gradient_flow(m)), inst.weights, inst.data(), [50.0], [0, 500], loss=loss,
                      max_norm=10.0)
    assert np.isfinite(inst.weights[0]).all()


def test_the_documented_layout_table_is_regenerated_from_the_tree():
    """docs/index.md's modules column is what docs/layout_table.py writes from the package tree."""
    out = subprocess.run([sys.executable, str(ROOT / "docs" / "layout_table.py"), "--check"], capture_output=True,
                         timeout=60)
    assert out.returncode == 0, "run python docs/layout_table.py: the layout table in docs/index.md is stale"
