"""The results of an integration: :class:`Trajectory` (one run) and :class:`EnsembleTrajectory` (a batch)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..types import Scalar, State
from .stepper import Status


@dataclass(frozen=True)
class Trajectory:
    """States ``states[k] = (W_1, …, W_N)`` at times ``t[k]``.

    ``error_estimate`` bounds (as an estimate, in the max-norm over all entries)
    the global error of every returned state; ``dps`` is the decimal precision
    the result is meant to (None on the double path).  ``status`` is
    ``Status.SUCCESS`` unless the run was made with ``throw=False`` and stopped
    early; then ``t``/``states`` end where it stopped and ``message`` says why.
    """

    t: tuple
    states: tuple[State, ...]
    method: str
    error_estimate: Scalar
    dps: int | None = None
    n_steps: int = 0
    n_rhs: int = 0
    info: dict = field(default_factory=dict)
    status: Status = Status.SUCCESS
    message: str = ""

    @property
    def ok(self) -> bool:
        """True if the run reached its last output time."""
        return self.status is Status.SUCCESS

    @property
    def final(self) -> tuple:
        return self.states[-1]

    def layer(self, i: int) -> list:
        """The trajectory of layer i (0-based) as a list of arrays."""
        return [s[i] for s in self.states]

    def __len__(self) -> int:
        return len(self.t)

    def times_float(self) -> np.ndarray:
        return np.array([float(t) for t in self.t])


@dataclass(frozen=True)
class EnsembleTrajectory:
    """``states[k][i]`` is layer i of all B members at ``t[k]`` (a batched run).

    Every member has a row at every output time.  ``status[b]`` says how member b ended
    (the same :class:`~curvsym.integrate.stepper.Status` values as a single run), ``message[b]``
    why and what to change, ``t_stopped[b]`` where a member that did not succeed stopped (None
    for one that did); such a member is frozen at its last state inside the finite range (or
    the one it had when a step limit or the timeout stopped it) for the remaining output times.
    """

    t: tuple
    states: tuple
    method: str
    n_steps: int
    n_rhs: int
    status: tuple = ()
    t_stopped: tuple = ()
    messages: tuple = ()

    @property
    def final(self) -> State:
        return self.states[-1]

    @property
    def ok(self) -> tuple:
        """Per member: did it reach the last output time?"""
        return tuple(s is Status.SUCCESS for s in self.status)
