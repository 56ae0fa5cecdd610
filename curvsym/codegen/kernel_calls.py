r"""How each symbolic node is printed as a call to its kernel: the code generator's table, keyed by node class.

The printer model of SymPy: a node of :mod:`curvsym.symbolic` is pure mathematics and
knows nothing of code; this table tells the printer which kernel (by the name
:mod:`curvsym.kernels` registers it under) a node class calls and how its arguments
print.  Lookup walks the node's class hierarchy, so a family (every activation) can
share one argument printer.  A new node is registered by :func:`register_kernel_call`,
from the package or from user code alike:

>>> from curvsym.codegen.kernel_calls import kernel_call
>>> from curvsym.symbolic.activations import ReLU
>>> kernel_call(ReLU).name
'_relu'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..errors import UnknownNameError
from ..symbolic.activations import ActivationNode, LeakyReLU, LogSumExp, ReLU, Softmax, Softplus, Tanh
from ..symbolic.matfuncs import OperatorInvPower, PsdInvPower, PsdPowerDerivative, SqrtPsd
from ..symbolic.scale_nodes import InvRoot, Reciprocal

__all__ = ["KernelCall", "KERNEL_CALLS", "register_kernel_call", "kernel_call", "print_call"]

Printer = Callable[[Any], str]


@dataclass(frozen=True)
class KernelCall:
    """``name(arguments(node, print))``: the kernel a node class calls and its argument printer."""

    name: str
    arguments: Callable[[Any, Printer], str]


KERNEL_CALLS: dict[type, KernelCall] = {}
"""Node class → how it is called (filled by :func:`register_kernel_call`)."""


def register_kernel_call(node_class: type, name: str, arguments: Callable[[Any, Printer], str]) -> None:
    """Generated code evaluates nodes of ``node_class`` as ``name(arguments(node, print))``."""
    KERNEL_CALLS[node_class] = KernelCall(name, arguments)


def kernel_call(node_class: type) -> KernelCall | None:
    """The call registered for ``node_class`` or its nearest registered ancestor (None: none)."""
    for cls in node_class.__mro__:
        call = KERNEL_CALLS.get(cls)
        if call is not None:
            return call
    return None


def print_call(node: Any, print_: Printer) -> str:
    """``node`` printed as its kernel call.

    Raises:
        UnknownNameError: no kernel call is registered for the node's class or its ancestors.
    """
    call = kernel_call(type(node))
    if call is None:
        raise UnknownNameError(f"no kernel is registered for the node {type(node).__name__}; register one with "
                               "curvsym.codegen.register_kernel_call")
    return f"{call.name}({call.arguments(node, print_)})"


# --------------------------------------------------------------------------- the package's own nodes

def _activation(node: ActivationNode, p: Printer) -> str:
    """σ^{(k)}(Z) → ``_σ(Z, k, *params, xp)``."""
    return f"{p(node.Z)}, {node.order}{''.join(f', {p(x)}' for x in node.params)}, xp"


def _column(node: Any, p: Printer) -> str:
    return f"{p(node.Z)}, xp"


def _psd_inv_power(node: PsdInvPower, p: Printer) -> str:
    return f"{p(node.X)}, {p(node.q)}, {p(node.damping)}, {node.strict}, xp, {node.args[4].name!r}"


def _psd_power_derivative(node: PsdPowerDerivative, p: Printer) -> str:
    dirs = ", ".join(p(e) for e in node.directions)
    return f"{p(node.X)}, {p(node.q)}, {p(node.damping)}, {node.strict}, xp, {node.args[4].name!r}, {dirs}"


def _operator_inv_power(node: OperatorInvPower, p: Printer) -> str:
    Ps, Qs = node.factors
    ps, qs = ", ".join(p(x) for x in Ps), ", ".join(p(x) for x in Qs)
    return (f"{p(node.R)}, ({ps},), ({qs},), {p(node.q)}, {p(node.damping)}, {node.strict}, xp, "
            f"{node.args[4].name!r}")


def _sqrt_psd(node: SqrtPsd, p: Printer) -> str:
    return f"{p(node.X)}, xp"


for _cls, _name, _args in [
        (ReLU, "_relu", _activation), (LeakyReLU, "_leaky_relu", _activation), (Tanh, "_tanh", _activation),
        (Softplus, "_softplus", _activation), (Softmax, "_softmax", _column), (LogSumExp, "_logsumexp", _column),
        (InvRoot, "_inv_root", _activation), (Reciprocal, "_reciprocal", _activation),
        (PsdInvPower, "_psd_inv_power", _psd_inv_power),
        (PsdPowerDerivative, "_psd_power_derivative", _psd_power_derivative),
        (OperatorInvPower, "_operator_inv_power", _operator_inv_power), (SqrtPsd, "_sqrt_psd", _sqrt_psd)]:
    register_kernel_call(_cls, _name, _args)
