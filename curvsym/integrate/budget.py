"""Limits that keep a high-precision run bounded: the digits it may ask for, and a wall-clock budget that
starts when the integrator is called (set-up included), not when stepping starts.

At ``dps`` digits the Taylor order grows like ``dps`` and each coefficient costs ``dps``-digit products,
so set-up and a single step grow faster than ``dps²``: 300 digits take seconds on a 3 × 3 chain, 600 half
a minute, 10⁶ would never end.  :data:`MAX_DPS` refuses what cannot finish; :class:`Deadline` makes
``timeout=`` count the set-up (conversion, tracing, engine start) too.  A single step is not interrupted:
the check is between steps, as in :func:`curvsym.integrate.runner.solve`.
"""

from __future__ import annotations

import time

from ..errors import PrecisionError

__all__ = ["MAX_DPS", "check_dps", "Deadline"]

MAX_DPS = 300


def check_dps(dps: int) -> None:
    """Refuse more than :data:`MAX_DPS` digits (with the limit in the message).

    Raises:
        PrecisionError: ``dps`` > :data:`MAX_DPS`.
    """
    if dps > MAX_DPS:
        raise PrecisionError(f"dps = {dps} is beyond the supported {MAX_DPS} digits (set-up and each step grow "
                             f"faster than dps²: 300 digits take seconds, 600 half a minute); ask for ≤ {MAX_DPS}")


class Deadline:
    """A wall-clock budget of ``timeout`` seconds (None: none) started at construction."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout, self.start = timeout, time.perf_counter()

    def remaining(self) -> float | None:
        """Seconds left, 0 when spent (None without a budget): the runner then stops before the first step,
        raising :class:`~curvsym.errors.IntegrationTimeout` or returning with ``status`` TIMEOUT
        (``throw=False``) as for any timeout."""
        if self.timeout is None:
            return None
        return max(0.0, self.timeout - (time.perf_counter() - self.start))
