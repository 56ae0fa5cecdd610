r"""Discrete steps of a learning rule and their modified equations (backward error analysis), symbolically.

A rule's flow θ̇ = f(θ) (a :class:`~curvsym.symbolic.derive.Flow`; f = −∇L for GD) has the
discrete step map θ_{k+1} = θ_k + η f(θ_k): explicit Euler with step η.  Backward error
analysis (Hairer, Lubich & Wanner, *Geometric Numerical Integration*, 2nd ed., §IX.1) finds
the *modified* vector field

    f̃ = f + η f₁ + η² f₂ + …,     f₁ = −½ f′f,     f₂ = ⅓ f′f′f + 1⁄12 f″(f, f),

whose exact flow agrees with the iterates at t = kη to O(η^{r+2}) per step when truncated
after f_r, hence to O(η^{r+1}) over a fixed time: GD tracks the flow of f at order 1, that of
f + ηf₁ at order 2, that of f + ηf₁ + η²f₂ at order 3 (``docs/mathematics.md`` §5.1).

Nothing is typed in: the terms are directional derivatives of the derived velocities,
built with :func:`curvsym.symbolic.calculus.time_derivative` (which dispatches on the
nodes, so a rule whose nodes have derivatives — pseudo-inverses and operator solves for
q = 1, fractional powers through their Fréchet derivative — gets its modified equation too):

==============  =====================================================================
``f′f``         d f/dt along θ̇ = f   (the derivative of f along itself)
``f′f′f``       D f[f′f]              (the directional derivative of f along f′f)
``f″(f, f)``    d(f′f)/dt − f′f′f     (both along the flow)
==============  =====================================================================

so that f₂ = ¼ f′f′f + 1⁄12 d(f′f)/dt.

**GD.**  With f = −∇L, f′ = −∇²L and f₁ = −½ ∇²L ∇L = −¼ ∇‖∇L‖²: GD follows, to second
order, gradient flow on L + (η/4)‖∇L‖², the implicit gradient regulariser of Barrett &
Dherin (ICLR 2021).  :func:`curvsym.verify.identities.prove_implicit_regulariser` proves it in the free algebra: the
scalar ‖∇L‖² = Σ_e tr(∇_e∇_eᵀ) is expanded into words and differentiated word by word,
∂ tr(A X B)/∂X = (BA)ᵀ and ∂ tr(A Xᵀ B)/∂X = BA (:func:`trace_gradient`).

**Balance under steps.**  With C_i = W_{i+1}ᵀW_{i+1} − W_iW_iᵀ (the sign convention of
:func:`curvsym.symbolic.derive.balance`) and one step W ↦ W + ηV, since C_i is quadratic,

    C_i(W + ηV) − C_i(W) = η DC_i[V] + η² (V_{i+1}ᵀV_{i+1} − V_iV_iᵀ)        (exact),

and DC_i[V] ≡ 0 for a row-space velocity V_e = R_eᵀ Z M_eᵀ (GD, min-norm NGD; the
reason the flows conserve C_i).  So one GD step changes C_i by exactly
η²(∇_{i+1}ᵀ∇_{i+1} − ∇_i∇_iᵀ) — never zero away from critical points — and C_i drifts by
O(η) over a fixed time.  :func:`curvsym.verify.identities.prove_step_change` proves the η²-only form in the free
algebra or refutes it with a counterexample (K-FAC, whose velocity leaves the row space).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import sympy as sp
from sympy import MatAdd, MatMul, MatrixExpr, MatrixSymbol, Transpose

from ..errors import OptionError, ShapeError
from .algebra import noncommutative
from .calculus import time_derivative
from .derive import Flow, Model, block_maps, display, gradient

__all__ = ["ETA", "ModifiedEquation", "prune_zeros", "lie_derivative", "directional_derivative", "euler_terms",
           "modified_equation", "step_map", "step_change", "balance_step_law", "trace_gradient", "from_words",
           "symmetric_letters", "scaled", "gradient_norm_squared", "EulerTerms"]

ETA = sp.Symbol("eta", positive=True)
"""The step size η (a keyword argument ``eta`` of generated code)."""


def _velocity_map(flow: Flow) -> dict:
    return dict(zip(flow.model.weights, flow.velocities))


def _sum(terms: Sequence[MatrixExpr]) -> MatrixExpr:
    terms = [t for t in terms if not getattr(t, "is_ZeroMatrix", False)]
    if not terms:
        raise OptionError("an empty sum of matrix terms has no shape")
    return terms[0] if len(terms) == 1 else MatAdd(*terms, evaluate=False)


def scaled(c: sp.Expr, x: MatrixExpr) -> MatrixExpr:
    """c·x, or x itself when c = 1."""
    return x if c == 1 else MatMul(c, x, evaluate=False)


def prune_zeros(expr: MatrixExpr) -> MatrixExpr:
    """``expr`` with zero matrices removed from sums and products through them made zero.

    Derivatives of constant factors (Σx, T, I) come out of the product rule as zero terms;
    pruning them keeps generated code small and polynomial tapes free of zero constants.
    """
    cache: dict = {}

    def go(x):
        if not isinstance(x, MatrixExpr) or not x.args:
            return x
        if x in cache:
            return cache[x]
        args = [go(a) for a in x.args]
        if isinstance(x, MatMul):
            if any(getattr(a, "is_ZeroMatrix", False) for a in args):
                r = sp.ZeroMatrix(*x.shape)
            else:
                r = MatMul(*args, evaluate=False)
        elif isinstance(x, MatAdd):
            keep = [a for a in args if not getattr(a, "is_ZeroMatrix", False)]
            r = sp.ZeroMatrix(*x.shape) if not keep else (keep[0] if len(keep) == 1 else MatAdd(*keep, evaluate=False))
        elif isinstance(x, Transpose):
            r = sp.ZeroMatrix(*x.shape) if getattr(args[0], "is_ZeroMatrix", False) else Transpose(args[0])
        else:
            r = x if all(a is b for a, b in zip(args, x.args)) else x.func(*args)
        cache[x] = r
        return r
    return go(expr)


def lie_derivative(flow: Flow, exprs: Sequence[MatrixExpr] | None = None) -> tuple[MatrixExpr, ...]:
    """d e/dt along θ̇ = f for each e (default: the velocities themselves, giving f′f).

    Raises:
        NotDifferentiableError: a node below has no symbolic derivative.
    """
    exprs = flow.velocities if exprs is None else exprs
    vel = _velocity_map(flow)
    return tuple(prune_zeros(time_derivative(e, vel)) for e in exprs)


def directional_derivative(exprs: Sequence[MatrixExpr], m: Model,
                           directions: Sequence[MatrixExpr]) -> tuple[MatrixExpr, ...]:
    """D e(W)[V] = d/dε e(W + εV)|₀ for each e, one direction V_e per weight (V constant in W).

    The directions may be expressions in the weights themselves (D f[f′f] is how f′f′f is
    built): the derivative treats them as frozen, which is what a directional derivative is.

    Raises:
        ShapeError: not one direction per weight.
        NotDifferentiableError: a node below has no symbolic derivative.
    """
    if len(directions) != m.depth:
        raise ShapeError(f"need one direction per weight ({m.depth}), got {len(directions)}")
    frozen = [MatrixSymbol(f"_V_{k}", *w.shape) for k, w in enumerate(m.weights)]
    out = [prune_zeros(time_derivative(e, dict(zip(m.weights, frozen)))) for e in exprs]
    back = dict(zip(frozen, directions))
    return tuple(e.xreplace(back) for e in out)


@dataclass(frozen=True)
class EulerTerms:
    """The building blocks of the explicit-Euler modified equation, per weight."""

    f: tuple          #: the velocity f
    fpf: tuple        #: f′f
    fpfpf: tuple      #: f′f′f = D f[f′f]
    dfpf: tuple       #: d(f′f)/dt = f″(f, f) + f′f′f


def euler_terms(flow: Flow, order: int = 2) -> EulerTerms:
    """f, f′f and (for ``order`` 2) f′f′f and d(f′f)/dt of the flow.

    Raises:
        NotDifferentiableError: a node below has no symbolic derivative.
        OptionError: ``order`` is not 1 or 2.
    """
    if order not in (1, 2):
        raise OptionError(f"euler_terms is built to order 1 or 2, got {order!r}")
    f = tuple(flow.velocities)
    fpf = lie_derivative(flow)
    if order == 1:
        return EulerTerms(f, fpf, (), ())
    fpfpf = directional_derivative(f, flow.model, fpf)
    dfpf = lie_derivative(flow, fpf)
    return EulerTerms(f, fpf, fpfpf, dfpf)


@dataclass(frozen=True)
class ModifiedEquation:
    """f̃ = f + η f₁ (+ η² f₂) for the step map θ ↦ θ + η f(θ) (see the module docstring).

    ``corrections[j]`` is f_{j+1} per weight; :meth:`flow` is f̃ as a
    :class:`~curvsym.symbolic.derive.Flow` whose generated code takes ``eta`` as a keyword.
    """

    base: Flow
    order: int
    corrections: tuple
    eta: sp.Symbol = ETA

    @property
    def velocities(self) -> tuple[MatrixExpr, ...]:
        out = []
        for k, f in enumerate(self.base.velocities):
            out.append(_sum([f] + [scaled(self.eta ** (j + 1), c[k]) for j, c in enumerate(self.corrections)]))
        return tuple(out)

    def flow(self) -> Flow:
        """f̃ as a Flow (parameters: the base flow's and η)."""
        name = f"{self.base.name}, modified equation of order {self.order}"
        params = tuple(dict.fromkeys((*self.base.parameters, self.eta)))
        return Flow(self.base.model, self.velocities, name, params)

    def latex(self) -> str:
        """The corrections f₁ (and f₂) as LaTeX rows."""
        rows = []
        for j, c in enumerate(self.corrections, start=1):
            for w, e in zip(self.base.model.weights, c):
                rows.append(rf"f_{{{j}}}[{sp.latex(w)}] &= {sp.latex(display(e, self.base.model))}")
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


def modified_equation(flow: Flow, order: int = 1, eta: sp.Symbol = ETA) -> ModifiedEquation:
    """The explicit-Euler modified equation of ``flow`` truncated after η^order (order 0, 1 or 2).

    f₁ = −½ f′f,  f₂ = ¼ f′f′f + 1⁄12 d(f′f)/dt (= ⅓ f′f′f + 1⁄12 f″(f, f)).

    Raises:
        OptionError: ``order`` is not 0, 1 or 2.
        NotDifferentiableError: a node of the rule has no symbolic derivative (the message names it).
    """
    if isinstance(order, bool) or order not in (0, 1, 2):
        raise OptionError(f"modified equations are built to order 0, 1 or 2, got {order!r}")
    if order == 0:
        return ModifiedEquation(flow, 0, (), eta)
    terms = euler_terms(flow, order)
    f1 = tuple(scaled(sp.Rational(-1, 2), x) for x in terms.fpf)
    if order == 1:
        return ModifiedEquation(flow, 1, (f1,), eta)
    f2 = tuple(_sum([scaled(sp.Rational(1, 4), a), scaled(sp.Rational(1, 12), b)])
               for a, b in zip(terms.fpfpf, terms.dfpf))
    return ModifiedEquation(flow, 2, (f1, f2), eta)


# --------------------------------------------------------------------------- steps and balance

def step_map(flow: Flow, eta: sp.Expr = ETA) -> tuple[MatrixExpr, ...]:
    """W_e + η V_e for every weight: one step of the rule, as expressions."""
    return tuple(MatAdd(w, scaled(eta, v), evaluate=False) for w, v in zip(flow.model.weights, flow.velocities))


def step_change(flow: Flow, quantities: Sequence[MatrixExpr], eta: sp.Expr = ETA) -> tuple[MatrixExpr, ...]:
    """Q(W + ηV) − Q(W) for each quantity Q (W + ηV substituted simultaneously in every weight)."""
    after = dict(zip(flow.model.weights, step_map(flow, eta)))
    return tuple(MatAdd(q.xreplace(after), MatMul(-1, q, evaluate=False), evaluate=False) for q in quantities)


def symmetric_letters(m: Model) -> list:
    """The model's symmetric letters (Σx when it is a symbol): Σxᵀ = Σx in the free algebra."""
    return [m.Sigma] if isinstance(m.Sigma, MatrixSymbol) else []


def balance_step_law(flow: Flow, eta: sp.Expr = ETA) -> tuple[MatrixExpr, ...]:
    """η² (Ḃ_{i+1}ᵀḂ_{i+1} − Ḃ_iḂ_iᵀ) for consecutive block maps B_i (Ḃ = V_i on a chain)."""
    vel = _velocity_map(flow)
    Bdot = [time_derivative(b, vel) for b in block_maps(flow.model)]
    return tuple(scaled(eta ** 2, MatAdd(MatMul(Transpose(b1), b1, evaluate=False),
                                         MatMul(-1, b0, Transpose(b0), evaluate=False), evaluate=False))
                 for b0, b1 in zip(Bdot[:-1], Bdot[1:]))


# --------------------------------------------------------------------------- trace gradients (GD: Barrett–Dherin)

def _words(poly: sp.Expr) -> list[tuple[sp.Expr, tuple]]:
    """(commutative coefficient, word of noncommutative letters) for each term of an expanded polynomial."""
    out = []
    for term in sp.Add.make_args(sp.expand(poly)):
        if term == 0:
            continue
        c, nc = term.args_cnc()
        letters: list = []
        for x in nc:
            if isinstance(x, sp.Pow):
                letters.extend([x.base] * int(x.exp))
            else:
                letters.append(x)
        out.append((sp.Mul(*c), tuple(letters)))
    return out


def _transposer(symmetric: Iterable[str]) -> callable:
    sym = set(symmetric)

    def t(letter: sp.Symbol) -> sp.Symbol:
        name = letter.name
        if name.endswith("^T"):
            return sp.Symbol(name[:-2], commutative=False)
        if name in sym:
            return letter
        return sp.Symbol(name + "^T", commutative=False)
    return t


def trace_gradient(poly: sp.Expr, X: MatrixSymbol, symmetric: Iterable[str] = ()) -> sp.Expr:
    """∂ tr(poly)/∂X in the free algebra: tr(A X B) ↦ (BA)ᵀ,  tr(A Xᵀ B) ↦ BA, summed over occurrences.

    ``poly`` is a noncommutative polynomial from :func:`~curvsym.symbolic.algebra.noncommutative`
    whose words are square products (so their traces are defined); ``symmetric`` names the
    letters that are their own transposes (Σx).
    """
    t = _transposer(symmetric)
    x, xt = X.name, X.name + "^T"
    out = []
    for c, w in _words(poly):
        for p, letter in enumerate(w):
            if letter.name == x:
                rest = w[p + 1:] + w[:p]
                out.append(c * sp.Mul(*[t(a) for a in reversed(rest)]))
            elif letter.name == xt:
                out.append(c * sp.Mul(*(w[p + 1:] + w[:p])))
    return sp.expand(sp.Add(*out))


def gradient_norm_squared(m: Model) -> sp.Expr:
    """‖∇L‖² = Σ_e tr(∇_e ∇_eᵀ) as a noncommutative polynomial whose trace is meant."""
    return sp.expand(sp.Add(*[noncommutative(MatMul(g, Transpose(g), evaluate=False), symmetric_letters(m))
                              for g in gradient(m)]))


def from_words(poly: sp.Expr, m: Model) -> MatrixExpr:
    """The matrix expression of a noncommutative polynomial in the model's letters (W_e, W_eᵀ, Σx, T, Tᵀ).

    Raises:
        ShapeError: a letter that is not a symbol of ``m``, or a word whose factors do not chain.
    """
    symbols = {s.name: s for s in (*m.weights, m.T, *symmetric_letters(m))}
    terms = []
    for c, w in _words(poly):
        factors = []
        for letter in w:
            name = letter.name
            base = symbols.get(name[:-2] if name.endswith("^T") else name)
            if base is None:
                raise ShapeError(f"the letter {name!r} is not a symbol of the model")
            factors.append(Transpose(base) if name.endswith("^T") and base not in symmetric_letters(m) else base)
        for a, b in zip(factors[:-1], factors[1:]):
            if a.shape[1] != b.shape[0]:
                raise ShapeError(f"the word {w} does not chain: {a} is {a.shape}, {b} is {b.shape}")
        terms.append(scaled(c, MatMul(*factors, evaluate=False) if len(factors) > 1 else factors[0]))
    return _sum(terms)
