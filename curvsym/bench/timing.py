"""Timing primitives of the benchmarks: interleaved medians and the result table.

:func:`interleaved` times several callables in turn (ours, reference, ours, …) so that
every side sees the same machine state, and returns each one's median; a
:class:`BenchRow` holds one comparison and :func:`table` prints them.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Sequence

__all__ = ["BenchRow", "interleaved", "loop", "table"]


@dataclass(frozen=True)
class BenchRow:
    name: str
    ours: float | None  # seconds (median); None for a note-only row
    reference: float | None  # seconds (median); None where the target is absolute
    reference_name: str
    target: str
    met: bool | None
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.reference if self.reference and self.ours is not None else math.nan


def interleaved(fs: Sequence[Callable[[], object]], repeats: int) -> list[float]:
    times = [[] for _ in fs]
    for _ in range(repeats):
        for k, f in enumerate(fs):
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def loop(f: Callable[[], object], n: int) -> Callable[[], None]:
    """A callable that calls ``f`` ``n`` times (one timed sample of a short operation)."""
    def run() -> None:
        for _ in range(n):
            f()
    return run


def table(rows: Sequence[BenchRow]) -> str:
    head = ("benchmark", "ours", "reference", "ratio", "target", "met", "note")
    body = [(r.name, "—" if r.ours is None else f"{r.ours * 1e3:.3f} ms",
             "—" if r.reference is None else f"{r.reference * 1e3:.3f} ms ({r.reference_name})",
             "—" if r.reference is None else f"{r.ratio:.3f}",
             r.target, {True: "yes", False: "MISSED", None: "—"}[r.met], r.note) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    out = [line(head), line("-" * w for w in widths)] + [line(b) for b in body]
    missed = [r.name for r in rows if r.met is False]
    if missed:
        out.append("\ntargets MISSED: " + "; ".join(missed))
    else:
        out.append("\nall targets met" if any(r.met is not None for r in rows) else "\nno targets in this run")
    return "\n".join(out)
