"""Scalar ODE systems (reduced mode dynamics) as flows on 1 × 1 matrices, so the matrix integrators take them."""

from __future__ import annotations

from typing import Any, Sequence

import sympy as sp
from sympy import Identity, MatAdd, MatMul, MatrixSymbol

from ..errors import ShapeError
from ..symbolic.matfuncs import PsdInvPower
from .generate import generate

__all__ = ["scalar_system_function"]


def scalar_system_function(name: str, states: Sequence[sp.Symbol], rates: Sequence[sp.Expr],
                           data: Sequence[sp.Symbol] = (), backend: str = "mpmath") -> Any:
    """Generated code for a scalar ODE system, as a flow on 1 × 1 matrices.

    Lets the matrix integrators (Taylor, GBS, DOP853) integrate reduced mode
    systems: products stay products, a^p with p ∉ ℕ and 1/x become PSD powers of
    1 × 1 (positive) matrices.
    """
    mats = {x: MatrixSymbol(str(x), 1, 1) for x in (*states, *data)}

    def conv(e):
        if e in mats:
            return mats[e]
        if e.is_Number:
            return MatMul(e, Identity(1), evaluate=False)
        if isinstance(e, sp.Add):
            return MatAdd(*[conv(x) for x in e.args], evaluate=False)
        if isinstance(e, sp.Mul):
            coeff, rest = e.as_coeff_Mul()
            factors = [conv(x) for x in sp.Mul.make_args(rest)]
            body = factors[0] if len(factors) == 1 else MatMul(*factors, evaluate=False)
            return body if coeff == 1 else MatMul(coeff, body, evaluate=False)
        if isinstance(e, sp.Pow):
            base, p = e.args
            if p.is_Integer and p > 0:
                b = conv(base)
                return MatMul(*([b] * int(p)), evaluate=False) if p > 1 else b
            return PsdInvPower(conv(base), -p, 0, True, str(base))
        raise ShapeError(f"cannot express {e} as a 1×1 matrix expression")

    exprs = [conv(sp.expand(r)) if sp.expand(r).is_polynomial(*states) else conv(r) for r in rates]
    return generate(name, [mats[x] for x in (*states, *data)], exprs, (), backend, n_weights=len(states))
