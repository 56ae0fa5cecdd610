r"""One runner for every single-trajectory stepper.

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
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..errors import DivergenceError, IntegrationError, IntegrationTimeout, NonSmoothError, StepLimitError
from ..types import State, Time
from .progress import progress_bar
from .stepper import AbstractStepper, Status

__all__ = ["Solution", "solve"]


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
          timeout: float | None = None, throw: bool = True, zero: Any = 0) -> Solution:
    """Integrate dy/dt = field(y) with ``stepper`` through the output times ``ts`` (``ts[0]`` initial).

    ``zero`` is the additive zero of the error type (``mpmath.mpf(0)`` at high precision).

    Raises:
        DivergenceError: the state left ‖y‖_max ≤ max_norm, became non-finite, or the step collapsed.
        StepLimitError: more than ``max_steps`` accepted steps were needed.
        IntegrationTimeout: the run took longer than ``timeout`` seconds (wall clock).
    """
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
                raise StepLimitError(f"{stepper.name}: needed more than {max_steps} steps; reached t = {_fmt(t)} "
                                     "(raise max_steps)", float(t))
            if timeout is not None and time.perf_counter() - start > timeout:
                raise IntegrationTimeout(f"{stepper.name}: stopped after the timeout of {timeout:g} s at "
                                         f"t = {_fmt(t)} of {_fmt(ts[-1])} (raise timeout=)", float(t))
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
        status = {DivergenceError: Status.DIVERGED, StepLimitError: Status.STEP_LIMIT,
                  IntegrationTimeout: Status.TIMEOUT, NonSmoothError: Status.NON_SMOOTH}.get(type(exc), Status.DIVERGED)
        message = str(exc)
    finally:
        if bar is not None:
            bar.close()
    return Solution(tuple(out_t), tuple(out_y), err_total, n_steps, state, status, message, {}, tuple(events))
