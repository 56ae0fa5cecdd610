"""The bottom numeric layer: the kernels generated code calls, on the array API, mpmath and multi-word floats.

Nothing here imports SymPy or any other layer of curvsym (``errors`` and ``types`` aside):

=================  ==============================================================================
module             holds
=================  ==============================================================================
dispatch           :data:`KERNELS` (name → kernel) and :func:`kernel`, which builds and registers one
constants          I, 0, 1 1ᵀ, b 1ᵀ and tr in the dtype and device of an argument (:data:`HELPERS`)
entrywise          σ^{(k)}(Z) entrywise for ReLU, leaky ReLU, tanh, softplus; softmax, logsumexp
moment_scaling     1/(√S + ε) and 1/X entrywise with two derivatives (the adaptive rules RMSProp, Adam)
spectral           PSD powers, X^{½}, the operator solve 𝒦^{+q}R, Fréchet derivatives of PSD powers
arb                exact mpf ↔ arb conversions (python-flint)
multiword          multi-word float64 arithmetic: words, arrays, refined linear algebra, the C kernel
=================  ==============================================================================
"""

from . import entrywise, moment_scaling, spectral  # noqa: F401  (importing them registers their kernels)
from .constants import HELPERS
from .dispatch import KERNELS, is_multiword, kernel, register

__all__ = ["KERNELS", "HELPERS", "kernel", "register", "is_multiword"]
