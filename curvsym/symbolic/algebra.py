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
* **refuted** — the expansion is not 0 *and* a numeric counterexample was found:
  the quantity evaluated at random matrices of the model's own widths is not 0.
  A non-zero expansion alone is not a refutation for fixed sizes: some non-zero
  noncommutative polynomials vanish on all small matrices (the standard
  polynomial s_{2n} vanishes on n × n matrices, Amitsur–Levitzki).
* **unresolved** — non-zero expansion, no counterexample at the model's widths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import sympy as sp
from sympy import Identity, MatAdd, MatMul, MatrixExpr, MatrixSymbol, Transpose, ZeroMatrix

from ..errors import ArchitectureError, CurvsymError
from .calculus import time_derivative
from .derive import Flow, Model, balance

__all__ = ["noncommutative", "is_identically_zero", "ConservationProof", "prove_conserved", "counterexample"]


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


@dataclass(frozen=True)
class ConservationProof:
    """Outcome of the symbolic proof that dQ/dt = 0 along a flow.

    ``holds`` is True iff the free-algebra expansion of dQ/dt is 0 (``status``
    "proved").  Otherwise ``status`` is "refuted" with ``counterexample`` the
    relative size max|dQ/dt| / (1 + max|Q|) at a random point of the model's
    widths, or "unresolved" when no point gave a non-zero value.
    """

    quantity: str
    derivative: sp.Expr  # expanded noncommutative form of dQ/dt
    holds: bool
    status: str = "proved"
    counterexample: float | None = None

    @property
    def n_terms(self) -> int:
        return len(sp.Add.make_args(self.derivative)) if self.derivative != 0 else 0


def counterexample(m: Model, exprs: Sequence[MatrixExpr], seeds: Sequence[int] = (0, 1, 2)) -> list[float]:
    """max over ``seeds`` of max|e| / (1 + max|W|²) for each expression e at random float64 points.

    Weights are Gaussian, Σx = AAᵀ/n + ½I, T Gaussian, all at the model's own widths.
    """
    from ..codegen import generate_expressions
    from ..data.problems import random_instance
    f = generate_expressions(m, "counterexample", list(exprs), parameters=sorted(
        {s for e in exprs for s in e.free_symbols if isinstance(s, sp.Symbol) and not isinstance(s, MatrixSymbol)},
        key=str))
    worst = [0.0] * len(exprs)
    for seed in seeds:
        inst = random_instance(m.network, seed=seed, scale=1.0, whitened=m.whitened)
        params = {p: 0.5 for p in f.parameters}
        vals = f(inst.weights, *inst.data(m.whitened), **params)
        scale = 1.0 + max(float(np.max(np.abs(w))) for w in inst.weights) ** 2
        worst = [max(w, float(np.max(np.abs(np.asarray(v, dtype=float)))) / scale) for w, v in zip(worst, vals)]
    return worst


def prove_conserved(flow: Flow, quantities: Sequence[MatrixExpr] | None = None,
                    names: Sequence[str] | None = None, tol: float = 1e-8) -> list[ConservationProof]:
    """Prove dQ/dt ≡ 0 along ``flow`` for each Q (default: balance C_i), or refute it by a counterexample.

    A quantity whose free-algebra expansion is non-zero is evaluated at random
    points of the model's widths; a relative value above ``tol`` refutes it.

    Raises:
        ArchitectureError: the default quantities (C_i) of a nonlinear data model, which has per-neuron
            balance instead (:func:`curvsym.symbolic.nonlinear.prove_neuron_balance`).
    """
    m = flow.model
    if quantities is None and not isinstance(m, Model):
        raise ArchitectureError("the balance C_i of deep linear networks is not conserved by nonlinear networks; "
                                "use curvsym.nonlinear.prove_neuron_balance (per-neuron balance)")
    if quantities is None:
        quantities = balance(m)
        names = [f"C_{i}" for i in range(1, len(quantities) + 1)]
    names = names or [f"Q_{i}" for i in range(1, len(quantities) + 1)]
    vel = dict(zip(m.weights, flow.velocities))
    symmetric = [m.Sigma] if isinstance(m.Sigma, MatrixSymbol) else []
    out = []
    for name, q in zip(names, quantities):
        dq = time_derivative(q, vel)
        d = noncommutative(dq, symmetric)
        if d == 0:
            out.append(ConservationProof(name, d, True))
            continue
        try:
            value = counterexample(m, [dq])[0]
        except CurvsymError:  # e.g. a strict inverse that is singular at every point of these widths
            value = 0.0
        out.append(ConservationProof(name, d, False, "refuted" if value > tol else "unresolved", value))
    return out


