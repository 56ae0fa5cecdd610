r"""Activation kernels: σ^{(k)}(Z) entrywise, on the array API and on mpf object arrays.

Each kernel takes (Z, k, *params, xp) and returns the k-th derivative of the
activation entrywise (k ≤ 2 for the smooth ones, k ≤ 1 for the piecewise-linear
ones, whose σ'' vanishes off the kinks); σ'(0) is 0 for ReLU and α for leaky ReLU
(the left derivative, as PyTorch does).  The column functions of the softmax
cross-entropy loss are here too: ``_softmax`` (P = e^{Z}/1ᵀe^{Z}, columnwise) and
``_logsumexp`` (the row vector log 1ᵀe^{Z}).

=================  =================================================
kernel             k = 0;  k = 1;  k = 2
=================  =================================================
``_relu``          max(z, 0);  [z > 0]
``_leaky_relu``    z or αz;  1 or α
``_tanh``          tanh z;  1 − tanh² z;  −2 tanh z (1 − tanh² z)
``_softplus``      β⁻¹ log(1 + e^{βz});  s(βz);  β s(1 − s)
=================  =================================================
"""

from __future__ import annotations

from typing import Callable

import mpmath
import numpy as np

from .dispatch import kernel

__all__ = ["relu", "leaky_relu", "tanh", "softplus", "softmax", "logsumexp"]


def _mp_map(f: Callable, Z: np.ndarray) -> np.ndarray:
    return np.vectorize(f, otypes=[object])(Z) if Z.size else Z.copy()


def _relu_array(Z, k, xp):
    """max(Z, 0) (k = 0), [Z > 0] (k = 1), entrywise."""
    if k == 0:
        return np.maximum(Z, 0) if xp is np else xp.where(Z > 0, Z, xp.zeros_like(Z))
    return xp.astype(Z > 0, Z.dtype) if xp is not np else (Z > 0).astype(Z.dtype)


def _relu_mp(Z, k, xp):
    zero, one = mpmath.mpf(0), mpmath.mpf(1)
    if k == 0:
        return _mp_map(lambda z: z if z > 0 else zero, Z)
    return _mp_map(lambda z: one if z > 0 else zero, Z)


def _leaky_relu_array(Z, k, alpha, xp):
    """Z or αZ (k = 0), 1 or α (k = 1), by the sign of each entry."""
    if k == 0:
        return xp.where(Z > 0, Z, alpha * Z)
    return xp.where(Z > 0, xp.ones_like(Z), alpha * xp.ones_like(Z))


def _leaky_relu_mp(Z, k, alpha, xp):
    alpha = mpmath.mpf(alpha)
    if k == 0:
        return _mp_map(lambda z: z if z > 0 else alpha * z, Z)
    return _mp_map(lambda z: mpmath.mpf(1) if z > 0 else alpha, Z)


def _tanh_array(Z, k, xp):
    """tanh Z, 1 − tanh² Z, −2 tanh Z (1 − tanh² Z) for k = 0, 1, 2."""
    t = xp.tanh(Z)
    if k == 0:
        return t
    u = 1 - t * t
    return u if k == 1 else -2 * t * u


def _tanh_mp(Z, k, xp):
    def f(z):
        t = mpmath.tanh(z)
        return t if k == 0 else (1 - t * t if k == 1 else -2 * t * (1 - t * t))
    return _mp_map(f, Z)


def _softplus_array(Z, k, beta, xp):
    """β⁻¹ log(1 + e^{βZ}), s(βZ), β s(1 − s) for k = 0, 1, 2 (s the logistic function), overflow-free."""
    x = beta * Z
    if k == 0:
        a = xp.abs(x)
        return (xp.where(x > 0, x, xp.zeros_like(x)) + xp.log1p(xp.exp(-a))) / beta
    e = xp.exp(-xp.abs(x))
    s = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return s if k == 1 else beta * s * (1 - s)


def _softplus_mp(Z, k, beta, xp):
    beta = mpmath.mpf(beta)

    def f(z):
        x = beta * z
        if k == 0:
            return (max(x, 0) + mpmath.log1p(mpmath.exp(-abs(x)))) / beta
        s = 1 / (1 + mpmath.exp(-x))
        return s if k == 1 else beta * s * (1 - s)
    return _mp_map(f, Z)


def _softmax_array(Z, xp):
    """Columnwise softmax e^{Z}/1ᵀe^{Z} (the column maximum subtracted first)."""
    E = xp.exp(Z - xp.max(Z, axis=-2, keepdims=True))
    return E / xp.sum(E, axis=-2, keepdims=True)


def _softmax_mp(Z, xp):
    out = np.empty(Z.shape, dtype=object)
    for b in range(Z.shape[1]):
        col = [Z[a, b] for a in range(Z.shape[0])]
        c = max(col)
        e = [mpmath.exp(v - c) for v in col]
        s = mpmath.fsum(e)
        for a in range(Z.shape[0]):
            out[a, b] = e[a] / s
    return out


def _logsumexp_array(Z, xp):
    """The row vector log 1ᵀe^{Z} (columnwise, the column maximum subtracted first)."""
    c = xp.max(Z, axis=-2, keepdims=True)
    return c + xp.log(xp.sum(xp.exp(Z - c), axis=-2, keepdims=True))


def _logsumexp_mp(Z, xp):
    out = np.empty((1, Z.shape[1]), dtype=object)
    for b in range(Z.shape[1]):
        col = [Z[a, b] for a in range(Z.shape[0])]
        c = max(col)
        out[0, b] = c + mpmath.log(mpmath.fsum(mpmath.exp(v - c) for v in col))
    return out


_relu = kernel("_relu", _relu_array, _relu_mp)
_leaky_relu = kernel("_leaky_relu", _leaky_relu_array, _leaky_relu_mp)
_tanh = kernel("_tanh", _tanh_array, _tanh_mp)
_softplus = kernel("_softplus", _softplus_array, _softplus_mp)
_softmax = kernel("_softmax", _softmax_array, _softmax_mp)
_logsumexp = kernel("_logsumexp", _logsumexp_array, _logsumexp_mp)

relu, leaky_relu, tanh, softplus, softmax, logsumexp = _relu, _leaky_relu, _tanh, _softplus, _softmax, _logsumexp
