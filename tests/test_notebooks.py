"""Every notebook executes headless as committed (``FULL = False``: the quick run) and draws a figure.

The quick runs take under 3 minutes each on 2 cores; the figures they save go to a temporary folder
(``CURVSYM_OUTPUT``), never into the repository.
"""

from pathlib import Path

import pytest

NOTEBOOKS = sorted(Path(__file__).resolve().parent.parent.glob("notebooks/*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes_headless(path, monkeypatch, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("CURVSYM_OUTPUT", str(tmp_path))
    nb = nbformat.read(path, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert "parameters" in first.metadata.get("tags", []) and "FULL = False" in first.source
    assert "under 3 minutes" in first.source or "under 3 minutes" in nb.cells[0].source
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not any(o.get("output_type") == "error" for o in outputs)
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert any(tmp_path.glob("*.png")), "the notebook saved no figure to its output folder"
