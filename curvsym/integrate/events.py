r"""Events of piecewise-smooth flows: a pre-activation of a ReLU layer crossing 0.

A ReLU (or leaky-ReLU) layer is linear inside a *region*: a fixed sign pattern
of its pre-activation Z, recorded as a boolean mask (``True`` where z > 0).  There
the right-hand side is a polynomial, and the Taylor series of the solution is
valid; it is not valid across a kink.  An entry z(s) = Σ_k c_k s^k of Z (s the
time since the start of the step) *leaves its side* when q(s) = ς z(s) < 0,
ς = +1 where the mask is on and −1 where it is off.  :func:`first_exit` finds the
first such s in (0, h], certified:

* exclusion: with d_k the Taylor coefficients of q at a, |q(a + u) − d_0| ≤
  Σ_{k≥1} |d_k| u^k, so q > 0 on [a, b] when d_0 > Σ_{k≥1} |d_k| (b − a)^k; at a
  boundary start (the entry sits on the kink, d_0 = 0) q(u)/u > 0 on (0, b] when
  d_1 > Σ_{k≥2} |d_k| b^{k−1};
* intervals not excluded are bisected, left half first, so the first exit found
  is the first exit of the polynomial;
* once q(b) < 0 and q' < 0 on [a, b] (d_1 < 0 and |d_1| > Σ_{k≥2} k|d_k|(b − a)^{k−1}),
  the unique root is refined by safeguarded Newton to the working precision.

An interval that shrinks below ``h·2^{−60}`` without a sign change is a graze
(the entry touches the kink without crossing it) and is not an event.  An
entry that sits on the kink and whose Taylor coefficients all vanish (a dead
unit) stays there.  :func:`locate` applies this to every entry of every switch
argument of a Taylor expansion and returns the earliest :class:`Crossing`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import mpmath
import numpy as np

from ..errors import NonSmoothError

__all__ = ["Crossing", "first_exit", "locate", "boundary_entries", "taylor_shift", "leading_sign"]


@dataclass(frozen=True)
class Crossing:
    """A pre-activation entry reaching 0: at time ``t`` (or after ``s`` into a step), argument number
    ``switch`` (the k-th ReLU pre-activation in evaluation order: hidden layer k + 1 of a chain), entry
    (``row``, ``column``) = (neuron, example), moving to the positive side if ``to_positive``."""

    t: Any
    switch: int
    row: int
    column: int
    to_positive: bool

    def __str__(self) -> str:
        arrow = "− → +" if self.to_positive else "+ → −"
        return f"t = {mpmath.nstr(self.t, 12)}: pre-activation {self.switch}, neuron {self.row}, " \
               f"example {self.column} ({arrow})"


def taylor_shift(q: Sequence, a: Any) -> list:
    """Coefficients of q(a + u) in u from those of q(s) (synthetic division, O(K²))."""
    d = list(q)
    K = len(d) - 1
    for i in range(K):
        for j in range(K - 1, i - 1, -1):
            d[j] = d[j] + a * d[j + 1]
    return d


def _polyval(q: Sequence, s: Any) -> Any:
    acc = q[-1]
    for c in reversed(q[:-1]):
        acc = c + acc * s
    return acc


def _tail(d: Sequence, L: Any, start: int, weight: bool = False) -> Any:
    """Σ_{k≥start} (k·)|d_k| L^{k−start}."""
    acc = mpmath.mpf(0)
    for k in range(len(d) - 1, start - 1, -1):
        acc = acc * L + (k if weight else 1) * abs(d[k])
    return acc


def _refine(q: Sequence, a: Any, b: Any, qa: Any, qb: Any) -> Any:
    """The root of q in (a, b) (q(a) > 0 > q(b), q monotone there) by safeguarded Newton."""
    dq = [k * q[k] for k in range(1, len(q))]
    s = a - qa * (b - a) / (qb - qa)
    eps = mpmath.mpf(2) ** (-mpmath.mp.prec + 4)
    for _ in range(4 * mpmath.mp.prec):
        v = _polyval(q, s)
        if v > 0:
            a = s
        elif v < 0:
            b = s
        else:
            return s
        der = _polyval(dq, s) if dq else mpmath.mpf(0)
        step = v / der if der != 0 else None
        s_new = s - step if step is not None else (a + b) / 2
        if not (a < s_new < b):
            s_new = (a + b) / 2
        if abs(s_new - s) <= eps * max(abs(s_new), mpmath.mpf(1)) or b - a <= eps * max(abs(b), mpmath.mpf(1)):
            return s_new
        s = s_new
    return (a + b) / 2


def _leading(q: Sequence, start: int, negligible: Any) -> int | None:
    """Index of the first coefficient from ``start`` on with |q_k| > negligible, or None."""
    for k in range(start, len(q)):
        if abs(q[k]) > negligible:
            return k
    return None


def first_exit(q: Sequence, h: Any, boundary: bool = False, negligible: Any = 0) -> Any:
    """Smallest s ∈ (0, h] with q(s) < 0, or None; q = Σ_k q_k s^k with q(0) ≥ 0 (q_0 = 0 if ``boundary``).

    For an entry on the kink (``boundary``) the direction is that of the first
    coefficient above ``negligible``; if there is none the entry stays on the kink
    for the whole step (a dead unit whose pre-activation does not move) and does
    not exit.  A graze — q coming within the bisection resolution of 0 without a
    sign change — is not an exit.

    Raises:
        NonSmoothError: the search does not terminate (a pathological polynomial).
    """
    q = [mpmath.mpf(c) for c in q]
    if boundary:
        q[0] = mpmath.mpf(0)
        lead = _leading(q, 1, negligible)
        if lead is None:
            return None
    else:
        lead = 0
    if not boundary and q[0] > _tail(q, h, 1) * h:
        return None
    if boundary and q[lead] > _tail(q, h, lead + 1) * h:
        return None
    tiny = h * mpmath.mpf(2) ** (-60)
    stack = [(mpmath.mpf(0), mpmath.mpf(h))]
    visited = 0
    while stack:
        a, b = stack.pop()
        visited += 1
        L = b - a
        d = taylor_shift(q, a) if a != 0 else q
        at_boundary = boundary and a == 0
        if at_boundary:
            if d[lead] > _tail(d, L, lead + 1) * L:
                continue
        elif d[0] > _tail(d, L, 1) * L:
            continue
        qb = _polyval(q, b)
        if qb < 0 and not at_boundary and len(d) > 1 and d[1] < 0 and -d[1] > _tail(d, L, 2, weight=True) * L:
            return _refine(q, a, b, d[0], qb)
        if L < tiny:
            if qb < 0:
                return b if at_boundary else _refine(q, a, b, d[0], qb)
            continue  # a graze: within the resolution of 0, no sign change
        if visited > 20_000:
            raise NonSmoothError("the kink search did not terminate (a pre-activation oscillates about 0 within "
                                 "one step)", 0.0)
        mid = (a + b) / 2
        stack.append((mid, b))
        stack.append((a, mid))
    return None


def leading_sign(coefficients: Sequence, negligible: Any) -> int:
    """Sign of the first coefficient c_1, c_2, … above ``negligible`` (0 if none): the direction in which an
    entry sitting on its kink moves."""
    k = _leading(list(coefficients), 1, negligible)
    return 0 if k is None else (1 if coefficients[k] > 0 else -1)


def boundary_entries(values: list, eps: Any) -> list[tuple[int, int]]:
    """(row, column) of the entries with |z| ≤ eps (a pre-activation sitting on its kink)."""
    return [(i, j) for i, row in enumerate(values) for j, v in enumerate(row) if abs(v) <= eps]


def locate(engine: Any, coefficients: Sequence[list], masks: Sequence[np.ndarray], h: Any,
           boundary: Sequence[set], t: Any, negligible: Any = 0) -> Crossing | None:
    """The earliest crossing in (0, h] over every entry of every switch argument, or None.

    ``coefficients[a]`` are the Taylor coefficient matrices c_0 … c_K of argument a
    (``None`` = 0), ``masks[a]`` its region, ``boundary[a]`` the entries that start on
    the kink, ``negligible`` the size below which a coefficient counts as 0.

    Raises:
        NonSmoothError: the search for an entry does not terminate.
    """
    best: tuple | None = None
    for a, (coefs, mask) in enumerate(zip(coefficients, masks)):
        rows, cols = mask.shape
        K = len(coefs) - 1
        zero_row = [mpmath.mpf(0)] * cols
        values = [engine.entries(c) if c is not None else [list(zero_row) for _ in range(rows)] for c in coefs]
        for i in range(rows):
            for j in range(cols):
                sign = 1 if mask[i, j] else -1
                q = [sign * values[k][i][j] for k in range(K + 1)]
                limit = h if best is None else best[0]
                s = first_exit(q, limit, (i, j) in boundary[a], negligible)
                if s is not None and (best is None or s < best[0]):
                    best = (s, a, i, j, not mask[i, j])
    if best is None:
        return None
    s, a, i, j, up = best
    return Crossing(t + s, a, i, j, up)
