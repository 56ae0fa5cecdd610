r"""Discrete step maps θ_{k+1} = θ_k + η v(θ_k) of any rule: float64 sweeps and arbitrary precision.

The map is the existing :class:`~curvsym.integrate.explicit.StepMap` (explicit Euler on the
rule's flow; GD for v = −∇L), driven by the existing runners — nothing here is a second loop:

* :class:`SweepStepMap` — one step size η_b per member of a batch, and a *time*
  t_b = k_b η_b per member, so that :func:`~curvsym.integrate.runner.solve_batched`
  advances every member to each common output time t_j in its own t_j/η_b steps
  (members that are there wait, frozen).  A whole step-size sweep is one batched run
  (:func:`iterate_sweep`); a member that leaves the finite range is frozen at its last
  finite iterate and marked, the others go on.
* :class:`PreciseStepMap` — the same map on one trajectory of NumPy object arrays of
  ``mpmath.mpf`` (the generated ``backend="mpmath"`` code, which covers every rule:
  pseudo-inverses, operator solves and fractional powers have mp kernels), driven by
  :func:`~curvsym.integrate.runner.solve` with t counting steps (:func:`iterate_precise`).

Both report where a run left the finite range as a :class:`Divergence`: the first step
whose iterate is outside (non-finite in float64; ‖W‖_max > ``max_norm`` at high
precision), its time kη, and the loss at the last iterate inside — never a table of NaNs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, ClassVar, Sequence

import mpmath
import numpy as np

from ..errors import CurvsymError, DivergenceError, IntegrationTimeout, OptionError, ShapeError, StepLimitError
from ..types import Data, Params, Scalar, State, Time, Times, VectorField
from .explicit import StepMap
from .runner import solve, solve_batched
from .solver import Solver, integrate, solvers
from .state import check_finite_state, max_abs, to_mp, working_dps
from .stepper import Status, Step
from .trajectory import Trajectory

__all__ = ["Divergence", "SweepStepMap", "PreciseStepMap", "PreciseStepMapSolver", "step_sizes", "common_times",
           "iterate_sweep", "iterate_precise"]


@dataclass(frozen=True)
class Divergence:
    """Where an iteration left the finite range (``docs``: never a silent NaN).

    ``step`` is the first step whose iterate is outside (non-finite, or ‖W‖_max above the
    bound), ``t`` = step·η, ``loss`` the loss at the last iterate inside (step − 1), when a
    loss function was given.
    """

    eta: float
    step: int
    t: float
    loss: float | None
    reason: str = "non-finite"

    def __str__(self) -> str:
        loss = "" if self.loss is None else f"; loss at step {self.step - 1}: {self.loss:.6g}"
        if self.loss is None and self.step > 0:
            loss = f"; loss at step {self.step - 1} not available"
        return (f"η = {self.eta:g} left the finite range at step {self.step} (t = {self.t:.6g}, "
                f"{self.reason}){loss}")


def step_sizes(eta: Any) -> tuple:
    """One η or a sequence of them, each checked finite and positive (floats, ints, strings, mpf, Fractions).

    Raises:
        OptionError: an η that is not a finite positive number, or an empty sequence.
    """
    etas = list(eta) if isinstance(eta, (list, tuple, np.ndarray)) else [eta]
    if not etas:
        raise OptionError("no step size η given")
    out = []
    for e in etas:
        if isinstance(e, bool) or e is None:
            raise OptionError(f"the step size η must be a finite positive number, got {e!r}")
        try:
            v = mpmath.mpf(e) if isinstance(e, (str, mpmath.mpf)) else (
                Fraction(e) if isinstance(e, Fraction) else float(e))
        except (TypeError, ValueError):
            raise OptionError(f"the step size η must be a finite positive number, got {e!r}") from None
        if not (mpmath.isfinite(v) if isinstance(v, mpmath.mpf) else math.isfinite(v)) or v <= 0:
            raise OptionError(f"the step size η must be a finite positive number, got {e!r}")
        out.append(e if isinstance(e, (str, mpmath.mpf, Fraction)) else float(e))
    return tuple(out)


def common_times(etas: Sequence[float], t_end: float, max_points: int | None = None) -> list[float]:
    """Output times 0 = t_0 < … < t_n = t_end at which every η of the sweep has an iterate.

    The spacing is the smallest multiple of max η that is a whole number of steps of every
    η (to a relative 1e-9), thinned to at most ``max_points`` intervals (t_end always kept).

    Raises:
        OptionError: bad η or t_end, or t_end not a whole number of steps of every η.
    """
    etas = [float(e) for e in step_sizes(etas)]
    if not (isinstance(t_end, (int, float)) and math.isfinite(t_end) and t_end > 0):
        raise OptionError(f"t_end must be a finite positive time, got {t_end!r}")
    top = max(etas)
    delta = None
    for mult in range(1, 10_001):
        d = mult * top
        if all(abs(d / e - round(d / e)) <= 1e-9 * d / e for e in etas):
            delta = d
            break
    if delta is None:
        raise OptionError(f"the step sizes {etas} have no common multiple below 10⁴·max η; choose commensurate η")
    n = t_end / delta
    if abs(n - round(n)) > 1e-9 * max(n, 1) or round(n) < 1:
        raise OptionError(f"t_end = {t_end:g} must be a whole multiple of {delta:g} (the common step of η = "
                          f"{', '.join(f'{e:g}' for e in etas)})")
    n = round(n)
    stride = 1 if max_points is None or n <= max_points else math.ceil(n / max_points)
    ks = list(range(0, n + 1, stride))
    if ks[-1] != n:
        ks.append(n)
    return [k * delta for k in ks]


# --------------------------------------------------------------------------- steppers

class SweepStepMap(StepMap):
    """The step map with one η per batch member and time t_b = k_b η_b (see the module docstring).

    Members whose time has reached the current output time are ``active = False`` and keep
    their state; the others take one step of their own η.  On NumPy the field is evaluated on
    the moving members only (a sub-batch), so it must not carry per-member data.  An iterate with ‖W‖_max above
    ``max_norm`` is made non-finite, so that the batched runner freezes the member at its
    last iterate inside the bound (whose loss is then still a float64 number).
    """

    name: ClassVar[str] = "step map (one η per member)"
    per_member_time: ClassVar[bool] = True

    def __init__(self, etas: Sequence[float], max_norm: float = 1e12):
        super().__init__(None)
        self.etas = tuple(float(e) for e in etas)
        self.max_norm = float(max_norm)

    def init(self, field: Callable, t0: Time, y0: State, xp: Any = None, kw: Any = None) -> tuple:
        """(k, η): per-member step counts (from t0 = k η) and step sizes, as arrays (B,)."""
        eta = xp.asarray(self.etas, **kw)
        return xp.round(t0 / eta), eta

    def step(self, field: Callable, t: Time, y: State, t_max: Time, state: tuple, active: Any = None,
             xp: Any = None) -> Step:
        """One step of its own η for every active member; t = k η recomputed from the count (no drift)."""
        k, eta = state
        B = y[0].shape[0]
        e = xp.reshape(eta, (B, 1, 1))
        if isinstance(y[0], np.ndarray):
            y_new = self._numpy_step(field, y, np.asarray(active), e)
        else:
            a = xp.reshape(active, (B, 1, 1))
            y_new = tuple(xp.where(a, w + e * v, w) for w, v in zip(y, field(y)))
            size = None
            for w in y_new:
                m = xp.max(xp.abs(w), axis=(-2, -1))
                size = m if size is None else xp.maximum(size, m)
            over = xp.reshape(size > self.max_norm, (B, 1, 1))
            if bool(xp.any(over)):
                y_new = tuple(xp.where(over, xp.full_like(w, float("nan")), w) for w in y_new)
        k_new = xp.where(active, k + 1, k)
        return Step(k_new * eta, y_new, 0.0, active, (k_new, eta))

    def _numpy_step(self, field: Callable, y: State, active: np.ndarray, e: np.ndarray) -> tuple:
        """The moving members only (a slice when they are contiguous, as in a sweep sorted by η), then scatter."""
        idx = np.flatnonzero(active)
        B = y[0].shape[0]
        if idx.size == B:
            sel: Any = slice(None)
        elif idx.size and idx[-1] - idx[0] + 1 == idx.size:
            sel = slice(int(idx[0]), int(idx[-1]) + 1)
        else:
            sel = idx
        sub = tuple(w[sel] for w in y)
        es = e[sel]
        moved = []
        size = None
        for w, v in zip(sub, field(sub)):
            s = es * v
            s += w
            moved.append(s)
            m = np.max(np.abs(s), axis=(-2, -1))
            size = m if size is None else np.maximum(size, m)
        over = size > self.max_norm
        if over.any():  # made non-finite: the runner freezes these members at their last iterate inside
            moved = [np.where(over[:, None, None], np.nan, s) for s in moved]
        if idx.size == B:
            return tuple(moved)
        out = []
        for w, s in zip(y, moved):
            wn = w.copy()
            wn[sel] = s
            out.append(wn)
        return tuple(out)


class PreciseStepMap(StepMap):
    """θ ↦ θ + η v(θ) on one trajectory at arbitrary precision (object arrays of mpf); t counts steps.

    The stepper state is (previous iterate, new iterate), so that a run stopped by the
    runner's divergence check still knows the last iterate inside the bound.
    """

    name: ClassVar[str] = "step map (arbitrary precision)"
    batched: ClassVar[bool] = False
    arbitrary_precision: ClassVar[bool] = True

    def step(self, field: Callable, t: Time, y: State, t_max: Time, state: Any, active: Any = None,
             xp: Any = None) -> Step:
        y_new = tuple(a + self.eta * v for a, v in zip(y, field(y)))
        return Step(t + 1, y_new, 0, True, (y, y_new))


# --------------------------------------------------------------------------- drivers

def _namespace(arrays):
    from array_api_compat import array_namespace
    return array_namespace(*arrays)


def _loss_value(loss: Callable | None, state: State) -> float | None:
    if loss is None:
        return None
    try:
        with np.errstate(all="ignore"):
            v = float(loss(state))
    except CurvsymError:  # the user's own error (wrong shapes, …): theirs to see, never an "unknown" loss
        raise
    except (ArithmeticError, ValueError, TypeError):  # a loss that cannot be evaluated is reported as unknown
        return None
    return v if math.isfinite(v) else None


def iterate_sweep(rhs: VectorField, weights: State, data: Data, etas: Sequence[float], times: Times,
                  params: Params | None = None, loss: Callable[[State], Scalar] | None = None,
                  max_norm: float = 1e12, throw: bool = False) -> tuple[Trajectory, ...]:
    """The step map of ``rhs`` (GD for the gradient flow) for every η of a sweep, at common ``times``: one batched run.

    ``weights`` are one network's layers (2-D arrays, NumPy or any array-API library); every
    member starts there.  Every time in ``times`` (the first is the start, usually 0) must be a
    whole number of steps of every η (see :func:`common_times`).  Returns one
    :class:`~curvsym.integrate.trajectory.Trajectory` per η, with ``t`` the times reached
    (t = kη exactly in steps), ``info["eta"]``, ``info["steps"]`` and, for a member that
    left the finite range (a non-finite iterate, or ‖W‖_max > ``max_norm``), ``status`` DIVERGED,
    ``info["divergence"]`` (a :class:`Divergence`; ``loss`` evaluates it at the last iterate
    inside) and the trajectory up to its last output time inside.

    Raises:
        OptionError: a bad η, a time that is not a whole number of steps of some η, an mpmath ``rhs``.
        ShapeError: weights with a batch axis, or of the wrong shapes.
        DivergenceError: a member left the finite range and ``throw`` is True.
    """
    etas = [float(e) for e in step_sizes(list(etas))]
    if rhs.backend == "mpmath":
        raise OptionError("iterate_sweep runs in floating point; generate the rule with backend 'numpy' or "
                          "'array_api' (iterate_precise runs at arbitrary precision)")
    times = [float(t) for t in times]
    if not times or any(b < a for a, b in zip(times[:-1], times[1:])) or not all(map(math.isfinite, times)):
        raise OptionError("times must be a non-empty, finite, non-decreasing sequence")
    for e in etas:
        for t in times:
            k = t / e
            if abs(k - round(k)) > 1e-9 * max(1.0, abs(k)):
                raise OptionError(f"t = {t:g} is not a whole number of steps of η = {e:g}")
    if any(getattr(w, "ndim", 2) != 2 for w in weights):
        raise ShapeError("iterate_sweep takes one network's layers (2-D arrays); the sweep adds the batch axis")
    params = params or {}
    B = len(etas)
    order = sorted(range(B), key=lambda b: -etas[b])  # largest η first: the moving members stay a slice
    etas_sorted = [etas[b] for b in order]
    xp = _namespace(list(weights))
    Wb = tuple(xp.concat([w[None, ...]] * B, axis=0) for w in weights)
    d = rhs.validate(Wb, data, params)
    f = rhs.func

    def field(state):
        return f(*state, *d, **params, xp=xp)

    max_steps = int(math.ceil(times[-1] / min(etas) - times[0] / max(etas))) + 2
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        traj = solve_batched(SweepStepMap(etas_sorted, max_norm), field, Wb, times, xp, B, max_steps=max_steps,
                             throw=False)
    out = []
    position = {b: j for j, b in enumerate(order)}
    for b0, e in enumerate(etas):
        b = position[b0]
        stopped = traj.t_stopped[b] if traj.t_stopped else None
        keep = [j for j, t in enumerate(times) if stopped is None or t <= stopped * (1 + 1e-12)]
        states = tuple(tuple(s[i][b, ...] for i in range(len(weights))) for s in (traj.states[j] for j in keep))
        steps = tuple(int(round(times[j] / e)) for j in keep)
        info: dict = {"eta": e, "steps": steps, "divergence": None}
        status, message = Status.SUCCESS, ""
        if stopped is not None and traj.status[b] is not Status.DIVERGED:  # a step limit: reported as it is
            status, message = traj.status[b], traj.messages[b]
        elif stopped is not None:
            k_last = int(round(stopped / e))
            last = tuple(w[b, ...] for w in traj.final)  # frozen at the last finite iterate
            div = Divergence(e, k_last + 1, (k_last + 1) * e, _loss_value(loss, last),
                             f"non-finite or ‖W‖_max > {max_norm:g}")
            info["divergence"] = div
            status, message = Status.DIVERGED, str(div)
            if throw:
                raise DivergenceError(message, div.t)
        out.append(Trajectory(tuple(times[j] for j in keep), states, f"step map η={e:g}", 0.0, None,
                              n_steps=steps[-1] if steps else 0, n_rhs=steps[-1] if steps else 0, info=info,
                              status=status, message=message))
    return tuple(out)


@solvers.register
class PreciseStepMapSolver(Solver):
    """The step map θ ↦ θ + η v(θ) of any rule at ``dps`` digits on one trajectory; ``t_eval`` are step counts.

    A map evaluates v at its iterates and has no step to land on a kink (``crosses_kinks``); never
    chosen automatically (it needs η).  See :func:`iterate_precise` for the result.
    """

    name: ClassVar[str] = "stepmap-mp"
    arbitrary_precision: ClassVar[bool] = True
    crosses_kinks: ClassVar[bool] = True
    adaptive: ClassVar[bool] = False
    automatic: ClassVar[bool] = False
    priority: ClassVar[int] = 60

    def __init__(self, eta: Any, loss: Callable[[State], Scalar] | None = None):
        """η (exact: see :func:`iterate_precise`) and an optional loss for the divergence report.

        Raises:
            OptionError: a bad η.
        """
        (self.eta,) = step_sizes(eta)
        self.loss = loss

    def run(self, rhs: VectorField, weights: State, data: Data, t_eval: Times, *, dps: int, params: Params,
            max_steps: int, max_norm: float, progress: bool | None, timeout: float | None,
            throw: bool) -> Trajectory:
        """See :func:`iterate_precise` (``t_eval``: the step counts).

        Raises:
            DivergenceError: an iterate left the bound and ``throw`` is True.
            IntegrationTimeout: longer than ``timeout`` seconds and ``throw`` is True.
            StepLimitError: more than ``max_steps`` steps and ``throw`` is True.
        """
        eta, loss, steps = self.eta, self.loss, [int(k) for k in t_eval]
        wdps = working_dps(dps)
        params = params or {}
        with mpmath.workdps(wdps):
            e = mpmath.mpf(eta.numerator) / eta.denominator if isinstance(eta, Fraction) else mpmath.mpf(eta)
            y = to_mp(weights, wdps)
            d = rhs.validate(y, to_mp(data, wdps), params)
            func = rhs.func

            def field(state):
                return func(*state, *d, **params, xp=np)

            stepper = PreciseStepMap(e)
            ts = [mpmath.mpf(int(k)) for k in steps]
            sol = solve(stepper, field, y, ts, max_steps=max_steps, max_norm=max_norm, progress=progress,
                        desc=f"step map η={mpmath.nstr(e, 6)}", timeout=timeout, throw=False, zero=mpmath.mpf(0))
            for s in sol.states:
                check_finite_state(s, "iterate")
            reached = tuple(int(t) for t in sol.t)
            info: dict = {"eta": e, "steps": reached, "divergence": None}
            message = sol.message
            if sol.status is Status.DIVERGED and sol.state is not None:
                last, bad = sol.state
                size = max_abs(bad)
                div = Divergence(float(e), sol.n_steps, float(sol.n_steps * e), _loss_value(loss, last),
                                 f"‖W‖_max = {mpmath.nstr(size, 3)} > {max_norm:g}")
                info["divergence"] = div
                message = str(div)
                if throw:
                    raise DivergenceError(message, div.t)
            elif sol.status is Status.TIMEOUT and throw:
                raise IntegrationTimeout(message, float(reached[-1] * e))
            elif sol.status is Status.STEP_LIMIT and throw:
                raise StepLimitError(message, float(reached[-1] * e))
            scale = max(mpmath.mpf(1), max(max_abs(s) for s in sol.states))
            rounding = mpmath.mpf(10) ** (-wdps) * max(sol.n_steps, 1) * scale
            return Trajectory(tuple(k * e for k in reached), sol.states,
                              f"step map η={mpmath.nstr(e, 6)} ({dps} digits)", rounding, dps, sol.n_steps,
                              sol.n_steps, info=info, status=sol.status, message=message)


def iterate_precise(rhs: VectorField, weights: State, data: Data, eta: Any, steps: Sequence[int], *,
                    dps: int = 50, params: Params | None = None, loss: Callable[[State], Scalar] | None = None,
                    max_norm: float = 1e30, throw: bool = False, timeout: float | None = None,
                    progress: bool | None = None) -> Trajectory:
    """The step map of ``rhs`` (``backend="mpmath"``) at ``dps`` digits, recorded at the step counts ``steps``.

    A thin alias of the front door: ``integrate(rhs, weights, data, steps, dps=dps,
    solver=PreciseStepMapSolver(eta, loss), …)``.

    η converts exactly (a float keeps its binary value, so t = kη matches a float64 run and
    the output times of a high-precision flow computed with the same η); strings parse at
    the working precision.  Returns a :class:`~curvsym.integrate.trajectory.Trajectory` with
    ``t = (kη …)`` as mpf, object-array states, ``info["eta"]``, ``info["steps"]`` and
    ``info["divergence"]`` (a :class:`Divergence` when an iterate left ‖W‖_max ≤ ``max_norm``;
    ``loss``, called on mpf states, evaluates it).  ``error_estimate`` is the rounding bound
    10^−wdps · steps · max(1, ‖W‖_max) (the map itself is exact arithmetic up to rounding).

    Raises:
        OptionError: a bad η, step counts that are not non-decreasing non-negative integers, or a
            ``rhs`` not generated for mpmath.
        PrecisionError: ``dps`` < 15.
        DivergenceError: an iterate left the bound and ``throw`` is True (the message names the step and loss).
        IntegrationTimeout: longer than ``timeout`` seconds (``throw`` True).
    """
    solver = PreciseStepMapSolver(eta, loss)
    steps = list(steps)
    if not steps or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0 for k in steps) or \
            any(b < a for a, b in zip(steps[:-1], steps[1:])):
        raise OptionError(f"steps must be non-decreasing non-negative integers, got {steps!r}")
    return integrate(rhs, weights, data, steps, dps=dps, solver=solver, params=params, max_steps=int(steps[-1]) + 1,
                     max_norm=max_norm, throw=throw, timeout=timeout, progress=progress)
