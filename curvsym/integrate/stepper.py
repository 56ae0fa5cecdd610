r"""The stepper interface: one abstract class, small final implementations.

A stepper advances dy/dt = f(y) by one step.  It declares what it can do —

``order``                 the order p of its local error O(h^{p+1}) (property)
``polynomial_only``       it needs a matrix-polynomial f (Taylor series)
``arbitrary_precision``   it works on mpmath / python-flint numbers
``batched``               its states carry a leading batch axis, one step size per member
``dense_output``          a step returns y(s) for every s inside it
``adaptive``              it chooses its own step sizes
``per_member_time``       (batched) each member keeps its own time, as adaptive ones do

— and one runner (:mod:`curvsym.integrate.runner`) drives them all, single and batched:
output times, progress, divergence, step limits and wall-clock timeouts live there, once.
(What a *user* picks is a :class:`~curvsym.integrate.solver.Solver`: it declares what it
accepts, builds its stepper and hands it to the runner.)

``init(field, t0, y0)`` returns the stepper's state; ``step(field, t, y, t_max,
state)`` returns a :class:`Step`: the new time t' ≤ t_max (exactly t_max when the
whole remaining interval was taken), the state there, the local error estimate,
whether the step was accepted (adaptive steppers may reject and shrink), the
next stepper state, optionally a dense-output function, and the *events* of the
step — points where a piecewise-smooth flow changed region (a ReLU
pre-activation crossing 0); a stepper that handles events ends its step on the
first one, so no step, and no dense output, spans a kink.  The runner collects
them (``Solution.events``).

Implementations: :class:`~curvsym.integrate.taylor.Taylor`,
:class:`~curvsym.integrate.extrapolation.GBS`,
:class:`~curvsym.integrate.dop853.DOP853`, and the array-API
:class:`~curvsym.integrate.explicit.RK4`, :class:`~curvsym.integrate.explicit.Dopri5`
and :class:`~curvsym.integrate.explicit.StepMap` (the discrete map θ ↦ θ + η v(θ)).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, ClassVar

from ..types import State, Time
from .state import max_abs

__all__ = ["AbstractStepper", "Step", "Status"]


class Status(str, Enum):
    """How a run (or one member of a batched run) ended; messages name the fix."""

    SUCCESS = "success"
    DIVERGED = "diverged"        #: left the ball ‖W‖_max ≤ max_norm, became non-finite, or the step collapsed
    STEP_LIMIT = "step limit"    #: needed more than max_steps steps (raise max_steps)
    TIMEOUT = "timeout"          #: ran past its wall-clock timeout (raise timeout)
    NON_SMOOTH = "non-smooth"    #: a piecewise flow met a kink with no unique continuation (a sliding mode)


@dataclass(frozen=True)
class Step:
    """The outcome of one call of :meth:`AbstractStepper.step`."""

    t: Time
    y: State
    error: Any
    accepted: bool
    state: Any
    dense: Callable[[Time], State] | None = None
    events: tuple = ()
    failed: Any = None  #: batched steppers: mask (B,) of members whose step collapsed (the runner marks them DIVERGED)
    steps: int = 1  #: fixed-step batched steppers: the steps this call made (a block of map steps; t advanced by as many)


class AbstractStepper(ABC):
    """A one-step method for dy/dt = f(y) (see the module docstring)."""

    name: ClassVar[str] = "stepper"
    polynomial_only: ClassVar[bool] = False
    arbitrary_precision: ClassVar[bool] = False
    batched: ClassVar[bool] = False
    dense_output: ClassVar[bool] = False
    adaptive: ClassVar[bool] = True
    per_member_time: ClassVar[bool] = False

    @property
    @abstractmethod
    def order(self) -> int:
        """p: the local error is O(h^{p+1}) and the global error O(h^p)."""

    def init(self, field: Callable[[State], State], t0: Time, y0: State) -> Any:
        """The stepper state before the first step (default: none)."""
        return None

    @abstractmethod
    def step(self, field: Callable[[State], State], t: Time, y: State, t_max: Time, state: Any) -> Step:
        """Advance from (t, y) by one step of at most t_max − t."""

    def size(self, y: State) -> Any:
        """max_ij |y_ij| over all layers (used for divergence checks)."""
        return max_abs(y)

    def output(self, y: State) -> State:
        """The state as returned to the user (engines convert back to mpf arrays here)."""
        return y

    def __repr__(self) -> str:
        return f"{type(self).__name__}(order {self.order})"
