r"""The node protocol: one class per symbolic matrix object curvsym adds to SymPy.

SymPy's matrix algebra knows products, sums, transposes and a few special
matrices.  Curvature-corrected rules need more (pseudo-inverses, PSD powers, an
operator solve), and nonlinear networks need elementwise functions.  Each such
object is one subclass of :class:`MatrixNode`, which states *mathematics only*;
every later stage keeps its own table keyed by node class, as SymPy's printers
keep ``_print_<Class>`` (a node knows nothing of printing):

=====================================  ============================================================
where                                  what
=====================================  ============================================================
``_latex(printer)`` (the node)         how the node prints in derived equations
``_eval_time_derivative(v, d)``        d/dt of the node along dX/dt = v[X]; ``d`` is the
(the node)                             recursive derivative.  A node constant in time needs nothing
                                       (the base class returns 0); otherwise it must be defined.
``taylor``, ``piecewise`` (the node)   mathematical facts: the node's entries obey a polynomial ODE
                                       along a polynomial flow (their Taylor coefficients follow a
                                       finite recurrence); the node has kinks (ReLU), so its flows
                                       are only piecewise smooth
:mod:`curvsym.kernels`                 the numerical kernel, registered under a name
:mod:`curvsym.codegen.kernel_calls`    node class → kernel name and argument printer
:mod:`curvsym.integrate.taylor_rules`  kernel name → the tape operation of its Taylor recurrence
=====================================  ============================================================

A new node is therefore one class per layer, each in its own room; none of them
edits another (``tests/test_extension.py`` adds an activation and a stepper from a
test file alone).
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Mapping

from sympy import MatrixExpr, ZeroMatrix

from ..errors import NotDifferentiableError

__all__ = ["MatrixNode", "walker"]


class MatrixNode(MatrixExpr):
    """Base class of curvsym's symbolic matrix nodes (see the module docstring for the protocol).

    A concrete node implements ``_latex`` and ``shape``, and, if it varies in time,
    ``_eval_time_derivative``; ``taylor`` and ``piecewise`` declare its smoothness.
    """

    taylor: ClassVar[bool] = False
    piecewise: ClassVar[bool] = False

    def _eval_time_derivative(self, velocities: Mapping, d: Callable) -> MatrixExpr:
        """d/dt of the node; the base class handles nodes constant in time (0) and refuses the rest."""
        if not (self.free_symbols & set(velocities)):
            return ZeroMatrix(*self.shape)
        raise NotDifferentiableError(
            f"{type(self).__name__} has no symbolic time derivative in curvsym; it depends on "
            f"{sorted(map(str, self.free_symbols & set(velocities)))}")


def walker(hook: str, table: Mapping[type, Callable], context: Any, refuse: Callable[[Any], Exception]) -> Callable:
    """A recursive evaluator that dispatches on the node, like SymPy's printers.

    ``go(e)`` calls ``e.<hook>(context, go)`` for curvsym's nodes and
    ``table[cls](e, context, go)`` for SymPy's own classes (looked up along the
    class hierarchy); anything else raises ``refuse(e)``.
    """
    def go(e):
        method = getattr(e, hook, None)
        if method is not None:
            return method(context, go)
        for cls in type(e).__mro__:
            rule = table.get(cls)
            if rule is not None:
                return rule(e, context, go)
        raise refuse(e)

    return go
