r"""Limits of momentum, derived: heavy ball's modified equation and what momentum does to balance (§10).

**Heavy ball at fixed β** (Ghosh, Lyu, Zhang & Wang, ICLR 2023; Kovachki & Stuart, JMLR 2021).
The iterates θ_{k+1} = θ_k − η∇L(θ_k) + β(θ_k − θ_{k−1}) are a linear two-step method.
Backward error analysis seeks θ̇ = f₀ + ηf₁ with θ_k = θ(kη): inserting θ(t ± η) into
θ(t+η) − (1+β)θ(t) + βθ(t−η) = −η∇L(θ(t)) and expanding the operator
e^{ηD} − (1+β) + βe^{−ηD} = c₁ηD + c₂η²D² + …  (:func:`two_step_coefficients`:
c₁ = 1 − β, c₂ = (1 + β)/2), with D²θ = f′f, gives order by order

    f₀ = −∇L/c₁ = −∇L/(1 − β),       f₁ = −(c₂/c₁) f₀′f₀ = −(1+β)/(2(1−β)) f₀′f₀.

Since f₀′f₀ = ∇²L∇L/(1−β)² = ∇‖∇L‖²/(2(1−β)²), this is

    θ̇ = −(1/(1−β)) ∇[L + η(1+β)/(4(1−β)²) ‖∇L‖²]:

at the effective step η_e = η/(1−β) (time τ = t/(1−β)) the implicit regulariser is
(η_e/4)·(1+β)/(1−β)·‖∇L‖², GD's (η_e/4)‖∇L‖² times (1+β)/(1−β).  The expansion holds on the
slow manifold: the start velocity must be (θ₀ − θ(−η))/η (:func:`slow_manifold_displacement`).

**Balance under momentum** (deep linear nets; cf. Marcotte, Gribonval & Peyré 2024).  For the
heavy-ball flow Ẇ_i = V_i, V̇_i = −γV_i − ∇_iL and C_i = W_{i+1}ᵀW_{i+1} − W_iW_iᵀ,

    C̈_i + γĊ_i = 2(V_{i+1}ᵀV_{i+1} − V_iV_iᵀ)                (exact),

because C̈ + γĊ = DC[V̇ + γV] + 2(V_{i+1}ᵀV_{i+1} − V_iV_iᵀ) and DC[−∇L] = 0 (the
gradient is a row-space velocity).  So C_i is not conserved; the time-dependent law is
d/dt(e^{γt}Ċ_i) = 2e^{γt}(V_{i+1}ᵀV_{i+1} − V_iV_iᵀ). :func:`momentum_balance_residual` is the left
side minus the right side, built from the derived flow by two time derivatives.
"""

from __future__ import annotations

from typing import Any

import sympy as sp
from sympy import HadamardPower, HadamardProduct, MatAdd, MatMul, MatrixExpr, Transpose, ZeroMatrix

from ..errors import NotDifferentiableError, OptionError
from .activations import ActivationNode
from .calculus import time_derivative
from .derive import Flow, balance
from .scale_nodes import InvRoot
from .step_maps import ETA, lie_derivative, prune_zeros

__all__ = ["two_step_coefficients", "heavy_ball_modified_equation", "slow_manifold_displacement",
           "momentum_balance_residual", "kinetic_balance", "angular_momentum", "angular_momentum_residual",
           "adam_modified_equation", "adam_slow_moments",
           "step_derivative", "at_zero", "memory_modified_equation"]


def two_step_coefficients(beta: Any, order: int = 2) -> tuple:
    """(c₁, …, c_order): e^{x} − (1+β) + βe^{−x} = Σ_j c_j x^j (c₀ = 0), as SymPy expressions of β."""
    x = sp.Symbol("x")
    series = sp.series(sp.exp(x) - (1 + beta) + beta * sp.exp(-x), x, 0, order + 1).removeO()
    return tuple(sp.simplify(series.coeff(x, j)) for j in range(1, order + 1))


def _scaled(c: sp.Expr, x: MatrixExpr) -> MatrixExpr:
    return x if c == 1 else MatMul(c, x, evaluate=False)


def heavy_ball_modified_equation(m: Any, beta: Any, order: int = 1, factor: Any = 1,
                                 eta: sp.Symbol = ETA) -> Flow:
    """θ̇ = f₀ (+ η·factor·f₁) for heavy ball at fixed β (see the module docstring); ``factor`` ≠ 1 scales f₁
    (a negative control: GD's factor is (1−β)/(1+β)).

    Raises:
        OptionError: ``order`` not 0 or 1.
    """
    if order not in (0, 1):
        raise OptionError(f"heavy ball's modified equation is built to order 0 or 1, got {order!r}")
    c1, c2 = two_step_coefficients(beta)
    f0 = tuple(_scaled(-1 / c1, g) for g in m.gradient())
    base = Flow(m, f0, f"heavy ball β={beta}, limit θ̇ = −∇L/(1−β)")
    if order == 0:
        return base
    fpf = lie_derivative(base)
    c = sp.nsimplify(-c2 / c1 * factor)
    vel = tuple(MatAdd(f, _scaled(c * eta, x), evaluate=False) for f, x in zip(f0, fpf))
    return Flow(m, vel, f"heavy ball β={beta}, modified equation of order 1" + (
        "" if factor == 1 else f" (f₁ × {factor})"), (eta,))


def slow_manifold_displacement(m: Any, beta: Any) -> tuple:
    """(f₀, f₀′f₀): θ₀ − θ(−η) = ηf₀ − (η²/(1−β)) f₀′f₀ + O(η³) on the modified flow (the start on the slow manifold)."""
    base = heavy_ball_modified_equation(m, beta, 0)
    return tuple(base.velocities), tuple(lie_derivative(base))


def kinetic_balance(state_model: Any, n: int) -> tuple:
    """2(V_{i+1}ᵀV_{i+1} − V_iV_iᵀ) for the velocities V_i = state_model.weights[n + i]."""
    V = state_model.weights[n:2 * n]
    return tuple(MatMul(2, MatAdd(MatMul(Transpose(b), b, evaluate=False), MatMul(-1, a, Transpose(a), evaluate=False),
                                  evaluate=False), evaluate=False) for a, b in zip(V[:-1], V[1:]))


def momentum_balance_residual(flow: Flow, gamma: Any, right: tuple | None = None) -> tuple:
    """C̈_i + γĊ_i − right_i along ``flow`` (default right side: 2(V_{i+1}ᵀV_{i+1} − V_iV_iᵀ)).

    ``flow`` is a heavy-ball flow on its state model (weights then velocities).
    """
    sm = flow.model
    n = len(sm.network.weights)
    vel = dict(zip(sm.weights, flow.velocities))
    right = kinetic_balance(sm, n) if right is None else right
    out = []
    for C, r in zip(balance(sm), right):
        dC = prune_zeros(time_derivative(C, vel))
        ddC = prune_zeros(time_derivative(dC, vel))
        terms = [ddC, _scaled(gamma, dC)] + ([MatMul(-1, r, evaluate=False)] if r is not None else [])
        out.append(MatAdd(*terms, evaluate=False))
    return tuple(out)


def angular_momentum(state_model: Any, n: int) -> tuple:
    r"""A_i = M_i − M_iᵀ, M_i = V_iW_iᵀ − W_{i+1}ᵀV_{i+1} (n_i × n_i, i = 1 … N − 1; ``docs/mathematics.md`` §10.5).

    M_i is the momentum map (Noether charge) of the symmetry W_i → GW_i, W_{i+1} → W_{i+1}G⁻¹ of a deep
    linear chain; its skew part A_i is what heavy ball keeps: Ȧ_i = −γA_i, so e^{γt}A_i is conserved.
    """
    W, V = state_model.weights[:n], state_model.weights[n:2 * n]
    out = []
    for Wi, Wj, Vi, Vj in zip(W[:-1], W[1:], V[:-1], V[1:]):
        M = MatAdd(MatMul(Vi, Transpose(Wi), evaluate=False), MatMul(-1, Transpose(Wj), Vj, evaluate=False),
                   evaluate=False)
        out.append(MatAdd(M, MatMul(-1, Transpose(M), evaluate=False), evaluate=False))
    return tuple(out)


def angular_momentum_residual(flow: Flow, gamma: Any) -> tuple:
    """Ȧ_i + γA_i along a heavy-ball ``flow`` (``gamma`` = 0: the claim that A_i itself is conserved)."""
    sm = flow.model
    n = len(sm.network.weights)
    vel = dict(zip(sm.weights, flow.velocities))
    return tuple(MatAdd(prune_zeros(time_derivative(A, vel)), *([] if gamma == 0 else [_scaled(gamma, A)]),
                        evaluate=False) for A in angular_momentum(sm, n))


# --------------------------------------------------------------------------- Adam at fixed β₁, β₂

def _adam_parts(m: Any, eps: Any) -> tuple:
    """g, f₀ = −g ⊙ ρ(g⊙g) and the directional derivative Dg[f₀] per trainable array."""
    g = tuple(m.gradient())
    f0 = tuple(MatMul(-1, HadamardProduct(gk, InvRoot(HadamardProduct(gk, gk), 0, eps)), evaluate=False) for gk in g)
    along = dict(zip(m.weights, f0))
    dg = tuple(prune_zeros(time_derivative(gk, along)) for gk in g)
    return g, f0, dg


def adam_modified_equation(m: Any, beta1: Any, beta2: Any, eps: Any, order: int = 1, momentum_memory: bool = True,
                           eta: sp.Symbol = ETA) -> Flow:
    r"""θ̇ = f₀ (+ ηf₁) for Adam without bias correction at fixed β₁, β₂ (docs/mathematics.md §10.4).

    With ρ(s) = 1/(√s + ε), c_i = β_i/(1 − β_i) and the moments on their slow manifold,
    m_{k+1} = g − ηc₁Dg[θ̇] + O(η²), s_{k+1} = g⊙g − 2ηc₂ g⊙Dg[θ̇] + O(η²):

        f₀ = −g ⊙ ρ(g⊙g),
        f₁ = −½ f₀′f₀ + c₁ ρ(g⊙g) ⊙ Dg[f₀] + 2c₂ g⊙g ⊙ ρ′(g⊙g) ⊙ Dg[f₀].

    As ε → 0: θ̇ → −sign g + η(c₂ − c₁)|g|^{−1} ⊙ ∇‖∇L‖₁ (one-norm anti-penalised when β₂ > β₁).
    ``momentum_memory=False`` drops the c₁ term: RMSProp's modified equation (β₁ = 0), the negative control.

    Raises:
        OptionError: ``order`` not 0 or 1.
    """
    if order not in (0, 1):
        raise OptionError(f"Adam's modified equation is built to order 0 or 1, got {order!r}")
    g, f0, dg = _adam_parts(m, eps)
    base = Flow(m, f0, f"Adam limit θ̇ = −g ⊘ (|g| + ε), ε={eps}")
    if order == 0:
        return base
    fpf = lie_derivative(base)
    c1, c2 = beta1 / (1 - beta1), beta2 / (1 - beta2)
    vel = []
    for f, x, gk, d in zip(f0, fpf, g, dg):
        s = HadamardProduct(gk, gk)
        terms = [_scaled(sp.Rational(-1, 2), x)]
        if momentum_memory:
            terms.append(_scaled(sp.nsimplify(c1), HadamardProduct(InvRoot(s, 0, eps), d)))
        terms.append(_scaled(sp.nsimplify(2 * c2), HadamardProduct(s, InvRoot(s, 1, eps), d)))
        vel.append(MatAdd(f, _scaled(eta, MatAdd(*terms, evaluate=False)), evaluate=False))
    name = "Adam" if momentum_memory else "RMSProp (no momentum memory)"
    return Flow(m, tuple(vel), f"{name} modified equation of order 1, β₁={beta1}, β₂={beta2}, ε={eps}", (eta,))


def adam_slow_moments(m: Any, eps: Any) -> tuple:
    """(g, g⊙Dg[f₀], Dg[f₀]) per array: the moments on the slow manifold are M₀ = g − (η/(1−β₁))Dg[f₀],
    S₀ = g⊙g − (2η/(1−β₂)) g⊙Dg[f₀] (the state before the first step)."""
    g, _, dg = _adam_parts(m, eps)
    return g, tuple(HadamardProduct(gk, d) for gk, d in zip(g, dg)), dg


# --------------------------------------------------------------------------- modified equations of rules with memory

def _zero(x: MatrixExpr) -> bool:
    return bool(getattr(x, "is_ZeroMatrix", False))


def step_derivative(expr: MatrixExpr, h: sp.Symbol = ETA) -> MatrixExpr:
    """∂expr/∂h for an increment field built by a rule with memory (h in scalar factors and inside entrywise nodes).

    Raises:
        NotDifferentiableError: h inside a node other than an entrywise one (a K-FAC preconditioner at a
            look-ahead point, say).
    """
    cache: dict = {}

    def d(x):
        if x in cache:
            return cache[x]
        if h not in x.free_symbols:
            r = ZeroMatrix(*x.shape)
        elif isinstance(x, MatAdd):
            terms = [t for t in (d(a) for a in x.args) if not _zero(t)]
            r = ZeroMatrix(*x.shape) if not terms else (terms[0] if len(terms) == 1 else MatAdd(*terms, evaluate=False))
        elif isinstance(x, MatMul):
            terms = []
            for k, a in enumerate(x.args):
                rest = x.args[:k] + x.args[k + 1:]
                if isinstance(a, MatrixExpr):
                    da = d(a)
                    if not _zero(da):
                        terms.append(MatMul(*x.args[:k], da, *x.args[k + 1:], evaluate=False))
                else:
                    da = sp.diff(a, h)
                    if da != 0:
                        terms.append(MatMul(da, *rest, evaluate=False))
            r = ZeroMatrix(*x.shape) if not terms else (terms[0] if len(terms) == 1 else MatAdd(*terms, evaluate=False))
        elif isinstance(x, Transpose):
            da = d(x.arg)
            r = ZeroMatrix(*x.shape) if _zero(da) else Transpose(da)
        elif isinstance(x, HadamardProduct):
            terms = []
            for k, a in enumerate(x.args):
                da = d(a)
                if not _zero(da):
                    terms.append(HadamardProduct(*x.args[:k], da, *x.args[k + 1:]))
            r = ZeroMatrix(*x.shape) if not terms else (terms[0] if len(terms) == 1 else MatAdd(*terms, evaluate=False))
        elif isinstance(x, HadamardPower) and h not in x.exp.free_symbols:
            da = d(x.base)
            lower = x.base if x.exp == 2 else HadamardPower(x.base, x.exp - 1)
            r = MatMul(x.exp, HadamardProduct(lower, da), evaluate=False)
        elif isinstance(x, ActivationNode) and not any(h in getattr(q, "free_symbols", ()) for q in x.params):
            da = d(x.Z)
            r = ZeroMatrix(*x.shape) if _zero(da) else HadamardProduct(type(x)(x.Z, x.order + 1, *x.params), da)
        else:
            raise NotDifferentiableError(f"cannot differentiate {type(x).__name__} in the step size: {x}")
        cache[x] = r
        return r
    return d(expr)


def at_zero(expr: MatrixExpr, h: sp.Symbol = ETA) -> MatrixExpr:
    """``expr`` at h = 0, terms whose scalar factor vanishes there dropped."""
    cache: dict = {}

    def z(x):
        if not isinstance(x, MatrixExpr) or h not in x.free_symbols:
            return x
        if x in cache:
            return cache[x]
        if isinstance(x, MatAdd):
            terms = [t for t in (z(a) for a in x.args) if not _zero(t)]
            r = ZeroMatrix(*x.shape) if not terms else (terms[0] if len(terms) == 1 else MatAdd(*terms, evaluate=False))
        elif isinstance(x, MatMul):
            args = [sp.sympify(a).subs(h, 0) if not isinstance(a, MatrixExpr) else z(a) for a in x.args]
            if any((not isinstance(a, MatrixExpr) and a == 0) or (isinstance(a, MatrixExpr) and _zero(a)) for a in args):
                r = ZeroMatrix(*x.shape)
            else:
                scal = sp.Mul(*[a for a in args if not isinstance(a, MatrixExpr)])
                mats = [a for a in args if isinstance(a, MatrixExpr)]
                r = mats[0] if scal == 1 and len(mats) == 1 else MatMul(*([] if scal == 1 else [scal]), *mats,
                                                                          evaluate=False)
        else:
            r = x.func(*[z(a) if isinstance(a, MatrixExpr) else (a.subs(h, 0) if isinstance(a, sp.Basic) else a)
                         for a in x.args])
        cache[x] = r
        return r
    return prune_zeros(z(expr))


def memory_modified_equation(rule: Any, m: Any, eta: sp.Symbol = ETA) -> Flow:
    """The first-order modified equation of a rule with memory: the optimiser is y ↦ y + hF_h(y), so

        ỹ' = F₀ + h(F₁ − ½ F₀′F₀),      F₁ = ∂F_h/∂h at h = 0,

    on the state model (docs/mathematics.md §10.6): heavy ball and Nesterov share F₀ and differ in F₁ (Nesterov's
    look-ahead adds −D∇L[V], the gradient correction of Shi, Du, Jordan & Su).
    """
    step = rule.step_flow(m, eta)
    flow = rule.flow(m)
    F1 = [at_zero(step_derivative(f, eta), eta) for f in step.velocities]
    fpf = lie_derivative(flow)
    vel = []
    for f0, f1, x in zip(flow.velocities, F1, fpf):
        terms = [t for t in (f1, _scaled(sp.Rational(-1, 2), x)) if not _zero(t)]
        corr = terms[0] if len(terms) == 1 else MatAdd(*terms, evaluate=False)
        vel.append(f0 if not terms else MatAdd(f0, _scaled(eta, corr), evaluate=False))
    params = tuple(dict.fromkeys((*flow.parameters, eta)))
    return Flow(flow.model, tuple(vel), f"{rule.name}, modified equation of order 1", params)
