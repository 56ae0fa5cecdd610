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
  gradient flow), η a number or one per trajectory;
* :func:`iterate_map` — y ← Φ(y; k) for a generated step map Φ that returns the new state
  itself (a rule with memory's ``step_map``: each new slot value formed once), k the steps
  taken, checked once per block of steps (:class:`~.explicit.IteratedMap`).

The four are solvers (:class:`Dopri5Solver`, :class:`RK4Solver`, :class:`StepMapSolver`,
:class:`MapSolver`, declared ``batched``) of the one front door :func:`~curvsym.integrate.solver.integrate`, and
the functions above are thin aliases of it.  They run through the batched path of the one
runner, :func:`~curvsym.integrate.runner.solve_batched` (re-exported here): with
``throw=False`` a member that diverges, whose step collapses or that hits ``max_steps`` is
frozen at its last state and marked in ``status`` with a message (the others go on), and
``timeout=`` stops the members still running with ``Status.TIMEOUT``; with ``throw=True``
the first such event raises.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar, Sequence

import numpy as np

from ..errors import OptionError, ShapeError
from ..types import Data, Params, Times, VectorField
from .explicit import RK4, Dopri5, IteratedMap, StepMap
from .runner import all_finite, solve_batched
from .solver import Solver, integrate, solvers
from .stepper import AbstractStepper
from .trajectory import EnsembleTrajectory

__all__ = ["EnsembleTrajectory", "solve_batched", "rk4", "dopri5", "iterate", "iterate_map", "gd", "Dopri5Solver",
           "RK4Solver", "StepMapSolver", "MapSolver", "STEP_COUNT"]

STEP_COUNT = "k"
"""The keyword under which :class:`MapSolver` passes the steps taken to a step map that declares it."""


def _xp(arrays):
    from array_api_compat import array_namespace
    return array_namespace(*arrays)


def _checked(rhs: VectorField, weights, data, params):
    """The validated data, the namespace and the batch size B."""
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
    return data, xp, batch[0]


def _prepare(rhs: VectorField, weights, data, params):
    data, xp, B = _checked(rhs, weights, data, params)
    f = rhs.func

    if params:
        def field(state):
            return f(*state, *data, **params, xp=xp)
    else:  # the hot loop of GD: no keyword dictionary to build per call
        def field(state):
            return f(*state, *data, xp=xp)

    return xp, field, B


class _BatchedSolver(Solver):
    """A float solver of ensembles on the array API: builds its batched stepper, runs :func:`solve_batched`."""

    batched: ClassVar[bool] = True
    crosses_kinks: ClassVar[bool] = True
    max_norm: ClassVar[float | None] = None  # a non-finite member is always caught; a bound costs a pass per step
    rhs_per_step: ClassVar[int] = 1

    @abstractmethod
    def batched_stepper(self, xp: Any, B: int, weights: Sequence[Any]) -> AbstractStepper:
        """The stepper for B members on namespace ``xp``."""

    def run(self, rhs: VectorField, weights: Sequence[Any], data: Data, t_eval: Times, *, dps: int | None,
            params: Params, max_steps: int, max_norm: float | None, progress: bool | None,
            timeout: float | None, throw: bool) -> EnsembleTrajectory:
        """B members at once through :func:`solve_batched` (per-member statuses; see there)."""
        xp, field, B = _prepare(rhs, weights, data, params)
        traj = solve_batched(self.batched_stepper(xp, B, weights), field, tuple(weights), list(t_eval), xp, B,
                             max_steps=max_steps, max_norm=max_norm, throw=throw, timeout=timeout,
                             progress=progress, rhs_per_step=self.rhs_per_step)
        return _renamed(traj, self.describe())


@solvers.register
class Dopri5Solver(_BatchedSolver):
    """Dormand–Prince 5(4), one adaptive step per member: ``integrate``'s choice for weights (B, n, m)."""

    name: ClassVar[str] = "dopri5"
    priority: ClassVar[int] = 30
    rhs_per_step: ClassVar[int] = 7

    def __init__(self, rtol: float = 1e-8, atol: float = 1e-10, first_step: float = 1e-2):
        self.rtol, self.atol, self.first_step = rtol, atol, first_step

    def batched_stepper(self, xp: Any, B: int, weights: Sequence[Any]) -> Dopri5:
        return Dopri5(self.rtol, self.atol, self.first_step)

    def describe(self) -> str:
        return "Dormand–Prince 5(4), per-trajectory steps"


@solvers.register
class RK4Solver(_BatchedSolver):
    """Classical RK4 with steps of at most ``dt`` between output times (never chosen automatically)."""

    name: ClassVar[str] = "rk4"
    adaptive: ClassVar[bool] = False
    automatic: ClassVar[bool] = False
    priority: ClassVar[int] = 40
    rhs_per_step: ClassVar[int] = 4

    def __init__(self, dt: float):
        self.dt = dt

    def batched_stepper(self, xp: Any, B: int, weights: Sequence[Any]) -> RK4:
        return RK4(self.dt)

    def describe(self) -> str:
        return f"RK4 dt={self.dt:g}"


@solvers.register
class StepMapSolver(_BatchedSolver):
    """The discrete map W ← W + η·V(W) (GD for the gradient flow); ``t_eval`` counts steps.

    ``eta`` is a number or one step size per member (shape (B,)); never chosen automatically.
    """

    name: ClassVar[str] = "stepmap"
    adaptive: ClassVar[bool] = False
    automatic: ClassVar[bool] = False
    priority: ClassVar[int] = 50

    def __init__(self, eta: Any):
        """Check η.

        Raises:
            OptionError: η not finite or not positive.
        """
        etas = np.atleast_1d(np.asarray(eta, dtype=float))
        if not np.all(np.isfinite(etas)) or np.any(etas <= 0):
            raise OptionError(f"the step size η must be finite and positive, got {eta!r}")
        self.eta = eta

    def batched_stepper(self, xp: Any, B: int, weights: Sequence[Any]) -> StepMap:
        eta = self.eta
        if not isinstance(eta, (int, float)):
            from array_api_compat import device
            eta = xp.reshape(xp.asarray(eta, dtype=weights[0].dtype, device=device(weights[0])), (B, 1, 1))
        return StepMap(eta)

    def describe(self) -> str:
        eta = self.eta
        return f"gradient descent {f'η={eta:g}' if isinstance(eta, (int, float)) else 'per-trajectory η'}"


@solvers.register
class MapSolver(_BatchedSolver):
    r"""y_{k+1} = Φ(y_k; k) for a generated step map Φ (its outputs are the new state); ``t_eval`` counts steps.

    Φ is, e.g., ``generate_flow(rule.step_map(m))``; its step size is one of its ``params``.  If Φ
    declares the parameter ``k`` (:data:`STEP_COUNT`) it receives the steps taken, t.  The state is
    checked every ``block`` steps (and at every output time) with a replay that stops a diverging
    member at the same step as a check after every step (:class:`~.explicit.IteratedMap`); with a
    ``max_norm`` bound it is checked after every step.  Never chosen automatically.
    """

    name: ClassVar[str] = "map"
    adaptive: ClassVar[bool] = False
    automatic: ClassVar[bool] = False
    priority: ClassVar[int] = 55

    def __init__(self, block: int = 64):
        """Check the block length.

        Raises:
            OptionError: ``block`` not a positive integer.
        """
        if isinstance(block, bool) or not isinstance(block, int) or block < 1:
            raise OptionError(f"block must be a positive integer, got {block!r}")
        self.block = block

    def batched_stepper(self, xp: Any, B: int, weights: Sequence[Any]) -> IteratedMap:
        return IteratedMap(all_finite, self.block)

    def run(self, rhs: VectorField, weights: Sequence[Any], data: Data, t_eval: Times, *, dps: int | None,
            params: Params, max_steps: int, max_norm: float | None, progress: bool | None,
            timeout: float | None, throw: bool) -> EnsembleTrajectory:
        """B members at once through :func:`solve_batched`, Φ called as Φ(*y, *data, **params, k=t)."""
        params = dict(params or {})
        counts = STEP_COUNT in rhs.parameters
        data, xp, B = _checked(rhs, weights, data, {**params, STEP_COUNT: 0} if counts else params)
        f = rhs.func
        if counts:
            def field(state, k):
                return f(*state, *data, **params, k=k, xp=xp)
        else:
            def field(state, k):
                return f(*state, *data, **params, xp=xp)
        block = 1 if max_norm is not None else self.block
        stepper = IteratedMap(all_finite, block, float(t_eval[0]) + max_steps)
        traj = solve_batched(stepper, field, tuple(weights), list(t_eval), xp, B, max_steps=max_steps,
                             max_norm=max_norm, throw=throw, timeout=timeout, progress=progress)
        return _renamed(traj, self.describe())

    def describe(self) -> str:
        return f"step map Φ, checked every {self.block} steps"


def rk4(rhs: VectorField, weights: Sequence[Any], data: Data, t_eval: Times, dt: float,
        params: Params | None = None, throw: bool = True, timeout: float | None = None) -> EnsembleTrajectory:
    """Classical RK4 with steps of at most ``dt`` between consecutive output times.

    A thin alias of the front door: ``integrate(rhs, weights, data, t_eval, solver=RK4Solver(dt), …)``.

    Raises:
        DivergenceError: a member became non-finite (``throw=True``).
        IntegrationTimeout: longer than ``timeout`` seconds (``throw=True``).
        ShapeError, OptionError: see :func:`~curvsym.integrate.solver.integrate` and the generated function's
            validation.
    """
    return integrate(rhs, weights, data, t_eval, solver=RK4Solver(dt), params=params, throw=throw, timeout=timeout)


def dopri5(rhs: VectorField, weights: Sequence[Any], data: Data, t_eval: Times,
           rtol: float = 1e-8, atol: float = 1e-10, params: Params | None = None, first_step: float = 1e-2,
           max_steps: int = 100_000, throw: bool = True, timeout: float | None = None) -> EnsembleTrajectory:
    """Dormand–Prince 5(4), each trajectory with its own adaptive step (see :class:`~.explicit.Dopri5`).

    A thin alias of the front door: ``integrate(rhs, weights, data, t_eval, solver=Dopri5Solver(rtol, atol,
    first_step), …)``.  With ``throw=False`` a member whose step collapses, that becomes non-finite or
    that needs more than ``max_steps`` steps is frozen with its status; the others go on.

    Raises:
        DivergenceError: the step of a member collapsed, or a member became non-finite (``throw=True``).
        StepLimitError: a member needed more than ``max_steps`` steps (``throw=True``).
        IntegrationTimeout: longer than ``timeout`` seconds (``throw=True``).
    """
    return integrate(rhs, weights, data, t_eval, solver=Dopri5Solver(rtol, atol, first_step), params=params,
                     max_steps=max_steps, throw=throw, timeout=timeout)


def iterate(rhs: VectorField, weights: Sequence[Any], data: Data, eta: Any, n_steps: int,
            record_every: int = 1, params: Params | None = None, throw: bool = False,
            timeout: float | None = None) -> EnsembleTrajectory:
    """The discrete step map W_{k+1} = W_k + η V(W_k) (V the generated velocity: −∇L for GD).

    A thin alias of the front door: ``integrate(rhs, weights, data, times, solver=StepMapSolver(eta), …)``
    with ``times`` every ``record_every`` steps and the last.
    ``eta`` is a number or one step size per trajectory (shape (B,)), for stability scans.
    By default a diverging member does not raise (GD at a large step size is *supposed*
    to diverge there): it is frozen at its last finite state and marked in ``status``.
    ``t`` of the result counts steps.

    Raises:
        OptionError: η not finite or not positive, or ``n_steps`` < 1.
        DivergenceError: a member diverged and ``throw=True``.
        IntegrationTimeout: longer than ``timeout`` seconds (``throw=True``).
    """
    solver = StepMapSolver(eta)
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise OptionError(f"n_steps must be a positive integer, got {n_steps!r}")
    times = list(range(0, n_steps, record_every)) + [n_steps]
    return integrate(rhs, weights, data, times, solver=solver, params=params, max_steps=n_steps + 1, throw=throw,
                     timeout=timeout)


def iterate_map(rhs: VectorField, weights: Sequence[Any], data: Data, n_steps: int, record_every: int = 1,
                params: Params | None = None, throw: bool = False, timeout: float | None = None,
                start: int = 0, block: int = 64) -> EnsembleTrajectory:
    r"""y_{k+1} = Φ(y_k; k) for a generated step map Φ (e.g. ``generate_flow(rule.step_map(m))``), n_steps times.

    A thin alias of the front door: ``integrate(rhs, weights, data, times, solver=MapSolver(block), …)``
    with ``times`` = start, start + record_every, …, start + n_steps.  ``start`` is the steps already
    taken (the k of the first step; it matters to maps that read k, bias-corrected Adam).  The step
    size is a parameter of Φ (``params={"eta": h, …}``).  As in :func:`iterate`, a diverging member is
    frozen at its last finite state and marked in ``status`` unless ``throw=True``.

    Raises:
        OptionError: ``n_steps`` or ``block`` not a positive integer, or ``start`` not a non-negative one.
        DivergenceError: a member diverged and ``throw=True``.
        IntegrationTimeout: longer than ``timeout`` seconds (``throw=True``).
    """
    solver = MapSolver(block)
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise OptionError(f"n_steps must be a positive integer, got {n_steps!r}")
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise OptionError(f"start must be a non-negative integer, got {start!r}")
    times = [start + k for k in range(0, n_steps, record_every)] + [start + n_steps]
    return integrate(rhs, weights, data, times, solver=solver, params=params, max_steps=n_steps + 1, throw=throw,
                     timeout=timeout)


gd = iterate
"""The name :func:`iterate` had before the rules and the steppers were separated (``ensemble.gd``)."""


def _renamed(traj: EnsembleTrajectory, method: str) -> EnsembleTrajectory:
    from dataclasses import replace
    return replace(traj, method=method)
