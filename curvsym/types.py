"""Named types for signatures: what a state, the data and a scalar are.

These are aliases for readers (and type checkers); nothing is enforced at run time.
"""

from __future__ import annotations

from typing import Any, Sequence, Tuple, Union

__all__ = ["Array", "State", "Data", "Scalar", "Time", "Times", "Params"]

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
