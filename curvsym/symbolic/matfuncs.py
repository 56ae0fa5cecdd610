r"""Symbolic matrix functions used by curvature-corrected learning rules.

SymPy's matrix algebra has no pseudo-inverse or fractional power of a PSD
matrix, and no node for an operator solve; these classes add them.  Each is a
:class:`~curvsym.symbolic.nodes.MatrixNode`: it prints as LaTeX, declares its
kernels (:mod:`curvsym.kernels.spectral`), is symmetric where the
mathematics says so (``_eval_transpose``) and knows its time derivative where
one exists in closed form:

* (X + λI)⁻¹ (λ > 0, or λ = 0 with X invertible):  d/dt P = −P Ẋ P;
* X⁺ of a symmetric PSD X of constant rank, with Π = XX⁺ = X⁺X:
  d/dt X⁺ = −X⁺ẊX⁺ + X⁺X⁺Ẋ(I − Π) + (I − Π)ẊX⁺X⁺;
* Y = 𝒦⁻¹R (𝒦 invertible): Ẏ = 𝒦⁻¹(Ṙ − 𝒦̇(Y)) with 𝒦̇(Z) = Σ_e Ṗ_e Z Q_e + P_e Z Q̇_e;
* any node whose arguments do not move (Σx^{½}) has derivative 0.

* a fractional power (X + λI)^{−q}, q ≠ 1: its Fréchet derivative, the node
  :class:`PsdPowerDerivative` (Daleckii–Krein divided differences), which differentiates again
  into itself.

An operator power 𝒦^{+q}[R] with q ≠ 1 (the fractional natural gradient) has no derivative
node and raises :class:`~curvsym.errors.NotDifferentiableError`.

Nodes
-----
``PsdInvPower(X, q, λ, strict)``
    (X + λI)^{−q} for λ > 0; (X⁺)^q for λ = 0, X symmetric PSD, the powers
    taken on the eigenvalues above a relative cutoff.  ``strict`` raises
    :class:`~curvsym.errors.SingularPreconditionerError` instead of using the
    pseudo-inverse when X is singular.
``OperatorInvPower(R, q, λ, strict, P_1…P_n, Q_1…Q_n)``
    Y = 𝒦^{+q} R (or (𝒦 + λ)^{−q} R) for the symmetric PSD operator
    𝒦(Y) = Σ_e P_e Y Q_e on matrices.  With P_e = R_eR_eᵀ, Q_e = Σx^{½}M_eᵀM_eΣx^{½}
    this is JJᵀ, the Gauss–Newton matrix seen from the output space.
``SqrtPsd(X)``
    X^{½} for symmetric PSD X.
``PsdPowerDerivative(X, q, λ, strict, label, E_1…E_k)``
    ``D^k[(X + λI)^{−q}](X)[E_1, …, E_k]``, the k-th Fréchet derivative of a PSD power.
"""

from __future__ import annotations

from typing import Any

import sympy as sp
from sympy import Basic, Identity, MatAdd, MatMul, MatrixExpr
from sympy.core.symbol import Str

from ..errors import DecouplingError, OptionError
from .nodes import MatrixNode


def _flag(x) -> sp.Basic:
    return sp.true if bool(x) else sp.false


def _label(x) -> Str:
    return x if isinstance(x, Str) else Str(str(x))


def _diagonal(X: sp.Matrix, what: str) -> sp.Matrix:
    """X itself if it is diagonal (the decoupled ansatz), else DecouplingError."""
    if not X.is_diagonal():
        raise DecouplingError(f"the decoupled ansatz produced a non-diagonal {what}; the modes do not decouple")
    return X


def _sum(terms: list, shape) -> MatrixExpr:
    terms = [t for t in terms if not t.is_ZeroMatrix]
    if not terms:
        return sp.ZeroMatrix(*shape)
    return terms[0] if len(terms) == 1 else MatAdd(*terms, evaluate=False)


class _SymmetricFunction(MatrixNode):
    """A spectral function f(X) of a symmetric matrix X = args[0]: same shape, symmetric."""

    X = property(lambda self: self.args[0])

    @property
    def shape(self):
        return self.X.shape

    def _eval_transpose(self):
        return self


class PsdInvPower(_SymmetricFunction):
    """(X + λI)^{−q} or (X⁺)^q of a symmetric PSD matrix X."""


    def __new__(cls, X, q=1, damping=0, strict=False, label: str = "X"):
        if isinstance(X, Identity) and sp.sympify(damping) == 0:
            return X  # (I⁺)^q = I
        return Basic.__new__(cls, X, sp.sympify(q), sp.sympify(damping), _flag(strict), _label(label))

    q = property(lambda self: self.args[1])
    damping = property(lambda self: self.args[2])
    strict = property(lambda self: bool(self.args[3]))

    def _latex(self, printer):
        X, q, lam = printer._print(self.X), self.q, self.damping
        if lam != 0:
            inner = rf"\left({X} + {printer._print(lam)} I\right)"
            return inner + ("^{-1}" if q == 1 else rf"^{{-{printer.parenthesize(q, 100)}}}")
        base = rf"{X}^{{+}}" if len(X) < 4 else rf"\left({X}\right)^{{+}}"
        return base if q == 1 else rf"\left({base}\right)^{{{printer._print(q)}}}"


    def _eval_time_derivative(self, velocities, d):
        if not (self.X.free_symbols & set(velocities)):
            return super()._eval_time_derivative(velocities, d)
        Xdot = d(self.X)
        if Xdot.is_ZeroMatrix:
            return sp.ZeroMatrix(*self.shape)
        if self.q != 1:  # a fractional power: its Fréchet derivative (Daleckii–Krein)
            return PsdPowerDerivative(self.X, self.q, self.damping, self.strict, self.args[4], Xdot)
        if self.damping != 0 or self.strict:  # an inverse: −P Ẋ P
            return MatMul(-1, self, Xdot, self, evaluate=False)
        n = self.shape[0]
        proj = MatAdd(Identity(n), MatMul(-1, self.X, self, evaluate=False), evaluate=False)  # I − XX⁺
        return _sum([MatMul(-1, self, Xdot, self, evaluate=False),
                     MatMul(self, self, Xdot, proj, evaluate=False),
                     MatMul(proj, Xdot, self, self, evaluate=False)], self.shape)

    def _eval_explicit(self, values, ev):
        """(X + λ)^{−q} entrywise on an explicit diagonal X (the decoupled ansatz)."""
        X = _diagonal(ev(self.X), "preconditioner")
        lam, q = self.damping, self.q
        return sp.diag(*[((X[k, k] + lam) ** (-q)) if lam != 0 else (X[k, k] ** (-q)) for k in range(X.shape[0])])

    def _sympystr(self, printer):
        return f"PsdInvPower({printer._print(self.X)}, q={self.q}, damping={self.damping}, strict={self.strict})"


class PsdPowerDerivative(_SymmetricFunction):
    r"""D^kF(X)[E_1, …, E_k] for F(X) = (X + λI)^{−q} (λ = 0: (X⁺)^q): the k-th Fréchet derivative of a PSD power.

    Daleckii–Krein (1965): with X = U diag(x) Uᵀ, Ẽ_m = UᵀE_mU and f(x) = (x + λ)^{−q},

        D^kF(X)[E_1, …, E_k] = U [ Σ_{σ ∈ S_k} Σ_{p_1 … p_{k−1}} f[x_i, x_{p_1}, …, x_{p_{k−1}}, x_j]
                                    Ẽ_{σ(1)}[i, p_1] Ẽ_{σ(2)}[p_1, p_2] ⋯ Ẽ_{σ(k)}[p_{k−1}, j] ]_{ij} Uᵀ

    with divided differences of f (computed so that clustered eigenvalues lose no digits,
    :func:`curvsym.kernels.spectral.power_divided_difference`).  The directions E_m are symmetric
    (they are derivatives of the symmetric X), so the result is symmetric.  For λ = 0 and a
    singular X the first derivative is the constant-rank one (f := 0 on the kernel, as
    d(X⁺)/dt of :class:`PsdInvPower`); higher ones there raise SingularPreconditionerError.

    Its own time derivative is again one node of this class,
    d/dt D^kF(X)[E…] = D^{k+1}F(X)[E…, Ẋ] + Σ_m D^kF(X)[…, Ė_m, …], so every order of
    the modified equations of a fractional rule is expressible.
    """


    def __new__(cls, X, q, damping, strict, label, *directions):
        if not directions:
            raise OptionError("a Fréchet derivative needs at least one direction")
        return Basic.__new__(cls, X, sp.sympify(q), sp.sympify(damping), _flag(strict), _label(label), *directions)

    q = property(lambda self: self.args[1])
    damping = property(lambda self: self.args[2])
    strict = property(lambda self: bool(self.args[3]))
    directions = property(lambda self: self.args[5:])

    def _latex(self, printer):
        X, q, lam = printer._print(self.X), self.q, self.damping
        base = rf"\left({X} + {printer._print(lam)} I\right)^{{-{printer.parenthesize(q, 100)}}}" if lam != 0 else \
            rf"\left({X}^{{+}}\right)^{{{printer._print(q)}}}"
        k = len(self.directions)
        dirs = ", ".join(printer._print(e) for e in self.directions)
        order = "" if k == 1 else f"^{{{k}}}"
        return rf"\mathrm{{D}}{order}\left[{base}\right]\left[{dirs}\right]"


    def _eval_time_derivative(self, velocities, d):
        if not (self.free_symbols & set(velocities)):
            return super()._eval_time_derivative(velocities, d)
        head, dirs = self.args[:5], list(self.directions)
        terms = []
        Xdot = d(self.X)
        if not Xdot.is_ZeroMatrix:
            terms.append(PsdPowerDerivative(*head, *dirs, Xdot))
        for m, e in enumerate(dirs):
            edot = d(e)
            if not edot.is_ZeroMatrix:
                terms.append(PsdPowerDerivative(*head, *dirs[:m], edot, *dirs[m + 1:]))
        return _sum(terms, self.shape)

    def _sympystr(self, printer):
        dirs = ", ".join(printer._print(e) for e in self.directions)
        return f"PsdPowerDerivative({printer._print(self.X)}, q={self.q}, damping={self.damping}; {dirs})"


class OperatorInvPower(MatrixNode):
    """Y = 𝒦^{+q} R with 𝒦(Y) = Σ_e P_e Y Q_e (symmetric PSD operator on matrices)."""


    def __new__(cls, R, q, damping, strict, label, *factors):
        if len(factors) % 2 or not factors:
            raise OptionError("need as many left factors P_e as right factors Q_e, at least one")
        return Basic.__new__(cls, R, sp.sympify(q), sp.sympify(damping), _flag(strict), _label(label), *factors)

    @classmethod
    def of(cls, R: Any, Ps: Any, Qs: Any, q: Any=1, damping: Any=0, strict: bool=False, label: str = "JJᵀ") -> "OperatorInvPower":
        """𝒦^{+q}[R] for 𝒦(Y) = Σ_e Ps[e] Y Qs[e].

        Raises:
            OptionError: need as many left factors P_e as right factors Q_e.
        """
        if len(Ps) != len(Qs):
            raise OptionError("need as many left factors P_e as right factors Q_e")
        return cls(R, q, damping, strict, label, *Ps, *Qs)

    R = property(lambda self: self.args[0])
    q = property(lambda self: self.args[1])
    damping = property(lambda self: self.args[2])
    strict = property(lambda self: bool(self.args[3]))

    @property
    def factors(self) -> tuple[tuple, tuple]:
        rest = self.args[5:]
        n = len(rest) // 2
        return rest[:n], rest[n:]

    @property
    def shape(self) -> tuple:
        return self.R.shape

    def _latex(self, printer):
        q, lam = self.q, self.damping
        K = r"\mathcal{K}"
        if lam != 0:
            op = rf"\left({K} + {printer._print(lam)}\right)^{{-{printer._print(q)}}}"
        else:
            op = rf"{K}^{{+}}" if q == 1 else rf"\left({K}^{{+}}\right)^{{{printer._print(q)}}}"
        return rf"{op}\left[{printer._print(self.R)}\right]"


    def apply(self, Z: MatrixExpr, Ps: Any=None, Qs: Any=None) -> MatrixExpr:
        """𝒦(Z) = Σ_e P_e Z Q_e (with the node's own factors unless others are given)."""
        P0, Q0 = self.factors
        Ps, Qs = Ps or P0, Qs or Q0
        terms = [[f for f in (P, Z, Q) if not isinstance(f, Identity)] for P, Q in zip(Ps, Qs)]
        return _sum([t[0] if len(t) == 1 else MatMul(*t, evaluate=False) for t in terms], Z.shape)

    def _eval_time_derivative(self, velocities, d):
        moving = self.free_symbols & set(velocities)
        if not moving or self.q != 1 or (self.damping == 0 and not self.strict):
            return super()._eval_time_derivative(velocities, d)
        Ps, Qs = self.factors
        Kdot_Y = _sum([MatMul(d(P), self, Q, evaluate=False) for P, Q in zip(Ps, Qs)]
                      + [MatMul(P, self, d(Q), evaluate=False) for P, Q in zip(Ps, Qs)], self.shape)
        rhs = _sum([d(self.R), MatMul(-1, Kdot_Y, evaluate=False)], self.shape)
        return OperatorInvPower(rhs, *self.args[1:])

    def _eval_explicit(self, values, ev):
        """𝒦 is diagonal on the matrix units E_ab when every P_e, Q_e is: Y_ab = (Σ_e P_aa Q_bb + λ)^{−q} R_ab."""
        R = ev(self.R)
        Ps, Qs = self.factors
        Pm = [_diagonal(ev(P), "operator 𝒦") for P in Ps]
        Qm = [_diagonal(ev(Q), "operator 𝒦") for Q in Qs]
        Y = sp.zeros(*R.shape)
        for a in range(R.shape[0]):
            for b in range(R.shape[1]):
                k = sum(P[a, a] * Q[b, b] for P, Q in zip(Pm, Qm))
                Y[a, b] = (k + self.damping) ** (-self.q) * R[a, b] if R[a, b] != 0 else 0
        return Y

    def _sympystr(self, printer):
        return f"OperatorInvPower({printer._print(self.R)}, q={self.q}, damping={self.damping})"


class SqrtPsd(_SymmetricFunction):
    """X^{½} for a symmetric PSD matrix X (the identity stays the identity)."""


    def __new__(cls, X):
        if isinstance(X, Identity):
            return X
        return Basic.__new__(cls, X)

    def _latex(self, printer):
        return rf"{printer._print(self.X)}^{{1/2}}"


    def _eval_explicit(self, values, ev):
        X = _diagonal(ev(self.X), "square root argument")
        return sp.diag(*[sp.sqrt(X[k, k]) for k in range(X.shape[0])])
