r"""Per-mode (singular-value) dynamics of every learning rule, derived from the matrix flow.

Decoupled ansatz (Saxe et al. 2014; ``docs/mathematics.md`` §0.4, §1.4): whitened input
(Σx = I), W_i = U_i diag(a_i) U_{i−1}ᵀ with orthogonal U_i, U_0 = V, U_N = U,
T = U diag(s) Vᵀ.  Every rule here is equivariant under W_i ↦ O_i W_i O_{i−1}ᵀ
(it is built from products, transposes and spectral functions of PSD matrices), so
U_i = I loses no generality.  :func:`mode_ode` substitutes explicit diagonal
matrices with two modes into the rule's derived matrix velocities, checks that
every off-diagonal velocity is exactly zero (the ansatz is invariant) and that
mode 1's equations do not involve mode 2 (the modes decouple), and reads off

    ȧ_i = f_i(a_1, …, a_N; s),     σ = Π_i a_i,     σ̇ = Σ_i (σ/a_i) ȧ_i.

:func:`conserved_quantity` then *derives* the rule's invariant: if
ȧ_i/ȧ_j = g(a_i)/g(a_j), then φ(a) = ∫ da/g(a) satisfies d/dt[φ(a_i) − φ(a_j)] = 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy as sp
from sympy import Identity, MatAdd, MatMul, MatrixSymbol, Transpose, ZeroMatrix

from ..errors import DecouplingError, OptionError, ShapeError
from .derive import model
from .network import chain
from .nodes import walker
from .rules import AbstractRule as Rule

__all__ = ["ModeDynamics", "Invariant", "mode_ode", "explicit", "conserved_quantity", "balanced_sigma_ode",
           "solve_balanced"]


def _mat_add(expr, values, ev):
    out = sp.zeros(*expr.shape)
    for a in expr.args:
        out += ev(a)
    return out


def _mat_mul(expr, values, ev):
    out, coeff = None, sp.Integer(1)
    for a in expr.args:
        if isinstance(a, sp.MatrixExpr):
            m = ev(a)
            out = m if out is None else out * m
        else:
            coeff *= a
    return coeff * out


EXPLICIT = {
    MatrixSymbol: lambda e, values, ev: values[e],
    Identity: lambda e, values, ev: sp.eye(e.shape[0]),
    ZeroMatrix: lambda e, values, ev: sp.zeros(*e.shape),
    Transpose: lambda e, values, ev: ev(e.arg).T,
    MatAdd: _mat_add,
    MatMul: _mat_mul,
}
"""Explicit evaluation of SymPy's own matrix classes; curvsym's nodes answer through ``_eval_explicit``."""


def explicit(expr: Any, values: dict) -> sp.Matrix:
    """Evaluate a matrix expression with explicit SymPy matrices substituted for its symbols.

    Spectral nodes must meet diagonal arguments (as under the decoupled ansatz),
    where (X⁺)^q acts entrywise on the diagonal (assumed positive).

    Raises:
        DecouplingError: a spectral node meets a non-diagonal matrix.
        ShapeError: a node has no explicit evaluation.
    """
    refuse = lambda e: ShapeError(f"cannot evaluate {type(e).__name__} explicitly")
    return walker("_eval_explicit", EXPLICIT, values, refuse)(expr)


@dataclass(frozen=True)
class ModeDynamics:
    """Per-mode ODEs of one rule: ``layer[i]`` = ȧ_i, ``sigma`` = σ̇, in symbols a_1..a_N and s."""

    rule: str
    a: tuple
    s: sp.Symbol
    layer: tuple
    sigma: sp.Expr

    @property
    def N(self) -> int:
        return len(self.a)

    @property
    def product(self) -> sp.Expr:
        return sp.Mul(*self.a)

    @property
    def jacobian_sq(self) -> sp.Expr:
        """|J|² = Σ_i (σ/a_i)²."""
        return sp.Add(*[(self.product / ai) ** 2 for ai in self.a])

    def latex(self) -> str:
        rows = [rf"\dot a_{{{i + 1}}} &= {sp.latex(e)}" for i, e in enumerate(self.layer)]
        rows.append(rf"\dot\sigma &= {sp.latex(self.sigma)}")
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


def _simplify(e: sp.Expr) -> sp.Expr:
    return sp.factor(sp.powsimp(sp.simplify(e), force=True))


def mode_ode(rule: Rule, N: int, modes: int = 2) -> ModeDynamics:
    """Derive ȧ_i and σ̇ of ``rule`` for depth N under the decoupled ansatz (whitened data).

    Raises:
        OptionError: depth N must be ≥ 1.
        DecouplingError: the rule couples the modes (off-diagonal velocities, or mode 1 depends on mode 2).
    """
    if N < 1:
        raise OptionError("depth N must be ≥ 1")
    m = model(chain([modes] * (N + 1)), whitened=True)
    flow = rule.flow(m)
    a = [[sp.Symbol(f"a_{i + 1}{k + 1}", positive=True) for k in range(modes)] for i in range(N)]
    s = [sp.Symbol(f"s_{k + 1}", positive=True) for k in range(modes)]
    values = {W: sp.diag(*a[i]) for i, W in enumerate(m.weights)}
    values[m.T] = sp.diag(*s)
    params = {p: p for p in flow.parameters}
    vel = [explicit(v, values).subs(params) for v in flow.velocities]
    for i, V in enumerate(vel):
        off = [sp.simplify(V[r, c]) for r in range(modes) for c in range(modes) if r != c]
        if any(x != 0 for x in off):
            raise DecouplingError(f"{rule.name}: the decoupled ansatz is not invariant (layer {i + 1} gains coupling)")
    mode1 = {x for x in (a[i][1:] for i in range(N)) for x in x} | set(s[1:])
    layer = []
    A = tuple(sp.Symbol(f"a_{i + 1}", positive=True) for i in range(N))
    S = sp.Symbol("s", positive=True)
    rename = {a[i][0]: A[i] for i in range(N)}
    rename[s[0]] = S
    for i, V in enumerate(vel):
        e = sp.simplify(V[0, 0])
        if e.free_symbols & mode1:
            raise DecouplingError(f"{rule.name}: mode 1 of layer {i + 1} depends on mode 2; the modes do not decouple")
        layer.append(_simplify(e.xreplace(rename)))
    sigma = sp.Mul(*A)
    sdot = _simplify(sp.Add(*[(sigma / A[i]) * layer[i] for i in range(N)]))
    return ModeDynamics(rule.name, A, S, tuple(layer), sdot)


class Invariant(sp.Lambda):
    """φ of a conserved difference φ(a_i) − φ(a_j): a SymPy ``Lambda`` that prints as ``x ↦ φ(x)``.

    A plain ``sympy.Lambda(x, x)`` collapses to SymPy's identity function, which prints as
    ``Lambda(_x, _x)``; this subclass keeps its own variable, so φ(a) = a prints as ``x ↦ x``.  It is
    called and differentiated like any ``Lambda``: ``phi(a)``, ``phi.expr``, ``phi.variables``.

    Example:
        >>> import sympy as sp
        >>> x = sp.Symbol("x", positive=True)
        >>> phi = Invariant(x, x)
        >>> print(phi, phi(sp.Symbol("a_1")))
        x ↦ x a_1
        >>> print(Invariant(x, x ** 2 / 2))
        x ↦ x**2/2
    """

    def __new__(cls, signature: Any, expr: Any) -> "Invariant":
        sig = tuple(signature) if isinstance(signature, (tuple, sp.Tuple)) else (signature,)
        return sp.Expr.__new__(cls, sp.Tuple(*sig), sp.sympify(expr))

    def __str__(self) -> str:
        (v,) = self.variables
        return f"{v} ↦ {self.expr}"

    __repr__ = __str__


def conserved_quantity(dyn: ModeDynamics) -> tuple[Invariant, bool]:
    """Derive φ with d/dt[φ(a_i) − φ(a_j)] = 0 and prove it for every pair (i, j).

    Returns (φ as an :class:`Invariant`, a ``sympy.Lambda`` that prints as ``x ↦ φ(x)``; proved).
    Needs ȧ_1/ȧ_2 to separate as g(a_1)/g(a_2).

    Raises:
        OptionError: a conserved difference needs depth N ≥ 2.
        DecouplingError: ȧ_1/ȧ_2 does not separate as g(a_1)/g(a_2); no invariant of this form.
    """
    if dyn.N < 2:
        raise OptionError("a conserved difference needs depth N ≥ 2")
    a1, a2 = dyn.a[0], dyn.a[1]
    ratio = sp.simplify(sp.powsimp(dyn.layer[0] / dyn.layer[1], force=True))
    x = sp.Symbol("x", positive=True)
    g = sp.simplify(ratio.subs(a2, 1).subs(a1, x))
    if sp.simplify(sp.powsimp(ratio - g.subs(x, a1) / g.subs(x, a2), force=True)) != 0:
        raise DecouplingError(f"{dyn.rule}: ȧ_1/ȧ_2 does not separate as g(a_1)/g(a_2); no invariant of this form")
    phi = sp.simplify(sp.integrate(1 / g, x))
    proved = all(
        sp.simplify(sp.powsimp(sp.diff(phi, x).subs(x, dyn.a[i]) * dyn.layer[i]
                               - sp.diff(phi, x).subs(x, dyn.a[j]) * dyn.layer[j], force=True)) == 0
        for i in range(dyn.N) for j in range(i + 1, dyn.N))
    return Invariant(x, phi), proved


def balanced_sigma_ode(dyn: ModeDynamics) -> sp.Expr:
    """σ̇ as a function of σ on the balanced manifold a_i = σ^{1/N} (symbol ``sigma``)."""
    sig = sp.Symbol("sigma", positive=True)
    sub = {ai: sig ** sp.Rational(1, dyn.N) for ai in dyn.a}
    return sp.simplify(sp.powsimp(dyn.sigma.xreplace(sub), force=True))


def solve_balanced(dyn: ModeDynamics, sigma0: sp.Expr | None = None) -> Any:
    """Closed form σ(t) of the balanced mode ODE by ``sympy.dsolve`` (None if it finds none)."""
    t = sp.Symbol("t", nonnegative=True)
    sig = sp.Function("sigma")
    rhs = balanced_sigma_ode(dyn).subs(sp.Symbol("sigma", positive=True), sig(t))
    s0 = sigma0 if sigma0 is not None else sp.Symbol("sigma_0", positive=True)
    try:
        sol = sp.dsolve(sp.Eq(sig(t).diff(t), rhs), sig(t), ics={sig(0): s0})
    except (NotImplementedError, ValueError):
        return None
    sols = sol if isinstance(sol, list) else [sol]
    for so in sols:  # the branch through σ(0) = σ0 with σ → s
        expr = sp.simplify(so.rhs)
        if sp.simplify(expr.subs(t, 0) - s0) == 0:
            return sp.Lambda(t, expr)
    return None
