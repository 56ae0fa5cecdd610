"""The array printer: SymPy matrix expressions as array-API Python.

Generated code uses only ``a @ b``, ``a.mT``, ``+``, ``*`` (scalars, and entrywise for a
Hadamard product A ⊙ B) and calls of node kernels (``xp`` is an argument of the generated function), so one source runs on
NumPy, CuPy, JAX, PyTorch and array-api-strict.  curvsym's own nodes print as
calls of their kernels (the table :mod:`curvsym.codegen.kernel_calls`, keyed by node
class); SymPy's classes have ``_print_<Class>`` methods here.
"""

from __future__ import annotations

import sympy as sp
from sympy import MatrixSymbol, OneMatrix, Transpose
from sympy.printing.pycode import PythonCodePrinter

from ..symbolic.nodes import MatrixNode
from .kernel_calls import print_call

__all__ = ["ArrayPrinter"]


class ArrayPrinter(PythonCodePrinter):
    """Prints matrix expressions as array-API Python (``@``, ``.mT``, ``xp.*``).

    ``exact=True`` prints rational constants as ``mpf(p)/q`` so that they are
    exact at the working precision of mpmath.
    """

    def __init__(self, settings: dict | None = None, exact: bool = False, like: str = "_like"):
        super().__init__(settings or {})
        self.exact = exact
        self.like = like  # the argument whose dtype and device constants (I, 0) take

    def _print(self, expr, **kwargs) -> str:
        if isinstance(expr, MatrixNode):
            return print_call(expr, self._print)
        return super()._print(expr, **kwargs)

    def _paren(self, expr) -> str:
        s = self._print(expr)
        if isinstance(expr, (MatrixSymbol, sp.Symbol)) or (isinstance(expr, Transpose) and isinstance(expr.arg, (MatrixSymbol,))):
            return s
        if isinstance(expr, sp.Dummy) or s.isidentifier():
            return s
        if isinstance(expr, OneMatrix) or (isinstance(expr, Transpose) and isinstance(expr.arg, OneMatrix)):
            return s  # a helper call: atomic
        return f"({s})"

    def _print_MatMul(self, expr) -> str:
        coeff, mats = expr.as_coeff_matrices()
        if len(mats) == 2 and isinstance(mats[1], OneMatrix) and mats[1].shape[0] == 1:
            # b 1ᵀ (a bias added to every example): a broadcast view, not an outer product
            body = f"_broadcast({self._print(mats[0])}, {mats[1].shape[1]}, xp)"
            return body if coeff == 1 else f"{self._print(coeff)}*{body}"
        body = " @ ".join(self._paren(m) for m in mats)
        if coeff == 1:
            return body
        if coeff == -1:
            return f"-{body}" if len(mats) == 1 and self._paren(mats[0]) == body else f"-({body})"
        return f"{self._print(coeff)}*{body if len(mats) == 1 else '(' + body + ')'}"

    def _print_MatAdd(self, expr) -> str:
        parts = []
        for k, a in enumerate(expr.args):
            s = self._print(a)
            if k and s.startswith("-"):
                parts.append(f" - {s[1:]}")
            else:
                parts.append(("" if not k else " + ") + s)
        return "".join(parts)

    def _print_HadamardProduct(self, expr) -> str:
        """A ⊙ B ⊙ … as the entrywise product ``a * b * …``."""
        return " * ".join(self._paren(a) for a in expr.args)

    def _print_HadamardPower(self, expr) -> str:
        """A^{∘p} (SymPy's form of A ⊙ A ⊙ …) as the entrywise power ``a ** p``."""
        return f"{self._paren(expr.base)} ** {self._paren(expr.exp)}"

    def _print_OneMatrix(self, expr) -> str:
        return f"_ones({expr.shape[0]}, {expr.shape[1]}, xp, {self.like})"

    def _print_Transpose(self, expr) -> str:
        if isinstance(expr.arg, OneMatrix):  # 1ᵀ is the all-ones matrix of the transposed shape
            return self._print(OneMatrix(expr.arg.shape[1], expr.arg.shape[0]))
        return f"{self._paren(expr.arg)}.mT"

    def _print_Identity(self, expr) -> str:
        return f"_eye({expr.shape[0]}, xp, {self.like})"

    def _print_ZeroMatrix(self, expr) -> str:
        return f"_zeros({expr.shape[0]}, {expr.shape[1]}, xp, {self.like})"

    def _print_Trace(self, expr) -> str:
        return f"_trace({self._print(expr.arg)}, xp)"

    def _print_Rational(self, expr) -> str:
        if self.exact:
            return f"(mpf({expr.p})/{expr.q})"
        return f"({expr.p}/{expr.q})"

    def _print_Half(self, expr) -> str:
        return self._print_Rational(expr)

    def _print_BooleanTrue(self, expr) -> str:
        return "True"

    def _print_BooleanFalse(self, expr) -> str:
        return "False"

    def _print_Float(self, expr) -> str:
        return f"mpf('{expr}')" if self.exact else repr(float(expr))
