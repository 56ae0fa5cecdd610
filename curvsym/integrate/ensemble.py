r"""Batched ensembles: B trajectories at once on any array-API backend.

States carry a leading batch axis: W_i has shape (B, n_i, n_{i−1}); the generated
right-hand side already broadcasts (``@`` and ``.mT`` act on the last two axes), and
Σx, T may be shared (2-D) or per trajectory (3-D).  Everything here is written on
the array API, so the same code runs on NumPy, PyTorch, JAX or CuPy arrays on the
device where they live.

* :func:`rk4` — classical fixed-step Runge–Kutta (4th order), one step size for all;
* :func:`dopri5` — Dormand–Prince 5(4) with **per-trajectory** adaptive steps;
  trajectories that are done are frozen by a zero step, so trajectory b follows
  exactly the step sequence it would follow alone and agrees with a
  single-trajectory run to round-off;
* :func:`iterate` — the discrete step map W ← W + η·V(W) of a rule (GD for the
  gradient flow), η a number or one per trajectory.

All three run through :func:`solve_batched`, the batched twin of
:func:`curvsym.integrate.runner.solve`.  With ``throw=False`` a member that
diverges is frozen at its last finite state and marked in ``status`` (the others
go on); with ``throw=True`` the first divergence raises.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import DivergenceError, OptionError, ShapeError, StepLimitError
from ..types import Data, Params, State, Times, VectorField
from .explicit import RK4, Dopri5, StepMap
from .stepper import AbstractStepper, Status

__all__ = ["EnsembleTrajectory", "solve_batched", "rk4", "dopri5", "iterate", "gd"]


@dataclass(frozen=True)
class EnsembleTrajectory:
    """``states[k][i]`` is layer i of all B trajectories at ``t[k]``.

    ``status[b]`` says how member b ended (:class:`~curvsym.integrate.stepper.Status`);
    ``t_stopped[b]`` is where a member that did not succeed stopped.
    """

    t: tuple
    states: tuple
    method: str
    n_steps: int
    n_rhs: int
    status: tuple = ()
    t_stopped: tuple = ()

    @property
    def final(self) -> State:
        return self.states[-1]

    @property
    def ok(self) -> tuple:
        """Per member: did it reach the last output time?"""
        return tuple(s is Status.SUCCESS for s in self.status)


def _xp(arrays):
    from array_api_compat import array_namespace
    return array_namespace(*arrays)


def _prepare(rhs: VectorField, weights, data, params):
    if rhs.backend == "mpmath":
        raise OptionError("ensembles integrate in floating point; generate the flow with backend 'numpy' or "
                          "'array_api'")
    data = rhs.validate(weights, data, params)
    xp = _xp(list(weights) + list(data))
    batch = weights[0].shape[:-2]
    if len(batch) != 1:
        raise ShapeError(f"ensemble weights need exactly one leading batch axis, got shape {weights[0].shape}")
    for w in weights:
        if w.shape[:-2] != batch:
            raise ShapeError("all layers must share the batch size")
    f = rhs.func

    if params:
        def field(state):
            return f(*state, *data, **params, xp=xp)
    else:  # the hot loop of GD: no keyword dictionary to build per call
        def field(state):
            return f(*state, *data, xp=xp)

    return xp, field, batch[0]


def solve_batched(stepper: AbstractStepper, field: Callable, y0: State, ts: Times, xp: Any, B: int, *, max_steps: int = 100_000,
                  throw: bool = True, rhs_per_step: int = 1) -> EnsembleTrajectory:
    """Drive a batched stepper through the output times ``ts``, member by member.

    Adaptive steppers (and those declaring ``per_member_time``) keep one time per member
    (an array (B,)); fixed-step ones share a float time.  After every step, members whose state is no longer finite are
    frozen at their last finite state and marked ``Status.DIVERGED``.

    Raises:
        DivergenceError: a member diverged and ``throw`` is True.
        StepLimitError: more than ``max_steps`` steps between two output times.
    """
    from array_api_compat import device
    kw = {"dtype": y0[0].dtype, "device": device(y0[0])}
    per_member = stepper.adaptive or stepper.per_member_time
    y = tuple(y0)
    t: Any = xp.full((B,), float(ts[0]), **kw) if per_member else float(ts[0])
    state = stepper.init(field, t, y, xp=xp, kw=kw) if per_member else stepper.init(field, t, y)
    alive = xp.ones((B,), dtype=xp.bool, device=kw["device"])
    stopped = [None] * B
    out, n_steps = [y], 0
    any_stopped = False
    bshape = lambda v: xp.reshape(v, (B, 1, 1))
    for target in ts[1:]:
        target = float(target)
        while True:
            if per_member:
                active = alive & ((target - t) > 1e-14 * max(1.0, abs(target)))
                if not bool(xp.any(active)):
                    break
            elif t >= target:
                break
            else:
                active = alive
            if n_steps >= max_steps:
                raise StepLimitError(f"{stepper.name}: needed more than {max_steps} steps before t = {target}",
                                     float(xp.min(t)) if per_member else t)
            s = stepper.step(field, t, y, target, state, active=active, xp=xp)
            # one cheap test first: a finite sum of every entry means every entry is finite
            # (NaN and ±inf propagate through sums); only otherwise test member by member
            if isinstance(s.y[0], np.ndarray):  # NumPy: the array method skips the namespace wrapper
                total = 0.0
                for w in s.y:
                    total += float(w.sum())
                total_finite = math.isfinite(total)
            else:
                total = None
                for w in s.y:
                    part = xp.sum(w)
                    total = part if total is None else total + part
                total_finite = bool(xp.isfinite(total))
            bad = None
            if not total_finite:
                finite = alive
                for w in s.y:
                    finite = finite & xp.all(xp.isfinite(w), axis=(-2, -1))
                bad = alive & ~finite
            if bad is not None and bool(xp.any(bad)):
                where_t = xp.where(bad, t, xp.full_like(t, float("inf"))) if per_member else t
                t_bad = float(xp.min(where_t)) if per_member else t
                if throw:
                    raise DivergenceError(f"{stepper.name}: a trajectory became non-finite by t = {target:.6g} "
                                          f"(at t ≈ {t_bad:.6g}; divergence)", t_bad)
                for b in range(B):
                    if bool(bad[b]) and stopped[b] is None:
                        stopped[b] = float(t[b]) if per_member else t
                alive = alive & finite
            if any_stopped or any(x is not None for x in stopped):  # keep the diverged members frozen
                any_stopped = True
                y = tuple(xp.where(bshape(alive), yn, yo) for yn, yo in zip(s.y, y))
            else:
                y = s.y
            t = xp.where(alive, s.t, t) if per_member else s.t
            state = s.state
            n_steps += 1
        out.append(y)
    status = tuple(Status.SUCCESS if stopped[b] is None else Status.DIVERGED for b in range(B))
    return EnsembleTrajectory(tuple(ts), tuple(out), stepper.name, n_steps, n_steps * rhs_per_step, status,
                              tuple(stopped))


def rk4(rhs: VectorField, weights: Sequence[Any], data: Data, t_eval: Times, dt: float,
        params: Params | None = None, throw: bool = True) -> EnsembleTrajectory:
    """Classical RK4 with steps of at most ``dt`` between consecutive output times.

    Raises:
        DivergenceError: a member became non-finite (``throw=True``).
        ShapeError, OptionError: see :func:`solve_batched` and the generated function's validation.
    """
    params = params or {}
    xp, field, B = _prepare(rhs, weights, data, params)
    traj = solve_batched(RK4(dt), field, tuple(weights), t_eval, xp, B, throw=throw, rhs_per_step=4)
    return _renamed(traj, f"RK4 dt={dt:g}")


def dopri5(rhs: VectorField, weights: Sequence[Any], data: Data, t_eval: Times,
           rtol: float = 1e-8, atol: float = 1e-10, params: Params | None = None, first_step: float = 1e-2,
           max_steps: int = 100_000, throw: bool = True) -> EnsembleTrajectory:
    """Dormand–Prince 5(4), each trajectory with its own adaptive step (see :class:`~.explicit.Dopri5`).

    Raises:
        DivergenceError: the step collapsed, or a member became non-finite (``throw=True``).
        StepLimitError: more than ``max_steps`` steps.
    """
    params = params or {}
    xp, field, B = _prepare(rhs, weights, data, params)
    traj = solve_batched(Dopri5(rtol, atol, first_step), field, tuple(weights), t_eval, xp, B,
                         max_steps=max_steps, throw=throw, rhs_per_step=7)
    return _renamed(traj, "Dormand–Prince 5(4), per-trajectory steps")


def iterate(rhs: VectorField, weights: Sequence[Any], data: Data, eta: Any, n_steps: int,
            record_every: int = 1, params: Params | None = None, throw: bool = False) -> EnsembleTrajectory:
    """The discrete step map W_{k+1} = W_k + η V(W_k) (V the generated velocity: −∇L for GD).

    ``eta`` is a number or one step size per trajectory (shape (B,)), for stability scans.
    By default a diverging member does not raise (GD at a large step size is *supposed*
    to diverge there): it is frozen at its last finite state and marked in ``status``.
    ``t`` of the result counts steps.

    Raises:
        OptionError: η not finite or not positive, or ``n_steps`` < 1.
        DivergenceError: a member diverged and ``throw=True``.
    """
    import numpy as np
    params = params or {}
    xp, field, B = _prepare(rhs, weights, data, params)
    etas = np.atleast_1d(np.asarray(eta, dtype=float))
    if not np.all(np.isfinite(etas)) or np.any(etas <= 0):
        raise OptionError(f"the step size η must be finite and positive, got {eta!r}")
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise OptionError(f"n_steps must be a positive integer, got {n_steps!r}")
    if not isinstance(eta, (int, float)):
        from array_api_compat import device
        eta = xp.reshape(xp.asarray(eta, dtype=weights[0].dtype, device=device(weights[0])), (B, 1, 1))
    times = list(range(0, n_steps, record_every)) + [n_steps]
    traj = solve_batched(StepMap(eta), field, tuple(weights), times, xp, B, max_steps=n_steps + 1, throw=throw)
    label = f"η={eta:g}" if isinstance(eta, (int, float)) else "per-trajectory η"
    return _renamed(traj, f"gradient descent {label}")


gd = iterate
"""The name :func:`iterate` had before the rules and the steppers were separated (``ensemble.gd``)."""


def _renamed(traj: EnsembleTrajectory, method: str) -> EnsembleTrajectory:
    from dataclasses import replace
    return replace(traj, method=method)
