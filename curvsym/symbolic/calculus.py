r"""Time (directional) derivatives of matrix expressions, by dispatch on the node.

Along a flow dX/dt = v[X] for the weight symbols X (all other symbols constant),

    d/dt X = v[X],   d/dt (A + B) = Ȧ + Ḃ,   d/dt (AB) = ȦB + AḂ,   d/dt Aᵀ = (Ȧ)ᵀ,
    d/dt (A ⊙ B) = Ȧ ⊙ B + A ⊙ Ḃ,   d/dt A^{∘p} = p A^{∘(p−1)} ⊙ Ȧ,

and I, 0, the all-ones matrix 1 and data symbols are constant.  The same map is the directional
derivative D_V e(W) = d/dε e(W + εV)|₀ when v[X] = V_X, which is how
:mod:`curvsym.verify.sharpness` builds Hessian–vector products.

SymPy's own classes are handled by the table :data:`RULES` (one function per
class, looked up along the class hierarchy, like SymPy's ``_print_<Class>``);
curvsym's nodes answer for themselves through
:meth:`~curvsym.symbolic.nodes.MatrixNode._eval_time_derivative`.
"""

from __future__ import annotations

from typing import Callable, Mapping

from sympy import (
    HadamardPower,
    HadamardProduct,
    Identity,
    MatAdd,
    MatMul,
    MatrixExpr,
    MatrixSymbol,
    OneMatrix,
    Transpose,
    ZeroMatrix,
)

from ..errors import NotDifferentiableError
from .nodes import walker

__all__ = ["time_derivative", "RULES"]


def _symbol(expr: MatrixSymbol, v: Mapping, d: Callable) -> MatrixExpr:
    w = v.get(expr)
    return ZeroMatrix(*expr.shape) if w is None else w


def _constant(expr: MatrixExpr, v: Mapping, d: Callable) -> MatrixExpr:
    return ZeroMatrix(*expr.shape)


def _is_zero(e: MatrixExpr) -> bool:
    return bool(getattr(e, "is_ZeroMatrix", False))


def _sum(terms: list, shape: tuple) -> MatrixExpr:
    """Σ terms, without the exact zeros (0 if none is left): a product with a constant factor
    differentiates to 0, and generated code would otherwise multiply by zero matrices."""
    terms = [t for t in terms if not _is_zero(t)]
    if not terms:
        return ZeroMatrix(*shape)
    return MatAdd(*terms, evaluate=False) if len(terms) > 1 else terms[0]


def _transpose(expr: Transpose, v: Mapping, d: Callable) -> MatrixExpr:
    da = d(expr.arg)
    return ZeroMatrix(*expr.shape) if _is_zero(da) else Transpose(da)


def _add(expr: MatAdd, v: Mapping, d: Callable) -> MatrixExpr:
    return _sum([d(a) for a in expr.args], expr.shape)


def _mul(expr: MatMul, v: Mapping, d: Callable) -> MatrixExpr:
    args = expr.args
    terms = []
    for k, a in enumerate(args):
        if isinstance(a, MatrixExpr):
            da = d(a)
            if not _is_zero(da):
                terms.append(MatMul(*args[:k], da, *args[k + 1:], evaluate=False))
    return _sum(terms, expr.shape)


def _hadamard(expr: HadamardProduct, v: Mapping, d: Callable) -> MatrixExpr:
    args = expr.args
    terms = []
    for k, a in enumerate(args):
        da = d(a)
        if not _is_zero(da):
            terms.append(HadamardProduct(*args[:k], da, *args[k + 1:]))
    return _sum(terms, expr.shape)


def _hadamard_power(expr: HadamardPower, v: Mapping, d: Callable) -> MatrixExpr:
    """d/dt A^{∘p} = p A^{∘(p−1)} ⊙ Ȧ (p a constant; SymPy writes A ⊙ A as A^{∘2})."""
    da = d(expr.base)
    if _is_zero(da):
        return ZeroMatrix(*expr.shape)
    lower = expr.base if expr.exp == 2 else HadamardPower(expr.base, expr.exp - 1)
    return MatMul(expr.exp, HadamardProduct(lower, da), evaluate=False)


RULES: dict[type, Callable] = {
    MatrixSymbol: _symbol, Identity: _constant, ZeroMatrix: _constant, OneMatrix: _constant,
    Transpose: _transpose, MatAdd: _add, MatMul: _mul, HadamardProduct: _hadamard, HadamardPower: _hadamard_power,
}
"""Derivative rules of SymPy's own matrix classes (curvsym's nodes carry their own)."""


def time_derivative(expr: MatrixExpr, velocities: Mapping[MatrixSymbol, MatrixExpr]) -> MatrixExpr:
    """d expr/dt along dX/dt = velocities[X] (product rule; other symbols constant).

    Raises:
        NotDifferentiableError: a node below ``expr`` has no closed-form derivative
            (a fractional PSD power that moves, say), or ``expr`` is not a matrix expression.
    """
    refuse = lambda e: NotDifferentiableError(f"cannot differentiate {type(e).__name__} in time: {e}")
    return walker("_eval_time_derivative", RULES, velocities, refuse)(expr)
