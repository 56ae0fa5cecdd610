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

from ..codegen import GeneratedFunction, generate_expressions
from ..errors import OptionError, PrecisionError
from ..integrate.state import max_abs, to_mp
from ..integrate.trajectory import Trajectory
from ..symbolic.derive import Model, balance, end_to_end, loss

__all__ = ["CheckResult", "conservation_residual", "check_conservation", "balance_function", "balance_residual",
           "check_balance", "check_exponential_law", "exponential_law_singular_time", "evaluate_along"]


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one numerical check: ``passed`` iff ``residual ≤ tolerance``."""

    name: str
    residual: float
    tolerance: float
    passed: bool
    details: dict = field(default_factory=dict)

    def __post_init__(self):
        """A residual is a distance or a deficit: a number ≥ 0; a NaN residual never passes.

        Raises:
            OptionError: a negative residual, or a NaN residual reported as passed.
        """
        r = float(self.residual)
        if r < 0:
            raise OptionError(f"check {self.name!r}: a residual is a distance or a deficit (≥ 0), got {r!r}")
        if math.isnan(r) and self.passed:
            raise OptionError(f"check {self.name!r}: a NaN residual cannot pass")

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


def _context(traj: Trajectory):
    return mpmath.workdps(traj.dps + 10) if traj.dps is not None else _null()


def evaluate_along(traj: Trajectory, fn: GeneratedFunction, data: Sequence) -> list[tuple]:
    """``fn(W(t), data)`` at every state of ``traj``, in the trajectory's own arithmetic
    (mpf at its precision plus 10 guard digits, or float64).  Call inside :func:`_context`."""
    if traj.dps is not None:
        d = fn.validate(traj.states[0], to_mp(data, traj.dps + 10))
    else:
        d = fn.validate(traj.states[0], tuple(np.asarray(a, dtype=float) for a in data))
    return [fn.raw(*s, *d) for s in traj.states]


def conservation_residual(traj: Trajectory, quantities: GeneratedFunction, data: Sequence) -> tuple[Any, Any]:
    """(drift, scale): drift = max_t max_i ‖Q_i(t) − Q_i(0)‖_max and scale = max(1, max_t ‖W(t)‖²_max)."""
    with _context(traj):
        values = evaluate_along(traj, quantities, data)
        drift = max(max_abs([a - b for a, b in zip(q, values[0])]) for q in values)
        scale = max(max(max_abs(s) ** 2 for s in traj.states), 1)
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
    _require_resolved(name, traj, integ / _as_float(scale), tolerance)
    return CheckResult(name, residual, float(tolerance), residual <= tolerance,
                       {"drift": _as_float(drift), "scale": _as_float(scale), "integration_error": integ,
                        "method": traj.method, "dps": traj.dps})


def _require_resolved(name: str, traj: Trajectory, relative_error: float, tolerance: float) -> None:
    if relative_error > tolerance:
        raise PrecisionError(
            f"{name}: the integration error estimate (relative {relative_error:.2e}) exceeds the tolerance "
            f"{tolerance:.1e}; raise the precision (dps) or tighten the integrator tolerance")


def exponential_law_singular_time(weights: Sequence[Any], T: Any, rate: float = 1.0,
                                  t_max: float = 2.0) -> float | None:
    """The first t ∈ (0, t_max] with det(T + (W(0) − T)e^{−rate·t}) = 0, or None.

    On a square chain, where the end-to-end map W = W_N ⋯ W_1 follows T + (W(0) − T)e^{−rate·t} (NGD: rate 1,
    Bernacchia's rule: 1, K-FAC: N), det W = 0 makes a layer singular, the Jacobian stops being onto and the
    flow blows up there: laws along that path hold on [0, t*).  det(T + (W(0) − T)s) is a polynomial of degree
    n in s = e^{−rate·t}, interpolated exactly at n + 1 nodes; its real roots in [e^{−rate·t_max}, 1) are the
    candidates.
    """
    W0 = np.asarray(weights[0], dtype=float)
    for w in weights[1:]:
        W0 = np.asarray(w, dtype=float) @ W0
    T = np.asarray(T, dtype=float)
    n = T.shape[0]
    nodes = np.linspace(0, 1, n + 1)
    poly = np.polyfit(nodes, [np.linalg.det(T + (W0 - T) * s) for s in nodes], n)
    lo = math.exp(-rate * t_max)
    roots = [r.real for r in np.roots(poly) if abs(r.imag) < 1e-12 and lo <= r.real < 1]
    return -math.log(max(roots)) / rate if roots else None


def check_exponential_law(name: str, m: Model, traj: Trajectory, data: Sequence, rate: Any,
                          tolerance: float | None = None) -> CheckResult:
    """Verify W(t) = T + (W(0) − T) e^{−rate·t} along ``traj`` (end-to-end map).

    Residual: max_t ‖W(t) − T − (W(0) − T)e^{−rate t}‖_max / ‖W(0) − T‖_max.  The
    details also report the loss-gap law L(t)/L(0) = e^{−2 rate t} (L* = 0 here).
    """
    fn = generate_expressions(m, "end_to_end_and_loss", [end_to_end(m), loss(m)],
                              backend="mpmath" if traj.dps is not None else "numpy")
    if tolerance is None:
        tolerance = 10.0 ** (-(traj.dps - 10)) if traj.dps is not None else 1e-9
    with _context(traj):
        values = evaluate_along(traj, fn, data)
        T = to_mp([data[-1]], traj.dps + 10)[0] if traj.dps is not None else np.asarray(data[-1], dtype=float)
        E0 = values[0][0] - T
        exp = mpmath.exp if traj.dps is not None else math.exp
        scale = max_abs([E0])
        L0 = values[0][1]
        worst, worst_loss = 0, 0
        for t, (W, L) in zip(traj.t, values):
            decay = exp(-rate * t)
            worst = max(worst, max_abs([W - T - E0 * decay]) / scale)
            if L0 != 0:
                worst_loss = max(worst_loss, abs(L / L0 - decay ** 2))
        residual = _as_float(worst)
        rel_err = _as_float(mpmath.mpf(traj.error_estimate)) * m.depth * max(1.0, _as_float(max(
            max_abs(s) for s in traj.states))) ** (m.depth - 1) / _as_float(scale)
    _require_resolved(name, traj, rel_err, tolerance)
    return CheckResult(name, residual, float(tolerance), residual <= tolerance,
                       {"rate": str(rate), "loss_gap_law_residual": _as_float(worst_loss),
                        "integration_error": rel_err, "method": traj.method, "dps": traj.dps})


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
