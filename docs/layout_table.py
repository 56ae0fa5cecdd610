"""Regenerate the "modules" column of the layout table in ``docs/index.md`` from the package tree.

``python docs/layout_table.py`` rewrites the column in place; ``tests/test_layers.py`` fails when the
committed table differs from what this script would write, so the table cannot drift from the tree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INDEX = ROOT / "docs" / "index.md"
ROW = re.compile(r"^\| \[`curvsym(?:\.(\w+))?`\]\(api/\w+\.md\) \| ([^|]*) \|")


def modules(package: str | None) -> str:
    """The package's modules as the table writes them (sub-packages with a trailing /, sorted)."""
    if package is None:
        names = [p.stem for p in (ROOT / "curvsym").glob("*.py") if p.stem not in ("__init__", "__main__")]
    else:
        root = ROOT / "curvsym" / package
        names = [p.stem for p in root.glob("*.py") if p.stem != "__init__"]
        names += [p.name + "/" for p in root.iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    return ", ".join(f"`{n}`" for n in sorted(names))


def regenerated(text: str) -> str:
    """``text`` with every layout row's modules column rewritten from the tree."""
    out = []
    for line in text.split("\n"):
        m = ROW.match(line)
        if m:
            line = f"{line[:m.start(2)]}{modules(m.group(1))}{line[m.end(2):]}"
        out.append(line)
    return "\n".join(out)


if __name__ == "__main__":
    new = regenerated(INDEX.read_text())
    if "--check" in sys.argv:
        sys.exit(0 if new == INDEX.read_text() else 1)
    INDEX.write_text(new)
