"""Verdict tables for theorem runs (plain text and JSON).

:func:`table` fits 100 columns (verdict, time, residual against tolerance, the negative control, the
theorem); ``wide=True`` adds the symbolic proof and every theorem's notes, which the JSON always has.
:func:`row` is the one line printed as each theorem finishes.
"""

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


WIDTH = 100
"""Columns the default table and the live rows fit in."""


def _control(r: TheoremReport) -> str:
    e = r.evidence
    if e is None or e.negative is None:
        return "n/a"
    return "rejected" if r.negative_rejected else "NOT rejected"


def _cells(r: TheoremReport) -> tuple[str, str, str, str]:
    """(verdict, time, residual/tolerance, control) of one report, short."""
    e = r.evidence
    res = "—" if e is None else f"{_fmt_res(e.numeric.residual)}/{e.numeric.tolerance:.0e}"
    return r.verdict, f"{r.seconds:.1f}s", res, _control(r)


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def row(r: TheoremReport, done: int | None = None, total: int | None = None) -> str:
    """``[k/n] PASS    4.7s  1.6e-54/1e-40  rejected  theorem name`` within :data:`WIDTH` columns."""
    verdict, time, res, control = _cells(r)
    head = (f"[{done}/{total}] " if done is not None else "") + f"{verdict:<7} {time:>7}  {res:<15}  {control:<12}  "
    return head + _fit(r.name, WIDTH - len(head))


def table(reports: Sequence[TheoremReport], wide: bool = False) -> str:
    """The verdict table: within 100 columns (verdict, time, residual/tolerance, control, theorem), or
    ``wide``: theorem, symbolic, residual, digits, tolerance, negative control, time, verdict, and the notes."""
    if not wide:
        head = f"{'verdict':<7} {'time':>7}  {'residual/tol':<15}  {'control':<12}  theorem"
        lines = [head, "-" * min(WIDTH, len(head) + 40)] + [row(r) for r in reports]
        n_pass = sum(r.passed for r in reports)
        lines.append(f"\n{n_pass}/{len(reports)} theorems passed")
        lines += [f"\n{_fit(r.name, WIDTH)}:\n  {r.error}" for r in reports if r.error]
        return "\n".join(lines)
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
