r"""Dense Fisher / Gauss–Newton matrices: the independent route for small nets.

With J the Jacobian of θ = (W_1, …, W_N) ↦ vec(W Σx^{½}) (row-major vec, θ
flattened layer by layer), the Fisher of the Gaussian output model equals the
Gauss–Newton matrix F = JᵀJ and ∇L = Jᵀ vec((W − T) Σx^{½}) (``MATH.md`` §0.6).
Everything here forms F explicitly (P × P for P parameters), so it is only for
checking the generated, structure-exploiting code on small nets.

Works in float64 (NumPy) or, given object arrays of ``mpf``, in mpmath at the
ambient precision.
"""

from __future__ import annotations

from typing import Any, Sequence

import mpmath
import numpy as np

from ..codegen import generate_expressions
from ..codegen.runtime import _sqrt_psd
from ..errors import UnknownNameError
from ..integrate.state import to_mp
from ..symbolic.derive import Model, end_to_end, layer_factors
from ..types import Data, State

__all__ = ["flat", "unflat", "jacobian", "fisher", "dense_gradient", "dense_direction", "sym_power"]


def flat(arrays: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.ravel(a) for a in arrays])


def unflat(v: np.ndarray, like: Sequence[np.ndarray]) -> tuple:
    out, k = [], 0
    for a in like:
        out.append(np.reshape(v[k:k + a.size], a.shape))
        k += a.size
    return tuple(out)


def _factors(m: Model, weights, data):
    exprs = [x for pair in layer_factors(m) for x in pair]
    backend = "mpmath" if weights[0].dtype == object else "numpy"
    f = generate_expressions(m, "layer_factors", exprs, backend=backend)
    vals = f.raw(*weights, *data)
    return [(vals[2 * k], vals[2 * k + 1]) for k in range(len(vals) // 2)]


def _split_data(m: Model, data):
    if m.whitened:
        (T,) = data
        n0 = m.network.n_in
        one = np.eye(n0, dtype=object) if T.dtype == object else np.eye(n0)
        return one, T
    return data


def jacobian(m: Model, weights: Sequence[np.ndarray], data: Sequence[np.ndarray]) -> np.ndarray:
    """J with columns ∂ vec(W Σx^{½}) / ∂θ_p, shape (n_N·n_0, P)."""
    S, _ = _split_data(m, data)
    half = _sqrt_psd(S, np)
    cols = []
    for (M, R), w in zip(_factors(m, weights, data), weights):
        MS = M @ half
        for a in range(w.shape[0]):
            for b in range(w.shape[1]):
                cols.append(np.ravel(np.outer(R[:, a], MS[b, :])))  # R E_ab M Σ^{½}
    return np.stack(cols, axis=1)


def fisher(m: Model, weights: State, data: Data) -> np.ndarray:
    """F = JᵀJ (P × P)."""
    J = jacobian(m, weights, data)
    return J.T @ J


def dense_gradient(m: Model, weights: State, data: Data) -> np.ndarray:
    """∇L = Jᵀ vec((W − T) Σx^{½}) as a flat vector."""
    S, T = _split_data(m, data)
    backend = "mpmath" if weights[0].dtype == object else "numpy"
    W = generate_expressions(m, "end_to_end", [end_to_end(m)], backend=backend).raw(*weights, *data)[0]
    r = (W - T) @ _sqrt_psd(S, np)
    return jacobian(m, weights, data).T @ np.ravel(r)


def sym_power(F: np.ndarray, q: Any, damping: Any=0) -> np.ndarray:
    """(F⁺)^q (or (F + λI)^{−q}) of a symmetric PSD matrix by eigendecomposition.

    Eigenvalues below a relative cutoff (1e-10; 10^{−dps/2} in mpmath) count as zero.
    """
    if F.dtype == object:
        E, Q = mpmath.eigsy(mpmath.matrix(F.tolist()))
        n = F.shape[0]
        w = [E[i] for i in range(n)]
        cut = max(abs(v) for v in w) * mpmath.mpf(10) ** (-(mpmath.mp.dps // 2))
        f = [(max(v, 0) + damping) ** (-q) if damping else (v ** (-q) if v > cut else mpmath.mpf(0)) for v in w]
        Qa = np.array(Q.tolist(), dtype=object)
        return (Qa * np.array(f, dtype=object)[None, :]) @ Qa.T
    w, U = np.linalg.eigh(F)
    if damping:
        f = (np.clip(w, 0, None) + damping) ** (-q)
    else:
        keep = w > 1e-10 * np.max(np.abs(w))
        f = np.where(keep, np.where(keep, w, 1.0) ** (-q), 0.0)
    return (U * f) @ U.T


def _kron_block(G, A):
    """Matrix of V ↦ G V A on row-major vec(V) (A symmetric): G ⊗ A."""
    return np.kron(G, A) if G.dtype != object else np.array(
        [[G[i, k] * A[j, l] for k in range(G.shape[1]) for l in range(A.shape[1])]
         for i in range(G.shape[0]) for j in range(A.shape[0])], dtype=object)


def dense_direction(rule: str, m: Model, weights: State, data: Data, q: Any=1, damping: Any=0) -> tuple:
    """Reference velocity of ``rule`` ∈ {gd, ngd, kfac, bernacchia} from dense matrices.

    gd: −g;  ngd: −(F⁺)^q g;  kfac: −blockdiag((G_e ⊗ A_e)⁺)^q g;  bernacchia: kfac/N.

    Raises:
        UnknownNameError: ``rule`` is none of gd, ngd, kfac, bernacchia.
    """
    g = dense_gradient(m, weights, data)
    if rule == "gd":
        v = -g
    elif rule == "ngd":
        v = -(sym_power(fisher(m, weights, data), q, damping) @ g)
    elif rule in ("kfac", "bernacchia"):
        S, _ = _split_data(m, data)
        parts, k = [], 0
        for (M, R), w in zip(_factors(m, weights, data), weights):
            G, A = R.T @ R, M @ S @ M.T
            B = _kron_block(G, A)
            parts.append(-(sym_power(B, q, damping) @ g[k:k + w.size]))
            k += w.size
        v = np.concatenate(parts)
        if rule == "bernacchia":
            v = v / len(weights)
    else:
        raise UnknownNameError(f"no dense reference for rule {rule!r}")
    return unflat(v, weights)


def as_mp(weights: State, data: Data, dps: int) -> tuple:
    """Object-array copies at ``dps`` digits (a convenience for mpmath references)."""
    return to_mp(weights, dps), to_mp(data, dps)
