r"""Double-precision integration: the Dormand–Prince 8(5,3) method (DOP853) as a stepper.

The Butcher tableau, error estimators and dense-output coefficients are SciPy's
(Hairer, Nørsett & Wanner, *Solving ODEs I*, §II.10); the step control follows
SciPy's ``solve_ivp``: with sc = atol + rtol·max(|y|, |y_new|) and the two
embedded estimates e₅ = Σ E5_i K_i / sc, e₃ = Σ E3_i K_i / sc,

    err = |h| ‖e₅‖² / sqrt((‖e₅‖² + 0.01 ‖e₃‖²) · n),

a step is accepted when err < 1 and h ← h · min(10, 0.9 err^{−1/8}) (rejected:
h ← h · max(0.2, 0.9 err^{−1/8})).  Dense output is the 7th-order interpolant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np
from scipy.integrate._ivp import dop853_coefficients as dop

from ..errors import DivergenceError, OptionError
from ..types import Data, Params, State, Time, Times, VectorField
from .solver import Solver, integrate, solvers
from .stepper import AbstractStepper, Step
from .trajectory import Trajectory

__all__ = ["DOP853", "DOP853Solver", "integrate_double"]

_NS = dop.N_STAGES
_A, _B, _C = dop.A[:_NS, :_NS], dop.B, dop.C[:_NS]
_A_EXTRA, _C_EXTRA = dop.A[_NS + 1:], dop.C[_NS + 1:]


def _rms(x: np.ndarray) -> float:
    return float(np.linalg.norm(x)) / max(x.size, 1) ** 0.5


@dataclass(frozen=True)
class _DOPState:
    h: float
    f: np.ndarray  # f(y) at the current point (first same as last)
    n_rhs: int


class DOP853(AbstractStepper):
    """DOP853 on a flat float64 vector with SciPy's error control; a fixed ``step_size`` disables it."""

    name: ClassVar[str] = "DOP853"
    dense_output: ClassVar[bool] = True

    def __init__(self, rtol: float = 1e-12, atol: float = 1e-12, step_size: float | None = None):
        self.rtol, self.atol = rtol, atol
        self.step_size = step_size
        self.adaptive = step_size is None

    @property
    def order(self) -> int:
        return 8

    def size(self, y: State) -> float:
        return float(np.max(np.abs(y))) if y.size else 0.0

    def init(self, field: Callable, t0: Time, y0: State) -> _DOPState:
        f0 = field(y0)
        return _DOPState(self.step_size or 0.0, f0, 1)

    def _initial_step(self, field, t, y, f0, t_max) -> tuple[float, int]:
        """Hairer–Nørsett–Wanner's starting step (SciPy's ``select_initial_step``, order 7 estimator)."""
        interval = abs(t_max - t)
        if y.size == 0 or interval == 0:
            return interval, 0
        scale = self.atol + np.abs(y) * self.rtol
        d0, d1 = _rms(y / scale), _rms(f0 / scale)
        h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
        h0 = min(h0, interval)
        f1 = field(y + h0 * f0)
        d2 = _rms((f1 - f0) / scale) / h0
        h1 = max(1e-6, h0 * 1e-3) if d1 <= 1e-15 and d2 <= 1e-15 else (0.01 / max(d1, d2)) ** (1 / 8)
        return min(100 * h0, h1, interval), 1

    def _stages(self, field, y, f, h):
        K = np.empty((dop.N_STAGES_EXTENDED, y.size), dtype=y.dtype)
        K[0] = f
        for s, (a, c) in enumerate(zip(_A[1:], _C[1:]), start=1):
            K[s] = field(y + np.dot(K[:s].T, a[:s]) * h)
        y_new = y + h * np.dot(K[:_NS].T, _B)
        K[_NS] = field(y_new)
        return y_new, K

    def step(self, field: Callable, t: Time, y: State, t_max: Time, state: _DOPState) -> Step:
        """One accepted DOP853 step of at most t_max − t (rejected trials are retried with a smaller h).

        Raises:
            DivergenceError: the step size collapsed (finite-time blow-up).
        """
        h, n_rhs = state.h, state.n_rhs
        if h == 0.0:
            h, used = self._initial_step(field, t, y, state.f, t_max)
            n_rhs += used
        rejected = False
        min_step = 10 * abs(np.nextafter(t, np.inf) - t)
        while True:
            if h < min_step:
                raise DivergenceError(f"DOP853: step size collapsed to {h:.3g} at t = {t:.10g}: the solution "
                                      "appears to blow up in finite time", float(t))
            t_new = t_max if t + h >= t_max else t + h
            hh = t_new - t
            y_new, K = self._stages(field, y, state.f, hh)
            n_rhs += _NS
            if self.step_size is not None:
                err, factor = 0.0, 1.0
                break
            scale = self.atol + np.maximum(np.abs(y), np.abs(y_new)) * self.rtol
            e5 = np.dot(K[:_NS + 1].T, dop.E5) / scale
            e3 = np.dot(K[:_NS + 1].T, dop.E3) / scale
            n5, n3 = float(np.dot(e5, e5)), float(np.dot(e3, e3))
            err = 0.0 if n5 == 0 and n3 == 0 else abs(hh) * n5 / np.sqrt((n5 + 0.01 * n3) * y.size)
            if not np.isfinite(err):
                h *= 0.2
                rejected = True
                continue
            if err < 1:
                factor = 10.0 if err == 0 else min(10.0, 0.9 * err ** (-1 / 8))
                if rejected:
                    factor = min(1.0, factor)
                break
            h *= max(0.2, 0.9 * err ** (-1 / 8))
            rejected = True
        h_next = self.step_size or hh * factor

        def dense(s, t0=t, y0=y, K=K, hh=hh, y1=y_new):
            return _dense(field, t0, y0, y1, K, hh, s)

        return Step(t_new, y_new, err, True, _DOPState(h_next, K[_NS], n_rhs), dense)


def _dense(field, t0, y0, y1, K, h, s) -> np.ndarray:
    """The 7th-order DOP853 interpolant at s ∈ [t0, t0 + h] (three extra stages)."""
    K = K.copy()
    for j, (a, c) in enumerate(zip(_A_EXTRA, _C_EXTRA), start=_NS + 1):
        K[j] = field(y0 + np.dot(K[:j].T, a[:j]) * h)
    F = np.empty((dop.INTERPOLATOR_POWER, y0.size), dtype=y0.dtype)
    dy = y1 - y0
    F[0] = dy
    F[1] = h * K[0] - dy
    F[2] = 2 * dy - h * (K[_NS] + K[0])
    F[3:] = h * np.dot(dop.D, K)
    x = (s - t0) / h
    y = np.zeros_like(y0)
    for i, f in enumerate(reversed(F)):
        y += f
        y *= x if i % 2 == 0 else 1 - x
    return y + y0


@solvers.register
class DOP853Solver(Solver):
    """DOP853 in double precision on one trajectory (SciPy's error control): ``integrate``'s choice for ``dps=None``.

    Steps across the kinks of a piecewise flow without locating them (``crosses_kinks``).
    """

    name: ClassVar[str] = "dop853"
    crosses_kinks: ClassVar[bool] = True
    priority: ClassVar[int] = 0
    max_steps: ClassVar[int] = 1_000_000
    max_norm: ClassVar[float | None] = 1e12

    def __init__(self, rtol: float = 1e-12, atol: float = 1e-12):
        self.rtol, self.atol = rtol, atol

    def stepper(self) -> DOP853:
        return DOP853(self.rtol, self.atol)

    def describe(self) -> str:
        return f"DOP853 (rtol {self.rtol:g}, atol {self.atol:g})"

    def error_estimate(self, sol: Any) -> float:
        """rtol·max‖y‖ (or atol) per 12 evaluations: a heuristic of the accumulated error."""
        n_rhs = sol.state.n_rhs if sol.state is not None else 0
        return max(self.rtol * max(float(np.max(np.abs(y))) for y in sol.states), self.atol) * max(1, n_rhs // 12)


def integrate_double(rhs: VectorField, weights: State, data: Data, t_eval: Times, *,
                     params: Params | None = None, method: str = "DOP853", rtol: float = 1e-12,
                     atol: float = 1e-12, max_norm: float = 1e12, max_steps: int = 1_000_000,
                     progress: bool | None = None, timeout: float | None = None, throw: bool = True) -> Trajectory:
    """Integrate dW/dt = rhs(W, data) from t_eval[0] through every time in ``t_eval`` (DOP853).

    A thin alias of the front door, kept for existing callers:
    ``integrate(rhs, weights, data, t_eval, solver=DOP853Solver(rtol, atol), …)``.

    Raises:
        OptionError: another ``method`` than DOP853, or bad ``t_eval``.
        DivergenceError: the state left ‖W‖_max ≤ ``max_norm``, became non-finite, or the step collapsed;
            the error carries the time it actually happened (``t_reached``).
        StepLimitError: more than ``max_steps`` steps.
        IntegrationTimeout: longer than ``timeout`` seconds.
    """
    if method != "DOP853":
        raise OptionError(f"integrate_double implements DOP853 only, got method={method!r}")
    return integrate(rhs, weights, data, t_eval, solver=DOP853Solver(rtol, atol), params=params, max_norm=max_norm,
                     max_steps=max_steps, progress=progress, timeout=timeout, throw=throw)
