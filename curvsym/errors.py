"""Exceptions raised by curvsym: one hierarchy, one base class.

Every error a user can trigger is a subclass of :class:`CurvsymError` and names
the offending input; no routine returns a silent NaN or a "verified" verdict it
cannot back up.  ``tests/test_error_contract.py`` keeps it so: it parses the
package and refuses any ``raise`` of a built-in exception class.

Some classes also derive from the built-in exception a caller would naturally
catch (``KeyError`` for an unknown name, ``TypeError`` for a missing argument,
``FileNotFoundError`` for a missing file), so existing ``except`` clauses keep
working.

=============================  ==================================================
class                          raised when
=============================  ==================================================
ArchitectureError              the network graph is not a valid network
ShapeError                     an array or expression has the wrong shape
NonFiniteError                 an input or a state holds NaN or infinity
OptionError                    an option or parameter value is out of range
ParameterError                 a generated function misses a scalar parameter
UnknownNameError               a rule, backend, engine or stepper name is unknown
EngineError                    an unknown or unusable arithmetic engine (an UnknownNameError)
SingularPreconditionerError    a strict inverse meets a singular matrix
NotPolynomialError             a Taylor method meets a non-polynomial operation
NotDifferentiableError         a node has no symbolic time derivative
DecouplingError                the decoupled (mode) ansatz is not invariant
DivergenceError                an integration blew up (carries ``t_reached``)
StepLimitError                 an integration needed too many steps
IntegrationTimeout             an integration exceeded its wall-clock ``timeout``
NonSmoothError                 a piecewise flow (ReLU) meets a kink it cannot cross uniquely
PrecisionError                 the accuracy asked for cannot be resolved
RuleParseError                 rule text is not a safe, well-formed expression
TheoremFileError               a theorem file or folder is missing or unreadable
BackendError                   an array library is missing or arrays disagree
DatasetError                   a data set is malformed (bad file format, wrong sizes)
DatasetFileError               a data file does not exist
LabelError                     class labels are not integers in 0 … n_classes − 1
=============================  ==================================================
"""

from __future__ import annotations

__all__ = [
    "CurvsymError", "ArchitectureError", "ShapeError", "NonFiniteError", "OptionError", "ParameterError",
    "UnknownNameError", "SingularPreconditionerError", "NotPolynomialError", "NotDifferentiableError",
    "DecouplingError", "IntegrationError", "DivergenceError", "StepLimitError", "IntegrationTimeout",
    "PrecisionError", "RuleParseError", "TheoremFileError", "BackendError", "EngineError", "NonSmoothError",
    "DatasetError", "DatasetFileError", "LabelError",
]


class CurvsymError(ValueError):
    """Base class of all curvsym errors (a ``ValueError``)."""


class ArchitectureError(CurvsymError):
    """The network graph is not a valid network."""


class ShapeError(CurvsymError):
    """An array (or a symbolic expression) does not have the shape it must have."""


class NonFiniteError(CurvsymError):
    """An input or an intermediate state contains NaN or infinity."""


class OptionError(CurvsymError):
    """An option or parameter value lies outside its admissible range."""


class ParameterError(CurvsymError, TypeError):
    """A generated function was called without one of its scalar parameters."""


class UnknownNameError(CurvsymError, KeyError):
    """A rule, backend, engine or stepper was asked for by a name curvsym does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class SingularPreconditionerError(CurvsymError):
    """A preconditioner must be inverted but is singular and no damping was given."""


class NotPolynomialError(CurvsymError):
    """A polynomial-only method (the Taylor series) met a non-polynomial operation."""


class NotDifferentiableError(CurvsymError):
    """A symbolic node has no time derivative that curvsym can express."""


class DecouplingError(CurvsymError):
    """The decoupled (per-mode) ansatz is not invariant under a rule, or its modes interact."""


class IntegrationError(CurvsymError):
    """An integration stopped before its end time; ``t_reached`` is where it stopped."""

    def __init__(self, message: str, t_reached: float):
        super().__init__(message)
        self.t_reached = t_reached


class DivergenceError(IntegrationError):
    """An integration blew up (finite-time divergence) before reaching its end time."""


class StepLimitError(IntegrationError):
    """An integration needed more steps than allowed."""


class IntegrationTimeout(IntegrationError):
    """An integration ran longer (wall clock) than its ``timeout``."""


class NonSmoothError(IntegrationError):
    """A piecewise-smooth flow (ReLU, leaky ReLU) reached a kink where it has no unique smooth continuation.

    Raised when a pre-activation that reached 0 is pushed back by both sides (a sliding
    mode: the Filippov solution stays on the kink), or touches 0 tangentially.
    """


class PrecisionError(CurvsymError):
    """The requested accuracy cannot be reached at the working precision."""


class RuleParseError(CurvsymError):
    """A learning rule given as text is not a safe, well-formed expression."""


class TheoremFileError(CurvsymError, FileNotFoundError):
    """A theorem file or folder does not exist or cannot be read."""


class BackendError(CurvsymError):
    """An array backend is missing, or the arrays of one call do not agree."""


class EngineError(UnknownNameError):
    """An unknown or unusable arithmetic engine was requested."""


class DatasetError(CurvsymError):
    """A data set is malformed: a file that is not what it claims, or sizes that disagree."""


class DatasetFileError(DatasetError, FileNotFoundError):
    """A data file (an MNIST IDX file, say) does not exist."""


class LabelError(DatasetError):
    """Class labels are not integers in 0 … n_classes − 1."""
