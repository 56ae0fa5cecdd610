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

*Events* (piecewise-smooth flows: ReLU, leaky ReLU).  When the tape has switch
operations (:mod:`curvsym.integrate.tape`), the stepper carries the *region* —
the sign pattern of every ReLU pre-activation — and asks it for its event
functions, the entries of those pre-activations, whose Taylor series it already
has.  A step never crosses a kink: if an entry leaves its side within the step,
the step is cut at the first exit s* (certified root search,
:mod:`curvsym.integrate.events`), the state is the series at s*, and the region
flips that entry.  At the start of the next step every entry within the landing
tolerance of 0 must move into its new side (its first non-vanishing Taylor
coefficient has the sign of the side); an entry pushed back by both sides is a
sliding mode (the Filippov solution stays on the kink) and raises
:class:`~curvsym.errors.NonSmoothError`; an entry that does not move at all (a
dead unit: every coefficient vanishes) stays on the kink with σ'(0) = 0.  Every crossing is reported
(``Trajectory.info["crossings"]``, ``info["events"]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import mpmath
import numpy as np

from ..errors import DivergenceError, NonSmoothError, OptionError
from ..types import Data, Params, State, Time, Times, VectorField
from .budget import Deadline
from .events import Crossing, boundary_entries, leading_sign, locate
from .runner import solve
from .series_engines import make_engine
from .solver import Solver, integrate, solvers
from .state import check_finite_state, local_tolerance, output_times, to_mp, working_dps
from .stepper import AbstractStepper, Step
from .tape import Expansion, Tape, horner, taylor_expansion, trace_polynomial
from .trajectory import Trajectory

__all__ = ["Taylor", "TaylorSolver", "integrate_taylor"]


@dataclass(frozen=True)
class _TaylorState:
    truncation: Any
    rounding: Any
    scale: Any       # s: the time scale of the coefficients x̃_k = s^k x_k
    n_series: int    # Taylor series computed (a multi-word step may recompute with a better s)
    region: dict | None = None  # {switch argument index: boolean mask} (piecewise flows)


class Taylor(AbstractStepper):
    """Taylor series of order K from the tape, Jorba–Zou step (or a fixed ``step_size``), dense output.

    ``engine`` does the arithmetic (:mod:`curvsym.integrate.series_engines`); ``tol`` is the
    local tolerance per unit state size; ``wdps`` the working digits.  Engines that
    need it (the multi-word one) compute the coefficients x̃_k = s^k x_k of
    τ ↦ x(t + sτ) with s ≈ h, so that θ = h/s ≤ 1 and no rounding error is amplified
    by θ^k; the others use s = 1.  A tape with switches (ReLU) makes the stepper track its
    region and stop at every kink (see the module docstring); ``Step.events`` lists the
    crossings of a step.
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
        self._negligible = mpmath.mpf(10) ** (-(wdps - 5))
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
            NonSmoothError: a ReLU pre-activation slides along its kink or touches it tangentially.
        """
        if self.tape.switches:
            return self._piecewise_step(t, y, t_max, state)
        eng, K, tol, tiny = self.engine, self.K, self.tol, self._tiny
        one = mpmath.mpf(1)
        scale = max(one, self.size(y))
        s, n_series = state.scale, state.n_series
        remaining = t_max - t
        # the first step's s = 1 is rarely right: a float64 series (leading words, where the engine offers one)
        # chooses s, and the full series is computed once, at that s
        rough = getattr(eng, "rough_series", None) if n_series == 0 and self.step_size is None else None
        for attempt in range(8):
            c = rough(self._program, y, K, s) if rough is not None and attempt < 4 else None
            if c is None:
                rough = None
                c, rnd = eng.taylor_series(self._program, y, K, s)
                n_series += 1
            norms = eng.order_norms(c) if eng.needs_scaling else None
            nK = max(norms[K] if norms else max(eng.max_abs(ci[K]) for ci in c), tiny)
            nK1 = max(norms[K - 1] if norms else max(eng.max_abs(ci[K - 1]) for ci in c), tiny)
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
                # (in float64: the norms are floats, and a root to 16 digits is plenty for a step size)
                sc = float(scale)
                roots = [(sc / float(nk)) ** (1.0 / k) for k, nk in enumerate(norms[1:K - 1], start=1) if nk > tiny]
                if roots:
                    rho = min(rho, mpmath.mpf(min(roots)))
            free = min(rho * self._safety, (tol * scale / nK) ** (one / K), (tol * scale / nK1) ** (one / (K - 1)))
            theta = min(free, remaining / s)
            if not eng.needs_scaling or (theta <= 1 and free >= mpmath.mpf("0.25")):
                if rough is not None:  # the scale is found: now the full series at it
                    rough = None
                    continue
                break
            # recompute with s ≈ h: θ ≤ 1 (no amplification of absolute errors), and s not ≫ ρ (in full: a float64
            # series would only confirm the scale it chose)
            s = s * theta if theta > 1 else s * free * mpmath.mpf("1.25")
            rough = None
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

    def _piecewise_step(self, t: Time, y: State, t_max: Time, state: _TaylorState) -> Step:
        """A step of a flow with switches (s = 1, generic engines), cut at the first kink it meets."""
        eng, K, tol, tiny = self.engine, self.K, self.tol, self._tiny
        switches = self.tape.switches
        events: list = []
        ex = taylor_expansion(self.tape, y, K, eng, state.region)
        if switches:  # the first step places entries that start on a kink (no crossing to report)
            ex, boundary = self._settle(t, y, ex, events if state.region is not None else [])
        c = ex.variables
        scale = max(mpmath.mpf(1), self.size(y))
        nK = max(max(eng.max_abs(ci[K]) for ci in c), tiny)
        nK1 = max(max(eng.max_abs(ci[K - 1]) for ci in c), tiny)
        if self.step_size is not None:
            h = min(self.step_size, t_max - t)
        else:
            rho = min((scale / nK) ** (mpmath.mpf(1) / K), (scale / nK1) ** (mpmath.mpf(1) / (K - 1)))
            h = min(rho * self._safety, (tol * scale / nK) ** (mpmath.mpf(1) / K),
                    (tol * scale / nK1) ** (mpmath.mpf(1) / (K - 1)), t_max - t)
            if h <= (abs(t) + 1) * mpmath.mpf(10) ** (-(self.wdps // 2)):
                raise DivergenceError(
                    f"Taylor: step size collapsed to {mpmath.nstr(h, 3)} at t = {mpmath.nstr(t, 10)}: "
                    "the solution appears to blow up in finite time", float(t))
        region = ex.region
        if switches:
            try:
                crossing = locate(eng, [ex.nodes[a] for a in switches], [region[a] for a in switches], h,
                                  boundary, t, self._negligible)
            except NonSmoothError as exc:
                raise NonSmoothError(f"Taylor: {exc} (step from t = {mpmath.nstr(t, 15)})", float(t)) from None
            if crossing is not None and crossing.t - t < h:
                h = crossing.t - t
                a = switches[crossing.switch]
                region = {**region, a: _flipped(region[a], crossing.row, crossing.column)}
                events.append(crossing)
        hs = eng.scalar(h)
        x = tuple(horner(ci, hs) for ci in c)
        # every op starts from exact midpoints: the a-priori estimate of taylor_series, plus what is left
        rounding = (eng.unit * (K + 1) * (len(self.tape.ops) + 4) * scale
                    + max(eng.rounding_bound(a) for a in x) + tiny * scale)
        x = tuple(eng.midpoint(a) for a in x)
        trunc = nK * h ** K
        t_new = t_max if h == t_max - t else t + h

        def dense(s):
            ss = eng.scalar(s - t)
            return tuple(eng.midpoint(horner(ci, ss)) for ci in c)

        return Step(t_new, x, trunc + rounding, True,
                    _TaylorState(state.truncation + trunc, state.rounding + rounding, state.scale,
                                 state.n_series + 1, region), dense, tuple(events))

    def _landing_tolerance(self, values: list) -> Any:
        """|z| below which a pre-activation counts as sitting on its kink: 10³·tol·max(1, ‖Z‖_max)."""
        zmax = max((abs(v) for row in values for v in row), default=mpmath.mpf(0))
        return 1000 * max(self.tol, mpmath.mpf(10) ** (-self.wdps)) * max(mpmath.mpf(1), zmax)

    def _settle(self, t: Time, y: State, ex: Expansion, events: list) -> tuple[Expansion, list]:
        """Put every pre-activation entry that sits on its kink on the side it moves into.

        An entry with |z| within the landing tolerance that moves out of its side ς
        (the first non-negligible Taylor coefficient z_k, k ≥ 1, has ς z_k < 0) flips,
        and the expansion is recomputed; an entry that would flip back (pushed
        towards the kink from both sides) is a sliding mode.  An entry whose
        coefficients all vanish (a dead unit on its kink) stays.

        Raises:
            NonSmoothError: a sliding mode (or an entry that cannot be settled).
        """
        eng, switches = self.engine, self.tape.switches
        flipped: set = set()
        for _ in range(4 * sum(int(ex.region[a].size) for a in switches) + 2):
            boundary, flips = [], []
            for k, a in enumerate(switches):
                z0 = eng.entries(ex.nodes[a][0])
                mask = ex.region[a]
                on_kink = set(boundary_entries(z0, self._landing_tolerance(z0)))
                boundary.append(on_kink)
                if not on_kink:
                    continue
                series = [eng.entries(c) if c is not None else None for c in ex.nodes[a][1:]]
                for i, j in sorted(on_kink):
                    side = 1 if mask[i, j] else -1
                    coefs = [0] + [c[i][j] if c is not None else 0 for c in series]
                    if side * leading_sign(coefs, self._negligible) < 0:
                        flips.append((k, a, i, j))
            if not flips:
                return ex, boundary
            region = dict(ex.region)
            for k, a, i, j in flips:
                if (a, i, j) in flipped:
                    raise NonSmoothError(
                        f"Taylor: sliding mode at t = {mpmath.nstr(t, 15)}: pre-activation {k}, neuron {i}, "
                        f"example {j} sits on the ReLU kink and both sides push it back (the Filippov solution "
                        "stays on the kink; curvsym does not integrate sliding motion)", float(t))
                flipped.add((a, i, j))
                region[a] = _flipped(region[a], i, j)
                events.append(Crossing(t, k, i, j, not ex.region[a][i, j]))
            ex = taylor_expansion(self.tape, y, self.K, eng, region)
        raise NonSmoothError(f"Taylor: could not settle the ReLU regions at t = {mpmath.nstr(t, 15)}", float(t))


def _flipped(mask, i: int, j: int):
    out = mask.copy()
    out[i, j] = not out[i, j]
    return out


@solvers.register
class TaylorSolver(Solver):
    """Taylor series from the tape at ``dps`` digits (see :func:`integrate_taylor` for the options).

    Needs a matrix-polynomial right-hand side (every node has a Taylor rule) and lands on every
    kink of a piecewise one: ``integrate``'s choice for polynomial flows at ``dps`` digits.
    """

    name: ClassVar[str] = "taylor"
    arbitrary_precision: ClassVar[bool] = True
    polynomial_only: ClassVar[bool] = True
    piecewise: ClassVar[bool] = True
    priority: ClassVar[int] = 10

    def __init__(self, order: int | None = None, tol: Any = None, engine: str = "auto"):
        self.order, self.tol, self.engine = order, tol, engine

    def run(self, rhs: VectorField, weights: State, data: Data, t_eval: Times, *, dps: int, params: Params,
            max_steps: int, max_norm: float, progress: bool | None, timeout: float | None,
            throw: bool) -> Trajectory:
        """See :func:`integrate_taylor` (its Raises: too)."""
        order, tol, engine = self.order, self.tol, self.engine
        clock = Deadline(timeout)  # timeout= covers the set-up too
        wdps = working_dps(dps)  # 15 ≤ dps ≤ MAX_DPS, before anything grows with dps
        params = params or {}
        with mpmath.workdps(wdps):
            x_mp = to_mp(weights, wdps)
            d_mp = rhs.validate(x_mp, to_mp(data, wdps), params)  # shapes, finiteness, symmetric Σx
            tape = trace_polynomial(rhs, d_mp, params)
        width = max((max(np.shape(a)) for a in list(weights) + list(data) if np.ndim(a) == 2), default=1)
        if engine == "auto" and not tape.matrix_polynomial:  # elementwise ops and switches: flint (or mpmath)
            engine = "flint" if _has_flint() else "mpmath"
        eng = make_engine(engine, dps, wdps, width)
        with eng.context():
            tol = local_tolerance(tol, dps, eng.resolvable_digits)
            K = order if order is not None else int(math.ceil(0.5 * float(-mpmath.log(tol)))) + 2
            stepper = Taylor(tape, eng, K, tol, wdps)
            sol = solve(stepper, None, stepper.load(x_mp), output_times(t_eval), max_steps=max_steps,
                        max_norm=max_norm, progress=progress, desc="Taylor", timeout=clock.remaining(), throw=throw,
                        zero=mpmath.mpf(0))
            for s_ in sol.states:
                check_finite_state(s_, "Taylor state")
            st = sol.state
            info = {"order": K, "engine": eng.name, "working_dps": getattr(eng, "format_digits", wdps),
                    "products_per_step": tape.n_products * K * (K + 1) // 2,
                    "series_per_step": st.n_series / max(1, sol.n_steps),
                    "truncation": st.truncation, "rounding": st.rounding}
            kernel = getattr(stepper._program, "kernel", None)
            if kernel is not None:  # multi-word: the compiled C recurrence or the stacked BLAS program
                info["kernel"] = kernel
            work = getattr(stepper._program, "work", None)
            if work and work["pairs"]:  # double-double on BLAS: block products per Cauchy pair (1 = float64 floor)
                info["product_work"] = work["blocks"] / work["pairs"]
            if tape.switches:
                info.update({"crossings": len(sol.events), "events": sol.events, "switches": len(tape.switches)})
            return Trajectory(sol.t, sol.states, f"Taylor order {K} ({eng.name})", st.truncation + st.rounding, dps,
                              sol.n_steps, n_rhs=sol.n_steps * K, info=info, status=sol.status, message=sol.message)


def integrate_taylor(rhs: VectorField, weights: State, data: Data, t_eval: Times, *,
                     dps: int = 30, params: Params | None = None, order: int | None = None,
                     tol: Any = None, max_steps: int = 100_000, max_norm: float = 1e30,
                     engine: str = "auto", progress: bool | None = None, timeout: float | None = None,
                     throw: bool = True) -> Trajectory:
    """Integrate the polynomial flow ``rhs`` (generated with ``backend="mpmath"``) at ``dps`` digits.

    A thin alias of the front door, kept for existing callers:
    ``integrate(rhs, weights, data, t_eval, dps=dps, solver=TaylorSolver(order, tol, engine), …)``.

    Parameters
    ----------
    weights, data : initial layers and data (Σx, T); floats convert exactly,
        strings/mpf keep their digits.
    t_eval : non-decreasing output times, starting at the initial time.
    tol : local error tolerance per unit state size (default 10^−(dps+2)).
    order : Taylor order K (default ⌈½ ln(1/tol)⌉ + 2, Jorba–Zou).
    engine : ``"auto"`` (multi-word float64 up to 62 digits for matrices of width ≥ 8, and at any width up to
        30 digits when the compiled double-double kernel is available; flint otherwise), ``"multiword"``,
        ``"dd"``/``"td"``/``"qd"`` (2/3/4 words), ``"flint"`` (arb_mat) or ``"mpmath"``.  Double-double runs
        use the compiled C recurrence of :mod:`curvsym.kernels.multiword.compiled` when a C compiler is at hand:
        term by term at widths ≤ 8, with exact-slice products at widths 9–64 (``info["kernel"]``:
        ``"compiled"``, ``"compiled-sliced"`` or ``"blas"``).
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
        NonSmoothError: a piecewise (ReLU) flow slides along a kink or touches one tangentially.

    For a piecewise flow (``rhs.piecewise``) the trajectory's ``info`` also reports
    ``crossings`` (how many times a pre-activation entry crossed 0), ``events``
    (each a :class:`~curvsym.integrate.events.Crossing`) and ``switches`` (how many
    ReLU pre-activations the right-hand side has); such flows use python-flint (or
    mpmath) arithmetic.
    """
    return integrate(rhs, weights, data, t_eval, dps=dps, solver=TaylorSolver(order, tol, engine), params=params,
                     max_steps=max_steps, max_norm=max_norm, progress=progress, timeout=timeout, throw=throw)


def _has_flint() -> bool:
    try:
        import flint  # noqa: F401
        return True
    except ImportError:
        return False
