r"""Activation functions as symbolic nodes: one :class:`~curvsym.symbolic.nodes.MatrixNode` class each.

A hidden layer applies σ entrywise to its pre-activation Z (n_i × m, one column
per example).  Each activation is one node class whose instance ``Act(Z, k)`` is
the k-th derivative σ^{(k)}(Z), taken entrywise, so that σ(Z) (k = 0) and σ'(Z)
(k = 1) are nodes of the derived backward pass and the class alone tells every
stage what it needs (``docs/mathematics.md`` §0, the node protocol):

=========================  ==============================================  ====================
class (registry key)       σ(z);  σ'(z)                                      homogeneous (zσ' = σ)
=========================  ==============================================  ====================
(``identity``)             z;  1  — no node: σ(Z) = Z                        yes
:class:`ReLU` (``relu``)   max(z, 0);  [z > 0]                               yes
:class:`LeakyReLU`         z (z > 0), αz (z ≤ 0);  1 or α                    yes, for every α
(``leaky_relu(α)``)
:class:`Tanh` (``tanh``)   tanh z;  1 − tanh² z                              no
:class:`Softplus`          β⁻¹ log(1 + e^{βz});  s(βz), s = logistic          no (→ relu as β → ∞)
(``softplus(β)``)
=========================  ==============================================  ====================

The time derivative is the chain rule entrywise, d/dt σ^{(k)}(Z) = σ^{(k+1)}(Z) ⊙ Ż
(a SymPy ``HadamardProduct``); ReLU and leaky ReLU are piecewise linear, so
σ'' = 0 away from their kinks (the integrators handle the kinks as events, see
:mod:`curvsym.integrate.taylor`).  σ'(0) is taken as 0 for ReLU and α for leaky
ReLU (the left derivative, as PyTorch does).

Kernels: an array-API implementation (any leading batch axes) and an ``mpmath``
one for object arrays.  Taylor rules (:mod:`curvsym.integrate.elementwise`):
ReLU and leaky ReLU are linear inside a region of constant sign pattern
(σ(z) = M ⊙ z with a constant mask M of 1 and 0/α); tanh and softplus follow the
recurrences of y = tanh z, ẏ = (1 − y²)ż and y = softplus_β z, ẏ = s ż,
ṡ = β s(1 − s)ż.

Column functions for the softmax cross-entropy loss are nodes too:
:class:`Softmax` (columnwise P = e^{Z}/1ᵀe^{Z}) and :class:`LogSumExp`
(the row vector log 1ᵀe^{Z}).

:func:`activation` turns a name (``"relu"``, ``"leaky_relu(0.1)"``,
``("softplus", 2)``) into an :class:`Activation` of the registry
:data:`ACTIVATIONS`; text is parsed as a name and plain numbers, never evaluated.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np
import sympy as sp
from sympy import Basic, HadamardProduct, MatAdd, MatMul, MatrixExpr, OneMatrix, ZeroMatrix

from ..errors import NotDifferentiableError, OptionError, UnknownNameError
from .nodes import MatrixNode

__all__ = ["Activation", "ActivationNode", "ReLU", "LeakyReLU", "Tanh", "Softplus", "Softmax", "LogSumExp",
           "ACTIVATIONS", "activation", "identity"]


# --------------------------------------------------------------------------- nodes

def _hadamard(a: MatrixExpr, b: MatrixExpr) -> MatrixExpr:
    if a.is_ZeroMatrix or b.is_ZeroMatrix:
        return ZeroMatrix(*a.shape)
    return HadamardProduct(a, b)


class ActivationNode(MatrixNode):
    """σ^{(k)}(Z) entrywise (abstract); ``args = (Z, k, *params)``.

    A concrete activation sets ``key`` (registry name), ``symbol`` (LaTeX),
    ``parameter_names``, ``homogeneous`` (zσ'(z) = σ(z) for all z, i.e.
    σ(cz) = cσ(z) for c > 0), ``piecewise`` (kinks where σ' jumps),
    ``max_order`` (highest k the kernel computes), ``linear_pieces`` (σ'' ≡ 0 off
    the kinks, so orders above 1 are the zero matrix), the kernel and the scalar
    SymPy form :meth:`scalar`.
    """

    key: ClassVar[str] = ""
    symbol: ClassVar[str] = r"\sigma"
    parameter_names: ClassVar[tuple[str, ...]] = ()
    homogeneous: ClassVar[bool] = False
    piecewise: ClassVar[bool] = False
    linear_pieces: ClassVar[bool] = False
    max_order: ClassVar[int] = 2

    def __new__(cls, Z: MatrixExpr, k: int = 0, *params: Any):
        k = int(k)
        if cls.linear_pieces and k >= 2:
            return ZeroMatrix(*Z.shape)
        if len(params) != len(cls.parameter_names):
            raise OptionError(f"{cls.key} takes parameters {cls.parameter_names}, got {params}")
        return Basic.__new__(cls, Z, sp.Integer(k), *[sp.nsimplify(p, rational=True) for p in params])

    Z = property(lambda self: self.args[0])
    order = property(lambda self: int(self.args[1]))
    params = property(lambda self: tuple(self.args[2:]))

    @property
    def shape(self) -> tuple:
        return self.Z.shape

    def _latex(self, printer):
        k = self.order
        mark = "'" * k if k <= 2 else f"^{{({k})}}"
        sub = ",".join(printer._print(p) for p in self.params)
        name = self.symbol + (f"_{{{sub}}}" if sub else "")
        return rf"{name}{mark}\left({printer._print(self.Z)}\right)"

    def _sympystr(self, printer):
        ps = "".join(f", {n}={p}" for n, p in zip(self.parameter_names, self.params))
        return f"{type(self).__name__}({printer._print(self.Z)}, k={self.order}{ps})"


    def _eval_time_derivative(self, velocities, d):
        """d/dt σ^{(k)}(Z) = σ^{(k+1)}(Z) ⊙ Ż (0 off the kinks for piecewise-linear σ and k ≥ 1)."""
        Zdot = d(self.Z)
        if Zdot.is_ZeroMatrix:
            return ZeroMatrix(*self.shape)
        if self.order + 1 > self.max_order and not self.linear_pieces:
            raise NotDifferentiableError(
                f"{self.key}: derivatives above order {self.max_order} have no kernel in curvsym")
        return _hadamard(type(self)(self.Z, self.order + 1, *self.params), Zdot)

    def _eval_explicit(self, values, ev):
        """σ^{(k)} applied to every entry of an explicit matrix."""
        return ev(self.Z).applyfunc(lambda z: type(self).scalar(z, self.order, *self.params))

    @classmethod
    def function(cls, z: sp.Expr, *params: Any) -> sp.Expr:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def scalar(cls, z: sp.Expr, k: int = 0, *params: Any) -> sp.Expr:
        """σ^{(k)}(z) as a SymPy expression of a real scalar z."""
        f = cls.function(z, *params)
        return f if k == 0 else sp.diff(f, z, k)


class ReLU(ActivationNode):
    """relu(z) = max(z, 0): homogeneous, piecewise linear (kink at 0)."""

    key = "relu"
    symbol = r"\operatorname{relu}"
    homogeneous = True
    piecewise = True
    linear_pieces = True
    max_order = 1
    taylor = True

    @classmethod
    def function(cls, z: sp.Expr, *params: Any) -> sp.Expr:
        return sp.Piecewise((z, z > 0), (0, True))

    @classmethod
    def scalar(cls, z: sp.Expr, k: int = 0, *params: Any) -> sp.Expr:
        if k == 0:
            return cls.function(z)
        return sp.Piecewise((1, z > 0), (0, True)) if k == 1 else sp.Integer(0)


class LeakyReLU(ActivationNode):
    """leaky_relu_α(z) = z (z > 0), αz (z ≤ 0): homogeneous for every α, piecewise linear."""

    key = "leaky_relu"
    symbol = r"\operatorname{lrelu}"
    parameter_names = ("alpha",)
    homogeneous = True
    piecewise = True
    linear_pieces = True
    max_order = 1
    taylor = True

    @classmethod
    def function(cls, z: sp.Expr, alpha: Any = sp.Rational(1, 100), *params: Any) -> sp.Expr:
        return sp.Piecewise((z, z > 0), (alpha * z, True))

    @classmethod
    def scalar(cls, z: sp.Expr, k: int = 0, alpha: Any = sp.Rational(1, 100), *params: Any) -> sp.Expr:
        if k == 0:
            return cls.function(z, alpha)
        return sp.Piecewise((1, z > 0), (alpha, True)) if k == 1 else sp.Integer(0)


class Tanh(ActivationNode):
    """tanh z: analytic, odd, not homogeneous (zσ'(z) − σ(z) = −⅔z³ + O(z⁵))."""

    key = "tanh"
    symbol = r"\tanh"
    taylor = True

    @classmethod
    def function(cls, z: sp.Expr, *params: Any) -> sp.Expr:
        return sp.tanh(z)


class Softplus(ActivationNode):
    """softplus_β(z) = β⁻¹ log(1 + e^{βz}): analytic, not homogeneous; relu as β → ∞."""

    key = "softplus"
    symbol = r"\operatorname{softplus}"
    parameter_names = ("beta",)
    taylor = True

    @classmethod
    def function(cls, z: sp.Expr, beta: Any = 1, *params: Any) -> sp.Expr:
        return sp.log(1 + sp.exp(beta * z)) / beta


class _ColumnFunction(MatrixNode):
    """A function of each column of Z = args[0] (softmax, log-sum-exp)."""

    Z = property(lambda self: self.args[0])

    def __new__(cls, Z):
        return Basic.__new__(cls, Z)



class Softmax(_ColumnFunction):
    """P = softmax(Z) columnwise; Ṗ = P ⊙ Ż − P ⊙ (1 1ᵀ(P ⊙ Ż))."""

    taylor = True

    @property
    def shape(self) -> tuple:
        return self.Z.shape

    def _latex(self, printer):
        return rf"\operatorname{{softmax}}\left({printer._print(self.Z)}\right)"

    def _sympystr(self, printer):
        return f"Softmax({printer._print(self.Z)})"

    def _eval_time_derivative(self, velocities, d):
        Zdot = d(self.Z)
        if Zdot.is_ZeroMatrix:
            return ZeroMatrix(*self.shape)
        n = self.shape[0]
        PZ = HadamardProduct(self, Zdot)
        return MatAdd(PZ, MatMul(-1, HadamardProduct(self, MatMul(OneMatrix(n, n), PZ)), evaluate=False),
                      evaluate=False)


class LogSumExp(_ColumnFunction):
    """The row vector ℓ = log 1ᵀe^{Z} (1 × m); ℓ̇ = 1ᵀ(softmax(Z) ⊙ Ż)."""


    @property
    def shape(self) -> tuple:
        return (1, self.Z.shape[1])

    def _latex(self, printer):
        return rf"\operatorname{{logsumexp}}\left({printer._print(self.Z)}\right)"

    def _sympystr(self, printer):
        return f"LogSumExp({printer._print(self.Z)})"

    def _eval_time_derivative(self, velocities, d):
        Zdot = d(self.Z)
        if Zdot.is_ZeroMatrix:
            return ZeroMatrix(*self.shape)
        return MatMul(OneMatrix(1, self.Z.shape[0]), HadamardProduct(Softmax(self.Z), Zdot))


# --------------------------------------------------------------------------- the registry

@dataclass(frozen=True)
class Activation:
    """An activation of the registry: a node class (None for the identity) and its parameters.

    ``act(Z)`` is σ(Z), ``act.derivative(Z)`` is σ'(Z) (None for the identity,
    whose derivative is the all-ones matrix), ``act.scalar(z, k)`` the SymPy
    scalar σ^{(k)}(z).
    """

    key: str
    node: type[ActivationNode] | None = None
    params: tuple = ()

    def __call__(self, Z: MatrixExpr) -> MatrixExpr:
        return Z if self.node is None else self.node(Z, 0, *self.params)

    def derivative(self, Z: MatrixExpr) -> MatrixExpr | None:
        """σ'(Z) entrywise, or None for the identity (σ' ≡ 1)."""
        return None if self.node is None else self.node(Z, 1, *self.params)

    def scalar(self, z: sp.Expr, k: int = 0) -> sp.Expr:
        """σ^{(k)}(z) for a SymPy scalar z."""
        if self.node is None:
            return z if k == 0 else (sp.Integer(1) if k == 1 else sp.Integer(0))
        return self.node.scalar(z, k, *self.params)

    @property
    def is_identity(self) -> bool:
        return self.node is None

    @property
    def homogeneous(self) -> bool:
        """zσ'(z) = σ(z) for every z (positive homogeneity of degree 1)."""
        return self.node is None or self.node.homogeneous

    @property
    def piecewise(self) -> bool:
        """σ' jumps somewhere (a kink): flows are only piecewise smooth."""
        return self.node is not None and self.node.piecewise

    def __str__(self) -> str:
        if not self.params:
            return self.key
        return f"{self.key}({', '.join(str(p) for p in self.params)})"


def identity() -> Activation:
    """The identity activation σ(z) = z (a linear layer)."""
    return Activation("identity")


ACTIVATIONS: dict[str, tuple[type[ActivationNode] | None, tuple]] = {
    "identity": (None, ()),
    "relu": (ReLU, ()),
    "leaky_relu": (LeakyReLU, (sp.Rational(1, 100),)),
    "tanh": (Tanh, ()),
    "softplus": (Softplus, (sp.Integer(1),)),
}
"""Activation key → (node class, default parameters)."""

_SPEC = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?:\(\s*([^()]*?)\s*\))?\s*$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^[+-]?\d+/\d+$")


def _known() -> str:
    return "identity, relu, leaky_relu(α), tanh, softplus(β)"


def _parameter(text_or_number: Any, key: str) -> sp.Rational:
    """An exact rational from a number or a plain numeric literal (no evaluation of text)."""
    x = text_or_number
    if isinstance(x, str):
        s = x.strip()
        if "=" in s:
            s = s.split("=", 1)[1].strip()
        if not _NUMBER.match(s):
            raise OptionError(f"{key}: parameter {x!r} is not a number")
        return sp.Rational(Fraction(s))
    if isinstance(x, bool) or not isinstance(x, (int, float, Fraction, sp.Basic, np.floating, np.integer)):
        raise OptionError(f"{key}: parameter {x!r} is not a number")
    if isinstance(x, (float, np.floating)) and not math.isfinite(float(x)):
        raise OptionError(f"{key}: parameter {x!r} is not finite")
    if isinstance(x, sp.Basic):
        if not x.is_real or not x.is_finite:
            raise OptionError(f"{key}: parameter {x!r} is not a finite real number")
        return sp.nsimplify(x, rational=True)
    return sp.Rational(Fraction(str(x)) if isinstance(x, (float, np.floating)) else Fraction(x))


def activation(spec: Any = None) -> Activation:
    """The activation named by ``spec``.

    ``spec`` is None (identity), an :class:`Activation`, a key (``"relu"``), a key
    with plain numeric parameters (``"leaky_relu(0.1)"``, ``"softplus(beta=2)"``)
    or a tuple ``("leaky_relu", 0.1)``.  Parameters become exact rationals; text
    is matched against a name and numeric literals, never evaluated.

    Raises:
        UnknownNameError: an activation name that is not in the registry (the message lists the known ones).
        OptionError: a parameter that is not a finite number, the wrong number of parameters, a leaky-ReLU
            slope α outside [0, 1), or a softplus sharpness β ≤ 0.
    """
    if spec is None:
        return identity()
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str):
        match = _SPEC.match(spec)
        if match is None:
            raise UnknownNameError(f"cannot read activation {spec!r}; known: {_known()}")
        key, inner = match.group(1), match.group(2)
        raw = [p for p in inner.split(",")] if inner else []
    elif isinstance(spec, (tuple, list)) and spec and isinstance(spec[0], str):
        key, raw = spec[0], list(spec[1:])
    else:
        raise UnknownNameError(f"cannot read activation {spec!r}; known: {_known()}")
    if key not in ACTIVATIONS:
        raise UnknownNameError(f"unknown activation {key!r}; known: {_known()}")
    node, defaults = ACTIVATIONS[key]
    if len(raw) > len(defaults):
        raise OptionError(f"{key} takes {len(defaults)} parameter(s), got {len(raw)}: {spec!r}")
    params = tuple(_parameter(r, key) for r in raw) + defaults[len(raw):]
    for p in params:
        try:
            finite = math.isfinite(float(p))
        except OverflowError:
            finite = False
        if not finite:
            raise OptionError(f"{key}: parameter {p} is not a finite double-precision number")
    if key == "leaky_relu" and not (0 <= params[0] < 1):
        raise OptionError(f"leaky_relu slope α must lie in [0, 1), got {params[0]}")
    if key == "softplus" and not params[0] > 0:
        raise OptionError(f"softplus sharpness β must be > 0, got {params[0]}")
    return Activation(key, node, params)
