"""Named types for signatures: what a state, the data and a scalar are.

These are aliases for readers (and type checkers); nothing is enforced at run time.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any, Callable, Protocol, Sequence, Tuple, Union

from .errors import UnknownNameError

__all__ = ["Array", "State", "Data", "Scalar", "Time", "Times", "Params", "Choice", "VectorField"]

Array = Any
"""A 2-D (or batched 3-D) array: float64 NumPy, NumPy object array of ``mpmath.mpf``, or any array-API array."""

State = Tuple[Array, ...]
"""The layers (W_1, …, W_N) of a network: one array per weight edge, in topological order."""

Data = Sequence[Array]
"""The data arguments of generated code: (Σx, T), or (T,) when whitened."""

Scalar = Union[int, float, Any]
"""A real number: int, float, ``mpmath.mpf`` or a SymPy number."""

Time = Scalar
"""A time: float on the double path, ``mpmath.mpf`` at high precision."""

Times = Sequence[Scalar]
"""Non-decreasing output times, the first being the initial time."""

Params = dict
"""Scalar parameters of a generated function by name (q, λ, step-size factors …)."""


class VectorField(Protocol):
    """What the integrators need of a generated right-hand side v(θ; data, params) (a ``GeneratedFunction``).

    ``func(*weights, *data, *params, xp)`` evaluates it; ``validate`` checks the arguments
    and returns them converted; ``polynomial``: a matrix polynomial whose kernels all have
    Taylor rules; ``piecewise``: it has kinks (ReLU).
    """

    name: str
    source: str
    func: Callable
    backend: str
    n_weights: int
    parameters: tuple
    polynomial: bool
    piecewise: bool

    def validate(self, weights: Any, data: Any, params: Any = None) -> Any: ...

    def raw(self, *args: Any) -> Any: ...


class Choice(str, Enum):
    """A named variant (a string enum): ``Kind.of("name")`` accepts a member or its value.

    Subclasses are the variants of an option — a limiter, a Hessian term, an inverse mode — so a
    misspelled name fails at once with the list of the known ones, instead of deep inside a run.
    """

    @classmethod
    def of(cls, name: Any) -> "Choice":
        """The member ``name`` (a member, or its value).

        Raises:
            UnknownNameError: no member has this value (the message lists the known ones).
        """

        try:
            return cls(name)
        except ValueError:
            known = ", ".join(m.value for m in cls)
            raise UnknownNameError(f"unknown {cls._label()} {name!r}; known: {known}") from None

    @classmethod
    def _label(cls) -> str:
        """How the option is called in messages (the class name, spaced: ``HessianTerm`` → "hessian term")."""
        return re.sub(r"(?<!^)(?=[A-Z])", " ", cls.__name__).lower()
