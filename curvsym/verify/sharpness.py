r"""Sharpness: Hessian–vector products from the derivation, λ_max and λ_min (``docs/mathematics.md`` §3).

Hessian–vector products come from the derivation itself: the directional derivative
of the symbolic gradient, H·V = d/dε ∇L(W + εV)|₀, is :func:`curvsym.derive.time_derivative`
of the gradient along V, turned into code by :mod:`curvsym.codegen`.  From it:

* :func:`dense_hessian` — the P × P Hessian (small nets), column by column;
* :func:`sharpness` — λ_max (and :func:`min_curvature`, λ_min) by dense eigh or matrix-free
  Lanczos (``scipy.sparse.linalg.eigsh`` on a LinearOperator).

The flat-minimum constructions of Mulayoff & Michaeli (2020) — :func:`flat_bound`,
:func:`balanced_minimum`, :func:`random_minimum`, :func:`coupling`,
:func:`scalar_flattest` — live in :mod:`curvsym.papers.mulayoff2020` and are
re-exported here.
"""

from __future__ import annotations

from typing import Sequence

import mpmath
import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh
from sympy import MatrixSymbol

from ..codegen import GeneratedFunction, generate
from ..symbolic.calculus import time_derivative
from ..symbolic.derive import Model, gradient
from ..types import Data, State
from .dense_reference import flat, unflat

__all__ = ["hvp_function", "dense_hessian", "sharpness", "min_curvature"]


def hvp_function(m: Model, backend: str = "numpy") -> GeneratedFunction:
    """Generated ``(W, V, data) ↦ H(W)·V`` (as layer matrices), H the Hessian of L.

    Call as ``f(weights, *V, *data)``: the directions V_e follow the weights.
    Built once per model and backend (cached on the model).
    """
    key = ("hessian_vector_product", backend)
    if key not in m._memo:
        Vs = [MatrixSymbol(f"V_{k + 1}", *w.shape) for k, w in enumerate(m.weights)]
        hv = [time_derivative(g, dict(zip(m.weights, Vs))) for g in gradient(m)]
        m._memo[key] = generate("hessian_vector_product", [*m.weights, *Vs, *m.data_symbols], hv, (), backend,
                                n_weights=m.depth)
    return m._memo[key]


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
            E = mpmath.eigsy(mpmath.matrix(H.tolist()), eigvals_only=True)
            vals = sorted(E[i] for i in range(H.shape[0]))
            return vals[-1] if which == "LA" else vals[0]
        w = np.linalg.eigvalsh(H)
        return float(w[-1] if which == "LA" else w[0])
    f = hvp_function(m)
    data = f.validate(weights, [np.zeros_like(w) for w in weights] + list(data))[len(weights):]
    matvec, P = _hv_flat(f, weights, data)
    op = LinearOperator((P, P), matvec=matvec, dtype=float)
    vals = eigsh(op, k=1, which=which, tol=1e-12, maxiter=20 * P, return_eigenvectors=False,
                 v0=np.ones(P) / np.sqrt(P))
    return float(vals[0])


def sharpness(m: Model, weights: State, data: Data, method: str = "auto") -> float:
    """λ_max of the Hessian at ``weights``: ``"dense"``, ``"lanczos"`` or ``"auto"`` (dense for P ≤ 400)."""
    P = sum(w.size for w in weights)
    return _eig(m, weights, data, "LA", ("dense" if P <= 400 else "lanczos") if method == "auto" else method)


def min_curvature(m: Model, weights: State, data: Data, method: str = "auto") -> float:
    """λ_min of the Hessian (negative away from minima; used for GD–GF comparisons)."""
    P = sum(w.size for w in weights)
    return _eig(m, weights, data, "SA", ("dense" if P <= 400 else "lanczos") if method == "auto" else method)
