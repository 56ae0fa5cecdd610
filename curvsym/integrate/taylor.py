r"""Arbitrary-precision Taylor-series integration of polynomial matrix ODEs.

Gradient-flow right-hand sides are polynomials in the layer matrices.  Their
Taylor coefficients come from the tape of :mod:`curvsym.integrate.tape`
(O(K²) matrix products per product node for K coefficients).  Order and step
follow Jorba & Zou (2005): K ≈ ½ ln(1/ε) + 1 and h = ρ e^{−2} with the radius ρ
estimated from the last two coefficients,

    ρ = min((s/‖x_K‖)^{1/K}, (s/‖x_{K−1}‖)^{1/(K−1)}),   s = max(1, ‖x‖),
    h = min(ρ e^{−2−0.7/(K−1)}, (ε s/‖x_K‖)^{1/K}, (ε s/‖x_{K−1}‖)^{1/(K−1)}),

so that the last retained term is ≈ ε.  The local error estimate of a step is
‖x_K‖ h^K (the first neglected term is smaller by a factor h/ρ ≈ e^{−2}), plus
the rounding bound of the engine.  Inside a step the series is the dense
output: y(t + s) = Σ_k x_k s^k for 0 ≤ s ≤ h.
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
from .engines import make_engine
from .runner import solve
from .state import check_finite_state, local_tolerance, output_times, to_mp, working_dps
from .stepper import AbstractStepper, Step
from .tape import Tape, trace_polynomial
from .trajectory import Trajectory

__all__ = ["Taylor", "integrate_taylor"]


@dataclass(frozen=True)
class _TaylorState:
    truncation: Any
    rounding: Any
    scale: Any       # s: the time scale of the coefficients x̃_k = s^k x_k
    n_series: int    # Taylor series computed (a multi-word step may recompute with a better s)


class Taylor(AbstractStepper):
    """Taylor series of order K from the tape, Jorba–Zou step (or a fixed ``step_size``), dense output.

    ``engine`` does the arithmetic (:mod:`curvsym.integrate.engines`); ``tol`` is the
    local tolerance per unit state size; ``wdps`` the working digits.  Engines that
    need it (the multi-word one) compute the coefficients x̃_k = s^k x_k of
    τ ↦ x(t + sτ) with s ≈ h, so that θ = h/s ≤ 1 and no rounding error is amplified
    by θ^k; the others use s = 1.
    """

    name: ClassVar[str] = "Taylor"
    polynomial_only: ClassVar[bool] = True
    arbitrary_precision: ClassVar[bool] = True
    dense_output: ClassVar[bool] = True

    def __init__(self, tape: Tape, engine: Any, K: int, tol: Any, wdps: int, step_size: Any = None):
        if K < 2:
            raise OptionError(f"Taylor order must be at least 2, got {K}")
        self.tape, self.engine, self.K, self.tol, self.wdps = tape, engine, K, tol, wdps
        self.step_size = None if step_size is None else mpmath.mpf(step_size)
        self.adaptive = step_size is None
        self._tiny = getattr(engine, "unit", mpmath.mpf(10) ** (-wdps))
        self._safety = mpmath.exp(-2 - mpmath.mpf(0.7) / (K - 1))
        self._program = None

    @property
    def order(self) -> int:
        return self.K

    def init(self, field: Callable, t0: Time, y0: State) -> _TaylorState:
        self._program = self.engine.compile(self.tape, y0[0])
        s = self.step_size if (self.step_size is not None and self.engine.needs_scaling) else mpmath.mpf(1)
        return _TaylorState(mpmath.mpf(0), mpmath.mpf(0), s, 0)

    def size(self, y: State) -> Any:
        return max(self.engine.max_abs(a) for a in y)

    def output(self, y: State) -> State:
        return tuple(self.engine.unload(a) for a in y)

    def load(self, y: State) -> State:
        """The user's mpf arrays in the engine's representation."""
        return tuple(self.engine.load(a) for a in y)

    def step(self, field: Callable, t: Time, y: State, t_max: Time, state: _TaylorState) -> Step:
        """One Taylor step of at most t_max − t, with the series as dense output.

        Raises:
            DivergenceError: the Jorba–Zou step collapsed (finite-time blow-up).
        """
        eng, K, tol, tiny = self.engine, self.K, self.tol, self._tiny
        one = mpmath.mpf(1)
        scale = max(one, self.size(y))
        s, n_series = state.scale, state.n_series
        remaining = t_max - t
        for _ in range(6):
            c, rnd = eng.taylor_series(self._program, y, K, s)
            n_series += 1
            nK = max(max(eng.max_abs(ci[K]) for ci in c), tiny)
            nK1 = max(max(eng.max_abs(ci[K - 1]) for ci in c), tiny)
            if eng.needs_scaling and not (mpmath.isfinite(nK) and mpmath.isfinite(nK1)):
                # s ≫ ρ: the scaled coefficients s^k x_k overflowed float64 words; restart from the
                # radius seen by the first coefficient, ρ/s ≳ ‖x‖/‖x̃₁‖
                n1 = max(max(eng.max_abs(ci[1]) for ci in c), tiny)
                s = s * min(mpmath.mpf("0.1"), mpmath.mpf("0.1") * scale / n1) if mpmath.isfinite(n1) else s * mpmath.mpf("1e-3")
                continue
            if self.step_size is not None:
                theta = min(self.step_size, remaining) / s
                break
            rho = min((scale / nK) ** (one / K), (scale / nK1) ** (one / (K - 1)))  # ρ/s
            if eng.needs_scaling:
                # float64 words cannot hold s^k x_k far beyond s ≈ ρ: the top coefficients of a series with
                # s ≫ ρ may be lost, so the radius is also bounded by the root test over every order
                for k in range(1, K - 1):
                    nk = max(eng.max_abs(ci[k]) for ci in c)
                    if nk > tiny:
                        rho = min(rho, (scale / nk) ** (one / k))
            free = min(rho * self._safety, (tol * scale / nK) ** (one / K), (tol * scale / nK1) ** (one / (K - 1)))
            theta = min(free, remaining / s)
            if not eng.needs_scaling or (theta <= 1 and free >= mpmath.mpf("0.25")):
                break
            # recompute with s ≈ h: θ ≤ 1 (no amplification of absolute errors), and s not ≫ ρ
            s = s * theta if theta > 1 else s * free * mpmath.mpf("1.25")
        if eng.needs_scaling:
            theta = min(theta, one)
        h = s * theta
        clipped = h >= remaining
        if self.step_size is None and (not mpmath.isfinite(h) or h <= (abs(t) + 1) * mpmath.mpf(10) ** (-(self.wdps // 2))):
            raise DivergenceError(
                f"Taylor: step size collapsed to {mpmath.nstr(h, 3)} at t = {mpmath.nstr(t, 10)}: "
                "the solution appears to blow up in finite time", float(t))
        x = tuple(eng.horner(ci, theta) for ci in c)
        rounding = rnd * eng.rounding_weight(theta, K) + tiny * scale
        trunc = nK * theta ** K
        s_next = h * mpmath.mpf("1.25") if eng.needs_scaling and not clipped and self.step_size is None else s

        def dense(sigma, c=c, t0=t, s=s):
            return tuple(eng.horner(ci, (sigma - t0) / s) for ci in c)

        return Step(t_max if clipped else t + h, x, trunc + rounding, True,
                    _TaylorState(state.truncation + trunc, state.rounding + rounding, s_next, n_series), dense)


def integrate_taylor(rhs: GeneratedFunction, weights: State, data: Data, t_eval: Times, *,
                     dps: int = 30, params: Params | None = None, order: int | None = None,
                     tol: Any = None, max_steps: int = 100_000, max_norm: float = 1e30,
                     engine: str = "auto", progress: bool | None = None, timeout: float | None = None,
                     throw: bool = True) -> Trajectory:
    """Integrate the polynomial flow ``rhs`` (generated with ``backend="mpmath"``) at ``dps`` digits.

    Parameters
    ----------
    weights, data : initial layers and data (Σx, T); floats convert exactly,
        strings/mpf keep their digits.
    t_eval : non-decreasing output times, starting at the initial time.
    tol : local error tolerance per unit state size (default 10^−(dps+2)).
    order : Taylor order K (default ⌈½ ln(1/tol)⌉ + 2, Jorba–Zou).
    engine : ``"auto"`` (multi-word float64 up to 62 digits for matrices of width ≥ 8, flint otherwise),
        ``"multiword"``, ``"dd"``/``"td"``/``"qd"`` (2/3/4 words), ``"flint"`` (arb_mat) or ``"mpmath"``.
    progress : tqdm bar over time: None = on a terminal for runs over 2 s, True, False.
    timeout : wall-clock limit in seconds (None: none).
    throw : False returns the trajectory reached so far with its ``status`` instead of raising.

    Returns a :class:`Trajectory` (states as object arrays of mpf) whose
    ``error_estimate`` is the sum of the local truncation estimates ‖x_K‖h^K
    plus the rounding bound — an estimate of the global error for flows that do
    not expand errors strongly.

    Raises:
        NotPolynomialError: ``rhs`` is not a matrix polynomial.
        PrecisionError: ``dps`` < 15, ``tol`` finer than the working precision resolves, or a
            multi-word engine asked for more digits than it carries.
        OptionError: an order below 2.
        EngineError: an unknown engine name.
        DivergenceError: ‖W‖ exceeds ``max_norm`` or the step collapses (finite-time blow-up).
        StepLimitError: more than ``max_steps`` steps.
        IntegrationTimeout: longer than ``timeout`` seconds.
    """
    wdps = working_dps(dps)
    width = max((max(np.shape(a)) for a in list(weights) + list(data) if np.ndim(a) == 2), default=1)
    eng = make_engine(engine, dps, wdps, width)
    params = params or {}
    with eng.context():
        tol = local_tolerance(tol, dps, eng.resolvable_digits)
        K = order if order is not None else int(math.ceil(0.5 * float(-mpmath.log(tol)))) + 2
        x_mp = to_mp(weights, wdps)
        d_mp = rhs.validate(x_mp, to_mp(data, wdps), params)  # shapes, finiteness, symmetric Σx
        tape = trace_polynomial(rhs, d_mp, params)
        stepper = Taylor(tape, eng, K, tol, wdps)
        sol = solve(stepper, None, stepper.load(x_mp), output_times(t_eval), max_steps=max_steps,
                    max_norm=max_norm, progress=progress, desc="Taylor", timeout=timeout, throw=throw,
                    zero=mpmath.mpf(0))
        for s_ in sol.states:
            check_finite_state(s_, "Taylor state")
        st = sol.state
        return Trajectory(sol.t, sol.states, f"Taylor order {K} ({eng.name})", st.truncation + st.rounding, dps,
                          sol.n_steps, n_rhs=sol.n_steps * K,
                          info={"order": K, "engine": eng.name,
                                "working_dps": getattr(eng, "format_digits", wdps),
                                "products_per_step": tape.n_products * K * (K + 1) // 2,
                                "series_per_step": st.n_series / max(1, sol.n_steps),
                                "truncation": st.truncation, "rounding": st.rounding},
                          status=sol.status, message=sol.message)
