"""Standalone modules: the runtime a generated source needs to run without curvsym.

:func:`standalone_source` inlines the helpers (``_eye``, ``_zeros``, ``_trace``) and the
array kernels a NumPy or array-API source calls, so the written file needs only NumPy;
an mpmath source imports its kernels from :mod:`curvsym.kernels`.
"""

from __future__ import annotations

import inspect

from ..kernels import KERNELS
from ..kernels.constants import HELPERS
from ..kernels.spectral import RCOND_FLOAT, _singular, _xp_powers, operator_matrix

__all__ = ["standalone_source"]


_ERROR_FALLBACK = '''try:
    from curvsym.errors import SingularPreconditionerError
except ImportError:  # runs without curvsym
    class SingularPreconditionerError(ValueError):
        """A preconditioner must be inverted but is singular and no damping was given."""
'''


def standalone_source(source: str, backend: str) -> str:
    """Imports and runtime code a generated ``source`` needs to run as its own module.

    The helpers (``_eye``, ``_zeros``, ``_trace``) and the array kernels of the
    nodes it calls are inlined, so a NumPy or array-API module needs only NumPy;
    an mpmath module that calls node kernels imports them from curvsym.
    """
    lines = ["from __future__ import annotations", "", "import numpy as np"]
    if backend == "mpmath":
        lines.append("from mpmath import mpf")
    helpers = [n for n in HELPERS if f"{n}(" in source]
    kernels = [n for n in KERNELS if f"{n}(" in source]
    if backend == "mpmath" and kernels:
        lines.append(f"from curvsym.kernels import {', '.join(kernels)}")
        kernels = []
    parts = ["\n".join(lines)]
    if kernels:
        support = [_xp_powers, _singular] + ([operator_matrix] if "_operator_inv_power" in kernels else [])
        parts.append(_ERROR_FALLBACK + f"RCOND_FLOAT = {RCOND_FLOAT!r}")
        parts += [inspect.getsource(f) for f in support]
        for name in kernels:
            impl = KERNELS[name].array
            parts.append(inspect.getsource(impl).replace(f"def {impl.__name__}(", f"def {name}(", 1))
    parts += [inspect.getsource(HELPERS[n]) for n in helpers]
    return "\n\n\n".join(p.rstrip() for p in parts)
