"""Exact conversions between mpmath's mpf and python-flint's arb balls.

``to_arb(v)`` is the exact ball {v} (an mpf's mantissa fits in any working precision);
``to_mpf(e)`` is the midpoint of a ball as an exact mpf.  python-flint is a core
dependency, but :func:`flint_or_none` lets the mpmath routes run where it is missing.
"""

from __future__ import annotations

import importlib
from typing import Any

import mpmath
import numpy as np

__all__ = ["flint_or_none", "to_arb", "to_mpf"]


def flint_or_none() -> Any:
    """The ``flint`` module, or None where python-flint is not installed."""
    try:
        return importlib.import_module("flint")
    except ImportError:
        return None


def to_arb(v: Any) -> Any:
    """The exact arb ball of an integer or mpf ``v``."""
    import flint  # deferred: python-flint is imported only by the routes that use it
    if isinstance(v, (int, np.integer)):
        return flint.arb(int(v))
    sign, man, exp, _ = mpmath.mpf(v)._mpf_
    if not man:
        return flint.arb(0)
    man = -int(man) if sign else int(man)
    q = flint.fmpq(man * 2 ** exp) if exp >= 0 else flint.fmpq(man, 2 ** (-exp))
    return flint.arb(q)  # exact: the mantissa fits in the working precision


def to_mpf(e: Any) -> mpmath.mpf:
    """The midpoint of an arb ball as an exact mpf."""
    man, exp = e.mid().man_exp()
    return mpmath.mpf((int(man), int(exp)))
