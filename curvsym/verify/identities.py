r"""Exact identities of derived flows, proved in the free algebra or refuted at random points.

A symbolic claim e ≡ 0 (a conservation law dQ/dt = 0, the balance step law, GD's implicit
regulariser) is first expanded in the free algebra with involution
(:func:`curvsym.symbolic.algebra.noncommutative`): an expansion of 0 is a proof for
matrices of every size.  A non-zero expansion is not yet a refutation (the letters may
satisfy relations), so the expression is generated as code and evaluated at random
float64 points of the model's own widths (:func:`counterexample`): a relative value
above ``tol`` refutes it, and none at all leaves it ``"unresolved"``.

This is the verify layer's job because it needs the code generator and problem
instances; the symbolic layer stays pure algebra.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import sympy as sp
from sympy import MatAdd, MatMul, MatrixExpr, MatrixSymbol

from ..codegen import generate_expressions
from ..data.problems import random_instance
from ..errors import ArchitectureError, CurvsymError, NonFiniteError
from ..symbolic.algebra import noncommutative
from ..symbolic.calculus import time_derivative
from ..symbolic.derive import Flow, Model, balance, gradient_flow
from ..symbolic.step_maps import (
    ETA,
    balance_step_law,
    from_words,
    gradient_norm_squared,
    modified_equation,
    scaled,
    step_change,
    symmetric_letters,
    trace_gradient,
)

__all__ = ["counterexample", "ConservationProof", "prove_conserved", "IdentityProof", "prove_identities",
           "prove_step_change", "prove_implicit_regulariser"]


@dataclass(frozen=True)
class ConservationProof:
    """Outcome of the symbolic proof that dQ/dt = 0 along a flow.

    ``holds`` is True iff the free-algebra expansion of dQ/dt is 0 (``status``
    "proved").  Otherwise ``status`` is "refuted" with ``counterexample`` the
    relative size max|dQ/dt| / (1 + max|Q|) at a random point of the model's
    widths, "unresolved" when no point gave a non-zero value, or "undefined" when
    the flow cannot be evaluated at any point of these widths (``reason`` says why:
    e.g. a strict inverse of a preconditioner that is singular for every weight,
    as K-FAC's W₁ΣxW₁ᵀ is when a hidden layer is wider than the input).
    """

    quantity: str
    derivative: sp.Expr  # expanded noncommutative form of dQ/dt
    holds: bool
    status: str = "proved"
    counterexample: float | None = None
    reason: str = ""

    @property
    def n_terms(self) -> int:
        return len(sp.Add.make_args(self.derivative)) if self.derivative != 0 else 0


def counterexample(m: Model, exprs: Sequence[MatrixExpr], seeds: Sequence[int] = (0, 1, 2)) -> list[float]:
    """max over ``seeds`` of max|e| / (1 + max|y|²) for each expression e at random float64 points y.

    Weights are Gaussian, Σx = AAᵀ/n + ½I, T Gaussian, all at the model's own widths.  A state
    model (a rule with memory: ``weights`` = the network's arrays, then auxiliary state V, M, S, P, …)
    has its auxiliary arrays drawn too, entrywise uniform in (¼, ¾) from a stream spawned from the seed: a point of
    every slot's domain (velocities and first moments are any, second moments ≥ 0, the powers
    β^k in (0, 1), times > 0).

    Raises:
        NonFiniteError: an expression is NaN or infinite at a drawn point.
        CurvsymError: the expressions cannot be evaluated there (e.g. SingularPreconditionerError).
    """
    f = generate_expressions(m, "counterexample", list(exprs), parameters=sorted(
        {s for e in exprs for s in e.free_symbols if isinstance(s, sp.Symbol) and not isinstance(s, MatrixSymbol)},
        key=str))
    worst = [0.0] * len(exprs)
    for seed in seeds:
        inst = random_instance(m.network, seed=seed, scale=1.0, whitened=m.whitened)
        rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])  # independent of the instance's draws
        state = (*inst.weights, *(rng.uniform(0.25, 0.75, tuple(int(d) for d in a.shape))
                                  for a in m.weights[len(inst.weights):]))
        params = {p: 0.5 for p in f.parameters}
        vals = f(state, *inst.data(m.whitened), **params)
        scale = 1.0 + max(float(np.max(np.abs(w))) for w in state) ** 2
        sizes = [float(np.max(np.abs(np.asarray(v, dtype=float)))) for v in vals]
        if not all(np.isfinite(sizes)):   # a NaN would otherwise read as "no counterexample"
            raise NonFiniteError(f"an expression is not finite at the random point of seed {seed} "
                                 f"(values {', '.join(f'{x:.3g}' for x in sizes)})")
        worst = [max(w, x / scale) for w, x in zip(worst, sizes)]
    return worst


def prove_conserved(flow: Flow, quantities: Sequence[MatrixExpr] | None = None,
                    names: Sequence[str] | None = None, tol: float = 1e-8) -> list[ConservationProof]:
    """Prove dQ/dt ≡ 0 along ``flow`` for each Q (default: balance C_i), or refute it by a counterexample.

    A quantity whose free-algebra expansion is non-zero is evaluated at random
    points of the model's widths; a relative value above ``tol`` refutes it.

    Example:
        >>> import curvsym as cs
        >>> m = cs.model(cs.chain([2, 3, 2]))
        >>> [(p.quantity, p.status) for p in prove_conserved(cs.gradient_flow(m))]
        [('C_1', 'proved')]
        >>> [p.status for p in prove_conserved(cs.rules.kfac().flow(cs.model(cs.chain([2, 2, 2]))))]
        ['refuted']

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
        except CurvsymError as exc:  # e.g. a strict inverse that is singular at every point of these widths
            out.append(ConservationProof(name, d, False, "undefined", None, str(exc)))
            continue
        out.append(ConservationProof(name, d, False, "refuted" if value > tol else "unresolved", value))
    return out


@dataclass(frozen=True)
class IdentityProof:
    """An exact identity e ≡ 0 in the free algebra with involution, or its refutation.

    ``status``: ``"proved"`` (the expansion is 0: true for matrices of every size),
    ``"refuted"`` (non-zero expansion and a numeric counterexample of relative size
    ``counterexample`` at the model's widths) or ``"unresolved"``.
    """

    name: str
    expansion: sp.Expr
    holds: bool
    status: str
    counterexample: float | None = None

    @property
    def n_terms(self) -> int:
        return 0 if self.expansion == 0 else len(sp.Add.make_args(self.expansion))


def prove_identities(m: Model, exprs: Sequence[MatrixExpr], names: Sequence[str],
                     tol: float = 1e-8) -> list[IdentityProof]:
    """Prove each e ≡ 0 by free-algebra expansion, or refute it at random points of the model's widths."""
    out = []
    for name, e in zip(names, exprs):
        nc = noncommutative(e, symmetric_letters(m))
        if nc == 0:
            out.append(IdentityProof(name, nc, True, "proved"))
            continue
        try:
            value = counterexample(m, [e])[0]
        except CurvsymError:  # e.g. a strict inverse singular at every sampled point
            value = 0.0
        out.append(IdentityProof(name, nc, False, "refuted" if value > tol else "unresolved", value))
    return out


def prove_step_change(flow: Flow, eta: sp.Expr = ETA, tol: float = 1e-8) -> list[IdentityProof]:
    """Prove C_i(W + ηV) − C_i(W) ≡ η²(V_{i+1}ᵀV_{i+1} − V_iV_iᵀ) for every i, or refute it.

    True for every row-space rule (GD: V = −∇L; min-norm NGD, with 𝒦⁺[·] opaque);
    false for K-FAC, whose step also changes C_i at first order (η DC_i[V] ≠ 0).
    """
    m = flow.model
    deltas = step_change(flow, balance(m), eta)
    laws = balance_step_law(flow, eta)
    exprs = [MatAdd(d, MatMul(-1, q, evaluate=False), evaluate=False) for d, q in zip(deltas, laws)]
    return prove_identities(m, exprs, [f"ΔC_{i} = η²(V_{i + 1}ᵀV_{i + 1} − V_iV_iᵀ)" for i in range(1, len(exprs) + 1)],
                            tol)


def prove_implicit_regulariser(m: Model, coefficient: sp.Expr = sp.Rational(-1, 4)) -> list[IdentityProof]:
    """For GD prove f₁ ≡ c ∇‖∇L‖² per layer (c = −¼: Barrett & Dherin), or refute it.

    f₁ = −½ f′f comes from :func:`modified_equation` of the gradient flow; ∇‖∇L‖² from
    :func:`trace_gradient` of :func:`gradient_norm_squared`.  A refutation is confirmed
    numerically: f₁ − c ∇‖∇L‖² (the gradient turned back into a matrix expression by
    :func:`from_words`) is evaluated at random points of the model's widths.
    """
    flow = gradient_flow(m)
    f1 = modified_equation(flow, 1).corrections[0]
    sym = [s.name for s in symmetric_letters(m)]
    norm = gradient_norm_squared(m)
    c = sp.nsimplify(coefficient)
    out = []
    for w, f in zip(m.weights, f1):
        grad = trace_gradient(norm, w, sym)
        diff = sp.expand(noncommutative(f, symmetric_letters(m)) - c * grad)
        name = f"f₁[{w.name}] = {c}·∇‖∇L‖²"
        if diff == 0:
            out.append(IdentityProof(name, diff, True, "proved"))
            continue
        residual = MatAdd(f, scaled(-c, from_words(grad, m)), evaluate=False)
        value = counterexample(m, [residual])[0]
        out.append(IdentityProof(name, diff, False, "refuted" if value > 1e-8 else "unresolved", value))
    return out
