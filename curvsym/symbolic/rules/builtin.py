r"""The built-in learning rules (``docs/mathematics.md`` §0.6, §1.2, §2.3).

For a weight edge e with maps M_e below it and R_e above it (a chain:
M_i = W_{<i}, R_i = W_{>i}),

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

Every rule takes a damping λ (X ↦ X + λI before inverting) and an
:class:`~curvsym.symbolic.rules.base.Inverse` mode (``strict=`` flag): strict
inverses raise :class:`~curvsym.errors.SingularPreconditionerError` when a
preconditioner is singular and λ = 0; pseudo ones use the Moore–Penrose
pseudo-inverse.  Block rules are strict by default, the min-norm natural
gradient is not (its 𝒦⁺ *is* the definition).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import sympy as sp
from sympy import Identity, MatMul, MatrixExpr, Transpose

from ..derive import Model, gradient, layer_factors, product, residual
from ..matfuncs import OperatorInvPower, PsdInvPower, SqrtPsd
from .base import AbstractRule, Inverse, check_damping, check_q, free_symbols

__all__ = ["GradientDescent", "NaturalGradient", "BlockNaturalGradient", "Bernacchia",
           "gd", "natural_gradient", "kfac", "bernacchia"]


def _tr(x: MatrixExpr) -> MatrixExpr:
    return x if isinstance(x, Identity) else Transpose(x)


def _maybe(f, *xs):
    xs = [x for x in xs if not isinstance(x, Identity)]
    return xs[0] if len(xs) == 1 else f(*xs)


def _damping_suffix(lam) -> str:
    return f", damping {lam}" if lam != 0 else ""


@dataclass(frozen=True)
class GradientDescent(AbstractRule):
    """Gradient descent (flow): V_e = −∇_e L."""

    key = "gd"
    title = "gradient flow"
    formula = r"\dot W_e = -\nabla_{W_e} L"
    text = "dW_e/dt = −∇_{W_e} L"
    references = ("Saxe, McClelland & Ganguli, ICLR 2014", "Arora, Cohen & Hazan, ICML 2018")

    @property
    def name(self) -> str:
        return self.title

    @property
    def row_space(self) -> bool:
        return True

    supports_nonlinear = True

    def velocities(self, m: Model) -> tuple:
        return tuple(MatMul(-1, g, evaluate=False) for g in m.gradient())


@dataclass(frozen=True)
class _CurvatureCorrected(AbstractRule):
    """A rule with a correction exponent q ∈ [0, 1], a damping λ ≥ 0 and an inverse mode.

    Subclasses name their q = 1 and fractional variants (``variants`` keys, in that
    order) and the display name of the fractional rule (``fractional_title``).
    """

    q: sp.Expr = sp.Integer(1)
    damping: sp.Expr = sp.Integer(0)
    inverse: Inverse = Inverse.PSEUDO

    fractional_title: ClassVar[str] = "fractional rule"

    def __post_init__(self):
        object.__setattr__(self, "q", check_q(self.q))
        object.__setattr__(self, "damping", check_damping(self.damping))
        object.__setattr__(self, "inverse", Inverse.of(self.inverse))

    @property
    def key(self) -> str:  # type: ignore[override]
        whole, fractional = self.variants
        return whole if self.q == 1 else fractional

    @property
    def name(self) -> str:
        base = self.title if self.q == 1 else f"{self.fractional_title} q={self.q}"
        return base + _damping_suffix(self.damping)

    @property
    def parameters(self) -> tuple:
        return free_symbols(self.q, self.damping)


@dataclass(frozen=True)
class NaturalGradient(_CurvatureCorrected):
    r"""Full natural gradient −(F⁺)^q ∇L (min-norm for q = 1), by a row-space solve.

    V_e = −R_eᵀ Y Σx^{½} M_eᵀ,  Y = 𝒦^{+q}[(W − T) Σx^{½}],  𝒦(Y) = Σ_e R_eR_eᵀ Y Σx^{½}M_eᵀM_eΣx^{½}.
    """

    title = "natural gradient (min-norm)"
    fractional_title = "fractional natural gradient"
    formula = r"\dot\theta = -(F^{+})^{q}\nabla L = -J^{T}(JJ^{T})^{+q}(W-T)\Sigma_x^{1/2}"
    text = "dθ/dt = −(F⁺)^q ∇L = −Jᵀ 𝒦^{+q}[(W − T)Σx^½],  𝒦 = JJᵀ (row-space solve; q = 1: min-norm NGD)"
    references = ("Huh, ICML 2020", "Amari, Neural Computation 1998")
    variants = {"ngd": {}, "ngd-frac": {"q": sp.Rational(1, 2)}}

    @property
    def row_space(self) -> bool:
        """Always: −Jᵀ(JJᵀ + λ)^{−q}r is of the form Jᵀ(·) for every q and λ (docs/mathematics.md §0.3)."""
        return True

    def velocities(self, m: Model) -> tuple:
        half = SqrtPsd(m.Sigma)
        fac = layer_factors(m)
        Ps = [R if isinstance(R, Identity) else product(R, Transpose(R)) for M, R in fac]
        Qs = [m.Sigma if isinstance(M, Identity) else _maybe(product, half, Transpose(M), M, half) for M, R in fac]
        Y = OperatorInvPower.of(_maybe(product, residual(m), half), Ps, Qs, self.q, self.damping,
                                self.inverse.strict, "JJᵀ (Gauss–Newton on the output space)")
        return tuple(MatMul(-1, _maybe(product, _tr(R), Y, half, _tr(M)), evaluate=False) for M, R in fac)


def _block(m: Model, q, lam, strict: bool, scale=1) -> tuple:
    """V_e = −scale · (G_e⁺)^q ∇_e L (A_e⁺)^q for every weight edge.

    A weight leaving the input node has M_e = I, so A_e = Σx and ∇_e L = R_eᵀ(W − T)Σx;
    for q = 1 and λ = 0 the product Σx Σx⁺ = I (Σx ≻ 0) is cancelled exactly:
    V_e = −scale · G_e⁺ R_eᵀ(W − T).
    """
    out = []
    cancel = q == 1 and lam == 0 and not m.whitened
    bare = gradient(m, residual(m)) if cancel else ()  # R_eᵀ (W − T) M_eᵀ: the gradient without Σx
    for k, ((M, R), g) in enumerate(zip(layer_factors(m), gradient(m))):
        G = R if isinstance(R, Identity) else product(Transpose(R), R)
        A = m.Sigma if isinstance(M, Identity) else _maybe(product, M, m.Sigma, _tr(M))
        name = m.weights[k].name
        # (I⁺)^q = I is dropped by PsdInvPower itself; a damped identity is kept: (1 + λ)^{−q} I
        left = PsdInvPower(G, q, lam, strict, f"G for {name} (W_>ᵀW_>)")
        right = PsdInvPower(A, q, lam, strict, f"A for {name} (W_< Σx W_<ᵀ)")
        if cancel and isinstance(M, Identity):
            g, right = bare[k], Identity(A.shape[0])
        out.append(MatMul(-scale, *[x for x in (left, g, right) if not isinstance(x, Identity)], evaluate=False))
    return tuple(out)


@dataclass(frozen=True)
class BlockNaturalGradient(_CurvatureCorrected):
    """Block-diagonal natural gradient (K-FAC, exact for linear nets): V_e = −(G_e⁺)^q ∇_e L (A_e⁺)^q."""

    inverse: Inverse = Inverse.STRICT

    title = "K-FAC (block-diagonal NGD)"
    fractional_title = "fractional block correction"
    formula = r"\dot W_e = -(G_e^{+})^{q}\,\nabla_{W_e} L\,(A_e^{+})^{q}"
    text = "dW_e/dt = −(G_e⁺)^q ∇_{W_e}L (A_e⁺)^q,  G_e = W_>ᵀW_>,  A_e = W_< Σx W_<ᵀ  (q = 1: K-FAC)"
    references = ("Martens & Grosse, ICML 2015", "Huh, ICML 2020 (fractional q)")
    variants = {"kfac": {}, "kfac-frac": {"q": sp.Rational(1, 2)}}

    def velocities(self, m: Model) -> tuple:
        return _block(m, self.q, self.damping, self.inverse.strict)


@dataclass(frozen=True)
class Bernacchia(AbstractRule):
    """Bernacchia, Lengyel & Hennequin (2018): V_e = −(1/N) G_e⁺ ∇_e L A_e⁺."""

    damping: sp.Expr = sp.Integer(0)
    inverse: Inverse = Inverse.STRICT

    key = "bernacchia"
    title = "Bernacchia et al. exact NG"
    formula = r"\dot W_e = -\tfrac{1}{N} G_e^{+}\,\nabla_{W_e} L\,A_e^{+}"
    text = "dW_e/dt = −(1/N) G_e⁺ ∇_{W_e}L A_e⁺"
    references = ("Bernacchia, Lengyel & Hennequin, NeurIPS 2018",)

    def __post_init__(self):
        object.__setattr__(self, "damping", check_damping(self.damping))
        object.__setattr__(self, "inverse", Inverse.of(self.inverse))

    @property
    def name(self) -> str:
        return self.title + _damping_suffix(self.damping)

    @property
    def parameters(self) -> tuple:
        return free_symbols(self.damping)

    def velocities(self, m: Model) -> tuple:
        return _block(m, 1, self.damping, self.inverse.strict, sp.Rational(1, m.depth))


# --------------------------------------------------------------------------- factories (the public short forms)

def gd() -> GradientDescent:
    """Gradient descent (flow): V_e = −∇_e L."""
    return GradientDescent()


def natural_gradient(q: Any=1, damping: Any=0, strict: bool = False) -> NaturalGradient:
    """Full natural gradient −(F⁺)^q ∇L (min-norm for q = 1); see :class:`NaturalGradient`.

    Raises:
        OptionError: q outside [0, 1] or a negative damping.
    """
    return NaturalGradient(q, damping, Inverse.of(strict))


def kfac(q: Any=1, damping: Any=0, strict: bool = True) -> BlockNaturalGradient:
    """Block-diagonal natural gradient (K-FAC): −(G_e⁺)^q ∇_e L (A_e⁺)^q; see :class:`BlockNaturalGradient`.

    Raises:
        OptionError: q outside [0, 1] or a negative damping.
    """
    return BlockNaturalGradient(q, damping, Inverse.of(strict))


def bernacchia(damping: Any=0, strict: bool = True) -> Bernacchia:
    """Bernacchia et al.'s exact natural gradient −(1/N) G_e⁺ ∇_e L A_e⁺; see :class:`Bernacchia`.

    Raises:
        OptionError: a negative damping.
    """
    return Bernacchia(damping, Inverse.of(strict))


BUILTIN: tuple[type[AbstractRule], ...] = (GradientDescent, NaturalGradient, BlockNaturalGradient, Bernacchia)
"""The built-in rule classes, in the order ``curvsym rules`` lists them."""


def _factory(cls: type[AbstractRule], preset: dict) -> Callable[..., AbstractRule]:
    def make(**options):
        strict = options.pop("strict", None)
        if strict is not None:
            options["inverse"] = Inverse.of(strict)
        return cls(**{**preset, **options})
    make.__doc__ = cls.__doc__
    return make
