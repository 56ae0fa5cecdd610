"""The result of an integration: states at requested times, with an error estimate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Trajectory:
    """States ``states[k] = (W_1, …, W_N)`` at times ``t[k]``.

    ``error_estimate`` bounds (as an estimate, in the max-norm over all entries)
    the global error of every returned state; ``dps`` is the decimal precision
    the result is meant to (None on the double path).
    """

    t: tuple
    states: tuple
    method: str
    error_estimate: Any
    dps: int | None = None
    n_steps: int = 0
    n_rhs: int = 0
    info: dict = field(default_factory=dict)

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
