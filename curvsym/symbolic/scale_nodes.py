r"""Entrywise nodes of the adaptive rules: the per-coordinate scale 1/(√S + ε) and the reciprocal 1/X.

RMSProp and Adam divide a first moment by the root of a second moment, entry by
entry, and Adam's bias correction divides by 1 − β^k.  Both are entrywise
functions of one matrix, so they follow the activation node protocol
(:class:`~curvsym.symbolic.activations.ActivationNode`): ``Node(X, k, *params)`` is the
k-th derivative taken entrywise, and d/dt Node(X, k) = Node(X, k + 1) ⊙ Ẋ.

=====================  ===========================  ================================
class                  φ(x)                         kernel (:mod:`curvsym.kernels.moment_scaling`)
=====================  ===========================  ================================
:class:`InvRoot`       1/(√x + ε),  ε > 0           ``_inv_root``
:class:`Reciprocal`    1/x                          ``_reciprocal``
=====================  ===========================  ================================

They are not activations (the registry ``curvsym.nonlinear.activation`` does not list them).
"""

from __future__ import annotations

import sympy as sp

from .activations import ActivationNode

__all__ = ["InvRoot", "Reciprocal"]


class InvRoot(ActivationNode):
    """φ_ε(s) = 1/(√s + ε) entrywise (the RMSProp/Adam scale); ``args = (S, k, ε)``."""

    key = "inv_root"
    symbol = r"\rho"
    parameter_names = ("eps",)
    max_order = 2

    @classmethod
    def function(cls, z, eps=sp.Integer(1), *params):
        return 1 / (sp.sqrt(z) + eps)


class Reciprocal(ActivationNode):
    """1/x entrywise (Adam's bias correction); ``args = (X, k)``."""

    key = "reciprocal"
    symbol = r"\operatorname{rec}"
    max_order = 2

    @classmethod
    def function(cls, z, *params):
        return 1 / z
