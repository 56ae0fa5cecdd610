r"""The kernel registry: every numerical function generated code calls, by the name it is called under.

A *kernel* is one mathematical function with up to three implementations, chosen by
the type of its first argument:

* ``array`` — written on the array API alone (NumPy, CuPy, JAX, PyTorch, array-api-strict
  through the namespace ``xp``; leading batch axes allowed);
* ``mp`` — NumPy object arrays of ``mpmath.mpf`` at the ambient ``mpmath.mp.dps``;
* ``multiword`` — multi-word float64 arrays (:class:`curvsym.kernels.multiword.array.MWArray`).

Code generation emits calls by name; this layer owns the implementations.  A new
kernel is registered with :func:`kernel` (or :func:`register`), from the package or
from user code alike:

>>> import numpy as np
>>> from curvsym.kernels import kernel, KERNELS
>>> cube = kernel("_cube_doc", lambda Z, xp: Z ** 3, lambda Z, xp: Z ** 3)
>>> KERNELS["_cube_doc"] is cube, cube(np.array([2.0]), np).tolist()
(True, [8.0])
"""

from __future__ import annotations

from typing import Callable

__all__ = ["KERNELS", "kernel", "register", "is_multiword"]

KERNELS: dict[str, Callable] = {}
"""Every kernel by the name generated code calls it under."""


def is_multiword(x: object) -> bool:
    """True for a multi-word array (it declares ``__curvsym_multiword__``)."""
    return getattr(x, "__curvsym_multiword__", False)


def kernel(name: str, array: Callable, mp: Callable, multiword: Callable | None = None) -> Callable:
    """The kernel generated code calls as ``name``, registered in :data:`KERNELS`: ``mp`` on object
    arrays of mpf, ``multiword`` on multi-word arrays, ``array`` otherwise.

    The returned function keeps the implementations as ``.array``, ``.mp`` and ``.multiword``
    (None: no multi-word implementation; such code runs on mpf arrays only); a file written by
    ``GeneratedFunction.write`` inlines the source of ``.array`` only.
    """
    def dispatch(*args):
        a = args[0]
        if multiword is not None and is_multiword(a):
            return multiword(*args)
        return mp(*args) if getattr(a, "dtype", None) == object else array(*args)

    dispatch.__name__ = dispatch.__qualname__ = name
    dispatch.__doc__ = array.__doc__
    dispatch.array, dispatch.mp, dispatch.multiword = array, mp, multiword
    return register(dispatch)


def register(function: Callable) -> Callable:
    """Register ``function`` under its ``__name__`` (the name generated code calls) and return it."""
    KERNELS[function.__name__] = function
    return function
