r"""Stochastic optimisers as steppers of the discrete-step runner: SGD with momentum and Adam.

An optimiser is a batched, fixed-step :class:`~curvsym.integrate.stepper.AbstractStepper`
whose "time" counts steps, exactly like :class:`~curvsym.integrate.explicit.StepMap`
(gradient descent), and it runs through the same runner,
:func:`curvsym.integrate.runner.solve_batched`.  What it needs beyond GD —
moments, a step counter, random draws — lives in the stepper state.

The field.  As for ``StepMap``, the field is the *velocity* of gradient flow,
``v = −∇L``; an optimiser calls it as ``field(θ, k)``, with k = 0, 1, … the index of
the step, so that a minibatched objective returns −∇L_k(θ), the negative gradient of
the loss on minibatch k (every call within one step sees the same minibatch).  A
deterministic velocity f(θ) enters through :func:`deterministic`.  States are tuples
of arrays with a leading batch axis (B, …): B independent runs at once.

Baselines (the paper's comparisons; torch is not needed):

* :class:`SGDM` — PyTorch's ``torch.optim.SGD(momentum=μ)`` convention (no dampening):
  b_1 = g_1, b_k = μ b_{k−1} + g_k, θ_k = θ_{k−1} − η b_k.
* :class:`Adam` — Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
  Algorithm 1: m_k = β₁m_{k−1} + (1 − β₁)g_k, v_k = β₂v_{k−1} + (1 − β₂)g_k²,
  m̂ = m_k/(1 − β₁^k), v̂ = v_k/(1 − β₂^k), θ_k = θ_{k−1} − η m̂/(√v̂ + ε)
  (the update of ``torch.optim.Adam`` without weight decay or AMSGrad).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, ClassVar, Sequence

from ..errors import OptionError, ShapeError
from ..types import Array, Data, Params, State, Time, VectorField
from .runner import solve_batched
from .stepper import AbstractStepper, Step
from .trajectory import EnsembleTrajectory

__all__ = ["AbstractOptimizer", "SGDM", "Adam", "deterministic", "flow_field", "optimize"]

Field = Callable[[State, int], State]
"""field(θ, k) → −∇L_k(θ): the velocity on minibatch k."""


def _xp(arrays: Sequence[Array]) -> Any:
    from array_api_compat import array_namespace
    return array_namespace(*arrays)


def check_unit_interval(name: str, value: Any) -> float:
    """``value`` as a float in [0, 1) (a decay rate β).

    Raises:
        OptionError: not a finite number in [0, 1).
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"{name} must be a number in [0, 1), got {value!r}") from None
    if not 0.0 <= v < 1.0:
        raise OptionError(f"{name} must lie in [0, 1), got {value!r}")
    return v


def check_positive(name: str, value: Any, allow_zero: bool = False) -> float:
    """``value`` as a finite float > 0 (≥ 0 with ``allow_zero``).

    Raises:
        OptionError: not finite, or not positive (negative when ``allow_zero``).
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise OptionError(f"{name} must be finite and {'≥ 0' if allow_zero else '> 0'}, got {value!r}")
    return v


class AbstractOptimizer(AbstractStepper):
    """A discrete optimiser θ_{k+1} = θ_k + Δ_k(state): one step per unit of time (see the module docstring).

    A subclass implements ``init_state(y, xp)`` and ``update(field, k, y, state, xp) -> (y_new, state_new)``.
    """

    name: ClassVar[str] = "optimizer"
    batched: ClassVar[bool] = True
    adaptive: ClassVar[bool] = False

    @property
    def order(self) -> int:
        return 1

    def gradient_count(self, n_steps: int) -> int:
        """Gradient evaluations (field calls) in the first ``n_steps`` steps (one per step here)."""
        return n_steps

    def init(self, field: Callable, t0: Time, y0: State, xp: Any = None, kw: Any = None) -> Any:
        """The moments (zeros) before step 0."""
        return self.init_state(tuple(y0), xp or _xp(y0))

    def init_state(self, y: State, xp: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def update(self, field: Field, k: int, y: State, state: Any, xp: Any) -> tuple[State, Any]:  # pragma: no cover
        raise NotImplementedError

    def step(self, field: Callable, t: Time, y: State, t_max: Time, state: Any, active: Any = None,
             xp: Any = None) -> Step:
        """One optimiser step at step index k = t (t counts steps)."""
        xp = xp or _xp(y)
        y_new, state_new = self.update(field, int(t), tuple(y), state, xp)
        return Step(t + 1, y_new, 0.0, True, state_new)


@dataclass(frozen=True)
class MomentumState:
    """SGDM: the momentum buffer b (None before the first step)."""

    buffer: tuple | None


class SGDM(AbstractOptimizer):
    """SGD with momentum μ ∈ [0, 1) and learning rate η > 0 (PyTorch convention; μ = 0 is plain SGD)."""

    name: ClassVar[str] = "SGD with momentum"

    def __init__(self, lr: float, momentum: float = 0.9):
        """
        Raises:
            OptionError: lr not finite and positive, or momentum outside [0, 1).
        """
        self.lr = check_positive("the learning rate lr", lr)
        self.momentum = check_unit_interval("the momentum", momentum)

    def __repr__(self) -> str:
        return f"SGDM(lr={self.lr:g}, momentum={self.momentum:g})"

    def init_state(self, y: State, xp: Any) -> MomentumState:
        return MomentumState(None)

    def update(self, field: Field, k: int, y: State, state: MomentumState, xp: Any) -> tuple[State, MomentumState]:
        """b = μb + g (b = g at the first step), θ ← θ − ηb, with g = −field(θ, k)."""
        g = tuple(-v for v in field(y, k))
        b = g if state.buffer is None else tuple(self.momentum * bo + gi for bo, gi in zip(state.buffer, g))
        return tuple(w - self.lr * bi for w, bi in zip(y, b)), MomentumState(b)


@dataclass(frozen=True)
class AdamState:
    """Adam: first and second moments m, v and the number of steps taken."""

    m: tuple
    v: tuple
    steps: int


class Adam(AbstractOptimizer):
    """Adam (Kingma & Ba 2015, Algorithm 1) with step size η, decay rates β₁, β₂ and ε."""

    name: ClassVar[str] = "Adam"

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        """
        Raises:
            OptionError: lr or eps not finite and positive, a β outside [0, 1), betas not a pair.
        """
        self.lr = check_positive("the learning rate lr", lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise OptionError(f"betas must be a pair (β₁, β₂), got {betas!r}")
        self.beta1 = check_unit_interval("β₁", betas[0])
        self.beta2 = check_unit_interval("β₂", betas[1])
        self.eps = check_positive("eps", eps)

    def __repr__(self) -> str:
        return f"Adam(lr={self.lr:g}, betas=({self.beta1:g}, {self.beta2:g}), eps={self.eps:g})"

    def init_state(self, y: State, xp: Any) -> AdamState:
        zeros = tuple(xp.zeros_like(w) for w in y)
        return AdamState(zeros, zeros, 0)

    def update(self, field: Field, k: int, y: State, state: AdamState, xp: Any) -> tuple[State, AdamState]:
        """Algorithm 1 of Kingma & Ba with g = −field(θ, k)."""
        b1, b2, t = self.beta1, self.beta2, state.steps + 1
        g = tuple(-v for v in field(y, k))
        m = tuple(b1 * mo + (1 - b1) * gi for mo, gi in zip(state.m, g))
        v = tuple(b2 * vo + (1 - b2) * gi * gi for vo, gi in zip(state.v, g))
        c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        y_new = tuple(w - self.lr * (mi / c1) / (xp.sqrt(vi / c2) + self.eps) for w, mi, vi in zip(y, m, v))
        return y_new, AdamState(m, v, t)


def deterministic(velocity: Callable[[State], State]) -> Field:
    """The field (θ, k) ↦ velocity(θ) of a full-batch objective (k is ignored)."""
    def field(y: State, k: int) -> State:
        return velocity(y)
    return field


def flow_field(rhs: VectorField, weights: Sequence[Array], data: Data, params: Params | None = None) -> Field:
    """The deterministic field of a generated gradient flow (its velocity −∇L), checked once.

    Raises:
        OptionError: the flow was generated for mpmath (optimisers run in floating point).
        ShapeError, NonFiniteError: see :meth:`GeneratedFunction.validate`.
    """
    if rhs.backend == "mpmath":
        raise OptionError("optimisers run in floating point; generate the flow with backend 'numpy' or 'array_api'")
    params = params or {}
    data = rhs.validate(weights, data, params)
    xp = _xp(list(weights) + list(data))
    return deterministic(lambda y: rhs.raw(*y, *data, xp=xp, **params))


def optimize(stepper: AbstractOptimizer, field: Field, weights: Sequence[Array], n_steps: int,
             record_every: int = 1, throw: bool = False, timeout: float | None = None) -> EnsembleTrajectory:
    """Run ``n_steps`` optimiser steps from ``weights`` through the discrete-step runner.

    ``weights`` is a tuple of arrays of shape (B, n, m) (B runs at once); the result records
    the parameters every ``record_every`` steps and at the end (``t`` counts steps).  As for
    GD (:func:`curvsym.integrate.ensemble.iterate`), a member that becomes non-finite is
    frozen and marked ``diverged`` unless ``throw``.

    Raises:
        OptionError: ``n_steps`` or ``record_every`` not a positive integer, or ``stepper`` not an optimiser.
        ShapeError: the weights do not share one leading batch axis.
        DivergenceError: a member diverged and ``throw=True``.
        IntegrationTimeout: longer than ``timeout`` seconds and ``throw=True`` (else: ``Status.TIMEOUT`` per member).
    """
    if not isinstance(stepper, AbstractOptimizer):
        raise OptionError(f"optimize() runs an AbstractOptimizer, got {type(stepper).__name__}")
    for name, n in (("n_steps", n_steps), ("record_every", record_every)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise OptionError(f"{name} must be a positive integer, got {n!r}")
    weights = tuple(weights)
    if not weights or any(getattr(w, "ndim", 0) != 3 for w in weights):
        raise ShapeError("optimize() needs matrices with a leading batch axis: every array of shape (B, n, m)")
    B = weights[0].shape[0]
    if any(w.shape[0] != B for w in weights):
        raise ShapeError("all parameter arrays must share the leading batch size")
    xp = _xp(weights)
    times = list(range(0, n_steps, record_every)) + [n_steps]
    traj = solve_batched(stepper, field, weights, times, xp, B, max_steps=n_steps + 1, throw=throw, timeout=timeout)
    return replace(traj, method=repr(stepper), n_rhs=stepper.gradient_count(traj.n_steps))
