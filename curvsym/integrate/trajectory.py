"""The result of an integration: states at requested times, with an error estimate."""

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
