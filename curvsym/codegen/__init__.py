"""Code generation: printers, matrix CSE, generated functions, runtime kernels, array backends.

==============  ================================================================
module          holds
==============  ================================================================
``printer``     :class:`ArrayPrinter`: SymPy matrix expressions as array-API Python
``cse``         :func:`matrix_cse`: one temporary per distinct product (O(N) products)
``generate``    :class:`GeneratedFunction`, :func:`generate_flow`, :func:`generate_expressions`
``validate``    shape / finiteness / Σx checks on the arguments of generated code
``runtime``     kernels of the symbolic nodes and helpers generated code calls
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
from .printer import ArrayPrinter
from .validate import check_array, symmetric_covariance

__all__ = ["ArrayPrinter", "matrix_cse", "GeneratedFunction", "generate", "generate_flow", "generate_expressions",
           "runtime_namespace", "is_polynomial", "BACKENDS", "check_array", "symmetric_covariance"]
