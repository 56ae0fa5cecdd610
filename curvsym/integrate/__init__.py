"""Integration of generated flows: double precision (SciPy) and arbitrary precision (mpmath)."""

from .double import integrate_double
from .state import to_float, to_mp
from .taylor import NotPolynomialError, integrate_taylor, taylor_coefficients, trace_polynomial
from .trajectory import Trajectory

__all__ = ["integrate_double", "integrate_taylor", "taylor_coefficients", "trace_polynomial",
           "NotPolynomialError", "Trajectory", "to_mp", "to_float"]
