r"""Sharpness and flat minima of deep linear networks (Mulayoff & Michaeli 2020; ``MATH.md`` §3).

Hessian–vector products come from the derivation itself: the directional derivative
of the symbolic gradient, H·V = d/dε ∇L(W + εV)|₀, is :func:`curvsym.derive.time_derivative`
of the gradient along V, turned into code by :mod:`curvsym.codegen`.  From it:

* :func:`dense_hessian` — the P × P Hessian (small nets), column by column;
* :func:`sharpness` — λ_max (and :func:`min_curvature`, λ_min) by dense eigh or matrix-free
  Lanczos (``scipy.sparse.linalg.eigsh`` on a LinearOperator).

Flat minima (whitened Σx = I, no bottleneck): every global minimum has
λ_max ≥ N‖T‖₂^{2−2/N}, with equality at balanced minima W_i = U_i S^{1/N} U_{i−1}ᵀ
(:func:`balanced_minimum`); :func:`random_minimum` samples unbalanced ones, and
:func:`coupling` measures the singular-vector path of flat minima.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import sympy as sp
from sympy import MatrixSymbol

from .codegen import GeneratedFunction, generate
from .derive import Model, gradient, time_derivative
from .fisher import flat, unflat

__all__ = ["hvp_function", "dense_hessian", "scalar_flattest", "sharpness", "min_curvature", "balanced_minimum", "random_minimum",
           "flat_bound", "Coupling", "coupling"]


def hvp_function(m: Model, backend: str = "numpy") -> GeneratedFunction:
    """Generated ``(W, V, data) ↦ H(W)·V`` (as layer matrices), H the Hessian of L.

    Call as ``f(weights, *V, *data)``: the directions V_e follow the weights.
    """
    Vs = [MatrixSymbol(f"V_{k + 1}", *w.shape) for k, w in enumerate(m.weights)]
    hv = [time_derivative(g, dict(zip(m.weights, Vs))) for g in gradient(m)]
    return generate("hessian_vector_product", [*m.weights, *Vs, *m.data_symbols], hv, (), backend,
                    n_weights=m.depth)


def _hv_flat(f: GeneratedFunction, weights, data):
    shapes = [w.shape for w in weights]
    exact = weights[0].dtype == object

    def matvec(v):
        V = unflat(np.asarray(v, dtype=object if exact else float).ravel(), weights)
        return flat(f.raw(*weights, *V, *data))
    return matvec, sum(int(np.prod(s)) for s in shapes)


def dense_hessian(m: Model, weights: Sequence[np.ndarray], data: Sequence[np.ndarray]) -> np.ndarray:
    """H (P × P) from P Hessian–vector products with unit vectors; symmetrised (asymmetry is round-off).

    With object arrays of ``mpf`` the products run in mpmath at the ambient precision.
    """
    exact = weights[0].dtype == object
    f = hvp_function(m, "mpmath" if exact else "numpy")
    data = f.validate(weights, [w * 0 for w in weights] + list(data))[len(weights):]
    matvec, P = _hv_flat(f, weights, data)
    eye = np.eye(P, dtype=object) if exact else np.eye(P)
    H = np.column_stack([matvec(e) for e in eye])
    return (H + H.T) / 2


def _eig(m, weights, data, which: str, method: str):
    if method == "dense":
        H = dense_hessian(m, weights, data)
        if H.dtype == object:
            import mpmath
            E = mpmath.eigsy(mpmath.matrix(H.tolist()), eigvals_only=True)
            vals = sorted(E[i] for i in range(H.shape[0]))
            return vals[-1] if which == "LA" else vals[0]
        w = np.linalg.eigvalsh(H)
        return float(w[-1] if which == "LA" else w[0])
    from scipy.sparse.linalg import LinearOperator, eigsh
    f = hvp_function(m)
    data = f.validate(weights, [np.zeros_like(w) for w in weights] + list(data))[len(weights):]
    matvec, P = _hv_flat(f, weights, data)
    op = LinearOperator((P, P), matvec=matvec, dtype=float)
    vals = eigsh(op, k=1, which=which, tol=1e-12, maxiter=20 * P, return_eigenvectors=False,
                 v0=np.ones(P) / np.sqrt(P))
    return float(vals[0])


def sharpness(m: Model, weights, data, method: str = "auto") -> float:
    """λ_max of the Hessian at ``weights``: ``"dense"``, ``"lanczos"`` or ``"auto"`` (dense for P ≤ 400)."""
    P = sum(w.size for w in weights)
    return _eig(m, weights, data, "LA", ("dense" if P <= 400 else "lanczos") if method == "auto" else method)


def min_curvature(m: Model, weights, data, method: str = "auto") -> float:
    """λ_min of the Hessian (negative away from minima; used for GD–GF comparisons)."""
    P = sum(w.size for w in weights)
    return _eig(m, weights, data, "SA", ("dense" if P <= 400 else "lanczos") if method == "auto" else method)


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
    """
    rng = rng or np.random.default_rng(0)
    N = len(widths) - 1
    U, s, Vt = np.linalg.svd(T, full_matrices=False)
    r = len(s)
    if min(widths[1:-1], default=r) < r:
        raise ValueError(f"a hidden width below rank(T) = {r} is a bottleneck: no balanced factorisation")
    bases = [Vt.T] + [_orth(n, r, rng) for n in widths[1:-1]] + [U]
    root = np.diag(s ** (1 / N))
    return tuple(bases[i + 1] @ root @ bases[i].T for i in range(N))


def random_minimum(T: np.ndarray, N: int, rng: np.random.Generator, spread: float = 1.0) -> tuple:
    """A random global minimum of a square net: W_1..W_{N−1} random, W_N = T (W_{N−1}⋯W_1)⁻¹."""
    d = T.shape[0]
    if T.shape != (d, d):
        raise ValueError("random_minimum samples square networks (T must be square)")
    ws = [np.linalg.qr(rng.standard_normal((d, d)))[0] @ np.diag(np.exp(spread * rng.standard_normal(d)))
          for _ in range(N - 1)]
    below = np.eye(d)
    for w in ws:
        below = w @ below
    return tuple(ws) + (T @ np.linalg.inv(below),)


@dataclass(frozen=True)
class Coupling:
    """Top-path coupling of a minimum (MATH.md §3.6.3).

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
