"""Validation of the arrays passed to generated code: shapes, finiteness, Σx.

Generated functions validate their inputs once per call of the public entry
point (``GeneratedFunction.__call__`` / ``validate``); hot loops call ``raw``.
"""

from __future__ import annotations

from typing import Any, Sequence

import mpmath
import numpy as np
from array_api_compat import array_namespace

from ..errors import NonFiniteError, ShapeError
from ..types import Array

__all__ = ["symmetric_covariance", "check_array", "namespace_of"]


def namespace_of(arrays: Sequence, backend: str) -> Any:
    if backend in ("numpy", "mpmath"):
        return np
    return array_namespace(*arrays)


def symmetric_covariance(S: Array) -> Array:
    """(Σ + Σᵀ)/2 after checking Σ is symmetric to 1e-10 and positive definite (NumPy or mpf arrays).

    Raises:
        ShapeError: Σx is not symmetric to 1e-10 (relative) or not positive definite.
    """
    Sf = np.asarray(np.vectorize(float, otypes=[float])(S) if getattr(S, "dtype", None) == object else S, dtype=float) \
        if isinstance(S, np.ndarray) else None
    if Sf is None:  # another array library: check through its namespace, symmetrise there
        xp = array_namespace(S)
        asym = float(xp.max(xp.abs(S - S.mT))) / max(float(xp.max(xp.abs(S))), 1e-300)
        if asym > 1e-10:
            raise ShapeError(f"Sigma_x must be symmetric; its relative asymmetry is {asym:.1e}")
        return (S + S.mT) / 2
    scale = max(float(np.max(np.abs(Sf))), 1e-300)
    asym = float(np.max(np.abs(Sf - np.swapaxes(Sf, -1, -2)))) / scale
    if asym > 1e-10:
        raise ShapeError(f"Sigma_x must be symmetric; its relative asymmetry is {asym:.1e}")
    sym = (Sf + np.swapaxes(Sf, -1, -2)) / 2
    # positive definite with smallest eigenvalue > 1e-14·max|Σ|: Cholesky of Σ − 1e-14·max|Σ|·I succeeds
    try:
        np.linalg.cholesky(sym - (1e-14 * scale) * np.eye(sym.shape[-1]))
    except np.linalg.LinAlgError:
        raise ShapeError("Sigma_x must be positive definite (an input covariance Σx ≻ 0)") from None
    return (S + np.swapaxes(S, -1, -2)) / 2


def check_array(name: str, a: Any, shape: tuple[int, ...]) -> None:
    """Raise ShapeError / NonFiniteError unless ``a`` is a finite array of ``shape``
    (leading batch axes allowed).

    Raises:
        ShapeError: ``a`` does not end in ``shape``.
        NonFiniteError: ``a`` holds NaN or infinity.
    """
    s = tuple(getattr(a, "shape", ()))
    if len(s) < len(shape) or s[len(s) - len(shape):] != tuple(shape):
        raise ShapeError(f"{name} must have shape {tuple(shape)}, got {s}")
    if type(a) is np.ndarray and a.dtype == np.float64:
        if not np.isfinite(a).all():
            raise NonFiniteError(f"{name} contains NaN or infinity")
        return
    if getattr(a, "dtype", None) == object:
        if not all(mpmath.isfinite(v) for v in np.asarray(a).flat):
            raise NonFiniteError(f"{name} contains a non-finite entry")
        return
    if isinstance(a, np.ndarray):
        if not np.all(np.isfinite(a)):
            raise NonFiniteError(f"{name} contains NaN or infinity")
        return
    xp = array_namespace(a)
    if not bool(xp.all(xp.isfinite(a))):
        raise NonFiniteError(f"{name} contains NaN or infinity")
