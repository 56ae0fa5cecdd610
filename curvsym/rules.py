r"""Learning rules: maps from the layer gradients to layer velocities.

Notation (``MATH.md`` §0.6, §1.2): for a weight edge e with maps M_e below it and
R_e above it (a chain: M_i = W_{<i}, R_i = W_{>i}),

    ∇_e L = R_eᵀ (W − T) Σx M_eᵀ,    G_e = R_eᵀ R_e,    A_e = M_e Σx M_eᵀ,

and the Gauss–Newton/Fisher operator F = JᵀJ with J: V ↦ Σ_e R_e V_e M_e Σx^{½}.

=====================  =========================================================
GD                     V_e = −∇_e L
natural gradient (q)   V = −(F⁺)^q ∇L = −Jᵀ 𝒦^{+q}[(W − T)Σx^{½}],  𝒦 = JJᵀ:
                       𝒦(Y) = Σ_e (R_eR_eᵀ) Y (Σx^{½}M_eᵀM_eΣx^{½})  (a row-space
                       solve in the n_N·n_0-dimensional output space; the Fisher
                       is never formed). q = 1 is the minimum-norm NGD F⁺∇L.
K-FAC / block (q)      V_e = −(G_e⁺)^q ∇_e L (A_e⁺)^q  (exact Kronecker blocks)
Bernacchia et al.      V_e = −(1/N) G_e⁺ ∇_e L A_e⁺
=====================  =========================================================

Every rule takes a damping λ (X ↦ X + λI before inverting) and a ``strict``
flag: strict inverses raise :class:`~curvsym.errors.SingularPreconditionerError`
when a preconditioner is singular and λ = 0; non-strict ones use the
Moore–Penrose pseudo-inverse.  Block rules are strict by default, the
min-norm natural gradient is not (its 𝒦⁺ *is* the definition).

User-defined rules are SymPy expressions in the per-layer template symbols of
:data:`template` (``grad``, ``G``, ``A``, ``W``, ``W_gt``, ``W_lt``, ``Sigma_x``,
``E``, ``q``, ``lam``, ``N``) — see :func:`custom` — or text parsed safely by
:func:`curvsym.rules_text.parse_rule`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable

import sympy as sp
from sympy import Identity, MatMul, MatrixExpr, MatrixSymbol, Transpose

from .derive import Flow, Model, gradient, layer_factors, product, residual
from .matfuncs import OperatorInvPower, PsdInvPower, SqrtPsd

__all__ = ["Rule", "gd", "natural_gradient", "kfac", "bernacchia", "custom", "template", "RULES", "get_rule"]


def _number(x) -> sp.Expr:
    """Exact SymPy number from an int/float/str/Rational, or a Symbol unchanged."""
    if isinstance(x, sp.Basic):
        return x
    if isinstance(x, bool) or x is None:
        raise TypeError(f"expected a number, got {x!r}")
    return sp.nsimplify(x, rational=True)


def _check_q(q) -> sp.Expr:
    q = _number(q)
    if q.is_number and not (0 <= q <= 1):
        raise ValueError(f"the correction exponent q must lie in [0, 1], got {q}")
    return q


def _check_damping(lam) -> sp.Expr:
    lam = _number(lam or 0)
    if lam.is_number and lam < 0:
        raise ValueError(f"damping λ must be ≥ 0, got {lam}")
    return lam


@dataclass(frozen=True)
class Rule:
    """A learning rule: ``rule.flow(model)`` gives the derived :class:`Flow`."""

    key: str
    name: str
    formula: str  # LaTeX, per layer
    build: Callable[[Model], tuple]
    parameters: tuple = field(default=())
    row_space: bool = False  # velocity of the form Jᵀ(·): conserves the balance C_i

    def flow(self, m: Model) -> Flow:
        return Flow(m, tuple(self.build(m)), self.name, tuple(self.parameters))

    def __str__(self) -> str:
        return f"{self.key}: {self.name}"


def _free(*xs) -> tuple:
    return tuple(sorted({s for x in xs if isinstance(x, sp.Basic) for s in x.free_symbols}, key=str))


def gd() -> Rule:
    """Gradient descent (flow): V_e = −∇_e L."""
    return Rule("gd", "gradient flow", r"\dot W_e = -\nabla_{W_e} L",
                lambda m: tuple(MatMul(-1, g, evaluate=False) for g in gradient(m)), row_space=True)


def natural_gradient(q=1, damping=0, strict: bool = False) -> Rule:
    r"""Full natural gradient −(F⁺)^q ∇L (min-norm for q = 1), by a row-space solve.

    V_e = −R_eᵀ Y Σx^{½} M_eᵀ,  Y = 𝒦^{+q}[(W − T) Σx^{½}],  𝒦(Y) = Σ_e R_eR_eᵀ Y Σx^{½}M_eᵀM_eΣx^{½}.
    """
    q, lam = _check_q(q), _check_damping(damping)

    def build(m: Model):
        half = SqrtPsd(m.Sigma)
        fac = layer_factors(m)
        Ps = [R if isinstance(R, Identity) else product(R, Transpose(R)) for M, R in fac]
        Qs = [m.Sigma if isinstance(M, Identity) else _maybe(product, half, Transpose(M), M, half) for M, R in fac]
        Y = OperatorInvPower.of(_maybe(product, residual(m), half), Ps, Qs, q, lam, strict, "JJᵀ (Gauss–Newton on the output space)")
        return tuple(MatMul(-1, _maybe(product, _tr(R), Y, half, _tr(M)), evaluate=False) for M, R in fac)

    name = "natural gradient (min-norm)" if q == 1 else f"fractional natural gradient q={q}"
    if lam != 0:
        name += f", damping {lam}"
    return Rule("ngd" if q == 1 else "ngd-frac", name,
                r"\dot\theta = -(F^{+})^{q}\nabla L = -J^{T}(JJ^{T})^{+q}(W-T)\Sigma_x^{1/2}",
                build, _free(q, lam), row_space=(lam == 0))


def _tr(x: MatrixExpr) -> MatrixExpr:
    return x if isinstance(x, Identity) else Transpose(x)


def _maybe(f, *xs):
    xs = [x for x in xs if not isinstance(x, Identity)]
    return xs[0] if len(xs) == 1 else f(*xs)


def _block(q, lam, strict, scale=1) -> Callable[[Model], tuple]:
    def build(m: Model):
        out = []
        for k, ((M, R), g) in enumerate(zip(layer_factors(m), gradient(m))):
            G = R if isinstance(R, Identity) else product(Transpose(R), R)
            A = m.Sigma if isinstance(M, Identity) else _maybe(product, M, m.Sigma, _tr(M))
            name = m.weights[k].name
            # (I⁺)^q = I is dropped by PsdInvPower itself; a damped identity is kept: (1 + λ)^{−q} I
            left = PsdInvPower(G, q, lam, strict, f"G for {name} (W_>ᵀW_>)")
            right = PsdInvPower(A, q, lam, strict, f"A for {name} (W_< Σx W_<ᵀ)")
            out.append(MatMul(-scale, *[x for x in (left, g, right) if not isinstance(x, Identity)], evaluate=False))
        return tuple(out)
    return build


def kfac(q=1, damping=0, strict: bool = True) -> Rule:
    """Block-diagonal natural gradient (K-FAC, exact for linear nets): V_e = −(G_e⁺)^q ∇_e L (A_e⁺)^q."""
    q, lam = _check_q(q), _check_damping(damping)
    name = "K-FAC (block-diagonal NGD)" if q == 1 else f"fractional block correction q={q}"
    if lam != 0:
        name += f", damping {lam}"
    return Rule("kfac" if q == 1 else "kfac-frac", name,
                r"\dot W_e = -(G_e^{+})^{q}\,\nabla_{W_e} L\,(A_e^{+})^{q}", _block(q, lam, strict), _free(q, lam))


def bernacchia(damping=0, strict: bool = True) -> Rule:
    """Bernacchia, Lengyel & Hennequin (2018): V_e = −(1/N) G_e⁺ ∇_e L A_e⁺."""
    lam = _check_damping(damping)

    def build(m: Model):
        return _block(1, lam, strict, sp.Rational(1, m.depth))(m)

    return Rule("bernacchia", "Bernacchia et al. exact NG" + (f", damping {lam}" if lam != 0 else ""),
                r"\dot W_e = -\tfrac{1}{N} G_e^{+}\,\nabla_{W_e} L\,A_e^{+}", build, _free(lam))


# --------------------------------------------------------------------------- user-defined rules

def _template() -> SimpleNamespace:
    p, r = sp.Symbol("n_out", positive=True, integer=True), sp.Symbol("n_in", positive=True, integer=True)
    nN, n0 = sp.Symbol("n_N", positive=True, integer=True), sp.Symbol("n_0", positive=True, integer=True)
    t = SimpleNamespace(
        grad=MatrixSymbol("grad", p, r), W=MatrixSymbol("W", p, r),
        G=MatrixSymbol("G", p, p), A=MatrixSymbol("A", r, r),
        W_gt=MatrixSymbol("W_gt", nN, p), W_lt=MatrixSymbol("W_lt", r, n0),
        Sigma_x=MatrixSymbol("Sigma_x", n0, n0), E=MatrixSymbol("E", nN, n0),
        q=sp.Symbol("q"), lam=sp.Symbol("lambda"), N=sp.Symbol("N", positive=True, integer=True),
        dims=(p, r, nN, n0),
    )
    t.inv = lambda X: PsdInvPower(X, 1, 0, True, str(X))
    t.pinv = lambda X: PsdInvPower(X, 1, 0, False, str(X))
    t.power = lambda X, e: PsdInvPower(X, -_number(e), 0, False, str(X))
    t.damped_power = lambda X, e, lam: PsdInvPower(X, -_number(e), _number(lam), False, str(X))
    t.sqrt = SqrtPsd
    return t


template = _template()
"""Per-layer template symbols for :func:`custom`: ``grad`` = ∇_{W_e}L, ``W`` = W_e,
``G`` = W_{>}ᵀW_{>}, ``A`` = W_{<}ΣxW_{<}ᵀ, ``W_gt`` = W_{>}, ``W_lt`` = W_{<},
``Sigma_x``, ``E`` = W − T, scalars ``q``, ``lam``, ``N``; functions ``inv`` (strict),
``pinv``, ``power(X, e)`` (PSD power on the range of X), ``damped_power(X, e, λ)``, ``sqrt``."""


def custom(name: str, velocity: MatrixExpr, parameters: dict | None = None, key: str = "custom") -> Rule:
    """A user-defined rule: ``velocity`` is a template expression for one layer.

    ``parameters`` fixes template scalars (``{"q": 1/2}``); scalars left free become
    keyword arguments of the generated code.  Example::

        t = curvsym.rules.template
        rule = custom("half-block", -t.power(t.G, -t.q) @ t.grad @ t.power(t.A, -t.q), {"q": 0.5})
    """
    if not isinstance(velocity, MatrixExpr):
        raise TypeError(f"a rule's velocity must be a matrix expression, got {type(velocity).__name__}")
    t = template
    fixed = {getattr(t, k) if k in ("q", "N") else (t.lam if k in ("lam", "lambda") else None): _number(v)
             for k, v in (parameters or {}).items()}
    if None in fixed:
        raise ValueError(f"unknown rule parameter(s) {sorted(parameters)}; use q, lam, N")
    allowed = {t.grad, t.W, t.G, t.A, t.W_gt, t.W_lt, t.Sigma_x, t.E}
    unknown = {s for s in velocity.atoms(MatrixSymbol) if s not in allowed}
    if unknown:
        raise ValueError(f"unknown matrix symbol(s) {sorted(map(str, unknown))} in the rule {name!r}")
    free = _free(velocity.xreplace(fixed))
    free = tuple(s for s in free if isinstance(s, sp.Symbol) and s not in set(t.dims) and s != t.N)

    def build(m: Model):
        out = []
        grads = gradient(m)
        E = residual(m)
        for k, ((M, R), g) in enumerate(zip(layer_factors(m), grads)):
            Wk = m.weights[k]
            G = Identity(Wk.shape[0]) if isinstance(R, Identity) else product(Transpose(R), R)
            A = m.Sigma if isinstance(M, Identity) else _maybe(product, M, m.Sigma, _tr(M))
            p, r, nN, n0 = t.dims
            sub = {t.grad: g, t.W: Wk, t.G: G, t.A: A, t.W_gt: R, t.W_lt: M, t.Sigma_x: m.Sigma, t.E: E,
                   t.N: sp.Integer(m.depth), p: Wk.shape[0], r: Wk.shape[1], nN: m.network.n_out,
                   n0: m.network.n_in, **fixed}
            out.append(velocity.xreplace(sub))
        return tuple(out)

    return Rule(key, name, sp.latex(velocity.xreplace(fixed)), build, free)


RULES: dict[str, Callable[..., Rule]] = {
    "gd": gd,
    "ngd": natural_gradient,
    "ngd-frac": lambda q=sp.Rational(1, 2), **kw: natural_gradient(q, **kw),
    "kfac": kfac,
    "kfac-frac": lambda q=sp.Rational(1, 2), **kw: kfac(q, **kw),
    "bernacchia": bernacchia,
}


def get_rule(key: str, **options) -> Rule:
    """Rule by key (``curvsym rules`` lists them), with options q / damping / strict."""
    if key not in RULES:
        raise KeyError(f"unknown rule {key!r}; available: {', '.join(RULES)}")
    return RULES[key](**options)
