r"""One runner for every stepper, single or batched: one set of rules, one set of statuses.

:func:`solve` advances a stepper from t_eval[0] through every output time and
handles, once for all steppers:

* output times — steppers with dense output are evaluated inside their steps
  (no step is shortened to land on an output time); others are clipped to land;
* divergence — the state leaving the ball ‖W‖_max ≤ ``max_norm`` or becoming
  non-finite raises :class:`~curvsym.errors.DivergenceError` with the time reached;
* step limits and wall-clock ``timeout`` — :class:`~curvsym.errors.StepLimitError`,
  :class:`~curvsym.errors.IntegrationTimeout`;
* progress — a tqdm bar over simulated time;
* ``throw=False`` — instead of raising, return what was reached with a
  :class:`~curvsym.integrate.stepper.Status` and a message naming the fix;
* events — the region changes reported by the steps of a piecewise flow, in
  time order (``Solution.events``).

A batched stepper (``stepper.batched``: states with a leading axis of B members) goes to
:func:`solve_batched` (``solve`` forwards it there), which keeps the same rules *per member*:
a member that becomes non-finite, leaves ‖W‖_max ≤ ``max_norm``, whose step collapses
(``Step.failed``) or that needs more than ``max_steps`` steps is frozen with its own
status and message while the others go on; ``timeout`` stops every member still running
with ``Status.TIMEOUT``.  With ``throw=True`` the first such event raises, exactly the
exception a single run raises; with ``throw=False`` nothing is raised for any member.
:func:`status_of` is the one table exception → status both use.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import DivergenceError, IntegrationError, IntegrationTimeout, NonSmoothError, StepLimitError
from ..types import State, Time
from .progress import progress_bar
from .stepper import AbstractStepper, Status
from .trajectory import EnsembleTrajectory

__all__ = ["Solution", "solve", "solve_batched", "status_of", "all_finite"]

_STATUS = {DivergenceError: Status.DIVERGED, StepLimitError: Status.STEP_LIMIT, IntegrationTimeout: Status.TIMEOUT,
           NonSmoothError: Status.NON_SMOOTH}


def status_of(exc: IntegrationError) -> Status:
    """The :class:`Status` a run ends with instead of raising ``exc`` (``throw=False``)."""
    return _STATUS.get(type(exc), Status.DIVERGED)


def step_limit_message(name: str, max_steps: int, t: Any) -> str:
    return f"{name}: needed more than {max_steps} steps; reached t = {_fmt(t)} (raise max_steps)"


def timeout_message(name: str, timeout: float, t: Any, t_end: Any) -> str:
    return f"{name}: stopped after the timeout of {timeout:g} s at t = {_fmt(t)} of {_fmt(t_end)} (raise timeout=)"


@dataclass(frozen=True)
class Solution:
    """Raw result of :func:`solve`: output times and states, accumulated local errors, counts, status."""

    t: tuple
    states: tuple
    error: Any
    n_steps: int
    state: Any
    status: Status = Status.SUCCESS
    message: str = ""
    extra: dict = field(default_factory=dict)
    events: tuple = ()


def _finite(x) -> bool:
    try:
        return math.isfinite(x)
    except (TypeError, OverflowError):
        import mpmath
        return bool(mpmath.isfinite(x))


def _fmt(t) -> str:
    try:
        return f"{float(t):.10g}"
    except (TypeError, OverflowError):
        return str(t)


def solve(stepper: AbstractStepper, field: Callable[[State], State], y0: State, ts: Sequence[Time], *,
          max_steps: int = 100_000, max_norm: float = 1e30, progress: bool | None = None, desc: str = "",
          timeout: float | None = None, throw: bool = True, zero: Any = 0) -> Solution | EnsembleTrajectory:
    """Integrate dy/dt = field(y) with ``stepper`` through the output times ``ts`` (``ts[0]`` initial).

    ``zero`` is the additive zero of the error type (``mpmath.mpf(0)`` at high precision).
    A batched stepper is forwarded to :func:`solve_batched` (same options; an
    :class:`~curvsym.integrate.trajectory.EnsembleTrajectory` comes back).

    Raises:
        DivergenceError: the state left ‖y‖_max ≤ max_norm, became non-finite, or the step collapsed.
        StepLimitError: more than ``max_steps`` accepted steps were needed.
        IntegrationTimeout: the run took longer than ``timeout`` seconds (wall clock).
    """
    if stepper.batched:
        return solve_batched(stepper, field, y0, ts, max_steps=max_steps, max_norm=max_norm, throw=throw,
                             timeout=timeout, progress=progress)
    t, y = ts[0], y0
    out_t, out_y = [t], [stepper.output(y)]
    err_total = zero
    n_steps = 0
    k = 1
    while k < len(ts) and ts[k] <= t:  # repeated initial times
        out_t.append(ts[k])
        out_y.append(out_y[0])
        k += 1
    state = stepper.init(field, t, y)
    start = time.perf_counter()
    bar = progress_bar(progress, float(ts[-1] - ts[0]), desc or stepper.name)
    status, message = Status.SUCCESS, ""
    events: list = []
    try:
        while k < len(ts):
            target = ts[k]
            if n_steps >= max_steps:
                raise StepLimitError(step_limit_message(stepper.name, max_steps, t), float(t))
            if timeout is not None and time.perf_counter() - start > timeout:
                raise IntegrationTimeout(timeout_message(stepper.name, timeout, t, ts[-1]), float(t))
            s = stepper.step(field, t, y, ts[-1] if stepper.dense_output else target, state)
            state = s.state
            if not s.accepted:
                continue
            n_steps += 1
            err_total = err_total + s.error
            events.extend(s.events)
            size = stepper.size(s.y)
            if not _finite(size) or size > max_norm:
                what = "became non-finite" if not _finite(size) else f"= {_fmt(size)} exceeded {max_norm:g}"
                raise DivergenceError(f"{stepper.name}: ‖W‖_max {what} at t = {_fmt(s.t)} (divergence)",
                                      float(s.t))
            if bar is not None:
                bar.update(float(s.t - t))
            while k < len(ts) and ts[k] <= s.t:
                out_t.append(ts[k])
                out_y.append(stepper.output(s.y if ts[k] == s.t or s.dense is None else s.dense(ts[k])))
                k += 1
            t, y = s.t, s.y
    except IntegrationError as exc:
        if throw:
            raise
        status = status_of(exc)
        message = str(exc)
    finally:
        if bar is not None:
            bar.close()
    return Solution(tuple(out_t), tuple(out_y), err_total, n_steps, state, status, message, {}, tuple(events))


def _namespace(arrays: Sequence[Any]) -> Any:
    from array_api_compat import array_namespace
    return array_namespace(*arrays)


def all_finite(xp: Any, ys: State) -> bool:
    """One cheap test: a finite sum of every entry means every entry is finite (NaN and ±inf propagate)."""
    if isinstance(ys[0], np.ndarray):  # NumPy: the array method skips the namespace wrapper
        total = 0.0
        for w in ys:
            total += float(w.sum())
        return math.isfinite(total)
    total = None
    for w in ys:
        part = xp.sum(w)
        total = part if total is None else total + part
    return bool(xp.isfinite(total))


def solve_batched(stepper: AbstractStepper, field: Callable, y0: State, ts: Sequence[Time], xp: Any = None,
                  B: int | None = None, *, max_steps: int = 100_000, max_norm: float | None = None,
                  throw: bool = True, timeout: float | None = None, progress: bool | None = None,
                  rhs_per_step: int = 1) -> EnsembleTrajectory:
    """Drive a batched stepper through the output times ``ts``, member by member (see the module docstring).

    Adaptive steppers (and those declaring ``per_member_time``) keep one time per member (an
    array (B,)) and ``max_steps`` counts each member's accepted steps; fixed-step ones share a
    float time and a step count.  After every step, members whose state is no longer finite,
    exceeds ``max_norm`` (None: no bound) or whose step failed are frozen at their last state
    and marked ``Status.DIVERGED``; members past ``max_steps`` ``Status.STEP_LIMIT``; when the
    run passes ``timeout`` seconds, every member still running ``Status.TIMEOUT``.  ``progress``
    (True only: a batched run shows no bar by default) shows a bar over the output times.

    Raises:
        DivergenceError: a member diverged and ``throw`` is True.
        StepLimitError: a member needed more than ``max_steps`` steps and ``throw`` is True.
        IntegrationTimeout: the run took longer than ``timeout`` seconds and ``throw`` is True.
    """
    from array_api_compat import device
    y = tuple(y0)
    xp = xp if xp is not None else _namespace(y)
    B = B if B is not None else y[0].shape[0]
    kw = {"dtype": y[0].dtype, "device": device(y[0])}
    name = stepper.name
    per_member = stepper.adaptive or stepper.per_member_time
    t: Any = xp.full((B,), float(ts[0]), **kw) if per_member else float(ts[0])
    state = stepper.init(field, t, y, xp=xp, kw=kw) if per_member else stepper.init(field, t, y)
    alive = xp.ones((B,), dtype=xp.bool, device=kw["device"])
    counts = xp.zeros((B,), **kw) if per_member else None  # accepted steps per member (exact in float64)
    status: list = [Status.SUCCESS] * B
    messages: list = [""] * B
    stopped: list = [None] * B
    out, n_steps = [y], 0
    running = B          # members still alive (a Python count: no device sync in the hot loop)
    start = time.perf_counter()
    bar = progress_bar(True, float(ts[-1]) - float(ts[0]), name) if progress else None
    shown = float(ts[0])
    bshape = lambda v: xp.reshape(v, (B, 1, 1))

    def at(b: int) -> float:
        return float(t[b]) if per_member else float(t)

    def stop(mask: Any, why: Status, message: Callable[[int], str]) -> Any:
        """Freeze the members of ``mask`` (alive ones) with status ``why``; the new alive mask."""
        nonlocal running
        for b in range(B):
            if bool(mask[b]) and stopped[b] is None:
                stopped[b], status[b], messages[b] = at(b), why, message(b)
                running -= 1
        return alive & ~mask

    try:
        for target in ts[1:]:
            target = float(target)
            while running:
                if per_member:
                    active = alive & ((target - t) > 1e-14 * max(1.0, abs(target)))
                    if not bool(xp.any(active)):
                        break
                elif t >= target:
                    break
                else:
                    active = alive
                if timeout is not None and time.perf_counter() - start > timeout:
                    t_min = min(at(b) for b in range(B) if stopped[b] is None)
                    if throw:
                        raise IntegrationTimeout(timeout_message(name, timeout, t_min, ts[-1]), t_min)
                    alive = stop(alive, Status.TIMEOUT,
                                 lambda b: f"member {b}: " + timeout_message(name, timeout, at(b), ts[-1]))
                    break
                if n_steps >= max_steps:  # (a member's own count never exceeds the shared one)
                    over = active & (counts >= max_steps) if per_member else active
                    if bool(xp.any(over)):
                        t_over = min(at(b) for b in range(B) if bool(over[b]))
                        if throw:
                            raise StepLimitError(step_limit_message(name, max_steps, t_over), t_over)
                        alive = stop(over, Status.STEP_LIMIT,
                                     lambda b: f"member {b}: " + step_limit_message(name, max_steps, at(b)))
                        continue
                s = stepper.step(field, t, y, target, state, active=active, xp=xp)
                bad = None
                if not all_finite(xp, s.y):
                    finite = alive
                    for w in s.y:
                        finite = finite & xp.all(xp.isfinite(w), axis=(-2, -1))
                    bad = alive & ~finite
                if max_norm is not None:
                    size = None
                    for w in s.y:
                        m = xp.max(xp.abs(w), axis=(-2, -1))
                        size = m if size is None else xp.maximum(size, m)
                    over_norm = alive & (size > max_norm)
                    bad = over_norm if bad is None else bad | over_norm
                if s.failed is not None:
                    bad = alive & s.failed if bad is None else bad | (alive & s.failed)
                if bad is not None and bool(xp.any(bad)):
                    t_bad = min(at(b) for b in range(B) if bool(bad[b]))
                    collapsed = s.failed is not None and bool(xp.any(s.failed))
                    what = "its step size collapsed" if collapsed else \
                        "became non-finite" + ("" if max_norm is None else f" or left ‖W‖_max ≤ {max_norm:g}")
                    fix = ("the flow appears to blow up in finite time" if collapsed else
                           "a smaller step or η may keep it finite, unless the flow itself blows up")
                    if throw:
                        raise DivergenceError(f"{name}: a trajectory {what} by t = {target:.6g} (at t ≈ {t_bad:.6g}; "
                                              "divergence)", t_bad)
                    alive = stop(bad, Status.DIVERGED,
                                 lambda b: f"member {b}: {name}: diverged ({what}) after t = {at(b):.6g}; {fix}")
                if running < B:  # keep the stopped members frozen
                    y = tuple(xp.where(bshape(alive), yn, yo) for yn, yo in zip(s.y, y))
                else:
                    y = s.y
                if per_member:
                    moved = active if isinstance(s.accepted, bool) else active & s.accepted
                    counts = xp.where(moved & alive, counts + 1, counts)
                    t = xp.where(alive, s.t, t)
                else:
                    t = s.t
                state = s.state
                n_steps += 1 if per_member else s.steps
            out.append(y)
            if bar is not None:
                bar.update(target - shown)
                shown = target
    finally:
        if bar is not None:
            bar.close()
    return EnsembleTrajectory(tuple(ts), tuple(out), name, n_steps, n_steps * rhs_per_step, tuple(status),
                              tuple(stopped), tuple(messages))
