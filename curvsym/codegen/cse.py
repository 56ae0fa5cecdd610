"""Common-subexpression elimination that respects matrix products.

The derived velocities are trees of nested binary products sharing their
prefixes W_{<i} and back-propagated suffixes W_{>i}ᵀ G (see
:mod:`curvsym.symbolic.derive`).  :func:`matrix_cse` hash-conses those trees into
single-assignment temporaries, one matrix product per line.
"""

from __future__ import annotations

from typing import Any, Sequence

import sympy as sp
from sympy import MatAdd, MatMul, MatrixExpr, Transpose

from ..symbolic.sharing import hash_cons

__all__ = ["matrix_cse", "hash_cons", "fold_negation"]


def matrix_cse(exprs: Sequence[Any], symbols: Any=None, optimizations: Any=None, postprocess: Any=None,
               order: Any="canonical", ignore: Any=(), list: bool=True) -> tuple:
    """Common-subexpression elimination that respects matrix products.

    Every distinct product, sum or function node becomes one temporary
    ``x_k`` (structural hash-consing, so a prefix W_{<i} shared by many layers
    is computed once); transposes of temporaries stay inline as views.  Has the
    signature of :func:`sympy.cse`, so ``lambdify(..., cse=matrix_cse)`` uses it.
    """
    counts: dict = {}  # sums per subtree, shared by all velocities (their subtrees are shared)
    replacements, reduced, _ = hash_cons([fold_negation(e, counts) for e in exprs])
    return replacements, reduced


def fold_negation(expr: Any, counts: dict | None = None) -> Any:
    """−M with the sign moved into the one sum inside M: −(A (B − C) D) = A (C − B) D.

    The gradient flow is −W_{>i}ᵀ(W − T)Σx W_{<i}ᵀ for every layer: folded, all N velocities share
    (T − W)Σx and none is negated afterwards (N fewer passes over the state per evaluation).  Negation is
    exact in floating point, so the values are the same bits.  Only a −1 coefficient over a product chain
    that holds exactly one sum is folded (then every velocity through a shared factor folds it alike, and
    hash-consing still shares it); anything else is returned as it is.  ``counts`` memoises the number of
    sums per subtree (pass one dict for many expressions that share subtrees).
    """
    counts = {} if counts is None else counts
    if not (isinstance(expr, MatMul) and len(expr.args) >= 2 and expr.args[0] == -1
            and all(isinstance(a, MatrixExpr) for a in expr.args[1:])):
        return expr
    rest = expr.args[1:]
    inner = rest[0] if len(rest) == 1 else MatMul(*rest, evaluate=False)
    if _sums(inner, counts) != 1:
        return expr
    folded = _negated(inner, counts)
    return expr if folded is None else folded


def _sums(x: Any, counts: dict) -> int:
    """The number of MatAdd nodes in the tree ``x`` (memoised in ``counts``)."""
    if not isinstance(x, sp.Basic):
        return 0
    got = counts.get(x)
    if got is None:
        got = counts[x] = int(isinstance(x, MatAdd)) + sum(_sums(a, counts) for a in x.args)
    return got


def _negated(x: Any, counts: dict) -> Any:
    """−x with the negation put into x's only sum (down its product / transpose chain), or None."""
    if isinstance(x, MatAdd):  # positive terms first, so that it prints as T − W, not −W + T
        terms = [_negated_term(a) for a in x.args]
        return MatAdd(*sorted(terms, key=_is_negative), evaluate=False)
    if isinstance(x, Transpose):
        inner = _negated(x.arg, counts)
        return None if inner is None else Transpose(inner)
    if isinstance(x, MatMul) and all(isinstance(a, MatrixExpr) for a in x.args):
        carriers = [i for i, a in enumerate(x.args) if _sums(a, counts)]
        if len(carriers) != 1:
            return None
        i = carriers[0]
        inner = _negated(x.args[i], counts)
        return None if inner is None else MatMul(*x.args[:i], inner, *x.args[i + 1:], evaluate=False)
    return None


def _is_negative(a: Any) -> bool:
    return isinstance(a, MatMul) and bool(a.args) and not isinstance(a.args[0], MatrixExpr) and bool(a.args[0] < 0)


def _negated_term(a: Any) -> Any:
    """−a for a term of a sum: −(−M) = M, −(cM) = (−c)M, else (−1)M."""
    if isinstance(a, MatMul) and a.args and not isinstance(a.args[0], MatrixExpr):
        c, rest = a.args[0], a.args[1:]
        if c == -1:
            return rest[0] if len(rest) == 1 else MatMul(*rest, evaluate=False)
        return MatMul(-c, *rest, evaluate=False)
    return MatMul(-1, a, evaluate=False)


