r"""Exact matrix identities in the free algebra with involution, and conservation proofs.

A matrix identity built from products, sums, transposes and scalar coefficients
is mapped into the free associative algebra with involution: every MatrixSymbol
X becomes a noncommutative symbol ``X`` and its transpose ``X^T`` (``X`` itself
when X is declared symmetric, as Σx is), transposes are pushed to the leaves by
(AB)ᵀ = BᵀAᵀ, identities become 1, and the result is expanded.

What the verdicts mean (``docs/mathematics.md`` §7):

* **proved** — the expansion is 0.  Every substitution of matrices of compatible
  sizes is an algebra homomorphism, so the identity holds for matrices of *all*
  sizes (for the depth and graph of the model; a proof at depths 2…8 says nothing
  about depth 9).  Opaque nodes (𝒦⁺[·], Σx^{½}) are treated as free symbols, so
  a proof with them holds whatever matrices they stand for.
* **refuted** — the expansion is not 0 *and* a numeric counterexample was found (by
  :mod:`curvsym.verify.identities`, which evaluates generated code):
  the quantity evaluated at random matrices of the model's own widths is not 0.
  A non-zero expansion alone is not a refutation for fixed sizes: some non-zero
  noncommutative polynomials vanish on all small matrices (the standard
  polynomial s_{2n} vanishes on n × n matrices, Amitsur–Levitzki).
* **unresolved** — non-zero expansion, no counterexample at the model's widths.
"""

from __future__ import annotations

from typing import Iterable

import sympy as sp
from sympy import Identity, MatAdd, MatMul, MatrixExpr, MatrixSymbol, Transpose, ZeroMatrix

__all__ = ["noncommutative", "is_identically_zero"]


def noncommutative(expr: MatrixExpr, symmetric: Iterable[MatrixSymbol] = ()) -> sp.Expr:
    """Map a matrix expression into the free algebra with involution.

    Each MatrixSymbol X becomes a noncommutative symbol ``X`` and its transpose
    ``X^T`` (or ``X`` itself if X is declared symmetric); transposes are pushed to
    the leaves by (AB)ᵀ = BᵀAᵀ; identities become 1.  Any other matrix node
    (a pseudo-inverse, a fractional power, an operator solve) becomes an *opaque*
    symbol, one per distinct node, symmetric when the node is (``X.T == X``).
    The result is expanded.
    """
    sym = set(symmetric)
    cache: dict = {}
    opaque: dict = {}
    symmetric_node: dict = {}  # x.transpose() == x, decided once per node and only when its transpose occurs

    def opaque_symbol(x, t: bool) -> sp.Symbol:
        if x not in opaque:
            opaque[x] = f"{type(x).__name__}{len(opaque)}"
        if t and x not in symmetric_node:
            symmetric_node[x] = x.transpose() == x
        return sp.Symbol(opaque[x] + ("^T" if t and not symmetric_node[x] else ""), commutative=False)

    def leaf(x: MatrixSymbol, transposed: bool) -> sp.Symbol:
        name = x.name + ("^T" if transposed and x not in sym else "")
        return sp.Symbol(name, commutative=False)

    def go(x, t: bool):
        key = (x, t)
        if key in cache:
            return cache[key]
        if not isinstance(x, MatrixExpr):
            r = x  # a scalar coefficient
        elif isinstance(x, MatrixSymbol):
            r = leaf(x, t)
        elif isinstance(x, Identity):
            r = sp.Integer(1)
        elif isinstance(x, ZeroMatrix):
            r = sp.Integer(0)
        elif isinstance(x, Transpose):
            r = go(x.arg, not t)
        elif isinstance(x, MatAdd):
            r = sp.Add(*[go(a, t) for a in x.args])
        elif isinstance(x, MatMul):
            parts = [go(a, t) for a in x.args]
            r = sp.Mul(*(reversed(parts) if t else parts))
        else:
            r = opaque_symbol(x, t)
        cache[key] = r
        return r

    return sp.expand(go(expr, False))


def is_identically_zero(expr: MatrixExpr, symmetric: Iterable[MatrixSymbol] = ()) -> bool:
    """True iff ``expr`` = 0 for all matrices (exact, by noncommutative expansion)."""
    return noncommutative(expr, symmetric) == 0
