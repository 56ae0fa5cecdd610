r"""The node protocol: one class per symbolic matrix object curvsym adds to SymPy.

SymPy's matrix algebra knows products, sums, transposes and a few special
matrices.  Curvature-corrected rules need more (pseudo-inverses, PSD powers, an
operator solve), and nonlinear networks need elementwise functions.  Each such
object is one subclass of :class:`MatrixNode`, and the class alone says
everything the pipeline needs to know about it — the same habit as SymPy's
printers (``printmethod``, ``_print_<Class>``), extended to every stage:

=====================================  ============================================================
hook                                   stage and meaning
=====================================  ============================================================
``_latex(printer)``                    derive: how the node prints in derived equations
``kernel``                             codegen: the runtime function generated code calls, made by
                                       :func:`curvsym.codegen.runtime.kernel` from an array-API
                                       implementation and an ``mpmath`` one; registered under its
                                       name in :data:`KERNELS`, which feeds the generated code's
                                       namespace *and* files written by ``GeneratedFunction.write``
``kernel_arguments(printer)``          codegen: the call's arguments, printed (``xp`` included)
``_eval_time_derivative(v, d)``        derive: d/dt of the node along dX/dt = v[X]; ``d`` is the
                                       recursive derivative.  A node that is constant in time
                                       (no weight symbol below it) needs nothing: the base class
                                       returns 0.  Otherwise raise :class:`NotDifferentiableError`.
``taylor_rule``                        integrate: the tape operation (a class of
                                       :mod:`curvsym.integrate.tape`) that propagates Taylor
                                       coefficients through the node, or ``None`` when the node is
                                       not a polynomial of its arguments (Taylor methods refuse it);
                                       :func:`lazy_rule` names one without importing the integrators
``piecewise``                          integrate: True if the node has kinks (ReLU): its flows are
                                       only piecewise smooth, and its Taylor rule is a *switch*
                                       whose regions the Taylor stepper tracks as events
=====================================  ============================================================

Adding a node therefore never edits the printers, the runtime, the
differentiator or the integrators; they dispatch on these methods.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, ClassVar, Mapping

from sympy import MatrixExpr, ZeroMatrix

from ..errors import NotDifferentiableError

__all__ = ["MatrixNode", "KERNELS", "walker", "lazy_rule"]


KERNELS: dict[str, Callable] = {}
"""Every node kernel by the name generated code calls it under (filled by subclassing :class:`MatrixNode`)."""


class lazy_rule:
    """A ``taylor_rule`` class attribute that names its class as ``module``, ``name``.

    Node classes live in :mod:`curvsym.symbolic`, their tape operations in
    :mod:`curvsym.integrate`, which imports the code generator and hence the
    nodes; the rule is therefore resolved when it is first read, not at import.
    """

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __get__(self, obj: Any, owner: Any = None) -> type:
        return getattr(importlib.import_module(self.module), self.name)


class MatrixNode(MatrixExpr):
    """Base class of curvsym's symbolic matrix nodes (see the module docstring for the protocol).

    A concrete node sets ``kernel``, implements ``_latex``, ``kernel_arguments``
    and ``shape``, and, if it varies in time, ``_eval_time_derivative``.
    """

    kernel: ClassVar[Callable | None] = None
    taylor_rule: ClassVar[type | None] = None
    piecewise: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("kernel") is not None:
            k = cls.__dict__["kernel"]
            k = getattr(k, "__func__", k)  # staticmethod
            KERNELS[k.__name__] = k

    @classmethod
    def kernel_name(cls) -> str:
        k = cls.kernel
        return getattr(k, "__func__", k).__name__

    def kernel_arguments(self, printer: Any) -> str:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must print its kernel arguments")

    def _curvsym_array(self, printer) -> str:
        return f"{self.kernel_name()}({self.kernel_arguments(printer)})"

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
