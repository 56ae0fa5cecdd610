r"""Entrywise kernels of the adaptive rules (RMSProp, Adam): k-th derivatives, on the array API and on mpf arrays.

=================  =====================================================================
kernel             k = 0;  k = 1;  k = 2   (u = √s)
=================  =====================================================================
``_inv_root``      1/(u + ε);  −1/(2u(u + ε)²);  (3u + ε)/(4u³(u + ε)³)
``_reciprocal``    1/x;  −1/x²;  2/x³
=================  =====================================================================

``_inv_root(S, k, ε)`` is the per-coordinate scale of RMSProp and Adam, 1/(√S + ε)
entrywise; ``_reciprocal`` divides by the bias-correction factors 1 − β^k.
"""

from __future__ import annotations

import mpmath
import numpy as np

from .dispatch import kernel

__all__ = ["inv_root", "reciprocal"]


def _inv_root_array(S, k, eps, xp):
    """1/(√S + ε) and its first two derivatives in S, entrywise."""
    u = xp.sqrt(S)
    d = u + eps
    if k == 0:
        return 1 / d
    if k == 1:
        return -1 / (2 * u * d * d)
    return (3 * u + eps) / (4 * u * u * u * d * d * d)


def _inv_root_mp(S, k, eps, xp):
    eps = mpmath.mpf(eps)

    def f(s):
        u = mpmath.sqrt(s)
        d = u + eps
        return 1 / d if k == 0 else (-1 / (2 * u * d * d) if k == 1 else (3 * u + eps) / (4 * u ** 3 * d ** 3))
    return np.vectorize(f, otypes=[object])(S) if S.size else S.copy()


def _reciprocal_array(X, k, xp):
    """1/X, −1/X², 2/X³ entrywise."""
    return 1 / X if k == 0 else (-1 / (X * X) if k == 1 else 2 / (X * X * X))


def _reciprocal_mp(X, k, xp):
    f = {0: lambda x: 1 / x, 1: lambda x: -1 / (x * x), 2: lambda x: 2 / (x * x * x)}[k]
    return np.vectorize(f, otypes=[object])(X) if X.size else X.copy()


inv_root = kernel("_inv_root", _inv_root_array, _inv_root_mp)
reciprocal = kernel("_reciprocal", _reciprocal_array, _reciprocal_mp)
