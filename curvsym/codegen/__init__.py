"""Code generation: printers, matrix CSE, generated functions, array backends.

==============  ================================================================
module          holds
==============  ================================================================
``printer``       :class:`ArrayPrinter`: SymPy matrix expressions as array-API Python
``kernel_calls``  node class → the kernel it calls (:func:`register_kernel_call`)
``cse``         :func:`matrix_cse`: one temporary per distinct product (O(N) products)
``generate``    :class:`GeneratedFunction`, :func:`generate_flow`, :func:`generate_expressions`
``validate``    shape / finiteness / Σx checks on the arguments of generated code
``standalone``  the runtime a written module inlines to run without curvsym
``scalar``      scalar ODE systems (reduced mode dynamics) as flows on 1 × 1 matrices
``backends``    array libraries: lookup, devices, consistency checks
==============  ================================================================
"""

from .cse import matrix_cse
from .generate import (
                       BACKENDS,
                       GeneratedFunction,
                       generate,
                       generate_expressions,
                       generate_flow,
                       is_polynomial,
                       runtime_namespace,
)
from .kernel_calls import register_kernel_call
from .printer import ArrayPrinter
from .validate import check_array, symmetric_covariance

__all__ = ["ArrayPrinter", "matrix_cse", "GeneratedFunction", "generate", "generate_flow", "generate_expressions",
           "runtime_namespace", "is_polynomial", "BACKENDS", "check_array", "symmetric_covariance",
           "register_kernel_call"]
