"""Exceptions raised by curvsym.

Every error names the offending input; no routine returns a silent NaN or a
"verified" verdict it cannot back up.
"""

from __future__ import annotations


class CurvsymError(ValueError):
    """Base class of all curvsym errors (a ``ValueError``)."""


class ArchitectureError(CurvsymError):
    """The network graph is not a valid deep linear network."""


class ShapeError(CurvsymError):
    """An array does not have the shape its symbol requires."""


class NonFiniteError(CurvsymError):
    """An input or an intermediate state contains NaN or infinity."""


class SingularPreconditionerError(CurvsymError):
    """A preconditioner must be inverted but is singular and no damping was given."""


class DivergenceError(CurvsymError):
    """An integration blew up (finite-time divergence) before reaching its end time."""

    def __init__(self, message: str, t_reached: float):
        super().__init__(message)
        self.t_reached = t_reached


class StepLimitError(CurvsymError):
    """An integration needed more steps than allowed."""

    def __init__(self, message: str, t_reached: float):
        super().__init__(message)
        self.t_reached = t_reached


class PrecisionError(CurvsymError):
    """The requested accuracy cannot be reached at the working precision."""


class RuleParseError(CurvsymError):
    """A learning rule given as text is not a safe, well-formed expression."""


class EngineError(CurvsymError):
    """An unknown or unusable arithmetic engine was requested."""
