"""Verdict tables for theorem runs (plain text and JSON)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

from .theorem import TheoremReport


def _fmt_res(x: float) -> str:
    return "0" if x == 0 else f"{x:.1e}"


def _fmt_digits(x: float) -> str:
    return "∞" if math.isinf(x) else f"{x:.1f}"


def table(reports: Sequence[TheoremReport]) -> str:
    """A fixed-width table: theorem, symbolic, residual, digits, tolerance, negative control, time, verdict."""
    head = ("theorem", "symbolic", "residual", "digits", "tolerance", "neg. control", "time", "verdict")
    rows = []
    for r in reports:
        e = r.evidence
        if e is None:
            rows.append((r.name, "—", "—", "—", "—", "—", f"{r.seconds:.1f}s", r.verdict))
            continue
        neg = "n/a" if e.negative is None else (
            f"rejected ({_fmt_res(e.negative.residual)})" if r.negative_rejected else
            f"NOT rejected ({_fmt_res(e.negative.residual)})")
        rows.append((r.name, e.symbolic, _fmt_res(e.numeric.residual), _fmt_digits(e.numeric.digits),
                     f"{e.numeric.tolerance:.0e}", neg, f"{r.seconds:.1f}s", r.verdict))
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    out = [line(head), line("-" * w for w in widths)] + [line(r) for r in rows]
    n_pass = sum(r.passed for r in reports)
    out.append(f"\n{n_pass}/{len(reports)} theorems passed")
    notes = [f"  {r.name}: {r.evidence.notes}" for r in reports if r.evidence is not None and r.evidence.notes]
    if notes:
        out.append("\nnotes:\n" + "\n".join(notes))
    for r in reports:
        if r.error:
            out.append(f"\n{r.name}: {r.error}")
    return "\n".join(out)


def write_json(reports: Sequence[TheoremReport], path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps([r.as_dict() for r in reports], indent=2, default=str))
    return path
