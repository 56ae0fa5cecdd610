"""Integration of generated flows: steppers, one runner, trajectories, batched ensembles.

==================  =================================================================
module              holds
==================  =================================================================
``stepper``         :class:`AbstractStepper` (capabilities, init, step), :class:`Status`
``runner``          :func:`solve`: output times, divergence, limits, timeouts, progress
``taylor``          :class:`Taylor` (polynomial flows, any digits) and ``integrate_taylor``
``tape``            the tape of operations and their Taylor-coefficient rules
``engines``         arbitrary-precision arithmetic for the tape (python-flint, mpmath)
``extrapolation``   :class:`GBS` (any flow, any digits) and ``integrate_extrapolation``
``multiword``       w-word float64 arithmetic: error-free transformations, Ozaki products
``mwtaylor``        the multi-word Taylor engine (stacked Cauchy products on BLAS)
``mwarray``         :class:`MWArray`: multi-word arrays with the operators generated code uses
``mwlinalg``        refined solves and eigen-decompositions for the node kernels on w words
``double``          :class:`DOP853` (double precision) and ``integrate_double``
``explicit``        batched array-API steppers: :class:`RK4`, :class:`Dopri5`, :class:`StepMap`
``ensemble``        ``rk4``, ``dopri5``, ``iterate`` over a batch, ``solve_batched``
``discrete``        step maps of any rule: η sweeps in float64, iterates at any digits
``optimizers``      stochastic optimisers as steppers of that runner: ``SGDM``, ``Adam``, ``optimize``
``state``           conversions (float ↔ mpf), norms, tolerances
``trajectory``      :class:`Trajectory`
==================  =================================================================
"""

from __future__ import annotations

import sys
import types

from ..errors import NotPolynomialError, OptionError
from ..types import Data, State, Times, VectorField
from . import elementwise  # noqa: F401  (registers the Taylor rules of the activation kernels)
from .dop853 import DOP853, integrate_double
from .explicit import RK4, Dopri5, StepMap
from .extrapolation import GBS, integrate_extrapolation
from .iteration import Divergence, PreciseStepMap, SweepStepMap, iterate_precise, iterate_sweep
from .runner import Solution, solve
from .state import to_float, to_mp
from .stepper import AbstractStepper, Status, Step
from .tape import taylor_coefficients, trace_polynomial
from .taylor import Taylor, integrate_taylor
from .trajectory import Trajectory

__all__ = ["integrate", "integrate_double", "integrate_extrapolation", "integrate_taylor", "taylor_coefficients",
           "trace_polynomial", "NotPolynomialError", "Trajectory", "to_mp", "to_float", "AbstractStepper", "Step",
           "Status", "Solution", "solve", "Taylor", "GBS", "DOP853", "RK4", "Dopri5", "StepMap", "STEPPERS",
           "SweepStepMap", "PreciseStepMap", "Divergence", "iterate_sweep", "iterate_precise"]

STEPPERS: tuple[type[AbstractStepper], ...] = (Taylor, GBS, DOP853, RK4, Dopri5, StepMap, SweepStepMap,
                                                PreciseStepMap)
"""Every stepper class (the order tests run over this list)."""


def integrate(rhs: VectorField, weights: State, data: Data, t_eval: Times, *, dps: int | None = None,
              **options) -> Trajectory:
    """Integrate with the natural stepper, chosen by capability.

    ``dps=None``: double precision (DOP853).  Otherwise the right-hand side must have
    been generated with ``backend="mpmath"``; a matrix polynomial (``rhs.polynomial``)
    gets the Taylor stepper, anything else (pseudo-inverses, fractional powers)
    Gragg–Bulirsch–Stoer extrapolation.  Both pick their arithmetic by capability
    (``engine="auto"``): multi-word float64 where it carries the digits (and, for GBS,
    every node kernel has a multi-word implementation), python-flint / mpmath beyond.
    Options go to the chosen integrator.

    A piecewise right-hand side (ReLU) gets the Taylor stepper, which lands on
    every kink (``Trajectory.info["crossings"]``); in double precision DOP853's
    error control steps across kinks without locating them.

    Raises:
        OptionError: ``dps`` given for a right-hand side not generated for mpmath, or a piecewise
            right-hand side with a node that has no Taylor rule (no high-precision stepper lands on its kinks).
        (and whatever the chosen integrator raises: DivergenceError, StepLimitError, PrecisionError, …)
    """
    if dps is None:
        return integrate_double(rhs, weights, data, t_eval, **options)
    if rhs.backend != "mpmath":
        raise OptionError(f"high-precision integration needs a right-hand side generated with backend='mpmath', "
                          f"got {rhs.backend!r}")
    if rhs.polynomial:
        return integrate_taylor(rhs, weights, data, t_eval, dps=dps, **options)
    if rhs.piecewise:
        raise OptionError(f"{rhs.name}: a piecewise (ReLU) right-hand side with a node that has no Taylor rule; "
                          "no high-precision stepper here can land on its kinks")
    return integrate_extrapolation(rhs, weights, data, t_eval, dps=dps, **options)


class _CallablePackage(types.ModuleType):
    """``curvsym.integrate`` is both this package and the front door: calling it calls :func:`integrate`.

    (``import curvsym.integrate.taylor`` binds the package as ``curvsym.integrate``, so the
    package itself must be callable for ``cs.integrate(...)`` to keep working.)
    """

    def __call__(self, *args, **kwargs) -> Trajectory:
        return integrate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
