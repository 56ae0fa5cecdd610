"""Constants and reshapes that generated code builds in the dtype and device of its arguments.

``_eye(n)`` = I_n, ``_zeros(r, c)`` = 0, ``_ones(r, c)`` = 1 1ᵀ, ``_broadcast(b, m)`` = b 1ᵀ and
``_trace(a)`` = tr a, each on NumPy/array-API arrays, object arrays of mpf and multi-word arrays.
"""

from __future__ import annotations

import numpy as np

from .multiword.array import diagonal, eye, tree_sum, zeros

__all__ = ["HELPERS"]


def _eye(n: int, xp, like):
    if getattr(like, "__curvsym_multiword__", False):
        return eye(n, like.w)
    if getattr(like, "dtype", None) == object:
        return np.eye(n, dtype=object)
    kw = {"dtype": like.dtype}
    dev = getattr(like, "device", None)
    if dev is not None and xp is not np:
        kw["device"] = dev
    return xp.eye(n, **kw)


def _zeros(r: int, c: int, xp, like):
    if getattr(like, "__curvsym_multiword__", False):
        return zeros((r, c), like.w)
    if getattr(like, "dtype", None) == object:
        return np.zeros((r, c), dtype=object) * like.flat[0]
    return xp.zeros((r, c), dtype=like.dtype)


def _ones(r: int, c: int, xp, like):
    """The all-ones r × c matrix 1 (bias broadcasts b1ᵀ, row sums A1) in the dtype/device of ``like``."""
    if getattr(like, "dtype", None) == object:
        return np.ones((r, c), dtype=object)
    kw = {"dtype": like.dtype}
    dev = getattr(like, "device", None)
    if dev is not None and xp is not np:
        kw["device"] = dev
    return xp.ones((r, c), **kw)


def _broadcast(b, m: int, xp):
    """b 1ᵀ for a column b (n × 1, batch axes allowed): b repeated over m columns, as a broadcast view."""
    return np.broadcast_to(b, (*b.shape[:-1], m)) if isinstance(b, np.ndarray) else \
        xp.broadcast_to(b, (*b.shape[:-1], m))


def _trace(a, xp):
    if getattr(a, "__curvsym_multiword__", False):
        return tree_sum(diagonal(a), -1)
    if getattr(a, "dtype", None) == object:
        return np.trace(a, axis1=-2, axis2=-1)
    return xp.linalg.trace(a) if hasattr(xp, "linalg") and hasattr(xp.linalg, "trace") else xp.trace(a)


HELPERS = {"_eye": _eye, "_zeros": _zeros, "_ones": _ones, "_broadcast": _broadcast, "_trace": _trace}
"""Functions every generated module may call besides the node kernels."""

