r"""Arbitrary-precision Gragg–Bulirsch–Stoer extrapolation (RHS evaluations only).

Curvature-corrected rules involve pseudo-inverses and fractional powers, so
their right-hand sides are not polynomials and the Taylor method does not
apply.  GBS needs only evaluations of f (Hairer, Nørsett & Wanner, *Solving ODEs
I*, §II.9):

* modified midpoint rule with n_j = 2j substeps of size h = H/n_j,
    z_0 = y,  z_1 = z_0 + h f(z_0),  z_{m+1} = z_{m−1} + 2h f(z_m),
    T_{j,1} = ½ (z_{n_j} + z_{n_j − 1} + h f(z_{n_j}))      (Gragg's smoothing);
* its error has an expansion in even powers of h, removed by Aitken–Neville
    T_{j,l+1} = T_{j,l} + (T_{j,l} − T_{j−1,l}) / ((n_j / n_{j−l})² − 1);
* T_{k,k} has order 2k; err = ‖T_{k,k} − T_{k,k−1}‖ estimates (and for smooth
  problems over-estimates) the local error of T_{k,k}.

The step H is controlled so that err ≤ tol·max(1, ‖y‖), with
H_new = H · clip(0.94 (0.65 tol/err)^{1/(2k−1)}, 0.2, 4) (Hairer–Wanner).
:class:`GBS` is the stepper; :func:`integrate_extrapolation` runs it at a given
number of digits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import mpmath
import numpy as np

from ..codegen import GeneratedFunction
from ..errors import DivergenceError, OptionError
from ..types import Data, Params, State, Time, Times
from .runner import solve
from .state import check_finite_state, local_tolerance, max_abs, output_times, to_mp, working_dps
from .stepper import AbstractStepper, Step
from .trajectory import Trajectory

__all__ = ["GBS", "gbs_step", "integrate_extrapolation"]


def _axpy(a, x, y):
    """a·x + y for tuples of arrays."""
    return tuple(a * xi + yi for xi, yi in zip(x, y))


def _midpoint(f, y, H, n):
    h = H / n
    z0 = y
    z1 = _axpy(h, f(z0), z0)
    for _ in range(1, n):
        z0, z1 = z1, _axpy(2 * h, f(z1), z0)
    fz = f(z1)
    return tuple((a + b + h * c) / 2 for a, b, c in zip(z1, z0, fz)), n + 1


def gbs_step(f: Callable, y: State, H: Any, k: int) -> tuple:
    """One extrapolated step of size H with k columns: (T_kk, err, evaluations)."""
    rows: list[list] = []
    evals = 0
    ns = [2 * (j + 1) for j in range(k)]
    for j in range(k):
        Tj1, e = _midpoint(f, y, H, ns[j])
        evals += e
        row = [Tj1]
        for l in range(1, j + 1):
            ratio = mpmath.mpf(ns[j]) / ns[j - l]
            denom = ratio * ratio - 1
            prev = rows[j - 1][l - 1]
            row.append(tuple(a + (a - b) / denom for a, b in zip(row[l - 1], prev)))
        rows.append(row)
    best, second = rows[-1][-1], rows[-1][-2]
    err = max_abs([a - b for a, b in zip(best, second)])
    return best, err, evals


@dataclass(frozen=True)
class _GBSState:
    H: Any
    n_evals: int


class GBS(AbstractStepper):
    """Gragg–Bulirsch–Stoer extrapolation with ``columns`` = k (order 2k), step control on ``tol``.

    A fixed ``step_size`` turns the control off (every step accepted), for order tests.
    ``wdps`` is the working precision (digits) used to detect a collapsing step.
    """

    name: ClassVar[str] = "GBS"
    arbitrary_precision: ClassVar[bool] = True

    def __init__(self, columns: int, tol, wdps: int, first_step=None, step_size=None):
        self.k, self.tol, self.wdps = columns, tol, wdps
        self.first_step = mpmath.mpf(first_step) if first_step is not None else mpmath.mpf("0.1")
        self.step_size = None if step_size is None else mpmath.mpf(step_size)
        self.adaptive = step_size is None

    @property
    def order(self) -> int:
        return 2 * self.k

    def init(self, field: Callable, t0: Time, y0: State) -> _GBSState:
        return _GBSState(self.step_size or self.first_step, 0)

    def step(self, field: Callable, t: Time, y: State, t_max: Time, state: _GBSState) -> Step:
        """One extrapolated step of at most t_max − t; rejected (shorter H) when err > tol·max(1, ‖y‖).

        Raises:
            DivergenceError: the step size collapsed (finite-time blow-up).
        """
        k, tol = self.k, self.tol
        H = state.H
        h = min(H, t_max - t)
        y_new, err, e = gbs_step(field, y, h, k)
        n_evals = state.n_evals + e
        t_new = t_max if h == t_max - t else t + h
        if self.step_size is not None:
            return Step(t_new, y_new, err, True, _GBSState(H, n_evals))
        scale = max(mpmath.mpf(1), max_abs(y))
        finite = mpmath.isfinite(err) and all(mpmath.isfinite(v) for a in y_new for v in a.flat)
        if not finite:
            fac = mpmath.mpf("0.2")
        elif err == 0:
            fac = mpmath.mpf(4)
        else:
            fac = mpmath.mpf("0.94") * (mpmath.mpf("0.65") * tol * scale / err) ** (mpmath.mpf(1) / (2 * k - 1))
            fac = min(mpmath.mpf(4), max(mpmath.mpf("0.2"), fac))
        clipped = h < H  # a short step to land on an output time says nothing against H
        if finite and err <= tol * scale:
            H = max(H, h * fac) if clipped else h * fac
            return Step(t_new, y_new, err, True, _GBSState(H, n_evals))
        H = h * min(fac, mpmath.mpf("0.9"))
        if H < (abs(t) + 1) * mpmath.mpf(10) ** (-(self.wdps // 2)):
            raise DivergenceError(f"GBS: step size collapsed to {mpmath.nstr(H, 3)} at t = {mpmath.nstr(t, 10)}: "
                                  "the solution appears to blow up in finite time", float(t))
        return Step(t, y, 0, False, _GBSState(H, n_evals))


def integrate_extrapolation(rhs: GeneratedFunction, weights: State, data: Data, t_eval: Times, *,
                            dps: int = 30, params: Params | None = None, tol: Any = None, columns: int | None = None,
                            first_step: Any = None, max_steps: int = 20_000, max_norm: float = 1e30,
                            progress: bool | None = None, timeout: float | None = None,
                            throw: bool = True) -> Trajectory:
    """Integrate ``rhs`` (generated with ``backend="mpmath"``) at ``dps`` digits by GBS extrapolation.

    ``tol`` is the local error tolerance per unit state size (default
    10^−(dps+2)); ``columns`` the number of extrapolation columns k (order 2k,
    default ≈ 0.4·dps, at least 6).  The returned ``error_estimate`` is the sum
    of the accepted local error estimates plus rounding.

    Raises:
        PrecisionError: ``dps`` < 15, or ``tol`` finer than the working precision resolves.
        DivergenceError: ‖W‖ exceeds ``max_norm`` or the step collapses (finite-time blow-up).
        StepLimitError: more than ``max_steps`` accepted steps.
        IntegrationTimeout: longer than ``timeout`` seconds.
        OptionError: ``rhs`` is piecewise smooth (ReLU kinks): extrapolation assumes a smooth flow and
            would step across the kinks; the Taylor stepper lands on them.
    """
    if rhs.piecewise:
        raise OptionError(f"{rhs.name}: the right-hand side has kinks (ReLU / leaky ReLU); GBS extrapolation "
                          "assumes a smooth flow and would step across them. Use integrate_taylor (or "
                          "integrate), whose events land on every kink")
    k = columns or max(6, int(math.ceil(0.4 * dps)))
    # the Aitken–Neville tableau amplifies rounding errors; k extra guard digits absorb it
    wdps = working_dps(dps, guard=10 + k)
    params = params or {}
    with mpmath.workdps(wdps):
        tol = local_tolerance(tol, dps, wdps - k - 3)
        y = to_mp(weights, wdps)
        d = rhs.validate(y, to_mp(data, wdps), params)  # shapes, finiteness, symmetric Σx
        func = rhs.func

        def f(state):
            return func(*state, *d, **params, xp=np)

        stepper = GBS(k, tol, wdps, first_step)
        sol = solve(stepper, f, y, output_times(t_eval), max_steps=max_steps, max_norm=max_norm,
                    progress=progress, desc="GBS", timeout=timeout, throw=throw, zero=mpmath.mpf(0))
        for s in sol.states:
            check_finite_state(s, "GBS state")
        n_evals = sol.state.n_evals
        rounding = mpmath.mpf(10) ** (-wdps) * n_evals * max(mpmath.mpf(1), max_abs(sol.states[-1]))
        return Trajectory(sol.t, sol.states, f"GBS extrapolation, {k} columns (order {2 * k})",
                          sol.error + rounding, dps, sol.n_steps, n_evals,
                          info={"columns": k, "working_dps": wdps, "rounding": rounding},
                          status=sol.status, message=sol.message)
