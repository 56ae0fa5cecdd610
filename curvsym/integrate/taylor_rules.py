"""The Taylor rules of node kernels: kernel name → the tape operation that propagates Taylor coefficients.

Generated code calls node kernels by name (:mod:`curvsym.kernels`); tracing a right-hand
side onto a tape (:func:`curvsym.integrate.tape.trace_polynomial`) replaces each kernel by
the ``trace`` of its rule here, and a kernel without a rule is refused as not polynomial.
The integrate layer fills this table (:mod:`curvsym.integrate.elementwise`); user code
adds a rule with :func:`register_taylor_rule`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TAYLOR_RULES", "register_taylor_rule"]

TAYLOR_RULES: dict[str, Any] = {}
"""Kernel name → a class with ``trace(*kernel_args)`` that records its operation on the tape."""


def register_taylor_rule(kernel_name: str, rule: Any) -> Any:
    """Taylor methods propagate the kernel ``kernel_name`` through ``rule`` (returned, so it can decorate)."""
    TAYLOR_RULES[kernel_name] = rule
    return rule
