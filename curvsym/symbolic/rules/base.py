r"""The rule protocol: a learning rule is a class that carries its own metadata.

A rule maps the derived layer gradients of a :class:`~curvsym.symbolic.derive.Model`
to layer velocities.  A new rule is one subclass of :class:`AbstractRule` that
implements :meth:`AbstractRule.velocities` and sets, as class attributes, what
every consumer reads from it — ``curvsym rules``, the LaTeX of derived
equations, the theorem files — so nothing is repeated elsewhere:

``key``         the registry key (``curvsym rules --show KEY``);
``title``       a display name;
``formula``     the per-layer velocity in LaTeX;
``text``        the same in plain text, for the terminal;
``references``  where the rule comes from;
``variants``    named parameter presets registered as their own keys
                (``{"ngd-frac": {"q": 1/2}}``).

Instances hold the rule's parameters (exponent q, damping λ, how singular
preconditioners are inverted) and answer ``row_space``: whether the velocity
lies in the row space of the network Jacobian, which is what conserves the
balance C_i (``docs/mathematics.md`` §0.3).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import Enum
from typing import Any, ClassVar

import sympy as sp

from ...errors import ArchitectureError, OptionError
from ..derive import Flow, Model

__all__ = ["AbstractRule", "Inverse", "number", "check_q", "check_damping", "free_symbols"]


class Inverse(str, Enum):
    """How a preconditioner is inverted when the damping λ is 0."""

    STRICT = "strict"  #: a singular matrix raises SingularPreconditionerError naming it
    PSEUDO = "pseudo"  #: the Moore–Penrose pseudo-inverse (powers on the range)

    @classmethod
    def of(cls, strict: "bool | Inverse | str") -> "Inverse":
        """``True``/``False`` (the ``strict=`` flag) or an :class:`Inverse` or its value.

        Raises:
            OptionError: ``strict`` is none of these.
        """
        if isinstance(strict, bool):
            return cls.STRICT if strict else cls.PSEUDO
        try:
            return cls(strict)
        except ValueError:
            raise OptionError(f"inverse must be 'strict' or 'pseudo' (or strict=True/False), got {strict!r}") from None

    @property
    def strict(self) -> bool:
        return self is Inverse.STRICT


def number(x: Any) -> sp.Expr:
    """Exact SymPy number from an int/float/str/Rational, or a Symbol unchanged.

    Raises:
        OptionError: ``x`` is a bool, None or not a number.
    """
    if isinstance(x, sp.Basic):
        return x
    if isinstance(x, bool) or x is None:
        raise OptionError(f"expected a number, got {x!r}")
    try:
        return sp.nsimplify(x, rational=True)
    except (TypeError, ValueError, sp.SympifyError):
        raise OptionError(f"expected a number, got {x!r}") from None


def check_q(q: Any) -> sp.Expr:
    """The correction exponent q ∈ [0, 1] (or a symbol).

    Raises:
        OptionError: a numeric q outside [0, 1].
    """
    q = number(q)
    if q.is_number and not (0 <= q <= 1):
        raise OptionError(f"the correction exponent q must lie in [0, 1], got {q}")
    return q


def check_damping(lam: Any) -> sp.Expr:
    """The damping λ ≥ 0 (or a symbol).

    Raises:
        OptionError: a negative numeric λ.
    """
    lam = number(lam or 0)
    if lam.is_number and lam < 0:
        raise OptionError(f"damping λ must be ≥ 0, got {lam}")
    return lam


def free_symbols(*xs) -> tuple:
    """The scalar symbols among ``xs`` (sorted by name): the keyword parameters of generated code."""
    return tuple(sorted({s for x in xs if isinstance(x, sp.Basic) for s in x.free_symbols}, key=str))


class AbstractRule(ABC):
    """A learning rule (see the module docstring for the protocol).

    Subclasses implement :meth:`velocities` and set the class metadata.
    """

    key: ClassVar[str]
    title: ClassVar[str]
    formula: ClassVar[str]
    text: ClassVar[str]
    references: ClassVar[tuple[str, ...]] = ()
    variants: ClassVar[dict[str, dict]] = {}
    supports_nonlinear: ClassVar[bool] = False

    @property
    def name(self) -> str:
        """The display name with the parameter values (also the name of generated functions)."""
        return self.title

    @property
    def row_space(self) -> bool:
        """True if the velocity has the form Jᵀ(·): then it conserves every balance C_i."""
        return False

    @property
    def parameters(self) -> tuple[sp.Symbol, ...]:
        """Symbolic parameters left free (keyword arguments of the generated code)."""
        return ()

    @abstractmethod
    def velocities(self, m: Model) -> tuple:
        """The velocity dW_e/dt of every weight of ``m``, as SymPy matrix expressions."""

    def flow(self, m: Model) -> Flow:
        """The derived :class:`~curvsym.symbolic.derive.Flow` of this rule on ``m``.

        Raises:
            ArchitectureError: ``m`` is a nonlinear data model and the rule is defined for deep linear
                networks only (its Kronecker factors are exact only there; for nonlinear nets use the
                online natural gradient of :mod:`curvsym.papers.bernacchia2018`).
        """
        if not isinstance(m, Model) and not self.supports_nonlinear:
            raise ArchitectureError(
                f"{self.name}: this rule is derived for deep linear networks (population loss); for nonlinear "
                "networks use gradient flow (rules.gd()) or curvsym.papers.bernacchia2018's online natural gradient")
        return Flow(m, tuple(self.velocities(m)), self.name, tuple(self.parameters))

    def __str__(self) -> str:
        return f"{self.key}: {self.name}"
