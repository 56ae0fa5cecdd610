"""Execute the notebooks and write the executed copies (with their figures) for the documentation site.

    python docs/execute_notebooks.py                 # every notebook's quick run, one at a time
    python docs/execute_notebooks.py flat_minima     # some of them
    python docs/execute_notebooks.py --full          # the paper-scale runs (FULL = True; tens of minutes)

The copies go to ``build/notebooks/`` (ignored by git; ``--out`` for another folder), where ``mkdocs build``
picks them up (docs/hooks.py); the notebooks in ``notebooks/`` are never modified.  Figures the notebooks
save go to ``build/notebooks/output/``.  Each notebook's wall-clock time is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def execute(source: Path, out: Path, full: bool = False, timeout: int = 900) -> float:
    """Run ``source`` headless (``FULL = True`` in its parameter cell if ``full``); write it to ``out``."""
    import nbclient
    import nbformat
    nb = nbformat.read(source, as_version=4)
    if full:
        for cell in nb.cells:
            if "parameters" in cell.get("metadata", {}).get("tags", []):
                cell.source = cell.source.replace("FULL = False", "FULL = True")
    os.environ.setdefault("CURVSYM_OUTPUT", str(out / "output"))
    t0 = time.perf_counter()
    nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(source.parent)}}).execute()
    seconds = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out / source.name)
    return seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", help="notebook names without .ipynb (default: all)")
    p.add_argument("--full", action="store_true", help="the paper-scale runs (FULL = True)")
    p.add_argument("--out", default=str(ROOT / "build" / "notebooks"), help="folder for the executed copies")
    p.add_argument("--timeout", type=int, default=900, help="seconds per cell (default 900)")
    args = p.parse_args(argv)
    sources = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if args.names:
        sources = [s for s in sources if s.stem in args.names]
    out = Path(args.out)
    for source in sources:
        print(f"{source.name}: {execute(source, out, args.full, args.timeout):.0f} s", flush=True)
    print(f"executed copies in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
