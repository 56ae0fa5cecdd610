r"""Duersch, Catanach, Safonov & Wendt, "Curvature in the Looking-Glass: Optimal Methods to Exploit
Curvature of Expectation in the Loss Landscape", arXiv:2411.16914 (2024) — glass curvature and Alice.

``docs/mathematics.md`` §4.  The update is transcribed (in our words, not copied) from the
authors' code, github.com/sandialabs/alice (Alice 1.1): ``src/alice/alice.py`` (the step
schedule) and ``src/alice/alice11_fused_cuda/alice11_fused.cu`` (the per-coordinate kernels
``pert_update``, ``quick_update``, ``state_update``).

The per-coordinate loss model (§4.2).  With g the gradient, h ≥ 0 a Hessian magnitude and
ρ ≥ 0 the glass density (Var[g(μ + δ) − g(μ)] = ρ|δ| for a random-walk gradient),

    m(δ) = g δ + ½ h δ² + c √ρ |δ|^{3/2},        c = √(2/(3π)) ≈ 0.4607,

where c√ρ|δ|^{3/2} = E|∫_0^δ B| for a Brownian gradient B of density ρ
(:func:`derive_random_walk_constant`).  Its minimiser lies along −sign g and is
(:func:`derive_optimal_step`)

    |δ*| = |g| / h_opt,     h_opt = α + h + √(α(α + 2h)),     α = (3/(4π)) ρ/|g|;

ρ = 0 gives Newton's |g|/h, h = 0 the pure-glass step (2π/3)|g|²/ρ.

Estimators (§4.3), per coordinate, from three gradients on one minibatch at the look-ahead
point ν with a Rademacher vector z and length σ (:func:`curvature_from_gradients`):

    g± = ∇L(ν ± σz),  g₀ = ∇L(ν),   h = (g₊ − g₋)/(2σ),   dg = ½(g₊ + g₋) − g₀,   ρ = 2 dg²/σ.

On a quadratic dg ≡ 0 and h_i = (Hz)_i = H_ii z_i + Σ_{j≠i} H_ij z_j, so over z the mean of h_i² is
(H²)_ii and the mean of |h_i| is |H_ii| exactly when row i is diagonally dominant
(Σ_{j≠i}|H_ij| ≤ |H_ii|), larger otherwise; for a random-walk gradient E[dg²] = ρσ/2, so ρ̂ is
unbiased for every σ.  Running averages
x ← x_new + β(x − x_new) with β_k = min(β, (k − 1)/k) at the k-th step (β₃ = 1 − (q + 1)(1 − β₂)
for h and ρ with q quick steps between samples).

The update (§4.4), :class:`Alice`: δ = |G|/h_opt (G the running gradient, h the running
|h|, √(running h²) or 0, ρ the running ρ or 0, ε added to |G| in α and to h_opt), clipped to
[lr_min, lr_max]·f with f = 1 (fixed), |G| (sgdm) or |G|/(√V + ε) (adam), signed −sign G;
then ν = μ + ωδ, μ = μ + φδ (φ = 1 − β₁ by default).  The first ⌊1/(1 − β₁)⌋ steps only
build the averages (warm-up); afterwards every (q + 1)-th step samples curvature and the
others are quick steps (one gradient at ν, updating only G and V).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import sympy as sp
from array_api_compat import array_namespace, device

from ..errors import OptionError, UnknownNameError
from ..integrate.optimizers import AbstractOptimizer, Field, check_positive, check_unit_interval
from ..types import Array, Choice, Scalar, State

__all__ = ["GLASS_CONSTANT", "ALPHA_FACTOR", "CODE_ALPHA_FACTOR", "loss_model", "h_opt", "optimal_step",
           "ModelDerivation", "derive_optimal_step", "WalkDerivation", "derive_random_walk_constant",
           "integrated_walk", "CurvatureSample", "curvature_from_gradients", "sample_curvature",
           "running_average", "effective_beta", "HessianTerm", "Limiter", "AliceState", "Alice", "VARIANTS",
           "variant", "rademacher"]

CITATION = ("J. A. Duersch, T. A. Catanach, A. Safonov, J. Wendt. Curvature in the Looking-Glass: Optimal "
            "Methods to Exploit Curvature of Expectation in the Loss Landscape. arXiv:2411.16914, 2024.")

GLASS_CONSTANT: sp.Expr = sp.sqrt(sp.Rational(2, 3) / sp.pi)
"""c = √(2/(3π)): E|∫_0^δ B| = c √ρ |δ|^{3/2} for a Brownian gradient of density ρ."""

ALPHA_FACTOR: float = 3 / (4 * math.pi)
"""3/(4π) = (9/8)c²: the factor in α = (3/(4π)) ρ/|g| (to double precision)."""

CODE_ALPHA_FACTOR: float = 0.238732
"""The same factor as the authors' kernel writes it (6 digits: relative error 6·10⁻⁷)."""


# ----------------------------------------------------------------------------------------- the model


def loss_model(g: Array, h: Array, rho: Array, delta: Array) -> Array:
    """m(δ) = g δ + ½ h δ² + √(2/(3π)) √ρ |δ|^{3/2}, elementwise."""
    c = float(GLASS_CONSTANT)
    return g * delta + 0.5 * h * delta ** 2 + c * np.sqrt(rho) * np.abs(delta) ** 1.5


def h_opt(g: Array, h: Array, rho: Array, eps: float = 0.0) -> Array:
    """h_opt = α + h + √(α(α + 2h)) + ε with α = (3/(4π)) ρ/(|g| + ε), elementwise (h, ρ ≥ 0)."""
    alpha = ALPHA_FACTOR * rho / (np.abs(g) + eps)
    return alpha + h + np.sqrt(alpha * (alpha + 2 * h)) + eps


def optimal_step(g: Array, h: Array, rho: Array, eps: float = 0.0) -> Array:
    """δ* = −sign(g) |g|/h_opt: the minimiser of :func:`loss_model` (h, ρ ≥ 0, not both zero)."""
    return -np.sign(g) * np.abs(g) / h_opt(g, h, rho, eps)


@dataclass(frozen=True)
class ModelDerivation:
    """The SymPy derivation of the minimiser of m along −sign g (G = |g| > 0, h ≥ 0, ρ > 0).

    ``stationary``: m'(t) = 0 in u = √t, t = |δ|; ``roots``: its solutions u (one positive);
    ``minimiser``: t* = u*²; ``closed_form``: |g|/h_opt; ``difference``: simplify(t* − |g|/h_opt)
    (0 when they agree); ``second_derivative``: m''(t) = h + (3/4)c√ρ/√t, positive for t > 0;
    ``newton``: lim_{ρ→0} t*, ``pure_glass``: t* at h = 0 (computed from the quadratic directly);
    ``other_side``: m along +sign g, ``G t + ½ h t² + c√ρ t^{3/2}``, positive for t > 0.
    """

    stationary: sp.Expr
    roots: tuple
    minimiser: sp.Expr
    closed_form: sp.Expr
    difference: sp.Expr
    second_derivative: sp.Expr
    newton: sp.Expr
    pure_glass: sp.Expr
    other_side: sp.Expr

    @property
    def holds(self) -> bool:
        """t* = |g|/h_opt exactly, one positive root, m'' > 0, m > 0 along +sign g, and the limits
        |g|/h (ρ → 0) and (2π/3)|g|²/ρ (h = 0)."""
        G, h, rho = _model_symbols()[:3]
        return (self.difference == 0 and len(self.roots) == 1 and bool(self.second_derivative.is_positive)
                and bool(self.other_side.is_positive) and sp.simplify(self.newton - G / h) == 0
                and sp.simplify(self.pure_glass - 2 * sp.pi * G ** 2 / (3 * rho)) == 0)


def _model_symbols():
    G, h, rho, t, u = sp.symbols("G h rho t u", positive=True)
    return G, h, rho, t, u


def derive_optimal_step() -> ModelDerivation:
    """Minimise m(δ) along δ = −t·sign g (t ≥ 0) with SymPy and compare with the closed form.

    Along that ray m = −G t + ½ h t² + c√ρ t^{3/2} (G = |g|); m'(t) = 0 is, in u = √t, the
    quadratic h u² + (3/2)c√ρ u − G = 0, whose positive root gives t* = u*².  With
    (9/4)c²ρ = 2αG it equals G/h_opt.  m'' > 0 on t > 0 and m'(0⁺) = −G < 0, so t* is the
    unique minimiser on the ray; along +sign g every term is positive, so it is global.
    """
    G, h, rho, t, u = _model_symbols()
    c = GLASS_CONSTANT
    m = -G * t + h * t ** 2 / 2 + c * sp.sqrt(rho) * t ** sp.Rational(3, 2)
    stationary = sp.expand(sp.diff(m, t).subs(t, u ** 2))
    roots = tuple(r for r in sp.solve(stationary, u) if r.is_positive is not False)
    minimiser = roots[0] ** 2 if roots else sp.nan
    alpha = sp.Rational(3, 4) / sp.pi * rho / G
    closed = G / (alpha + h + sp.sqrt(alpha * (alpha + 2 * h)))
    difference = sp.simplify(sp.radsimp(minimiser - closed))
    second = sp.simplify(sp.diff(m, t, 2))
    newton = sp.limit(minimiser, rho, 0)
    glass_roots = [r for r in sp.solve(stationary.subs(h, 0), u) if r.is_positive is not False]
    pure_glass = sp.simplify(glass_roots[0] ** 2) if glass_roots else sp.nan
    other = G * t + h * t ** 2 / 2 + c * sp.sqrt(rho) * t ** sp.Rational(3, 2)
    return ModelDerivation(stationary, roots, sp.simplify(minimiser), closed, difference, second, newton,
                           pure_glass, other)


@dataclass(frozen=True)
class WalkDerivation:
    """E|∫_0^δ B| for a Brownian gradient B of density ρ (B(0) = 0, Var B(s) = ρs).

    ``variance``: Var ∫_0^δ B = ρ ∫∫ min(s, s') = ρδ³/3; ``mean_abs``: E|N(0, v)| = √(2v/π) at that
    v, i.e. c√ρ δ^{3/2}; ``constant``: the coefficient c (= √(2/(3π)) when ``holds``);
    ``triangle``: ∫_0^δ E|B(s)| ds = (2/3)√(2/π) √ρ δ^{3/2}, the nearest wrong value (E and |·|
    swapped — a valid upper bound, 15% too high).
    """

    variance: sp.Expr
    mean_abs: sp.Expr
    constant: sp.Expr
    triangle: sp.Expr

    @property
    def holds(self) -> bool:
        return sp.simplify(self.constant - GLASS_CONSTANT) == 0


def derive_random_walk_constant() -> WalkDerivation:
    """Derive c = √(2/(3π)) from E|∫_0^δ B| with SymPy (see :class:`WalkDerivation`)."""
    delta, rho, s1, s2, x, v, s = sp.symbols("delta rho s1 s2 x v s", positive=True)
    variance = rho * sp.integrate(sp.integrate(sp.Min(s1, s2), (s1, 0, delta)), (s2, 0, delta))
    gauss_abs = 2 * sp.integrate(x * sp.exp(-x ** 2 / (2 * v)) / sp.sqrt(2 * sp.pi * v), (x, 0, sp.oo))
    mean_abs = sp.simplify(gauss_abs.subs(v, sp.simplify(variance)))
    constant = sp.simplify(mean_abs / (sp.sqrt(rho) * delta ** sp.Rational(3, 2)))
    triangle = sp.simplify(sp.integrate(gauss_abs.subs(v, rho * s), (s, 0, delta)))
    return WalkDerivation(sp.simplify(variance), mean_abs, constant, triangle)


def integrated_walk(delta: float, rho: float, n_paths: int, rng: np.random.Generator, n_grid: int = 16) -> Array:
    r"""Exact samples of I = ∫_0^δ B(s) ds for a Brownian B of density ρ, by an independent route.

    B is drawn at the grid s_j = jδ/n; between grid points B is the linear interpolant plus a
    Brownian bridge, whose integral over a cell of width k is N(0, ρk³/12), independent of the
    grid values.  So I = trapezoid sum + Σ bridge integrals is exact in law (no discretisation
    bias) without using Var I = ρδ³/3.

    Raises:
        OptionError: δ or ρ not finite and positive, n_paths or n_grid < 1.
    """
    check_positive("δ", delta)
    check_positive("ρ", rho)
    if n_paths < 1 or n_grid < 1:
        raise OptionError(f"n_paths and n_grid must be ≥ 1, got {n_paths}, {n_grid}")
    k = delta / n_grid
    steps = rng.standard_normal((n_paths, n_grid)) * math.sqrt(rho * k)
    B = np.concatenate([np.zeros((n_paths, 1)), np.cumsum(steps, axis=1)], axis=1)
    trapezoid = k * (0.5 * B[:, 0] + B[:, 1:-1].sum(axis=1) + 0.5 * B[:, -1])
    bridges = rng.standard_normal((n_paths, n_grid)).sum(axis=1) * math.sqrt(rho * k ** 3 / 12)
    return trapezoid + bridges


# ------------------------------------------------------------------------------------- the estimators


@dataclass(frozen=True)
class CurvatureSample:
    """One three-gradient sample: h = (g₊ − g₋)/(2σ), dg = ½(g₊ + g₋) − g₀, ρ = 2dg²/σ; g₀ = ∇L(ν)."""

    h: Any
    dg: Any
    rho: Any
    g0: Any


def curvature_from_gradients(g_plus: Any, g_minus: Any, g0: Any, sigma: Scalar) -> CurvatureSample:
    """h, dg and ρ from the gradients at ν + σz, ν − σz and ν (elementwise; exact for exact inputs).

    Only +, −, ×, ÷ are used, so arrays of Fractions or SymPy numbers give exact results.
    """
    h = (g_plus - g_minus) / (2 * sigma)
    dg = (g_plus + g_minus) / 2 - g0
    return CurvatureSample(h, dg, 2 * dg * dg / sigma, g0)


def sample_curvature(gradient: Callable[[Any], Any], nu: Any, sigma: Scalar, z: Any) -> CurvatureSample:
    """The three-gradient estimator at ν: gradients at ν + σz, ν − σz, ν (z Rademacher).

    Raises:
        OptionError: σ not positive.
    """
    if not sigma > 0:
        raise OptionError(f"the perturbation length σ must be positive, got {sigma!r}")
    return curvature_from_gradients(gradient(nu + sigma * z), gradient(nu - sigma * z), gradient(nu), sigma)


def running_average(old: Any, new: Any, beta: Scalar) -> Any:
    """x ← x_new + β (x − x_new) = β x + (1 − β) x_new (the kernels' form)."""
    return new + beta * (old - new)


def effective_beta(beta: float, k: int) -> float:
    """β_k = min(β, (k − 1)/k) at the k-th step (k ≥ 1): the first sample is taken whole."""
    return min(beta, (k - 1.0) / k)


# ------------------------------------------------------------------------------------------- Alice


class HessianTerm(Choice):
    """How h enters h_opt: 0, the running |h| (``abs``) or √(running h²) (``rms``)."""

    ZERO = "zero"
    ABS = "abs"
    RMS = "rms"


class Limiter(Choice):
    """How [lr_min, lr_max] bound |δ|: as is (``fixed``), times |G| (``sgdm``), times |G|/(√V + ε) (``adam``)."""

    FIXED = "fixed"
    SGDM = "sgdm"
    ADAM = "adam"


@dataclass(frozen=True)
class AliceState:
    """Per layer: look-ahead ν, running gradient G, glass density R, Hessian term H, second moment V;
    ``steps``: steps taken; ``sampled``: how many of them drew curvature samples."""

    nu: tuple
    G: tuple
    R: tuple
    H: tuple
    V: tuple
    steps: int
    sampled: int = 0


def rademacher(shapes: Sequence[tuple], seeds: Sequence[int], k: int) -> tuple:
    """Rademacher arrays (±1, float64) of the given (B, …) shapes for step k: member b draws from
    ``numpy.random.default_rng([seeds[b], k])``, layer after layer — so member b of a batch sees the
    draws of a single run with seed ``seeds[b]``."""
    B = shapes[0][0]
    out = [np.empty(s) for s in shapes]
    for b in range(B):
        rng = np.random.default_rng([int(seeds[b]), int(k)])
        for o, s in zip(out, shapes):
            o[b] = 2.0 * rng.integers(0, 2, size=s[1:]) - 1.0
    return tuple(out)


class Alice(AbstractOptimizer):
    r"""The Alice optimiser (Alice 1.1 of the authors' code) as a stepper of the discrete-step runner.

    Options (the authors' names and defaults): ``lr`` σ, the perturbation length and the scale of
    the step bounds; ``betas`` (β₁, β₂); ``eps``; ``w1``, ``w2`` the L1 / L2 weights added to the
    gradient (after V) and to h; ``phi`` φ ∈ (0, 2) the fraction of δ taken (None: 1 − β₁);
    ``omega`` ω > 0 the look-ahead; ``limiter`` fixed / sgdm / adam; ``lr_min`` ≥ 0, ``lr_max``
    ≥ lr_min (None: 2·lr); ``hessian`` zero / abs / rms; ``glass`` include ρ; ``quick_steps`` q ≥ 0
    gradient-only steps between curvature samples; ``seed`` an int (member b uses seed + b) or
    one seed per member, for the Rademacher draws.

    The runner's state is μ (the model is left at μ after every step, as the authors'
    ``center()``); the stepper state (:class:`AliceState`) carries ν and the running averages.
    The field is the velocity −∇L_k (see :mod:`curvsym.integrate.optimizers`).

    One deliberate difference: the authors compare the step count with 1/(1 − β₁) computed from
    a float32 β₁ (``torch.tensor(0.9)``), which gives 9.999998, so their warm-up is 9 steps for
    β₁ = 0.9; here 1/(1 − β₁) is computed in double precision (10.000000000000002), as intended,
    so the warm-up is 10 steps.  Everything else runs in the arithmetic of the arrays given.
    """

    name: ClassVar[str] = "Alice"

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 w1: float = 0.0, w2: float = 0.0, phi: float | None = None, omega: float = 1.0,
                 limiter: "str | Limiter" = "adam", lr_min: float = 0.0, lr_max: float | None = None,
                 hessian: "str | HessianTerm" = "abs", glass: bool = True, quick_steps: int = 0,
                 seed: "int | Sequence[int]" = 0):
        """
        Raises:
            OptionError: lr (σ), eps not finite and positive; a β outside [0, 1); w1, w2 or lr_min
                negative; φ outside (0, 2); ω not positive; lr_min > lr_max; quick_steps not a
                non-negative integer or so large that β₃ = 1 − (q + 1)(1 − β₂) < 0; no curvature
                term (glass off and hessian zero).
            UnknownNameError: an unknown limiter or Hessian term.
        """
        self.lr = check_positive("the learning rate lr (perturbation length σ)", lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise OptionError(f"betas must be a pair (β₁, β₂), got {betas!r}")
        self.beta1 = check_unit_interval("β₁", betas[0])
        self.beta2 = check_unit_interval("β₂", betas[1])
        self.eps = check_positive("eps", eps)
        self.w1 = check_positive("the L1 weight w1", w1, allow_zero=True)
        self.w2 = check_positive("the L2 weight w2", w2, allow_zero=True)
        self.phi = 1.0 - self.beta1 if phi is None else float(phi)
        if not 0.0 < self.phi < 2.0:
            raise OptionError(f"the step fraction φ must lie in (0, 2), got {phi!r}")
        self.omega = check_positive("the look-ahead ω", omega)
        self.limiter = Limiter.of(limiter)
        self.lr_min = check_positive("lr_min", lr_min, allow_zero=True)
        self.lr_max = 2.0 * self.lr if lr_max is None else check_positive("lr_max", lr_max, allow_zero=True)
        if self.lr_min > self.lr_max:
            raise OptionError(f"lr_min = {lr_min!r} exceeds lr_max = {self.lr_max!r}")
        self.hessian = HessianTerm.of(hessian)
        if not isinstance(glass, (bool, np.bool_)):
            raise OptionError(f"glass must be True or False, got {glass!r}")
        self.glass = bool(glass)
        if not self.glass and self.hessian is HessianTerm.ZERO:
            raise OptionError("Alice needs a curvature term: glass=True or hessian 'abs' / 'rms'")
        if isinstance(quick_steps, bool) or not isinstance(quick_steps, (int, np.integer)) or quick_steps < 0:
            raise OptionError(f"quick_steps must be a non-negative integer, got {quick_steps!r}")
        self.quick_steps = int(quick_steps)
        self.period = self.quick_steps + 1
        self.beta3 = 1.0 - self.period * (1.0 - self.beta2)
        if self.beta3 < 0:
            raise OptionError(f"with quick_steps = {quick_steps} the curvature averages' β₃ = 1 − (q + 1)(1 − β₂) "
                              f"= {self.beta3:.3g} < 0: use fewer quick steps or a larger β₂")
        self.seed = seed
        self.warmup = 1.0 / (1.0 - self.beta1)

    def __repr__(self) -> str:
        return (f"Alice(lr={self.lr:g}, glass={self.glass}, hessian={self.hessian.value}, "
                f"limiter={self.limiter.value}, lr_max={self.lr_max:g}, quick_steps={self.quick_steps})")

    # the schedule -------------------------------------------------------------------------------
    def samples_at(self, k: int) -> bool:
        """Does step k (k = 1, 2, …, the authors' ``num_batch``) draw curvature samples?"""
        return k <= self.warmup or k % self.period == 0

    def moves_at(self, k: int) -> bool:
        """Does step k move μ (after the warm-up of ⌊1/(1 − β₁)⌋ steps)?"""
        return k > self.warmup

    def gradient_count(self, n_steps: int) -> int:
        """Gradient evaluations in the first n_steps steps: 3 per sampling step, 1 per quick step."""
        return sum(3 if self.samples_at(k) else 1 for k in range(1, n_steps + 1))

    def _seeds(self, B: int) -> tuple:
        if isinstance(self.seed, (int, np.integer)):
            return tuple(int(self.seed) + b for b in range(B))
        seeds = tuple(int(s) for s in self.seed)
        if len(seeds) != B:
            raise OptionError(f"Alice got {len(seeds)} seeds for a batch of {B} runs")
        return seeds

    # the stepper --------------------------------------------------------------------------------
    def init_state(self, y: State, xp: Any) -> AliceState:
        zeros = tuple(xp.zeros_like(w) for w in y)
        return AliceState(tuple(y), zeros, zeros, zeros, zeros, 0, 0)

    def update(self, field: Field, k: int, y: State, state: AliceState, xp: Any) -> tuple[State, AliceState]:
        """One step of the authors' ``Alice.step`` (see the module docstring).

        Raises:
            OptionError: a sequence of seeds whose length is not the batch size.
        """
        n = state.steps + 1
        b1, b2, b3 = (effective_beta(b, n) for b in (self.beta1, self.beta2, self.beta3))
        nu, G, R, H, V = state.nu, state.G, state.R, state.H, state.V
        sampled = state.sampled
        if self.samples_at(n):
            z = rademacher([w.shape for w in nu], self._seeds(nu[0].shape[0]), k)
            z = tuple(xp.asarray(zi, dtype=w.dtype, device=device(w)) for zi, w in zip(z, nu))
            sig = self.lr
            g_plus = tuple(-v for v in field(tuple(a + sig * b for a, b in zip(nu, z)), k))
            g_minus = tuple(-v for v in field(tuple(a - sig * b for a, b in zip(nu, z)), k))
            g_zero = tuple(-v for v in field(nu, k))
            samples = [curvature_from_gradients(gp, gm, g0, sig) for gp, gm, g0 in zip(g_plus, g_minus, g_zero)]
            if self.hessian is HessianTerm.RMS:
                h_new = tuple(s.h * s.h + self.w2 * self.w2 for s in samples)
            else:  # abs (also stored, unused, for 'zero', as in the kernel)
                h_new = tuple(xp.abs(s.h) + self.w2 for s in samples)
            H = tuple(running_average(o, x, b3) for o, x in zip(H, h_new))
            R = tuple(running_average(o, s.rho, b3) for o, s in zip(R, samples))
            g0 = g_zero
            sampled += 1
        else:
            g0 = tuple(-v for v in field(nu, k))
        V = tuple(running_average(o, g * g, b2) for o, g in zip(V, g0))
        g_reg = tuple(g + self.w1 * xp.where(p < 0, -1.0, 1.0) + self.w2 * p for g, p in zip(g0, nu))
        G = tuple(running_average(o, g, b1) for o, g in zip(G, g_reg))
        mu = tuple(y)
        if self.moves_at(n):
            deltas = tuple(self._delta(xp, *parts) for parts in zip(G, R, H, V))
            nu = tuple(m + self.omega * d for m, d in zip(mu, deltas))
            mu = tuple(m + self.phi * d for m, d in zip(mu, deltas))
        return mu, AliceState(nu, G, R, H, V, n, sampled)

    def _free_step(self, xp: Any, G: Array, R: Array, H: Array, V: Array) -> tuple[Array, Any, Any]:
        """|δ| = |G|/h_opt before clipping, and the bounds lr_min·f, lr_max·f."""
        absg = xp.abs(G)
        rho = R if self.glass else xp.zeros_like(R)
        h = {HessianTerm.ZERO: xp.zeros_like(H), HessianTerm.ABS: H, HessianTerm.RMS: xp.sqrt(H)}[self.hessian]
        alpha = ALPHA_FACTOR * rho / (absg + self.eps)
        d = absg / (alpha + h + xp.sqrt(alpha * (alpha + 2.0 * h)) + self.eps)
        if self.limiter is Limiter.FIXED:
            return d, self.lr_min, self.lr_max
        f = absg if self.limiter is Limiter.SGDM else absg / (xp.sqrt(V) + self.eps)
        return d, self.lr_min * f, self.lr_max * f

    def _delta(self, xp: Any, G: Array, R: Array, H: Array, V: Array) -> Array:
        """The signed step of the state update (Alg. 3 of the paper, the ``state_update`` kernel)."""
        d, lo, hi = self._free_step(xp, G, R, H, V)
        d = xp.where(d < lo, lo + xp.zeros_like(d), xp.where(d < hi, d, hi + xp.zeros_like(d)))  # NaN → hi
        return xp.where(G > 0, -d, d)

    def bound_fractions(self, state: AliceState) -> tuple[float, float]:
        """Fractions of all coordinates whose next step |G|/h_opt is raised to the lower bound or cut
        to the upper bound (a diagnostic: where the limiter, not the curvature, sets the step)."""
        xp = array_namespace(*state.G)
        low = high = total = 0
        for parts in zip(state.G, state.R, state.H, state.V):
            d, lo, hi = self._free_step(xp, *parts)
            low += int(xp.sum(d < lo))
            high += int(xp.sum(~(d < lo) & ~(d < hi)))
            total += math.prod(d.shape)
        return low / total, high / total


VARIANTS: dict[str, dict] = {
    "glass": dict(lr=5e-3, lr_min=0.0, lr_max=1e-2, glass=True, hessian="zero"),
    "hessian": dict(lr=5e-3, lr_min=0.0, lr_max=1e-2, glass=False, hessian="abs"),
    "glass+hessian": dict(lr=5e-3, lr_min=0.0, lr_max=1e-2, glass=True, hessian="abs"),
    "rms": dict(lr=5e-3, lr_min=0.0, lr_max=1e-2, glass=False, hessian="rms"),
}
"""The four Alice runs of the authors' script ``experiments/resnet18/rn18_methods.sh`` (T4–T7):
glass only, |h| only, glass + |h|, rms h only; σ = 5·10⁻³, lr_max = 10⁻², Adam limiter, q = 0."""


def variant(name: str, **overrides: Any) -> Alice:
    """One of the four :data:`VARIANTS` (options may be overridden, e.g. ``lr``, ``seed``).

    Raises:
        UnknownNameError: an unknown variant name.
        OptionError: see :class:`Alice`.
    """
    if name not in VARIANTS:
        raise UnknownNameError(f"unknown Alice variant {name!r}; known: {', '.join(VARIANTS)}")
    return Alice(**{**VARIANTS[name], **overrides})
