"""Common-subexpression elimination that respects matrix products.

The derived velocities are trees of nested binary products sharing their
prefixes W_{<i} and back-propagated suffixes W_{>i}ᵀ G (see
:mod:`curvsym.symbolic.derive`).  :func:`matrix_cse` hash-conses those trees into
single-assignment temporaries, one matrix product per line.
"""

from __future__ import annotations

from typing import Any, Sequence

import sympy as sp
from sympy import Identity, MatAdd, MatMul, MatrixExpr, MatrixSymbol, OneMatrix, Transpose, ZeroMatrix

__all__ = ["matrix_cse", "hash_cons"]


def _is_leaf(x) -> bool:
    if isinstance(x, sp.Basic) and not x.args:  # atoms: numbers, booleans, labels
        return True
    return isinstance(x, (MatrixSymbol, sp.Symbol, sp.Number, Identity, ZeroMatrix, OneMatrix)) or (
        isinstance(x, Transpose) and isinstance(x.arg, MatrixSymbol))


def matrix_cse(exprs: Sequence[Any], symbols: Any=None, optimizations: Any=None, postprocess: Any=None,
               order: Any="canonical", ignore: Any=(), list: bool=True) -> tuple:
    """Common-subexpression elimination that respects matrix products.

    Every distinct product, sum or function node becomes one temporary
    ``x_k`` (structural hash-consing, so a prefix W_{<i} shared by many layers
    is computed once); transposes of temporaries stay inline as views.  Has the
    signature of :func:`sympy.cse`, so ``lambdify(..., cse=matrix_cse)`` uses it.
    """
    replacements, reduced, _ = hash_cons(exprs)
    return replacements, reduced


def hash_cons(exprs: Sequence[Any], prefix: str = "x") -> tuple[list, list, dict]:
    """(replacements, reduced, names): :func:`matrix_cse` plus the map original subtree → temporary."""
    names: dict = {}
    replacements: list = []

    def visit(x):
        if not isinstance(x, sp.Basic) or _is_leaf(x):
            return x
        if x in names:
            return names[x]
        if isinstance(x, Transpose):
            return Transpose(visit(x.arg))
        new_args = [visit(a) for a in x.args]
        node = x.func(*new_args, evaluate=False) if isinstance(x, (MatMul, MatAdd)) else x.func(*new_args)
        if isinstance(x, MatMul) and len([a for a in x.args if isinstance(a, MatrixExpr)]) == 1:
            names[x] = node  # a scalar multiple of one matrix stays inline
            return node
        k = len(replacements)
        sym = MatrixSymbol(f"{prefix}{k}", *x.shape) if isinstance(x, MatrixExpr) else sp.Symbol(f"{prefix}{k}")
        replacements.append((sym, node))
        names[x] = sym
        return sym

    reduced = [visit(e) for e in exprs]
    return replacements, reduced, names
