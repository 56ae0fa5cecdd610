r"""Spectral functions of symmetric matrices, the kernels of curvature-corrected rules.

(X + λI)^{−q} or (X⁺)^q of PSD X, X^{½}, the operator solve Y = 𝒦^{+q} R for
𝒦(Y) = Σ_e P_e Y Q_e, and the Fréchet derivatives of PSD powers by divided
differences — each as an array-API kernel, an mpmath kernel (eigsy, LU, or
python-flint's ball solver) and, where it exists, a multi-word kernel (float64
LAPACK refined to the word precision, :mod:`curvsym.kernels.multiword.linalg`).

Rank decisions use a relative eigenvalue cutoff: 1e-10 in floating point,
10^{−dps/2} in mpmath, 10^{−⌊digits/2⌋} for w float64 words (digits = ⌊15.95w⌋).  A *strict* inverse of a
matrix whose smallest eigenvalue is below the cutoff raises :class:`SingularPreconditionerError`
naming the preconditioner; damping λ > 0 replaces X by X + λI.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import mpmath
import numpy as np
from array_api_compat import device

from ..errors import SingularPreconditionerError
from ..types import Array
from . import arb
from .dispatch import kernel
from .multiword import linalg as mwlinalg
from .multiword.array import eye, lift

RCOND_FLOAT = 1e-10


def _rcond_mp():
    return mpmath.mpf(10) ** (-(mpmath.mp.dps // 2))


def _is_mp(x) -> bool:
    return getattr(x, "dtype", None) == object


def _singular(label: str, shape, rank: int) -> SingularPreconditionerError:
    return SingularPreconditionerError(
        f"the preconditioner {label} ({shape[-2]}×{shape[-1]}) is singular (numerical rank {rank}); "
        "pass damping=λ > 0 or use the pseudo-inverse (strict=False)")


# --------------------------------------------------------------------------- eigen-functions

def _mp_eig_apply(X: np.ndarray, func) -> np.ndarray:
    """U diag(func(w)) Uᵀ for symmetric X (object array), via mpmath.eigsy."""
    E, Q = mpmath.eigsy(mpmath.matrix(X.tolist()))
    n = X.shape[0]
    f = func([E[i] for i in range(n)])
    return np.array([[mpmath.fsum(Q[a, k] * f[k] * Q[b, k] for k in range(n)) for b in range(n)]
                     for a in range(n)], dtype=object)


def _mp_powers(w, q, lam, strict, label, shape):
    wmax = max((abs(v) for v in w), default=mpmath.mpf(0))
    if lam:
        return [(max(v, 0) + lam) ** (-q) for v in w]
    cut = wmax * _rcond_mp()
    keep = [v > cut and v > 0 for v in w]
    if strict and not all(keep):
        raise _singular(label, shape, sum(keep))
    return [v ** (-q) if k else mpmath.mpf(0) for v, k in zip(w, keep)]


def _xp_powers(xp, w, q, lam, strict, label, shape):
    if lam:
        wpos = xp.where(w > 0, w, xp.zeros_like(w))
        return (wpos + lam) ** (-q)
    wmax = xp.max(xp.abs(w), axis=-1, keepdims=True)
    keep = w > RCOND_FLOAT * wmax
    if strict and not bool(xp.all(keep)):
        rank = int(xp.min(xp.sum(xp.astype(keep, xp.int64), axis=-1)))
        raise _singular(label, shape, rank)
    safe = xp.where(keep, w, xp.ones_like(w))
    return xp.where(keep, safe ** (-q), xp.zeros_like(w))


def _psd_inv_power_array(X, q, lam, strict, xp, label: str = "X"):
    """(X + λI)^{−q} (λ > 0) or (X⁺)^q (λ = 0) of symmetric PSD X: U f(w) Uᵀ from X = U diag(w) Uᵀ."""
    w, U = xp.linalg.eigh(X)
    f = _xp_powers(xp, w, q, lam, strict, label, X.shape)
    return (U * f[..., None, :]) @ U.mT


def _psd_inv_power_mp(X, q, lam, strict, xp, label: str = "X"):
    """The same at mpmath precision; q = 1 by an LU/ball solve when X (+ λI) is far from singular."""
    shape = X.shape
    if q == 1:
        n = shape[0]
        Xd = X + lam * np.eye(n, dtype=object) if lam else X
        inv = _mp_solve(Xd, np.eye(n, dtype=object))
        if inv is not None:
            return inv
    return _mp_eig_apply(X, lambda w: _mp_powers(w, q, lam, strict, label, shape))


def _sqrt_psd_array(X, xp):
    """X^{½} of symmetric PSD X (negative round-off eigenvalues clipped to 0)."""
    w, U = xp.linalg.eigh(X)
    return (U * xp.sqrt(xp.where(w > 0, w, xp.zeros_like(w)))[..., None, :]) @ U.mT


def _sqrt_psd_mp(X, xp):
    """X^{½} at mpmath precision (memoised: Σx^{½} depends only on the data)."""
    return _mp_sqrt_cached((mpmath.mp.prec, X.shape, tuple(X.flat)))


@functools.lru_cache(maxsize=64)
def _mp_sqrt_cached(key) -> np.ndarray:
    """Σx^{½} depends only on the data, so repeated right-hand-side calls share it (pure, memoised)."""
    prec, shape, values = key
    with mpmath.workprec(prec):
        X = np.array(values, dtype=object).reshape(shape)
        out = _mp_eig_apply(X, lambda w: [mpmath.sqrt(max(v, 0)) for v in w])
    out.setflags(write=False)
    return out


# --------------------------------------------------------------------------- operator solve

def operator_matrix(Ps: Any, Qs: Any, xp: Any=np) -> Array:
    """The (mk × mk) matrix of 𝒦(Y) = Σ_e P_e Y Q_e on row-major vec(Y) (Q_e symmetric)."""
    m, k = Ps[0].shape[-1], Qs[0].shape[-1]
    batch = Ps[0].shape[:-2]
    K = None
    for P, Q in zip(Ps, Qs):
        term = P[..., :, None, :, None] * Q[..., None, :, None, :]
        K = term if K is None else K + term
    return xp.reshape(K, (*batch, m * k, m * k))


def _mp_operator_matrix(Ps, Qs) -> np.ndarray:
    """𝒦 as an object array (same layout as :func:`operator_matrix`)."""
    return operator_matrix([np.asarray(P, dtype=object) for P in Ps], [np.asarray(Q, dtype=object) for Q in Qs], np)


def _mp_solve(K: np.ndarray, B: np.ndarray) -> np.ndarray | None:
    """Solve K Y = B (object arrays) at the ambient precision; None if K is (numerically) singular.

    Uses python-flint's ball-arithmetic solver when available (mpmath LU otherwise) and
    accepts the answer only if ‖K‖‖Y‖/‖B‖ < 10^{dps/2}, i.e. K is far from singular.
    """
    flint = arb.flint_or_none()
    if flint is not None:
        with flint.ctx.workprec(int(mpmath.mp.prec) + 16):
            Ka = flint.arb_mat([[arb.to_arb(v) for v in row] for row in K])
            Ba = flint.arb_mat([[arb.to_arb(v) for v in row] for row in B])
            try:
                Ya = Ka.solve(Ba, nonstop=True)
            except (ZeroDivisionError, ValueError):
                return None
            rows = Ya.tolist()
            if not all(e.is_finite() for row in rows for e in row):
                return None
            Y = np.array([[arb.to_mpf(e) for e in row] for row in rows], dtype=object)
    else:
        try:
            Y = np.array(mpmath.lu_solve(mpmath.matrix(K.tolist()), mpmath.matrix(B.tolist())).tolist(), dtype=object)
        except ZeroDivisionError:
            return None
    nB = max(abs(v) for v in B.flat)
    if nB == 0:
        return Y
    growth = max(abs(v) for v in K.flat) * max(abs(v) for v in Y.flat) / nB
    return Y if growth < 1 / _rcond_mp() else None


def _operator_inv_power_mp(R, Ps, Qs, q, lam, strict, xp, label: str = "JJᵀ"):
    """Y = 𝒦^{+q} R at mpmath precision: a ball/LU solve for q = 1 when 𝒦 is far from singular, else eigsy."""
    shape = R.shape
    m, k = shape[-2], shape[-1]
    K = _mp_operator_matrix(Ps, Qs)
    rv = np.reshape(np.asarray(R, dtype=object), (m * k, 1))
    if q == 1:
        Kd = K + lam * np.eye(m * k, dtype=object) if lam else K
        y = _mp_solve(Kd, rv)  # None when singular: then the eigen route decides (pinv or error)
        if y is not None:
            return np.reshape(y, (m, k))
    r = mpmath.matrix(rv.ravel().tolist())
    E, Qm = mpmath.eigsy(mpmath.matrix(K.tolist()))
    n = m * k
    f = _mp_powers([E[i] for i in range(n)], q, lam, strict, label, (n, n))
    coeff = [f[j] * mpmath.fsum(Qm[i, j] * r[i] for i in range(n)) for j in range(n)]
    y = [mpmath.fsum(Qm[i, j] * coeff[j] for j in range(n)) for i in range(n)]
    return np.array([[y[a * k + b] for b in range(k)] for a in range(m)], dtype=object)


def _operator_inv_power_array(R, Ps, Qs, q, lam, strict, xp, label: str = "JJᵀ"):
    """Y = 𝒦^{+q} R, or (𝒦 + λ)^{−q} R, for 𝒦(Y) = Σ_e P_e Y Q_e (symmetric PSD), by eigh of 𝒦's matrix."""
    shape = R.shape
    m, k = shape[-2], shape[-1]
    K = operator_matrix(Ps, Qs, xp)
    batch = shape[:-2]
    r = xp.reshape(R, (*batch, m * k, 1))
    w, U = xp.linalg.eigh(K)
    f = _xp_powers(xp, w, q, lam, strict, label, (m * k, m * k))
    y = U @ (f[..., :, None] * (U.mT @ r))
    return xp.reshape(y, shape)


# --------------------------------------------------------------------------- Fréchet derivatives of PSD powers

def power_divided_difference(points: list, q: Any, eps: Any) -> Any:
    """f[y_0, …, y_k] for f(y) = y^{−q} at positive points (floats or mpf), accurate for clustered points.

    Points whose spread is at most a quarter of their midpoint c use the Taylor series about c,
    f[y_0..y_k] = Σ_{n≥k} f^{(n)}(c)/n! · h_{n−k}(y_0 − c, …, y_k − c) (h_j the complete homogeneous
    symmetric polynomials; the terms fall by ≤ 1/8 per degree); wider sets use the recursion
    f[y_0..y_k] = (f[y_1..y_k] − f[y_0..y_{k−1}])/(y_k − y_0) on sorted points, whose denominator is the
    full spread, so that no digits are lost to cancellation.  ``eps`` is the relative accuracy wanted.
    """
    pts = sorted(points)
    k = len(pts) - 1
    if k == 0:
        return pts[0] ** (-q)
    lo, hi = pts[0], pts[-1]
    if lo == hi:  # one point, repeated: f^{(k)}(y)/k! = binom(−q, k) y^{−q−k}
        a = lo ** (-q)
        for n in range(1, k + 1):
            a = a * (-q - n + 1) / (n * lo)
        return a
    c = (lo + hi) / 2
    if hi - lo > c / 4:
        return (power_divided_difference(pts[1:], q, eps) - power_divided_difference(pts[:-1], q, eps)) / (hi - lo)
    z = [y - c for y in pts]
    a = c ** (-q)                                  # f^{(n)}(c)/n! for n = 0, 1, …
    H = [1] * (k + 1)                              # H[m] = h_j(z_0, …, z_m) for the current degree j (j = 0)
    total, small = 0, 0
    for n in range(1, 2000):
        a = a * (-q - n + 1) / (n * c)
        if n < k:
            continue
        if n > k:                                  # raise the degree: h_j(z_0..z_m) = h_j(z_0..z_{m−1}) + z_m h_{j−1}(z_0..z_m)
            prev = 0
            for m in range(k + 1):
                prev = prev + z[m] * H[m]
                H[m] = prev
        term = a * H[k]
        total = total + term
        small = small + 1 if abs(term) <= eps * abs(total) else 0
        if small >= 3:
            break
    return total


def _divided_difference_tensor(y: list, q: Any, k: int, eps: Any, kernel_mask: list) -> dict:
    """{(i_0, …, i_k): f[y_{i_0}, …, y_{i_k}]} with the constant-rank convention on the kernel (k = 1 only).

    Memoised: one matrix X usually enters several derivative nodes of the same evaluation.
    """
    return _dd_tensor_cached(tuple(y), q, k, eps, tuple(kernel_mask), mpmath.mp.prec)


@functools.lru_cache(maxsize=256)
def _dd_tensor_cached(y: tuple, q: Any, k: int, eps: Any, kernel_mask: tuple, prec: int) -> dict:
    n = len(y)
    out = {}
    for idx in itertools.product(range(n), repeat=k + 1):
        if any(kernel_mask[i] for i in idx):
            if all(kernel_mask[i] for i in idx):
                out[idx] = 0 * y[0]                      # kernel–kernel: no change at constant rank
            else:                                        # f[λ, 0] = f(λ)/λ (f(0) := 0 on the kernel)
                lam_ = y[idx[0]] if not kernel_mask[idx[0]] else y[idx[1]]
                out[idx] = lam_ ** (-q) / lam_
        else:
            out[idx] = power_divided_difference([y[i] for i in idx], q, eps)
    return out


def _frechet_contract(D: dict, Et: list, n: int, zero: Any) -> list:
    """Σ over orders σ of the directions and inner indices p: D[i, p_1, …, j] Ẽ_σ1[i, p_1] ⋯ Ẽ_σk[p_{k−1}, j]."""
    k = len(Et)
    R = [[zero for _ in range(n)] for _ in range(n)]
    for perm in itertools.permutations(range(k)):
        for idx, dval in D.items():
            if dval == 0:
                continue
            prod = dval
            for step, e in enumerate(perm):
                prod = prod * Et[e][idx[step]][idx[step + 1]]
            R[idx[0]][idx[-1]] = R[idx[0]][idx[-1]] + prod
    return R


def _spectral_frechet(w: list, U: list, Es: list, q: Any, lam: Any, strict: bool, label: str, eps: Any, cut: Any,
                      zero: Any, shape: tuple) -> list:
    """U (DK sum) Uᵀ for one matrix: eigenvalues w, eigenvectors U (columns), symmetric directions Es."""
    n = len(w)
    k = len(Es)
    if lam:
        y = [max(v, 0 * v) + lam for v in w]
        kernel_mask = [False] * n
    else:
        kernel_mask = [not (v > cut) for v in w]
        if any(kernel_mask):
            if strict:
                raise _singular(label, shape, n - sum(kernel_mask))
            if k > 1:
                raise SingularPreconditionerError(
                    f"the {k}th derivative of a pseudo-inverse power of the singular {label} is not implemented "
                    "(only the first, at constant rank); pass damping=λ > 0")
        y = [v if not km else 0 * v for v, km in zip(w, kernel_mask)]
    D = _divided_difference_tensor(y, q, k, eps, kernel_mask)
    Et = []
    for E in Es:  # Ẽ = Uᵀ E U
        EU = [[sum((E[a][c] * U[c][b] for c in range(n)), zero) for b in range(n)] for a in range(n)]
        Et.append([[sum((U[c][a] * EU[c][b] for c in range(n)), zero) for b in range(n)] for a in range(n)])
    R = _frechet_contract(D, Et, n, zero)
    RU = [[sum((R[a][c] * U[b][c] for c in range(n)), zero) for b in range(n)] for a in range(n)]   # R Uᵀ
    return [[sum((U[a][c] * RU[c][b] for c in range(n)), zero) for b in range(n)] for a in range(n)]


def _psd_power_derivative_array(X, q, lam, strict, xp, label, *Es):
    """D^k[(X + λI)^{−q}](X)[E_1, …, E_k] (λ = 0: of (X⁺)^q) by the Daleckii–Krein formula, leading batch axes allowed.

    Computed on the host in float64 NumPy (a derivative for analysis, not a hot loop) and returned in
    the namespace and on the device of X.
    """
    def host(a):
        return np.asarray(a.cpu() if hasattr(a, "cpu") else a, dtype=float)
    Xn, En = host(X), [host(E) for E in Es]
    shape = Xn.shape
    batch = shape[:-2]
    out = np.zeros(np.broadcast_shapes(shape, *(E.shape for E in En)))
    for b in np.ndindex(*out.shape[:-2]):
        Xb = Xn[b] if Xn.ndim > 2 else Xn
        Eb = [E[b] if E.ndim > 2 else E for E in En]
        w, U = np.linalg.eigh((Xb + Xb.T) / 2)
        cut = RCOND_FLOAT * max(float(np.max(np.abs(w))), 1e-300)
        res = _spectral_frechet(list(w), U.tolist(), [E.tolist() for E in Eb], float(q), float(lam), strict,
                                label, 2.0 ** -52, cut, 0.0, shape[-2:])
        out[b] = np.array(res)
    del batch
    if isinstance(X, np.ndarray):
        return out
    return xp.asarray(out, dtype=X.dtype, device=device(X))


@functools.lru_cache(maxsize=256)
def _mp_eigsy_cached(values: tuple, n: int, prec: int) -> tuple:
    """(eigenvalues, eigenvectors as rows of lists) of a symmetric mpf matrix (pure, memoised)."""
    with mpmath.workprec(prec):
        Ev, Q = mpmath.eigsy(mpmath.matrix([list(values[i * n:(i + 1) * n]) for i in range(n)]))
        return [Ev[i] for i in range(n)], [[Q[a, b] for b in range(n)] for a in range(n)]


def _psd_power_derivative_mp(X, q, lam, strict, xp, label, *Es):
    """The same at mpmath precision (eigsy, divided differences in mpf)."""
    n = X.shape[0]
    w, U = _mp_eigsy_cached(tuple(((X + X.T) / 2).flat), n, mpmath.mp.prec)
    wmax = max((abs(v) for v in w), default=mpmath.mpf(0))
    res = _spectral_frechet(w, U, [np.asarray(E, dtype=object).tolist() for E in Es], mpmath.mpf(q),
                            mpmath.mpf(lam), strict, label, mpmath.eps, wmax * _rcond_mp(), mpmath.mpf(0), X.shape)
    return np.array(res, dtype=object)


_psd_power_derivative = kernel("_psd_power_derivative", _psd_power_derivative_array, _psd_power_derivative_mp)


# --------------------------------------------------------------------------- multi-word kernels

def _psd_inv_power_mw(X, q, lam, strict, xp, label: str = "X"):
    """The same on multi-word arrays: q = 1 by a refined solve when X (+ λI) is far from singular, else a
    refined eigen-decomposition (:mod:`curvsym.kernels.multiword.linalg`)."""
    w, shape = X.w, X.shape
    n = shape[-1]
    if q == 1:
        Xd = X + lift(mpmath.mpf(lam), w) * eye(n, w) if lam else X
        if lam or mwlinalg.well_conditioned(Xd, w):
            inv = mwlinalg.solve_refined(Xd, eye(n, w))
            if inv is not None:
                return inv
    return mwlinalg.psd_power(X, q, lam, strict, lambda rank: _singular(label, shape, rank))


def _sqrt_psd_mw(X, xp):
    """X^{½} on multi-word arrays (refined eigen-decomposition; memoised on the exact words)."""
    return mwlinalg.sqrt_psd_cached(X)


def _operator_inv_power_mw(R, Ps, Qs, q, lam, strict, xp, label: str = "JJᵀ"):
    """Y = 𝒦^{+q} R on multi-word arrays: a refined solve for q = 1 when 𝒦 is far from singular, else the
    refined eigen-decomposition of 𝒦's matrix with the same rank cutoff semantics."""
    w, shape = R.w, R.shape
    m, k = shape[-2], shape[-1]
    K = mwlinalg.operator_matrix(Ps, Qs, w)
    r = R.reshape(*shape[:-2], m * k, 1)
    if q == 1:
        Kd = K + lift(mpmath.mpf(lam), w) * eye(m * k, w) if lam else K
        if lam or mwlinalg.well_conditioned(Kd, w):
            y = mwlinalg.solve_refined(Kd, r)
            if y is not None:
                return y.reshape(*y.shape[:-2], m, k)
    Kq = mwlinalg.psd_power(K, q, lam, strict, lambda rank: _singular(label, K.shape, rank))
    y = Kq @ r
    return y.reshape(*y.shape[:-2], m, k)


_psd_inv_power = kernel("_psd_inv_power", _psd_inv_power_array, _psd_inv_power_mp, _psd_inv_power_mw)
_sqrt_psd = kernel("_sqrt_psd", _sqrt_psd_array, _sqrt_psd_mp, _sqrt_psd_mw)
_operator_inv_power = kernel("_operator_inv_power", _operator_inv_power_array, _operator_inv_power_mp,
                             _operator_inv_power_mw)
