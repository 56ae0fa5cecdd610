r"""Mulayoff & Michaeli, "Unique Properties of Flat Minima in Deep Networks", ICML 2020.

arXiv:2002.04710.  Flat minima of deep linear networks with a quadratic loss
(``docs/mathematics.md`` §3), for whitened inputs (Σx = I) and no bottleneck:

* every global minimum has λ_max(∇²L) ≥ N‖T‖₂^{2−2/N} (:func:`flat_bound`), with
  equality at the balanced minima W_i = U_i S^{1/N} U_{i−1}ᵀ (:func:`balanced_minimum`);
  :func:`random_minimum` samples unbalanced ones, which are sharper;
* flat minima are *coupled*: r_i = W_{>i}ᵀu/‖·‖ is a left singular vector of W_i and a
  right singular vector of W_{i+1}, and the gain along the path is s₁^{i/N} (:func:`coupling`);
* for a scalar network the flattest minimum of ½(w_N⋯w_1 − y)² has |w_i| = |y|^{1/N}
  (:func:`scalar_flattest`, by Lagrange multipliers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import sympy as sp

from ..errors import ShapeError

__all__ = ["scalar_flattest", "flat_bound", "balanced_minimum", "random_minimum", "Coupling", "coupling"]


def scalar_flattest(N: int) -> tuple[list, sp.Expr, bool]:
    """Flattest global minimum of the scalar net w_N⋯w_1 ≈ y, by Lagrange multipliers.

    At a minimum the Hessian of ½(Πw − y)² is the rank-one J Jᵀ (J_i = Π_{j≠i} w_j), so
    λ_max = Σ_i (Πw/w_i)²; minimising it subject to Π w = y gives |w_i| = y^{1/N} and
    λ_max = N y^{2−2/N}.  Returns (solutions, λ_max at them, rank-one identity proved).
    """
    w = sp.symbols(f"w1:{N + 1}", positive=True)
    y, mu = sp.Symbol("y", positive=True), sp.Symbol("mu")
    prod = sp.Mul(*w)
    H = sp.hessian((prod - y) ** 2 / 2, w).subs(y, prod)
    J = sp.Matrix([prod / wi for wi in w])
    rank_one = sp.simplify(H - J * J.T) == sp.zeros(N, N)
    lam = sp.simplify(H.trace())
    sols = sp.solve([sp.diff(lam, wi) - mu * sp.diff(prod, wi) for wi in w] + [prod - y], [*w, mu], dict=True)
    values = {sp.simplify(lam.subs(sol)) for sol in sols}
    return sols, (values.pop() if len(values) == 1 else None), rank_one


def flat_bound(T: np.ndarray, N: int) -> float:
    """N ‖T‖₂^{2−2/N}: the least sharpness of any global minimum (whitened, no bottleneck)."""
    return N * float(np.linalg.norm(T, 2)) ** (2 - 2 / N)


def _orth(n: int, k: int, rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return (q * np.sign(np.diag(r)))[:, :k]


def balanced_minimum(T: np.ndarray, widths: Sequence[int], rng: np.random.Generator | None = None) -> tuple:
    """W_i = U_i S^{1/N} U_{i−1}ᵀ with T = U S Vᵀ (thin SVD), U_0 = V, U_N = U, random orthonormal hidden U_i.

    Needs every hidden width ≥ rank(T) (no bottleneck).  W_N ⋯ W_1 = T exactly (up to round-off).

    Raises:
        ShapeError: a hidden width below rank(T) = … is a bottleneck: no balanced factorisation.
    """
    rng = rng or np.random.default_rng(0)
    N = len(widths) - 1
    U, s, Vt = np.linalg.svd(T, full_matrices=False)
    r = len(s)
    if min(widths[1:-1], default=r) < r:
        raise ShapeError(f"a hidden width below rank(T) = {r} is a bottleneck: no balanced factorisation")
    bases = [Vt.T] + [_orth(n, r, rng) for n in widths[1:-1]] + [U]
    root = np.diag(s ** (1 / N))
    return tuple(bases[i + 1] @ root @ bases[i].T for i in range(N))


def random_minimum(T: np.ndarray, N: int, rng: np.random.Generator, spread: float = 1.0) -> tuple:
    """A random global minimum of a square net: W_1..W_{N−1} random, W_N = T (W_{N−1}⋯W_1)⁻¹.

    Raises:
        ShapeError: random_minimum samples square networks (T must be square).
    """
    d = T.shape[0]
    if T.shape != (d, d):
        raise ShapeError("random_minimum samples square networks (T must be square)")
    ws = [np.linalg.qr(rng.standard_normal((d, d)))[0] @ np.diag(np.exp(spread * rng.standard_normal(d)))
          for _ in range(N - 1)]
    below = np.eye(d)
    for w in ws:
        below = w @ below
    return tuple(ws) + (T @ np.linalg.inv(below),)


@dataclass(frozen=True)
class Coupling:
    """Top-path coupling of a minimum (``docs/mathematics.md`` §3.3).

    r_i = W_{>i}ᵀu/‖·‖ (u, v the top singular pair of T); ``left[i]`` = max_k |⟨r_i, left sv_k(W_i)⟩|,
    ``right[i]`` = max_m |⟨r_i, right sv_m(W_{i+1})⟩|, ``gains[i]`` = ‖W_i⋯W_1 v‖ against s₁^{i/N},
    and ``alignment[i]`` = |U_iᵀ V_{i+1}|, the full matrix of singular-vector overlaps.
    """

    left: tuple
    right: tuple
    gains: tuple
    predicted_gains: tuple
    alignment: tuple

    def residual(self) -> float:
        """max over i of 1 − alignment and of the relative gain error."""
        a = max([1 - x for x in self.left + self.right] or [0.0])
        g = max(abs(x - y) / y for x, y in zip(self.gains, self.predicted_gains))
        return float(max(a, g))


def coupling(weights: Sequence[np.ndarray], T: np.ndarray) -> Coupling:
    N = len(weights)
    U, s, Vt = np.linalg.svd(T)
    u, v, s1 = U[:, 0], Vt[0], s[0]
    left, right, gains, pred, align = [], [], [], [], []
    below = v
    for i in range(N - 1):
        above = np.eye(T.shape[0])
        for w in weights[i + 1:][::-1]:
            above = above @ w
        r = above.T @ u
        r = r / np.linalg.norm(r)
        Ui = np.linalg.svd(weights[i])[0]
        Vi1 = np.linalg.svd(weights[i + 1])[2].T
        left.append(float(np.max(np.abs(Ui.T @ r))))
        right.append(float(np.max(np.abs(Vi1.T @ r))))
        align.append(np.abs(Ui.T @ Vi1))
        below = weights[i] @ below
        gains.append(float(np.linalg.norm(below)))
        pred.append(float(s1 ** ((i + 1) / N)))
    return Coupling(tuple(left), tuple(right), tuple(gains), tuple(pred), tuple(align))
