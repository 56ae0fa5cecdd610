r"""Checks of the momentum limits (``docs/mathematics.md`` §10): free-algebra proofs and fitted orders.

* :func:`prove_heavy_ball_regulariser` — heavy ball's f₁ ≡ c ∇‖∇L‖² per layer, proved in the free
  algebra (c = −(1+β)/(4(1−β)³), Ghosh et al.'s factor) or refuted with a numeric counterexample
  (GD's factor, c = −1/(4(1−β)²)).
* :func:`prove_momentum_balance` — C̈_i + γĊ_i ≡ right side along the heavy-ball flow.
* :func:`prove_angular_momentum` — Ȧ_i + γA_i ≡ 0 (the skew momentum map decays like e^{−γt}).
* :func:`heavy_ball_orders` — heavy-ball iterates (the rule's own generated step map, at any digits)
  against the flows of f₀ and f₀ + ηf₁: distances at t = nη and their fitted orders in η.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import mpmath
import sympy as sp
from sympy import MatAdd, MatMul

from ..codegen import generate_expressions, generate_flow
from ..integrate import integrate, iterate_precise
from ..integrate.state import to_mp
from ..symbolic.algebra import noncommutative
from ..symbolic.memory_limits import (angular_momentum_residual, heavy_ball_modified_equation, momentum_balance_residual,
                                      slow_manifold_displacement)
from ..symbolic.rules.memory import heavy_ball, initial_state
from ..symbolic.step_maps import from_words, gradient_norm_squared, trace_gradient
from .identities import IdentityProof, counterexample
from .step_size import FittedOrder, distance, fitted_order

__all__ = ["ghosh_coefficient", "gd_coefficient", "prove_heavy_ball_regulariser", "prove_momentum_balance",
           "prove_angular_momentum",
           "HeavyBallOrders", "heavy_ball_orders"]


def ghosh_coefficient(beta: Any) -> sp.Expr:
    """c in f₁ = c∇‖∇L‖² for heavy ball: −(1+β)/(4(1−β)³) (regulariser (1+β)/(1−β) × GD's at η_e = η/(1−β))."""
    return -(1 + beta) / (4 * (1 - beta) ** 3)


def gd_coefficient(beta: Any) -> sp.Expr:
    """The nearest wrong c: GD's regulariser (η_e/4)‖∇L‖² at η_e = η/(1−β), i.e. −1/(4(1−β)²)."""
    return -1 / (4 * (1 - beta) ** 2)


def _cancel_words(poly: sp.Expr) -> sp.Expr:
    """A noncommutative polynomial with each word's coefficient (a rational function of β) cancelled."""
    words: dict = {}
    for term in sp.Add.make_args(sp.expand(poly)):
        c, nc = term.args_cnc()
        key = sp.Mul(*nc)
        words[key] = words.get(key, 0) + sp.Mul(*c)
    return sp.Add(*[sp.cancel(c) * w for w, c in words.items() if sp.cancel(c) != 0])


def prove_heavy_ball_regulariser(m: Any, beta: Any, coefficient: Any = None) -> list[IdentityProof]:
    """f₁[W_e] ≡ c ∇_{W_e}‖∇L‖² for every layer (default c: :func:`ghosh_coefficient`), or its refutation."""
    c = sp.nsimplify(ghosh_coefficient(beta) if coefficient is None else coefficient)
    me = heavy_ball_modified_equation(m, beta, 1)
    base = heavy_ball_modified_equation(m, beta, 0)
    sym = [m.Sigma] if isinstance(m.Sigma, sp.MatrixSymbol) else []
    norm = gradient_norm_squared(m)
    out = []
    for w, f, f0 in zip(m.weights, me.velocities, base.velocities):
        f1 = MatAdd(f, MatMul(-1, f0, evaluate=False), evaluate=False).xreplace({me.parameters[0]: 1})
        grad = trace_gradient(norm, w, [s.name for s in sym])
        diff = _cancel_words(noncommutative(f1, sym) - c * grad)
        name = f"f₁[{w.name}] = {c}·∇‖∇L‖²"
        if diff == 0:
            out.append(IdentityProof(name, diff, True, "proved"))
            continue
        residual = MatAdd(f1, MatMul(-c, from_words(grad, m), evaluate=False), evaluate=False)
        value = counterexample(m, [residual])[0]
        out.append(IdentityProof(name, diff, False, "refuted" if value > 1e-8 else "unresolved", value))
    return out


def prove_momentum_balance(m: Any, gamma: Any = None, right: tuple | None = None) -> list[IdentityProof]:
    """C̈_i + γĊ_i ≡ 2(V_{i+1}ᵀV_{i+1} − V_iV_iᵀ) (or ``right``; ``(None, …)`` claims 0) along heavy ball."""
    flow = heavy_ball(gamma).flow(m)
    g = flow.parameters[0] if gamma is None else gamma
    sym = [m.Sigma] if isinstance(m.Sigma, sp.MatrixSymbol) else []
    out = []
    for i, r in enumerate(momentum_balance_residual(flow, g, right), start=1):
        diff = sp.expand(noncommutative(r, sym))
        name = f"C̈_{i} + γĊ_{i} − right side"
        if diff == 0:
            out.append(IdentityProof(name, diff, True, "proved"))
            continue
        value = counterexample(flow.model, [r])[0]   # symbolic γ is set to ½ there
        out.append(IdentityProof(name, diff, False, "refuted" if value > 1e-8 else "unresolved", value))
    return out


def prove_angular_momentum(m: Any, damped: bool = True) -> list[IdentityProof]:
    """Ȧ_i + γA_i ≡ 0 along heavy ball with symbolic γ (``damped=False``: the claim Ȧ_i ≡ 0, refuted for γ ≠ 0)."""
    flow = heavy_ball().flow(m)
    g = flow.parameters[0]
    sym = [m.Sigma] if isinstance(m.Sigma, sp.MatrixSymbol) else []
    out = []
    for i, r in enumerate(angular_momentum_residual(flow, g if damped else 0), start=1):
        diff = sp.expand(noncommutative(r, sym))
        name = f"Ȧ_{i} + γA_{i}" if damped else f"Ȧ_{i}"
        if diff == 0:
            out.append(IdentityProof(name, diff, True, "proved"))
            continue
        value = counterexample(flow.model, [r])[0]
        out.append(IdentityProof(name, diff, False, "refuted" if value > 1e-8 else "unresolved", value))
    return out


@dataclass(frozen=True)
class HeavyBallOrders:
    """Distances ‖θ_n − θ̃(nη)‖ per claimed flow (a name per flow) and their fitted orders in η."""

    lrs: tuple
    errors: dict
    orders: dict


def heavy_ball_orders(m: Any, beta: Any, weights: Sequence, data: Sequence, lrs: Sequence[str], t_end: str,
                      flows: dict, dps: int = 30, tol: Any = None) -> HeavyBallOrders:
    """Heavy ball at fixed β and learning rates ``lrs`` (strings, exact), started on the slow manifold, against
    each flow of ``flows`` (name → Flow on ``m``, ``eta`` its keyword) at t = nη = ``t_end``.

    The iterates are the rule's generated step map (h = √η, γ = (1 − β)/h) run by ``iterate_precise``.
    """
    rule = heavy_ball()
    step = generate_flow(rule.step_flow(m), "mpmath")
    f0, fpf = slow_manifold_displacement(m, beta)
    start = generate_expressions(m, "slow_manifold", [*f0, *fpf], backend="mpmath")
    rhs = {k: generate_flow(f, "mpmath") for k, f in flows.items()}
    errors: dict = {k: [] for k in flows}
    b = mpmath.mpf(sp.Rational(beta).p) / sp.Rational(beta).q
    wdps = dps + 10
    with mpmath.workdps(wdps):
        w0 = to_mp(weights, wdps)
        d0 = to_mp(data, wdps)
        vals = start(w0, *d0)
        n_layers = len(weights)
        for lr in lrs:
            eta = mpmath.mpf(lr)
            h = mpmath.sqrt(eta)
            n = int(mpmath.nint(mpmath.mpf(t_end) / eta))
            disp = [eta * a - eta ** 2 / (1 - b) * c for a, c in zip(vals[:n_layers], vals[n_layers:])]
            y0 = initial_state(rule, m, w0, V=[x / h for x in disp])
            it = iterate_precise(step, y0, d0, h, [0, n], dps=dps, params={"eta": h, "gamma": (1 - b) / h},
                                 throw=True)
            theta = it.states[-1][:n_layers]
            for k, r in rhs.items():
                p = {"eta": eta} if flows[k].parameters else {}
                traj = integrate(r, w0, d0, [0, n * eta], dps=dps, params=p, tol=tol)
                errors[k].append(distance(theta, traj.states[-1]))
    fits: dict[str, FittedOrder] = {k: fitted_order([float(x) for x in lrs], v) for k, v in errors.items()}
    return HeavyBallOrders(tuple(lrs), {k: tuple(v) for k, v in errors.items()}, fits)
