"""Hash-consing of matrix expression trees: every distinct subtree named once.

:func:`hash_cons` walks expressions bottom-up and replaces each distinct non-leaf
subtree by a fresh symbol; the code generator's matrix CSE and the named LaTeX of
derived flows are both built on it.
"""

from __future__ import annotations

from typing import Any, Sequence

import sympy as sp
from sympy import Identity, MatAdd, MatMul, MatrixExpr, MatrixSymbol, OneMatrix, Transpose, ZeroMatrix

__all__ = ["hash_cons", "is_leaf"]


def is_leaf(x: Any) -> bool:
    """Atoms, symbols, I, 0, 1 and transposed symbols: never named."""
    if isinstance(x, sp.Basic) and not x.args:  # atoms: numbers, booleans, labels
        return True
    return isinstance(x, (MatrixSymbol, sp.Symbol, sp.Number, Identity, ZeroMatrix, OneMatrix)) or (
        isinstance(x, Transpose) and isinstance(x.arg, MatrixSymbol))


def hash_cons(exprs: Sequence[Any], prefix: str = "x") -> tuple[list, list, dict]:
    """(replacements, reduced, names): :func:`matrix_cse` plus the map original subtree → temporary."""
    names: dict = {}
    replacements: list = []

    def visit(x):
        if not isinstance(x, sp.Basic) or is_leaf(x):
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
