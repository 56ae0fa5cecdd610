"""Checks of invariants along integrated trajectories.

A check measures a residual, compares it with a stated tolerance and returns a
:class:`CheckResult` with the verdict.  A check refuses to verify when the
integration itself was not accurate enough to resolve the tolerance
(:class:`~curvsym.errors.PrecisionError`): a "verified" must mean something.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import mpmath
import numpy as np

from .codegen import GeneratedFunction, generate_expressions
from .derive import Model, balance
from .errors import PrecisionError
from .integrate.state import max_abs, to_mp
from .integrate.trajectory import Trajectory

__all__ = ["CheckResult", "conservation_residual", "check_conservation", "balance_function", "balance_residual",
           "check_balance"]


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one numerical check: ``passed`` iff ``residual ≤ tolerance``."""

    name: str
    residual: float
    tolerance: float
    passed: bool
    details: dict = field(default_factory=dict)

    @property
    def digits(self) -> float:
        """−log10(residual): the number of digits to which the claim held."""
        return math.inf if self.residual == 0 else -math.log10(self.residual)

    @property
    def verdict(self) -> str:
        return "verified" if self.passed else "FAILED"

    def __str__(self) -> str:
        return (f"{self.name}: residual {self.residual:.3e} (tolerance {self.tolerance:.1e}, "
                f"{self.digits:.1f} digits) — {self.verdict}")


def _as_float(x: Any) -> float:
    return float(mpmath.mpf(x)) if not isinstance(x, float) else x


def conservation_residual(traj: Trajectory, quantities: GeneratedFunction, data: Sequence) -> tuple[Any, Any]:
    """(drift, scale): drift = max_t max_i ‖Q_i(t) − Q_i(0)‖_max and scale = max(1, max_t ‖W(t)‖²_max).

    Q is evaluated in the trajectory's own arithmetic (mpf at its precision, or float).
    """
    high = traj.dps is not None
    ctx = mpmath.workdps(traj.dps + 10) if high else _null()
    with ctx:
        d = to_mp(data, traj.dps + 10) if high else tuple(np.asarray(a, dtype=float) for a in data)
        q0 = quantities.raw(*traj.states[0], *d)
        drift = mpmath.mpf(0) if high else 0.0
        scale = mpmath.mpf(1) if high else 1.0
        for s in traj.states:
            q = quantities.raw(*s, *d)
            drift = max(drift, max_abs([a - b for a, b in zip(q, q0)]))
            scale = max(scale, max_abs(s) ** 2)
        return drift, scale


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def check_conservation(name: str, traj: Trajectory, quantities: GeneratedFunction, data: Sequence,
                       tolerance: float | None = None) -> CheckResult:
    """Verify that every Q_i is constant along ``traj`` to relative ``tolerance``.

    The residual is drift/scale (see :func:`conservation_residual`).  Default
    tolerance: 10^−(dps−10) on the high-precision path, 1e-9 in double.  If the
    trajectory's own error estimate (relative) exceeds the tolerance the check
    cannot decide and raises :class:`PrecisionError`.
    """
    drift, scale = conservation_residual(traj, quantities, data)
    if tolerance is None:
        tolerance = 10.0 ** (-(traj.dps - 10)) if traj.dps is not None else 1e-9
    residual = _as_float(drift / scale)
    integ = _as_float(mpmath.mpf(traj.error_estimate)) * 2 * math.sqrt(_as_float(scale))
    if integ / _as_float(scale) > tolerance:
        raise PrecisionError(
            f"{name}: the integration error estimate {integ:.2e} exceeds the tolerance {tolerance:.1e}; "
            "raise the precision (dps) or tighten the integrator tolerance")
    return CheckResult(name, residual, float(tolerance), residual <= tolerance,
                       {"drift": _as_float(drift), "scale": _as_float(scale), "integration_error": integ,
                        "method": traj.method, "dps": traj.dps})


def balance_function(m: Model, backend: str = "mpmath") -> GeneratedFunction:
    """Generated ``(W, data) ↦ (C_1, …, C_{N−1})`` for ``m``."""
    return generate_expressions(m, "balance", balance(m), backend=backend)


def balance_residual(m: Model, traj: Trajectory, data: Sequence) -> float:
    """max_t max_i ‖C_i(t) − C_i(0)‖ / max(1, ‖W‖²): the relative balance drift."""
    backend = "mpmath" if traj.dps is not None else "numpy"
    drift, scale = conservation_residual(traj, balance_function(m, backend), data)
    return _as_float(drift / scale)


def check_balance(m: Model, traj: Trajectory, data: Sequence, tolerance: float | None = None,
                  name: str = "balance C_i conserved") -> CheckResult:
    """Check conservation of C_i = W_{i+1}ᵀW_{i+1} − W_iW_iᵀ along ``traj``."""
    backend = "mpmath" if traj.dps is not None else "numpy"
    return check_conservation(name, traj, balance_function(m, backend), data, tolerance)
