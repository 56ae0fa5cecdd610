r"""Symbolic matrix functions used by curvature-corrected learning rules.

SymPy's matrix algebra has no pseudo-inverse or fractional power of a PSD
matrix, and no node for an operator solve; these classes add them.  Each node

* prints as LaTeX (``_latex``) for the derived equations,
* prints as a call to a runtime helper in :mod:`curvsym.runtime`
  (``_curvsym_array``, used by :class:`curvsym.codegen.ArrayPrinter`),
* is symmetric where the mathematics says so (``_eval_transpose``).

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
"""

from __future__ import annotations

import sympy as sp
from sympy import Basic, Identity, MatrixExpr
from sympy.core.symbol import Str


def _flag(x) -> sp.Basic:
    return sp.true if bool(x) else sp.false


def _label(x) -> Str:
    return x if isinstance(x, Str) else Str(str(x))


class _SymmetricFunction(MatrixExpr):
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

    def _curvsym_array(self, printer):
        return (f"_psd_inv_power({printer._print(self.X)}, {printer._print(self.q)}, "
                f"{printer._print(self.damping)}, {self.strict}, xp, {self.args[4].name!r})")

    def _sympystr(self, printer):
        return f"PsdInvPower({printer._print(self.X)}, q={self.q}, damping={self.damping}, strict={self.strict})"


class OperatorInvPower(MatrixExpr):
    """Y = 𝒦^{+q} R with 𝒦(Y) = Σ_e P_e Y Q_e (symmetric PSD operator on matrices)."""

    def __new__(cls, R, q, damping, strict, label, *factors):
        if len(factors) % 2 or not factors:
            raise ValueError("need as many left factors P_e as right factors Q_e, at least one")
        return Basic.__new__(cls, R, sp.sympify(q), sp.sympify(damping), _flag(strict), _label(label), *factors)

    @classmethod
    def of(cls, R, Ps, Qs, q=1, damping=0, strict=False, label: str = "JJᵀ") -> "OperatorInvPower":
        """𝒦^{+q}[R] for 𝒦(Y) = Σ_e Ps[e] Y Qs[e]."""
        if len(Ps) != len(Qs):
            raise ValueError("need as many left factors P_e as right factors Q_e")
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
    def shape(self):
        return self.R.shape

    def _latex(self, printer):
        q, lam = self.q, self.damping
        K = r"\mathcal{K}"
        if lam != 0:
            op = rf"\left({K} + {printer._print(lam)}\right)^{{-{printer._print(q)}}}"
        else:
            op = rf"{K}^{{+}}" if q == 1 else rf"\left({K}^{{+}}\right)^{{{printer._print(q)}}}"
        return rf"{op}\left[{printer._print(self.R)}\right]"

    def _curvsym_array(self, printer):
        Ps, Qs = self.factors
        ps = ", ".join(printer._print(p) for p in Ps)
        qs = ", ".join(printer._print(p) for p in Qs)
        return (f"_operator_inv_power({printer._print(self.R)}, ({ps},), ({qs},), {printer._print(self.q)}, "
                f"{printer._print(self.damping)}, {self.strict}, xp, {self.args[4].name!r})")

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

    def _curvsym_array(self, printer):
        return f"_sqrt_psd({printer._print(self.X)}, xp)"


MATRIX_FUNCTIONS = (PsdInvPower, OperatorInvPower, SqrtPsd)
