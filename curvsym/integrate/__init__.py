"""Integration of generated flows: double precision (SciPy) and arbitrary precision (mpmath)."""

from .double import integrate_double
from .extrapolation import integrate_extrapolation
from .state import to_float, to_mp
from .taylor import NotPolynomialError, integrate_taylor, taylor_coefficients, trace_polynomial
from .trajectory import Trajectory

__all__ = ["integrate_double", "integrate_extrapolation", "integrate", "integrate_taylor", "taylor_coefficients", "trace_polynomial",
           "NotPolynomialError", "Trajectory", "to_mp", "to_float"]


def integrate(rhs, weights, data, t_eval, *, dps: int | None = None, **options) -> Trajectory:
    """Integrate with the natural method: double precision (DOP853) when ``dps`` is None;
    otherwise Taylor series for polynomial right-hand sides and GBS extrapolation for
    the rest (pseudo-inverses, fractional powers).  ``rhs`` must have been generated
    with ``backend="mpmath"`` for ``dps`` given, ``"numpy"`` otherwise."""
    if dps is None:
        return integrate_double(rhs, weights, data, t_eval, **options)
    if rhs.backend != "mpmath":
        raise ValueError(f"high-precision integration needs a right-hand side generated with backend='mpmath', "
                         f"got {rhs.backend!r}")
    try:  # integrate_taylor traces the right-hand side before taking any step
        return integrate_taylor(rhs, weights, data, t_eval, dps=dps, **options)
    except NotPolynomialError:
        return integrate_extrapolation(rhs, weights, data, t_eval, dps=dps, **options)
