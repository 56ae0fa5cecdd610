"""Part j (laws): the exact Lie-rank certificate and the law search, against a floating rank at one point.

Rows:

* the exact rank of the bracket chain at D = 24, 48, 120, 300 (two- and three-layer
  linear nets), its growth in D, and the anchor's method on the *same* brackets: the
  same nested brackets evaluated with float64 jets at one random point and the rank
  read by ``numpy.linalg.matrix_rank`` (its default tolerance), with the condition of
  the kept singular values;
* the same comparison where the point's weights are small (scale 10⁻³, a network at
  initialisation): the exact rank is unchanged (the rank is generic), the float rank
  is wrong because the brackets' singular values spread over more than 16 decades;
* the polynomial search on a 3-layer net of width 4 (D = 48): the entry ansatz of
  degree 2 (1224 monomials, exact null space in GF(p)) and the matrix-level ansatz of
  degree 4 (closed words of length ≤ 4, free algebra).
"""

from __future__ import annotations

import random
import time
from typing import Any

import numpy as np

from ..laws.arith import GF, MP
from ..laws.fields import FlowField
from ..laws.lie import bracket, lie_rank
from ..laws.search import entry_laws, word_laws
from ..symbolic import derive, network
from .timing import BenchRow

__all__ = ["run_laws", "F64", "float_rank"]


class F64(MP):
    """float64 arithmetic (the anchor's floating rank), jets included."""

    exact = False

    def __init__(self):
        self.digits, self.name = 16, "float64"

    def const(self, a: Any) -> Any:
        return np.array([float(x) for x in np.ravel(a)], dtype=float).reshape(np.shape(a))

    def scalar(self, c: Any) -> Any:
        return float(c) if not isinstance(c, str) else float(eval_fraction(c))

    def zeros(self, shape: Any) -> Any:
        return np.zeros(shape)

    def eye(self, n: Any) -> Any:
        return np.eye(n)

    def ones(self, shape: Any) -> Any:
        return np.ones(shape)

    def inv(self, a: Any) -> Any:
        return np.linalg.inv(a)

    def is_zero(self, a: Any) -> bool:
        return not np.any(a)


def eval_fraction(text: str) -> float:
    num, _, den = text.partition("/")
    return float(num) / float(den or 1)


def float_rank(flow: Any, ranks: list[int], seed: int = 0, point: list | None = None,
               extra: int = 10) -> tuple[int, float, int]:
    """The same right-nested brackets (counts per length from the exact run, plus ``extra``) in float64 at one
    random point (or ``point``): (numpy's rank, σ_max/σ_min of the kept values, exact rank to compare)."""
    F = FlowField(flow, F64())
    rng = random.Random(seed)
    point = F.sample_point(rng) if point is None else point
    theta = F.theta(point)
    rows = []
    counts = [ranks[0]] + [b - a for a, b in zip(ranks[:-1], ranks[1:])]
    for length, count in enumerate(counts, 1):
        for _ in range(count + extra):
            f = F.function(F.sample_data(rng), point)
            for _ in range(length - 1):
                f = bracket(F.function(F.sample_data(rng), point), f)
            rows.append(f(theta).primal.ravel())
    A = np.array(rows)
    s = np.linalg.svd(A, compute_uv=False)
    r = int(np.linalg.matrix_rank(A))
    k = min(ranks[-1], len(s))  # the spread of the singular values the exact rank says are non-zero
    return r, float(s[0] / s[k - 1]) if s[k - 1] else float("inf"), ranks[-1]


def _timed(f):
    t0 = time.perf_counter()
    out = f()
    return out, time.perf_counter() - t0


def run_laws(quick: bool = False) -> list[BenchRow]:
    rows: list[BenchRow] = []
    sizes = [([3, 4, 3], 24), ([4, 4, 4, 4], 48)] + ([] if quick else [([6, 10, 6], 120), ([10, 15, 10], 300)])
    previous = None
    for widths, D in sizes:
        flow = derive.gradient_flow(derive.model(network.chain(widths)))
        F = FlowField(flow, GF())
        assert F.D == D
        cert, t = _timed(lambda: lie_rank(F, seed=1))
        (fr, cond, _), tf = _timed(lambda: float_rank(flow, cert.ranks, seed=1))
        growth = "" if previous is None else f"; time ×{t / previous[1]:.1f} for D ×{D / previous[0]:.1f}"
        previous = (D, t)
        rows.append(BenchRow(f"exact Lie rank, D = {D} ({'-'.join(map(str, widths))})", t, tf,
                             "float64 rank at one point", "exact = expected",
                             cert.max_laws == sum(n * (n + 1) // 2 for n in widths[1:-1]) and cert.stabilised,
                             f"rank {cert.rank} (laws {cert.max_laws}), float rank {fr}, σ₁/σ_r {cond:.1e}{growth}"))
    # an unbalanced start, layers scaled by 1, 10³, 10⁶ (integers: the exact rank is that of this very point)
    flow = derive.gradient_flow(derive.model(network.chain([3, 3, 3, 3])))
    G = FlowField(flow, GF())
    base = G.sample_point(random.Random(5))
    point = [w // 2**16 * s for w, s in zip(base, (1, 10**3, 10**6))]
    cert = lie_rank(G, seed=2, point=point)
    (fr, cond, _), tf = _timed(lambda: float_rank(flow, cert.ranks, seed=2, point=point))
    rows.append(BenchRow("layers scaled 1 : 10³ : 10⁶, D = 27: exact vs float rank", None, None, "",
                         "float rank wrong", fr != cert.rank,
                         f"exact {cert.rank} (laws {cert.max_laws}) at this integer point, float64 {fr} "
                         f"(laws {G.D - fr}), σ₁/σ_exact-rank {cond:.1e}"))
    widths = [2, 2, 2, 2] if quick else [4, 4, 4, 4]  # quick: a smoke run
    F = FlowField(derive.gradient_flow(derive.model(network.chain(widths))), GF())
    expected = 2 * (widths[1] * (widths[1] + 1) // 2)
    (laws2, dim2, mono), t2 = _timed(lambda: entry_laws(F, 2, prove_limit=0))
    rows.append(BenchRow(f"entry ansatz degree 2, D = {F.D} ({len(mono)} unknowns)", t2, None, "",
                         f"{expected} laws", dim2 == expected,
                         f"space of laws of dimension {dim2} (the entries of C_1, C_2), exact GF(p)"))
    if not quick:
        laws4, t4 = _timed(lambda: word_laws(F, 4))
        rows.append(BenchRow("matrix-level ansatz degree 4, 3-layer width 4", t4, None, "", "C_1, C_2 found",
                             len(laws4) >= 2, f"{len(laws4)} matrix laws over closed words of length ≤ 4, "
                                              "free algebra (entry ansatz: 270 724 unknowns, not attempted)"))
    return rows
