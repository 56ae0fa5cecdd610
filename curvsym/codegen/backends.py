"""Array libraries behind the generated code: lookup, device placement, consistency checks.

Generated right-hand sides are written once against the Python array API (see
:mod:`curvsym.codegen`); this module finds a namespace by name — ``numpy``,
``array_api_strict``, ``torch``, ``jax``, ``cupy`` — through ``array_api_compat``,
moves arrays onto it, and checks that the arrays of one call agree in library,
device and dtype.  The optional libraries are never needed by the default install.
"""

from __future__ import annotations

import importlib
from typing import Any, Sequence

from array_api_compat import array_namespace, device, is_numpy_array

from ..errors import BackendError

__all__ = ["BackendError", "namespace", "available", "to_backend", "check_consistent", "has_gpu"]

_EXTRA = {"torch": "torch", "jax": "jax", "cupy": "gpu", "array_api_strict": "test"}



def namespace(name: str) -> Any:
    """The array-API namespace of backend ``name`` (raises :class:`BackendError` if not installed).

    Raises:
        BackendError: the name is unknown, or the library is not installed (the message gives the pip extra).
    """
    try:
        if name == "numpy":
            import array_api_compat.numpy as xp  # deferred: array_api_compat's wrappers load only for the backend asked for
        elif name == "array_api_strict":
            xp = importlib.import_module("array_api_strict")
        elif name == "torch":
            importlib.import_module("torch")
            import array_api_compat.torch as xp  # deferred: torch is an optional extra
        elif name == "cupy":
            importlib.import_module("cupy")
            import array_api_compat.cupy as xp  # deferred: cupy is an optional extra
        elif name == "jax":
            jax = importlib.import_module("jax")
            jax.config.update("jax_enable_x64", True)
            xp = importlib.import_module("jax.numpy")
        else:
            raise BackendError(f"unknown array backend {name!r}; use numpy, array_api_strict, torch, jax or cupy")
    except ImportError as exc:
        extra = _EXTRA.get(name, name)
        raise BackendError(f"the array backend {name!r} is requested but not installed ({exc}); "
                           f"install it with: pip install 'curvsym[{extra}]'") from None
    return xp


def available() -> list[str]:
    """Backends that import on this machine (numpy always)."""
    out = []
    for name in ("numpy", "array_api_strict", "torch", "jax", "cupy"):
        try:
            namespace(name)
            out.append(name)
        except BackendError:
            pass
    return out


def has_gpu(name: str) -> bool:
    """True if backend ``name`` is installed and sees a GPU."""
    try:
        if name == "torch":
            import torch  # deferred: torch is an optional extra
            return bool(torch.cuda.is_available())
        if name == "cupy":
            import cupy  # deferred: cupy is an optional extra
            return cupy.cuda.runtime.getDeviceCount() > 0
        if name == "jax":
            import jax  # deferred: jax is an optional extra
            return any(d.platform == "gpu" for d in jax.devices())
    except Exception:  # a broken driver is "no GPU" here
        return False
    return False


def to_backend(arrays: Sequence[Any], name: str, dtype: str = "float64", device: Any = None) -> tuple:
    """Copies of NumPy arrays on backend ``name`` (optionally on ``device``, e.g. 'cuda')."""
    xp = namespace(name)
    dt = getattr(xp, dtype)
    kw = {"device": device} if device is not None else {}
    return tuple(xp.asarray(a, dtype=dt, **kw) for a in arrays)


def check_consistent(arrays: Sequence[Any], names: Sequence[str]) -> None:
    """One array library, one device and one floating dtype for all ``arrays``.

    Raises:
        BackendError: the arrays mix array libraries, devices or dtypes.
    """

    kinds = {type(a).__module__.split(".")[0] for a in arrays}
    try:
        array_namespace(*arrays)
    except TypeError:
        raise BackendError(f"the arrays mix array libraries ({', '.join(sorted(kinds))}); move them to one "
                           "backend with curvsym.backends.to_backend") from None
    if not all(is_numpy_array(a) for a in arrays):
        devs = {str(device(a)) for a in arrays}
        if len(devs) > 1:
            where = ", ".join(f"{n} on {device(a)}" for n, a in zip(names, arrays))
            raise BackendError(f"the arrays live on different devices ({where}); move them to one device")
    dtypes = {str(a.dtype) for a in arrays}
    if len(dtypes) > 1:
        which = ", ".join(f"{n}: {a.dtype}" for n, a in zip(names, arrays))
        raise BackendError(f"the arrays have different dtypes ({which}); cast them to one floating dtype")
