"""States of a learning flow: tuples of layer matrices, and their conversions.

A state is a tuple ``(W_1, …, W_N)`` of 2-D arrays: float64 NumPy arrays on the
double path, NumPy object arrays of ``mpmath.mpf`` on the high-precision path.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import mpmath
import numpy as np

from ..errors import NonFiniteError, OptionError, PrecisionError
from ..types import Times
from .budget import check_dps

State = tuple


def to_mp(arrays: Sequence, dps: int) -> tuple:
    """Object arrays of ``mpf`` at ``dps`` digits (floats convert exactly; strings parse)."""
    with mpmath.workdps(dps):
        out = []
        for a in arrays:
            a = np.asarray(a, dtype=object)
            out.append(np.vectorize(lambda v: mpmath.mpf(v), otypes=[object])(a) if a.size else a)
        return tuple(out)


def to_float(arrays: Sequence) -> tuple:
    """float64 copies of (possibly mpf) arrays."""
    return tuple(np.asarray(np.vectorize(float, otypes=[float])(np.asarray(a, dtype=object)), dtype=float)
                 if np.asarray(a).dtype == object else np.asarray(a, dtype=float) for a in arrays)


def max_abs(arrays: Sequence) -> Any:
    """max_ij |a_ij| over all arrays (mpf for object arrays)."""
    m = 0
    for a in arrays:
        if a.dtype == object:
            for v in a.flat:
                av = abs(v)
                if av > m:
                    m = av
        else:
            m = max(m, float(np.max(np.abs(a)))) if a.size else m
    return m


def check_finite_state(arrays: Sequence, what: str = "state") -> None:
    """Check that every array of a state is finite (float or mpf).

    Raises:
        NonFiniteError: an array holds NaN or infinity.
    """
    for k, a in enumerate(arrays):
        if a.dtype == object:
            if not all(mpmath.isfinite(v) for v in a.flat):
                raise NonFiniteError(f"{what}: array {k} contains a non-finite entry")
        elif not np.all(np.isfinite(a)):
            raise NonFiniteError(f"{what}: array {k} contains NaN or infinity")


def working_dps(dps: int, guard: int = 10) -> int:
    """Working precision for a result wanted to ``dps`` digits.

    Raises:
        PrecisionError: high-precision integration needs dps ≥ 15 (use the double path below that), got …;
            or dps beyond :data:`curvsym.integrate.budget.MAX_DPS`.
    """
    if isinstance(dps, bool) or not isinstance(dps, int) or dps < 15:
        raise PrecisionError(
            f"high-precision integration needs dps ≥ 15 (use the double path below that), got {dps!r}")
    check_dps(dps)
    return dps + guard


def flatten(arrays: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.ravel(a) for a in arrays])


def unflattener(shapes: Sequence[tuple[int, int]]) -> Callable:
    """Return ``split(vector) -> tuple of views`` with the given shapes."""
    sizes = [int(np.prod(s)) for s in shapes]
    offsets = np.cumsum([0] + sizes)

    def split(y: np.ndarray) -> tuple:
        return tuple(y[offsets[k]:offsets[k + 1]].reshape(s) for k, s in enumerate(shapes))

    return split


def output_times(t_eval: Times) -> list:
    """``t_eval`` as mpf at the ambient precision, checked non-empty, finite and non-decreasing.

    Raises:
        OptionError: t_eval must be a non-empty, finite, non-decreasing sequence of times.
    """
    ts = [mpmath.mpf(t) for t in t_eval]
    if not ts or any(b < a for a, b in zip(ts[:-1], ts[1:])) or not all(mpmath.isfinite(t) for t in ts):
        raise OptionError("t_eval must be a non-empty, finite, non-decreasing sequence of times")
    return ts


def local_tolerance(tol: Any, dps: int, resolvable_digits: int) -> Any:
    """The local error tolerance (default 10^−(dps+2)); PrecisionError if finer than 10^−resolvable_digits.

    Raises:
        PrecisionError: tolerance … is below what the working precision can resolve (… digits).
    """
    tol = mpmath.mpf(10) ** (-(dps + 2)) if tol is None else mpmath.mpf(tol)
    if tol < mpmath.mpf(10) ** (-resolvable_digits):
        raise PrecisionError(f"tolerance {mpmath.nstr(tol, 3)} is below what the working precision can resolve "
                             f"({resolvable_digits} digits)")
    return tol
