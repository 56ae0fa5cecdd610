r"""Multi-word linear algebra for the node kernels: refined solves and refined symmetric eigen-decompositions.

Both start from float64 LAPACK and reach the word precision u_w = 2^{−53w} by
refinement with multi-word residuals (:class:`~curvsym.kernels.multiword.array.MWArray`):

* **Solve** K X = B (iterative refinement, Wilkinson/Moler): X₀ = K₀⁻¹B with the
  float64 inverse of the leading word, then X ← X + K₀⁻¹ fl(B − K X), the
  residual B − K X computed in w words.  The error contracts by
  ρ ≈ κ(K)·2⁻⁵³ per sweep; refinement stops when the correction is below
  4u_w‖X‖ and fails (returns None) after 2w + 6 sweeps.
* **Symmetric eigen-decomposition** (Ogita & Aishima 2018, *Japan J. Indust.
  Appl. Math.* 35): from X̂ = eigh(A₀), one sweep computes in w words
  R = I − X̂ᵀX̂, S = X̂ᵀAX̂, λ̃_i = s_ii/(1 − r_ii), δ = 2(‖S − D̃‖ + ‖A‖‖R‖), and
  in float64 Ẽ_ij = (s_ij + λ̃_j r_ij)/(λ̃_j − λ̃_i) for |λ̃_i − λ̃_j| > δ,
  Ẽ_ij = r_ij/2 otherwise; X̂ ← X̂ + X̂Ẽ.  Convergence is quadratic for
  separated eigenvalues; clustered ones keep an orthonormalised basis of their
  invariant subspace.  Then Q = X̂(I + R/2 + 3R²/8) is orthonormal to O(‖R‖³),
  B = QᵀAQ = diag(d) + F with d in w words and F small (float64).
* **Spectral functions** f(A) = Q [diag f(d) + L] Qᵀ with the first-order
  Daleckii–Krein term L_ij = f[d_i, d_j] F_ij (divided differences; f′ for
  close eigenvalues), which absorbs what refinement leaves inside clusters; the
  neglected second-order term is O(f″‖F‖²).

Rank decisions use the relative cutoff 10^{−⌊digits/2⌋} of the w-word format
(:func:`~curvsym.kernels.multiword.array.rcond`; 10⁻¹⁵ for double-double), the same
semantics as the mpmath kernels' 10^{−dps/2}.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import mpmath
import numpy as np

from . import compiled
from .array import MWArray, diag_embed, diagonal, eye, from_mpf, lift, rcond, reciprocal

__all__ = ["solve_refined", "eigh_refined", "spectral_function", "psd_power", "operator_matrix"]


def _fro(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.sum(x * x, axis=(-2, -1), keepdims=True))


def solve_refined(K: MWArray, B: MWArray) -> MWArray | None:
    """K⁻¹B to the word precision by iterative refinement; None when it does not converge (K near singular)."""
    w = K.w
    K0 = K.hi
    with np.errstate(all="ignore"):
        try:
            Kinv = np.linalg.inv(K0)
        except np.linalg.LinAlgError:
            return None
        if not np.all(np.isfinite(Kinv)):
            return None
        tol = 4 * 2.0 ** (-53 * w)
        if w == 3 and isinstance(K0, np.ndarray) and isinstance(B.hi, np.ndarray) and compiled.available():
            got = compiled.td_solve_refined(K.operand, B.operand, Kinv, 2 * w + 6, tol)  # the same iteration, in C
            if got is not NotImplemented:
                return None if got is None else MWArray(packed=got)
        X = lift(Kinv @ B.float(), w)
        for _ in range(2 * w + 6):
            r = (B - K @ X).float()
            dX = Kinv @ r
            if not np.all(np.isfinite(dX)):
                return None
            X = X + dX
            size = np.max(np.abs(X.hi))
            if np.max(np.abs(dX)) <= tol * max(size, 1e-300):
                return X
    return None


def eigh_refined(A: MWArray, sweeps: int | None = None) -> tuple[MWArray, MWArray, np.ndarray]:
    """(Q, d, F) with A = Q (diag d + F) Qᵀ, Q orthonormal to the word precision, F small (float64, zero diagonal)."""
    w = A.w
    n = A.shape[-1]
    A = (A + A.mT) * 0.5
    d64, X64 = np.linalg.eigh(A.hi)
    X = lift(X64, w)
    I = eye(n, w)
    normA = np.max(np.abs(d64), axis=-1)[..., None, None]
    sweeps = (1 + math.ceil(math.log2(w))) if sweeps is None else sweeps
    for _ in range(sweeps):
        R = (I - X.mT @ X).float()
        S = X.mT @ (A @ X)
        Sd = diagonal(S)
        r = np.diagonal(R, axis1=-2, axis2=-1)
        lam = (Sd + Sd.hi * (r + r * r)).float()
        S64 = S.float()
        off = S64 - np.einsum("...i,ij->...ij", np.diagonal(S64, axis1=-2, axis2=-1), np.eye(n))
        delta = 2 * (_fro(off) + normA * _fro(R))
        gap = lam[..., None, :] - lam[..., :, None]  # λ_j − λ_i at [i, j]
        sep = np.abs(gap) > delta
        with np.errstate(divide="ignore", invalid="ignore"):
            E = np.where(sep, (S64 + lam[..., None, :] * R) / np.where(sep, gap, 1.0), R / 2)
        XE = X.words[0] @ E
        for x in X.words[1:]:
            XE = XE + x @ E
        X = X + XE
    R = (I - X.mT @ X).float()
    C = R / 2 + 0.375 * (R @ R)
    QC = X.words[0] @ C
    for x in X.words[1:]:
        QC = QC + x @ C
    Q = X + QC
    B = Q.mT @ (A @ Q)
    d = diagonal(B)
    F = B.float()
    F = (F + np.swapaxes(F, -1, -2)) / 2
    idx = np.arange(n)
    F[..., idx, idx] = 0.0
    return Q, d, F


def spectral_function(A: MWArray, f: Callable[[MWArray], MWArray], fprime: Callable[[np.ndarray], np.ndarray],
                      keep: Callable[[np.ndarray], np.ndarray] | None = None, then: Callable | None = None) -> MWArray:
    """f(A) for symmetric A (see the module docstring); ``keep(d)`` masks eigenvalues (f = 0 elsewhere).

    ``then(d64)`` (optional) is called with the float64 eigenvalues before f, for checks that raise.
    """
    Q, d, F = eigh_refined(A)
    if then is not None:
        then(d.hi)
    mask = np.ones(d.shape, dtype=bool) if keep is None else keep(d.hi)
    fd = f(d)
    fd = MWArray(tuple(np.where(mask, x, 0.0) for x in fd.words))
    fv, dv = fd.float(), d.hi
    di, dj = dv[..., :, None], dv[..., None, :]
    fi, fj = fv[..., :, None], fv[..., None, :]
    scale = np.maximum(np.abs(di), np.abs(dj))
    close = np.abs(di - dj) <= 1e-8 * scale
    both = mask[..., :, None] & mask[..., None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        fp = fprime((di + dj) / 2)
        dd = np.where(close, np.where(both, fp, 0.0), (fi - fj) / np.where(close, 1.0, di - dj))
    dd = np.where(np.isfinite(dd), dd, 0.0)
    M = diag_embed(fd) + dd * F
    return Q @ M @ Q.mT


# --------------------------------------------------------------------------- scalar functions of eigenvalues

def _inv_sqrt(d: MWArray) -> MWArray:
    """d^{−½} (d > 0) by Newton's iteration r ← r + r(1 − d r²)/2 from the float64 value."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r0 = 1.0 / np.sqrt(np.where(d.hi > 0, d.hi, 1.0))
    r = lift(r0, d.w)
    for _ in range(max(1, math.ceil(math.log2(d.w)))):
        r = r + (r * (1.0 - d * (r * r))) * 0.5
    return r


def _power(d: MWArray, p: Any) -> MWArray:
    """d^p elementwise for d > 0 (p = −1, −½, ½ by Newton; other p through mpmath at the word precision)."""
    if p == -1:
        return reciprocal(MWArray(tuple(np.where(d.hi > 0, x, 1.0) for x in d.words)))
    if p == mpmath.mpf(-0.5):
        return _inv_sqrt(d)
    if p == mpmath.mpf(0.5):
        return d * _inv_sqrt(d)
    w = d.w
    with mpmath.workprec(53 * w + 20):
        vals = d.to_mpf()
        out = np.empty(vals.shape, dtype=object)
        pp = mpmath.mpf(p)
        for i, v in enumerate(vals.flat):
            out.flat[i] = v ** pp if v > 0 else mpmath.mpf(0)
        return from_mpf(out, w)


def psd_power(A: MWArray, q: Any, lam: Any, strict: bool, on_singular: Callable[[int], Exception]) -> MWArray:
    """(A + λI)^{−q} (λ > 0) or (A⁺)^q (λ = 0, eigenvalues above the cutoff) of symmetric PSD A.

    Raises:
        SingularPreconditionerError: (through ``on_singular``) ``strict`` and an eigenvalue below the cutoff.
    """
    w = A.w
    q = mpmath.mpf(q)
    lam = mpmath.mpf(lam)
    fq = float(q)
    if lam:
        lam_mw = lift(mpmath.mpf(lam), w)

        def f(d):
            dp = MWArray(tuple(np.where(d.hi > 0, x, 0.0) for x in d.words)) + lam_mw
            return _power(dp, -q)

        def fprime(x):
            return -fq * (np.maximum(x, 0) + float(lam)) ** (-fq - 1)

        return spectral_function(A, f, fprime)
    cut = rcond(w)

    def keep(d64):
        top = np.max(np.abs(d64), axis=-1, keepdims=True)
        return (d64 > cut * top) & (d64 > 0)

    def check(d64):
        if strict:
            k = keep(d64)
            if not np.all(k):
                raise on_singular(int(np.min(np.sum(k, axis=-1))))

    def fprime(x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return -fq * np.where(x > 0, x, np.inf) ** (-fq - 1)

    return spectral_function(A, lambda d: _power(d, -q), fprime, keep, check)


def sqrt_psd(A: MWArray) -> MWArray:
    """A^{½} of symmetric PSD A (negative round-off eigenvalues clipped to 0)."""
    def f(d):
        dp = MWArray(tuple(np.where(d.hi > 0, x, 0.0) for x in d.words))
        s = _power(dp, mpmath.mpf(0.5))
        return MWArray(tuple(np.where(d.hi > 0, x, 0.0) for x in s.words))

    def fprime(x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return 0.5 / np.sqrt(np.where(x > 0, x, np.inf))

    return spectral_function(A, f, fprime, keep=lambda d64: d64 > 0)


@functools.lru_cache(maxsize=64)
def _sqrt_cached(key: tuple) -> MWArray:
    w, shape, blobs = key
    A = MWArray(tuple(np.frombuffer(b, dtype=np.float64).reshape(shape) for b in blobs))
    out = sqrt_psd(A)
    packed = np.stack(out.words)
    packed.setflags(write=False)
    return MWArray(packed=packed)


def sqrt_psd_cached(A: MWArray) -> MWArray:
    """A^{½}, memoised on the exact words (Σx^{½} depends only on the data)."""
    return _sqrt_cached((A.w, A.shape, tuple(np.ascontiguousarray(x).tobytes() for x in A.words)))


def operator_matrix(Ps: Any, Qs: Any, w: int) -> MWArray:
    """The (mk × mk) matrix of 𝒦(Y) = Σ_e P_e Y Q_e on row-major vec(Y), in w words (batch axes broadcast)."""
    if w == 3 and compiled.available():
        P3, Q3 = [lift(P, w) for P in Ps], [lift(Q, w) for Q in Qs]
        if all(isinstance(x.hi, np.ndarray) for x in P3 + Q3):
            return MWArray(packed=compiled.td_kron_sum([x.operand for x in P3], [x.operand for x in Q3]))  # the same, in C
    K = None
    for P, Q in zip(Ps, Qs):
        P, Q = lift(P, w), lift(Q, w)
        term = P[..., :, None, :, None] * Q[..., None, :, None, :]
        K = term if K is None else K + term
    m, k = Ps[0].shape[-1], Qs[0].shape[-1]
    return K.reshape(*K.shape[:-4], m * k, m * k)


def well_conditioned(K: MWArray, w: int) -> bool:
    """True when every (batch member of) symmetric K has λ_min > 10³ · cutoff · λ_max in float64."""
    ev = np.linalg.eigvalsh((K.hi + np.swapaxes(K.hi, -1, -2)) / 2)
    top = np.max(np.abs(ev), axis=-1)
    return bool(np.all(ev[..., 0] > 1e3 * rcond(w) * top))
