r"""User-defined rules: one SymPy expression for the velocity of a layer.

The expression is written in the per-layer template symbols of :data:`template`
and substituted, layer by layer, with that layer's derived quantities:

==============  =================================================
``grad``        ∇_{W_e} L = R_eᵀ (W − T) Σx M_eᵀ
``W``           W_e
``G``, ``A``    R_eᵀR_e and M_e Σx M_eᵀ (the Kronecker factors)
``W_gt``        R_e (W_{>i} for a chain), ``W_lt`` M_e (W_{<i})
``Sigma_x``     Σx,   ``E`` = W − T
``q``, ``lam``  free or fixed scalars;  ``N`` the depth
==============  =================================================

and the functions ``inv`` (strict inverse), ``pinv``, ``power(X, e)`` (PSD
power on the range of X), ``damped_power(X, e, λ)`` and ``sqrt``.  Rules given as
text are parsed into the same expressions by :mod:`.text` (no ``eval``).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import sympy as sp
from sympy import Identity, MatrixExpr, MatrixSymbol, Transpose

from ...errors import OptionError, ShapeError
from ..derive import Model, gradient, layer_factors, product, residual
from ..matfuncs import PsdInvPower, SqrtPsd
from .base import AbstractRule, free_symbols, number
from .builtin import _maybe, _tr

__all__ = ["template", "CustomRule", "custom"]


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
    t.power = lambda X, e: PsdInvPower(X, -number(e), 0, False, str(X))
    t.damped_power = lambda X, e, lam: PsdInvPower(X, -number(e), number(lam), False, str(X))
    t.sqrt = SqrtPsd
    return t


template = _template()
"""Per-layer template symbols for :func:`custom` (see the module docstring)."""


@dataclass(frozen=True)
class CustomRule(AbstractRule):
    """A rule given by a template expression ``velocity`` (one layer), with some scalars ``fixed``."""

    title: str
    velocity: MatrixExpr
    fixed: tuple = ()  # ((template symbol, value), …)
    key: str = "custom"

    text = "a template expression for one layer (curvsym rules --file my.rule)"
    references = ()

    @property
    def name(self) -> str:
        return self.title

    @property
    def formula(self) -> str:  # type: ignore[override]
        return sp.latex(self.velocity.xreplace(dict(self.fixed)))

    @property
    def parameters(self) -> tuple:
        t = template
        free = free_symbols(self.velocity.xreplace(dict(self.fixed)))
        return tuple(s for s in free if isinstance(s, sp.Symbol) and s not in set(t.dims) and s != t.N)

    def velocities(self, m: Model) -> tuple:
        t = template
        out = []
        E = residual(m)
        p, r, nN, n0 = t.dims
        for k, ((M, R), g) in enumerate(zip(layer_factors(m), gradient(m))):
            Wk = m.weights[k]
            G = Identity(Wk.shape[0]) if isinstance(R, Identity) else product(Transpose(R), R)
            A = m.Sigma if isinstance(M, Identity) else _maybe(product, M, m.Sigma, _tr(M))
            sub = {t.grad: g, t.W: Wk, t.G: G, t.A: A, t.W_gt: R, t.W_lt: M, t.Sigma_x: m.Sigma, t.E: E,
                   t.N: sp.Integer(m.depth), p: Wk.shape[0], r: Wk.shape[1], nN: m.network.n_out,
                   n0: m.network.n_in, **dict(self.fixed)}
            out.append(self.velocity.xreplace(sub))
        return tuple(out)


def custom(name: str, velocity: MatrixExpr, parameters: dict | None = None, key: str = "custom") -> CustomRule:
    """A user-defined rule: ``velocity`` is a template expression for one layer.

    ``parameters`` fixes template scalars (``{"q": 1/2}``); scalars left free become
    keyword arguments of the generated code.  Example::

        t = curvsym.rules.template
        rule = custom("half-block", -t.power(t.G, -t.q) @ t.grad @ t.power(t.A, -t.q), {"q": 0.5})

    Raises:
        ShapeError: ``velocity`` is not a matrix expression.
        OptionError: a parameter other than q, lam, N; a matrix symbol outside the template.
    """
    if not isinstance(velocity, MatrixExpr):
        raise ShapeError(f"a rule's velocity must be a matrix expression, got {type(velocity).__name__}")
    t = template
    names = {"q": t.q, "N": t.N, "lam": t.lam, "lambda": t.lam}
    unknown_params = sorted(k for k in (parameters or {}) if k not in names)
    if unknown_params:
        raise OptionError(f"unknown rule parameter(s) {unknown_params}; use q, lam, N")
    fixed = tuple((names[k], number(v)) for k, v in (parameters or {}).items())
    allowed = {t.grad, t.W, t.G, t.A, t.W_gt, t.W_lt, t.Sigma_x, t.E}
    unknown = {s for s in velocity.atoms(MatrixSymbol) if s not in allowed}
    if unknown:
        raise OptionError(f"unknown matrix symbol(s) {sorted(map(str, unknown))} in the rule {name!r}")
    return CustomRule(name, velocity, fixed, key)
