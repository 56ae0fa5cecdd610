r"""Explicit steppers on the array API, batched: RK4, Dormand–Prince 5(4) and the discrete step map.

States carry a leading batch axis: W_i has shape (B, n_i, n_{i−1}); every member
b has its own time t_b and, for adaptive steppers, its own step size, so member
b follows exactly the step sequence it would follow alone.  They are driven by
:func:`curvsym.integrate.ensemble.solve_batched`; ``step`` receives the mask of
members still ``active`` and returns per-member times and an ``accepted`` mask.

* :class:`RK4` — classical Runge–Kutta, order 4, each output interval split into
  ⌈Δt/dt⌉ equal steps.
* :class:`Dopri5` — Dormand–Prince 5(4) with the Hairer–Nørsett–Wanner controller:
  err = RMS over all entries of e/(atol + rtol·max(|y|, |y_new|)), accept when
  err ≤ 1, h ← h·clip(0.9 err^{−1/5}, 0.2, 5).
* :class:`StepMap` — the discrete map θ_{k+1} = θ_k + η v(θ_k) of a rule (GD for
  v = −∇L): one unit of "time" per step, η a number or one per member.
* :class:`IteratedMap` — y_{k+1} = Φ(y_k; k) for a generated step map Φ (the new state itself,
  e.g. a rule's ``step_map``), in blocks of up to ``block`` steps between the runner's checks:
  a block whose end is not finite is replayed step by step from its start, so a member stops
  at exactly the step it would stop at when checked after every step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from array_api_compat import is_torch_array

from ..types import State, Time
from .stepper import AbstractStepper, Step

__all__ = ["RK4", "Dopri5", "StepMap", "IteratedMap"]


def _bshape(xp, v, B):
    return xp.reshape(v, (B, 1, 1))


def _plus(s: Any, a: Any) -> Any:
    """a + s, where ``s`` is a fresh array of the caller's: added into ``s`` in place when the shapes agree
    and the dtypes agree (NumPy, PyTorch, CuPy, array-API arrays: one allocation fewer per update; an
    immutable array, JAX's, rebinds), else out of place.  The same rounding as a + s (addition commutes)."""
    if (getattr(s, "shape", None) == getattr(a, "shape", None) and getattr(s, "dtype", None) == getattr(a, "dtype", 0)
            and not isinstance(s, (int, float))):
        s += a
        return s
    return a + s


def _axpy(y: Any, alpha: float, x: Any) -> Any:
    """y + α·x as a new array: on PyTorch one fused pass, ``y.add(x, alpha=α)`` (no temporary for α·x; the
    library may fuse the multiply-add, so the last bit can differ from fl(y + fl(α·x))); elsewhere α·x, with
    y added into it in place (:func:`_plus`: the textbook rounding)."""
    if _fusable(y, alpha, x):
        return y.add(x, alpha=alpha)
    return _plus(alpha * x, y)


def _fusable(y: Any, alpha: Any, x: Any) -> bool:
    """Whether y + α·x can be one fused torch pass: torch tensors of one shape and dtype, α a number."""
    return (isinstance(alpha, (int, float)) and is_torch_array(x) and is_torch_array(y)
            and x.shape == y.shape and x.dtype == y.dtype)


def _scaled(s: Any, c: float) -> Any:
    """c·s for a fresh array ``s`` of the caller's, in place where the array allows it."""
    s *= c
    return s


class RK4(AbstractStepper):
    """Classical fourth-order Runge–Kutta with steps of at most ``dt`` (equal steps per output interval)."""

    name: ClassVar[str] = "RK4"
    batched: ClassVar[bool] = True
    adaptive: ClassVar[bool] = False

    def __init__(self, dt: float):
        self.dt = float(dt)

    @property
    def order(self) -> int:
        return 4

    def step(self, field: Callable, t: Time, y: State, t_max: Time, state: Any, active: Any=None, xp: Any=None) -> Step:
        """One RK4 step (shared time t): h = (t_max − t)/⌈(t_max − t)/dt⌉."""
        remaining = float(t_max) - t
        n = max(1, math.ceil(remaining / self.dt - 1e-12))
        h = remaining / n
        k1 = field(y)
        k2 = field(tuple(_axpy(a, h / 2, b) for a, b in zip(y, k1)))
        k3 = field(tuple(_axpy(a, h / 2, b) for a, b in zip(y, k2)))
        k4 = field(tuple(_axpy(a, h, b) for a, b in zip(y, k3)))
        y_new = tuple(self._combine(a, b, c, d, e, h) for a, b, c, d, e in zip(y, k1, k2, k3, k4))
        return Step(float(t_max) if n == 1 else t + h, y_new, 0.0, True, state)

    @staticmethod
    def _combine(a: Any, b: Any, c: Any, d: Any, e: Any, h: float) -> Any:
        """a + (h/6)(b + 2c + 2d + e), summed in that order: four fused passes on PyTorch; elsewhere the
        textbook operations into two fresh temporaries."""
        if _fusable(b, 2, c):
            s = b.add(c, alpha=2)
            s.add_(d, alpha=2)
            s += e
            return _axpy(a, h / 6, s)
        return _plus(_scaled(_plus(_plus(_plus(2 * c, b), 2 * d), e), h / 6), a)


class StepMap(AbstractStepper):
    """θ ↦ θ + η v(θ): the discrete step of a rule (explicit Euler on its flow, order 1); t counts steps."""

    name: ClassVar[str] = "step map"
    batched: ClassVar[bool] = True
    adaptive: ClassVar[bool] = False

    def __init__(self, eta: Any):
        self.eta = eta

    @property
    def order(self) -> int:
        return 1

    def step(self, field: Callable, t: Time, y: State, t_max: Time, state: Any, active: Any=None, xp: Any=None) -> Step:
        eta = self.eta
        v = field(y)
        return Step(t + 1, tuple(_axpy(a, eta, vi) for a, vi in zip(y, v)), 0.0, True, state)


class IteratedMap(AbstractStepper):
    r"""y_{k+1} = Φ(y_k; k): a step map given as the new state (``map(y, k)``, k the steps taken); t counts steps.

    One call advances n = min(``block``, t_max − t, ``last`` − t) steps and the runner checks the state
    once per call (finiteness costs a pass over every array, which on small matrices is a good part
    of a step).  So that checking per block stops a member exactly where checking per step would,
    a block whose end is not all finite is replayed from its start step by step, and the call
    returns the last finite state before the first non-finite one (t then marks that step); the
    next call makes that one step alone, and the runner sees it fail.  With some member already
    stopped (``active`` not all true) every call makes one step.  ``finite(xp, y)`` is the runner's
    test (one reduction per array).
    """

    name: ClassVar[str] = "step map Φ"
    batched: ClassVar[bool] = True
    adaptive: ClassVar[bool] = False

    def __init__(self, finite: Callable[[Any, Any], bool], block: int = 64, last: float = math.inf):
        self.finite, self.block, self.last = finite, int(block), last

    @property
    def order(self) -> int:
        return 1

    def step(self, field: Callable, t: Time, y: State, t_max: Time, state: Any, active: Any = None,
             xp: Any = None) -> Step:
        n = int(min(self.block, t_max - t, self.last - t))
        if n <= 1 or (active is not None and not bool(xp.all(active))):
            return Step(t + 1, field(y, t), 0.0, True, state)
        z = y
        for j in range(n):
            z = field(z, t + j)
        if self.finite(xp, z):
            return Step(t + n, z, 0.0, True, state, steps=n)
        z = y  # replay: the same deterministic map, checked after every step
        for j in range(n):
            new = field(z, t + j)
            if not self.finite(xp, new):
                if j == 0:
                    return Step(t + 1, new, 0.0, True, state)
                return Step(t + j, z, 0.0, True, state, steps=j)
            z = new
        return Step(t + n, z, 0.0, True, state, steps=n)  # pragma: no cover - a map that is not deterministic


# Dormand–Prince 5(4) tableau
_C = (0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1)
_A = ((),
      (1 / 5,),
      (3 / 40, 9 / 40),
      (44 / 45, -56 / 15, 32 / 9),
      (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
      (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
      (35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84))
_B5 = (35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0)
_E = (71 / 57600, 0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)  # b5 − b4


@dataclass(frozen=True)
class _DopriState:
    h: Any  # per-member step sizes, shape (B,)


class Dopri5(AbstractStepper):
    """Dormand–Prince 5(4) with one adaptive step size per member (see the module docstring)."""

    name: ClassVar[str] = "Dopri5"
    batched: ClassVar[bool] = True

    def __init__(self, rtol: float = 1e-8, atol: float = 1e-10, first_step: float = 1e-2,
                 step_size: float | None = None):
        self.rtol, self.atol, self.first_step = rtol, atol, first_step
        self.step_size = step_size
        self.adaptive = step_size is None

    @property
    def order(self) -> int:
        return 5

    def init(self, field: Callable, t0: Time, y0: State, xp: Any=None, kw: Any=None) -> _DopriState | None:
        if self.step_size is not None:  # fixed steps: a shared float time
            return None
        return _DopriState(xp.full((y0[0].shape[0],), float(self.first_step), **kw))

    @staticmethod
    def _stages(field, y, bs):
        k = [field(y)]
        for s in range(1, 7):
            stage = tuple(yi + bs * sum(a * kj[i] for a, kj in zip(_A[s], k) if a != 0) for i, yi in enumerate(y))
            k.append(field(stage))
        return k, tuple(yi + bs * sum(b * kj[i] for b, kj in zip(_B5, k) if b != 0) for i, yi in enumerate(y))

    def step(self, field: Callable, t: Time, y: State, t_max: Time, state: _DopriState | None, active: Any=None, xp: Any=None) -> Step:
        """One step per active member (or one fixed step of ``step_size`` for all).

        An active member whose step size collapsed below 1e-12·max(1, |t_max|) is reported in
        ``Step.failed`` (the runner marks it diverged, or raises with ``throw=True``).
        """
        if self.step_size is not None:
            h = min(self.step_size, float(t_max) - t)
            _, y_new = self._stages(field, y, h)
            return Step(float(t_max) if h == float(t_max) - t else t + h, y_new, 0.0, True, None)
        B = y[0].shape[0]
        h = state.h
        remaining = float(t_max) - t
        step = xp.where(active, xp.minimum(h, remaining), xp.zeros_like(h))
        bs = _bshape(xp, step, B)
        k, y_new = self._stages(field, y, bs)
        n_entries = sum(math.prod(w.shape[1:]) for w in y)
        err_sq = None
        for i, (yi, yn) in enumerate(zip(y, y_new)):
            e = bs * sum(c * kj[i] for c, kj in zip(_E, k) if c != 0)
            scale = self.atol + self.rtol * xp.maximum(xp.abs(yi), xp.abs(yn))
            part = xp.sum((e / scale) ** 2, axis=(-2, -1))
            err_sq = part if err_sq is None else err_sq + part
        err = xp.sqrt(err_sq / n_entries)
        finite = xp.isfinite(err)
        accept = active & finite & (err <= 1.0)
        y_out = tuple(xp.where(_bshape(xp, accept, B), yn, yi) for yi, yn in zip(y, y_new))
        t_out = xp.where(accept, t + step, t)
        safe = xp.where(finite & (err > 0), err, xp.full_like(err, 1e-10))
        fac = xp.clip(0.9 * safe ** (-0.2), 0.2, 5.0)
        fac = xp.where(finite, fac, xp.full_like(fac, 0.2))
        clipped = step < h  # a step shortened to land on t_eval says nothing against h
        h_new = xp.where(accept & clipped, xp.maximum(h, step * fac), step * fac)
        h = xp.where(active, h_new, h)
        collapsed = active & (h < 1e-12 * max(1.0, abs(float(t_max))))
        return Step(t_out, y_out, err, accept, _DopriState(h), failed=collapsed if bool(xp.any(collapsed)) else None)
