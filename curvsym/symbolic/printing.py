r"""Derived equations as a researcher writes them: named intermediate maps, then the velocities.

A flow's velocities share their subexpressions (prefix maps, the residual, the
back-propagated residuals); printed flat, the end-to-end product appears again
inside every gradient and a 200-layer flow never finishes printing.  The named
form prints every shared subexpression once, under the name of what it is:

==================  ============================================================
name                meaning
==================  ============================================================
``M_{v}``           the map from the input to node v (for a chain, W_v ⋯ W_1)
``W``               the end-to-end map (M at the output node)
``E``               the residual W − T
``B_{v}``           R(v)ᵀ (W − T) Σx, the residual back-propagated to node v
``X_{k}``           any other shared subexpression
==================  ============================================================

followed by ``\dot W_e = …`` in those names.  The flat form (``expand=True``) is
SymPy's own printing of the flattened expressions.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import sympy as sp
from sympy import MatrixSymbol
from sympy.printing.latex import LatexPrinter

from .matfuncs import OperatorInvPower
from .sharing import hash_cons

if TYPE_CHECKING:  # pragma: no cover
    from .derive import Flow

__all__ = ["named_latex"]


def named_latex(flow: "Flow", known: dict) -> str:
    """The flow as an ``aligned`` block: named intermediates (``known``: subexpression → LaTeX name), then one
    line per velocity."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20 * flow.model.depth + 1000))  # SymPy compares deep trees recursively
    try:
        return _named_latex(flow, known)
    finally:
        sys.setrecursionlimit(limit)


def _named_latex(flow, known: dict) -> str:
    m = flow.model
    replacements, reduced, names = hash_cons(flow.velocities, prefix="_t")
    origin = {sym: expr for expr, sym in names.items() if isinstance(sym, MatrixSymbol) and sym.name.startswith("_t")}
    rename: dict = {}
    k = 0
    for sym, node in replacements:
        if not isinstance(sym, MatrixSymbol):  # a shared scalar (a rate times a step, say): printed inline
            rename[sym] = node.xreplace(rename)
            continue
        label = known.get(origin.get(sym))
        if label is None:
            k += 1
            label = f"X_{{{k}}}"
        rename[sym] = MatrixSymbol(label, *sym.shape)
    rows = []
    for sym, node in replacements:
        if not isinstance(sym, MatrixSymbol):
            continue
        node = node.xreplace(rename)
        if isinstance(node, OperatorInvPower):
            Y = MatrixSymbol("Y", *node.shape)
            rows.append(rf"\mathcal{{K}}(Y) &= {_latex(node.apply(Y), m)}")
        rows.append(rf"{rename[sym].name} &= {_latex(node, m)}")
    for w, v in zip(m.weights, reduced):
        rows.append(rf"\dot{{{sp.latex(w)}}} &= {_latex(v.xreplace(rename), m)}")
    return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


def _latex(expr, m) -> str:
    """Terms in the order derived (W − T, not −T + W); Σxᵀ printed as Σx."""
    if isinstance(getattr(m, "Sigma", None), MatrixSymbol):
        expr = expr.xreplace({sp.Transpose(m.Sigma): m.Sigma})
    return _PRINTER.doprint(expr)


class _NamedPrinter(LatexPrinter):
    """SymPy's LaTeX printer with terms in derived order and shallow products printed directly.

    (SymPy's ``_print_MatMul`` re-evaluates every product to look for a minus sign,
    which dominates the time to print a deep flow.)
    """

    def _print_MatMul(self, expr) -> str:
        coeff, mats = expr.as_coeff_matrices()
        body = " ".join(rf"\left({self._print(f)}\right)" if isinstance(f, sp.MatAdd) else self._print(f)
                        for f in mats)
        if coeff == 1:
            return body
        if coeff == -1:
            return "- " + body
        return f"{self._print(coeff)} {body}"


_PRINTER = _NamedPrinter({"order": "none"})
