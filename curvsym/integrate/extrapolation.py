r"""Arbitrary-precision Gragg–Bulirsch–Stoer extrapolation (RHS evaluations only).

Curvature-corrected rules involve pseudo-inverses and fractional powers, so
their right-hand sides are not polynomials and the Taylor method does not
apply.  GBS needs only evaluations of f (Hairer, Nørsett & Wanner, *Solving ODEs
I*, §II.9):

* modified midpoint rule with n_j = 2j substeps of size h = H/n_j,
    z_0 = y,  z_1 = z_0 + h f(z_0),  z_{m+1} = z_{m−1} + 2h f(z_m),
    T_{j,1} = ½ (z_{n_j} + z_{n_j − 1} + h f(z_{n_j}))      (Gragg's smoothing);
* its error has an expansion in even powers of h, removed by Aitken–Neville
    T_{j,l+1} = T_{j,l} + (T_{j,l} − T_{j−1,l}) / ((n_j / n_{j−l})² − 1);
* T_{k,k} has order 2k; err = ‖T_{k,k} − T_{k,k−1}‖ estimates (and for smooth
  problems over-estimates) the local error of T_{k,k}.

The step H is controlled so that err ≤ tol·max(1, ‖y‖), with
H_new = H · clip(0.94 (0.65 tol/err)^{1/(2k−1)}, 0.2, 4) (Hairer–Wanner).
:class:`GBS` is the stepper; :func:`integrate_extrapolation` runs it at a given
number of digits, on mpf object arrays or — up to 62 digits, when every node
kernel of the right-hand side has a multi-word implementation — on multi-word
float64 arrays (:mod:`curvsym.kernels.multiword.array`).  The multi-word step
(:func:`gbs_step_multiword`) differs in three exact reformulations only:

* the k midpoint sequences are independent, so they run *side by side* on a
  leading batch axis: substep m evaluates f once for every sequence with
  n_j ≥ m (2k + 1 batched evaluations instead of k(k + 1) + k single ones);
* the sequences carry increments d_m = z_m − y (d_{m+1} = d_{m−1} + 2h f(y + d_m)),
  whose rounding errors are relative to |d| ~ H|f| instead of |y|;
* T_{k,k} and T_{k,k−1} are fixed linear combinations Σ_j γ_j T_{j,1} of the
  first column (the Aitken–Neville tableau is linear), with exact rational γ_j.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, ClassVar

import mpmath
import numpy as np

from ..errors import DivergenceError, EngineError
from ..kernels import KERNELS
from ..kernels.multiword import words as mwd
from ..kernels.multiword.array import from_mpf, join, split, stack, tree_sum
from ..types import Data, Params, State, Time, Times, VectorField
from .budget import Deadline
from .runner import solve
from .solver import Solver, integrate, solvers
from .state import check_finite_state, local_tolerance, max_abs, output_times, to_mp, working_dps
from .stepper import AbstractStepper, Step
from .trajectory import Trajectory

__all__ = ["GBS", "gbs_step", "gbs_step_multiword", "extrapolation_weights", "supports_multiword",
           "GBSSolver", "integrate_extrapolation"]


def _axpy(a, x, y):
    """a·x + y for tuples of arrays."""
    return tuple(a * xi + yi for xi, yi in zip(x, y))


def _midpoint(f, y, H, n):
    h = H / n
    z0 = y
    z1 = _axpy(h, f(z0), z0)
    for _ in range(1, n):
        z0, z1 = z1, _axpy(2 * h, f(z1), z0)
    fz = f(z1)
    return tuple((a + b + h * c) / 2 for a, b, c in zip(z1, z0, fz)), n + 1


def gbs_step(f: Callable, y: State, H: Any, k: int) -> tuple:
    """One extrapolated step of size H with k columns: (T_kk, err, evaluations)."""
    rows: list[list] = []
    evals = 0
    ns = [2 * (j + 1) for j in range(k)]
    for j in range(k):
        Tj1, e = _midpoint(f, y, H, ns[j])
        evals += e
        row = [Tj1]
        for l in range(1, j + 1):
            ratio = mpmath.mpf(ns[j]) / ns[j - l]
            denom = ratio * ratio - 1
            prev = rows[j - 1][l - 1]
            row.append(tuple(a + (a - b) / denom for a, b in zip(row[l - 1], prev)))
        rows.append(row)
    best, second = rows[-1][-1], rows[-1][-2]
    err = max_abs([a - b for a, b in zip(best, second)])
    return best, err, evals


@functools.lru_cache(maxsize=32)
def extrapolation_weights(k: int) -> tuple[list, list]:
    """Exact rationals γ, γ′ with T_{k,k} = Σ_j γ_j T_{j,1} and T_{k,k−1} = Σ_j γ′_j T_{j,1} (n_j = 2j)."""
    ns = [2 * (j + 1) for j in range(k)]
    rows: list[list] = []
    for j in range(k):
        row = [[Fraction(int(i == j)) for i in range(k)]]
        for l in range(1, j + 1):
            denom = Fraction(ns[j], ns[j - l]) ** 2 - 1
            a, b = row[l - 1], rows[j - 1][l - 1]
            row.append([x + (x - y) / denom for x, y in zip(a, b)])
        rows.append(row)
    return rows[-1][-1], rows[-1][-2]


@functools.lru_cache(maxsize=32)
def _weights_mw(k: int, w: int):
    g, g2 = extrapolation_weights(k)
    with mpmath.workprec(53 * w + 30):
        vals = np.array([[mpmath.mpf(x.numerator) / x.denominator for x in row] for row in (g, g2)], dtype=object)
    return from_mpf(vals.reshape(2, k, 1), w)


def gbs_step_multiword(f: Callable, y: State, H: Any, k: int) -> tuple:
    """One extrapolated step on multi-word states, the k midpoint sequences batched: (T_kk, err, evaluations).

    ``f`` must accept states with a leading batch axis (generated code does).  See the module docstring.
    The layers of a state are joined into one flat multi-word vector for the step's own arithmetic
    (:func:`curvsym.kernels.multiword.array.join`: one compiled call per operation instead of one per layer,
    entry by entry the same operations) and split again for every evaluation of ``f``.
    """
    w = y[0].w
    shapes = [a.shape for a in y]
    ns = [2 * (j + 1) for j in range(k)]
    with mpmath.workprec(53 * w + 30):
        hs = from_mpf(np.array([mpmath.mpf(H) / n for n in ns], dtype=object).reshape(k, 1), w)
    two_hs = hs * 2.0
    Y = join(y)
    d_prev = None  # d_0 = 0
    d_cur = hs * join(f(y))
    lo = 0
    first: list = [None] * k
    for m in range(1, 2 * k + 1):
        fz = join(f(split(Y + d_cur, shapes)), batch=1)
        if m % 2 == 0:  # sequence lo (n = m) ends here: Gragg's smoothing, as an increment (d_prev is set)
            first[lo] = (d_cur[0] + d_prev[0] + hs[lo] * fz[0]) * 0.5
            lo += 1
            if lo == k:
                break
            d_cur, d_prev, fz = d_cur[1:], d_prev[1:], fz[1:]
        step = two_hs[lo:] * fz
        d_new = step if d_prev is None else d_prev + step
        d_prev, d_cur = d_cur, d_new
    both = tree_sum(_weights_mw(k, w) * stack(first, axis=0)[None], axis=1)  # (2, P): T_kk, T_{k,k−1}
    diff = (both[0] - both[1]).float()
    err = float(np.max(np.abs(diff))) if diff.size else 0.0
    return split(Y + both[0], shapes), mpmath.mpf(err), 1 + sum(ns)


def gbs_words(dps: int, k: int) -> int:
    """Float64 words for GBS at ``dps`` digits with k columns: dps + ⌈log₁₀ Λ_k⌉ + 2 digits must fit.

    The extrapolated value T_kk = Σ_j γ_j T_{j,1} amplifies the rounding noise of the midpoint
    sequences (≈ H u_w |f| each) by Λ_k = Σ_j |γ_j| (26 at k = 6, 2618 at k = 12): those digits are
    lost, so they are carried as guard digits (double-double up to ≈ 24 digits at k = 12).

    Raises:
        PrecisionError: more than four words would be needed (use engine='mpmath').
    """
    g, _ = extrapolation_weights(k)
    guard = math.ceil(math.log10(float(sum(abs(x) for x in g)))) + 2
    return mwd.words_for_digits(dps + guard)


def supports_multiword(rhs: VectorField) -> bool:
    """True when every node kernel the generated source calls has a multi-word implementation."""
    return all(getattr(KERNELS[name], "multiword", None) is not None for name in KERNELS if f"{name}(" in rhs.source)


@dataclass(frozen=True)
class _GBSState:
    H: Any
    n_evals: int


class GBS(AbstractStepper):
    """Gragg–Bulirsch–Stoer extrapolation with ``columns`` = k (order 2k), step control on ``tol``.

    A fixed ``step_size`` turns the control off (every step accepted), for order tests.
    ``wdps`` is the working precision (digits) used to detect a collapsing step.
    ``multiword=True``: states are tuples of :class:`~curvsym.kernels.multiword.array.MWArray` and the
    field accepts a leading batch axis (:func:`gbs_step_multiword`); otherwise mpf object arrays.
    """

    name: ClassVar[str] = "GBS"
    arbitrary_precision: ClassVar[bool] = True

    def __init__(self, columns: int, tol: Any, wdps: int, first_step: Any = None, step_size: Any = None,
                 multiword: bool = False):
        self.k, self.tol, self.wdps = columns, tol, wdps
        self.first_step = mpmath.mpf(first_step) if first_step is not None else mpmath.mpf("0.1")
        self.step_size = None if step_size is None else mpmath.mpf(step_size)
        self.adaptive = step_size is None
        self.multiword = multiword

    @property
    def order(self) -> int:
        return 2 * self.k

    def init(self, field: Callable, t0: Time, y0: State) -> _GBSState:
        return _GBSState(self.step_size or self.first_step, 0)

    def size(self, y: State) -> Any:
        if self.multiword:
            return max(a.max_abs() for a in y)
        return max_abs(y)

    def output(self, y: State) -> State:
        return tuple(a.to_mpf() for a in y) if self.multiword else y

    def _finite(self, y: State) -> bool:
        if self.multiword:
            return all(bool(np.all(np.isfinite(a.hi))) for a in y)
        return all(mpmath.isfinite(v) for a in y for v in a.flat)

    def step(self, field: Callable, t: Time, y: State, t_max: Time, state: _GBSState) -> Step:
        """One extrapolated step of at most t_max − t; rejected (shorter H) when err > tol·max(1, ‖y‖).

        Raises:
            DivergenceError: the step size collapsed (finite-time blow-up).
        """
        k, tol = self.k, self.tol
        H = state.H
        h = min(H, t_max - t)
        with np.errstate(all="ignore"):
            y_new, err, e = (gbs_step_multiword if self.multiword else gbs_step)(field, y, h, k)
        n_evals = state.n_evals + e
        t_new = t_max if h == t_max - t else t + h
        if self.step_size is not None:
            return Step(t_new, y_new, err, True, _GBSState(H, n_evals))
        scale = max(mpmath.mpf(1), mpmath.mpf(self.size(y)))
        finite = mpmath.isfinite(err) and self._finite(y_new)
        if not finite:
            fac = mpmath.mpf("0.2")
        elif err == 0:
            fac = mpmath.mpf(4)
        else:
            fac = mpmath.mpf("0.94") * (mpmath.mpf("0.65") * tol * scale / err) ** (mpmath.mpf(1) / (2 * k - 1))
            fac = min(mpmath.mpf(4), max(mpmath.mpf("0.2"), fac))
        clipped = h < H  # a short step to land on an output time says nothing against H
        if finite and err <= tol * scale:
            H = max(H, h * fac) if clipped else h * fac
            return Step(t_new, y_new, err, True, _GBSState(H, n_evals))
        H = h * min(fac, mpmath.mpf("0.9"))
        if H < (abs(t) + 1) * mpmath.mpf(10) ** (-(self.wdps // 2)):
            raise DivergenceError(f"GBS: step size collapsed to {mpmath.nstr(H, 3)} at t = {mpmath.nstr(t, 10)}: "
                                  "the solution appears to blow up in finite time", float(t))
        return Step(t, y, 0, False, _GBSState(H, n_evals))


ENGINES = ("auto", "multiword", "mpmath")


@solvers.register
class GBSSolver(Solver):
    """Gragg–Bulirsch–Stoer extrapolation at ``dps`` digits (options: see :func:`integrate_extrapolation`).

    Needs only evaluations of the right-hand side, so it takes any smooth flow: ``integrate``'s
    choice at ``dps`` digits when the flow is not a matrix polynomial.  It assumes a smooth
    flow: a piecewise one (kinks) is refused (neither ``piecewise`` nor ``crosses_kinks``).
    """

    name: ClassVar[str] = "gbs"
    arbitrary_precision: ClassVar[bool] = True
    priority: ClassVar[int] = 20
    max_steps: ClassVar[int] = 20_000

    def __init__(self, tol: Any = None, columns: int | None = None, first_step: Any = None, engine: str = "auto"):
        """Options of :func:`integrate_extrapolation`.

        Raises:
            EngineError: an unknown engine.
        """
        if engine not in ENGINES:
            raise EngineError(f"unknown extrapolation engine {engine!r}; use one of {', '.join(ENGINES)}")
        self.tol, self.columns, self.first_step, self.engine = tol, columns, first_step, engine

    def run(self, rhs: VectorField, weights: State, data: Data, t_eval: Times, *, dps: int, params: Params,
            max_steps: int, max_norm: float, progress: bool | None, timeout: float | None,
            throw: bool) -> Trajectory:
        """See :func:`integrate_extrapolation`.

        Raises:
            EngineError: ``engine="multiword"`` for a right-hand side whose kernels have no multi-word version.
        """
        tol, columns, first_step, engine = self.tol, self.columns, self.first_step, self.engine
        clock = Deadline(timeout)  # timeout= covers the set-up too
        working_dps(dps)  # 15 ≤ dps ≤ MAX_DPS, before anything grows with dps
        k = columns or max(6, int(math.ceil(0.4 * dps)))
        params = params or {}
        capable = supports_multiword(rhs)
        if engine == "multiword" and not capable:
            raise EngineError(f"{rhs.name}: a node kernel of this right-hand side has no multi-word implementation; "
                              "use engine='mpmath'")
        amplification = float(sum(abs(x) for x in extrapolation_weights(k)[0]))
        fits = dps + math.ceil(math.log10(amplification)) + 2 <= mwd.max_digits()
        if engine == "multiword" or (engine == "auto" and capable and fits):
            return _integrate_multiword(rhs, weights, data, t_eval, dps, params, tol, k, first_step, max_steps,
                                        max_norm, progress, clock.remaining(), throw)
        # the Aitken–Neville tableau amplifies rounding errors; k extra guard digits absorb it
        wdps = working_dps(dps, guard=10 + k)
        with mpmath.workdps(wdps):
            tol = local_tolerance(tol, dps, wdps - k - 3)
            y = to_mp(weights, wdps)
            d = rhs.validate(y, to_mp(data, wdps), params)  # shapes, finiteness, symmetric Σx
            func = rhs.func

            def f(state):
                return func(*state, *d, **params, xp=np)

            stepper = GBS(k, tol, wdps, first_step)
            sol = solve(stepper, f, y, output_times(t_eval), max_steps=max_steps, max_norm=max_norm,
                        progress=progress, desc="GBS", timeout=clock.remaining(), throw=throw, zero=mpmath.mpf(0))
            for s in sol.states:
                check_finite_state(s, "GBS state")
            n_evals = sol.state.n_evals
            rounding = mpmath.mpf(10) ** (-wdps) * n_evals * max(mpmath.mpf(1), max_abs(sol.states[-1]))
            return Trajectory(sol.t, sol.states, f"GBS extrapolation, {k} columns (order {2 * k})",
                              sol.error + rounding, dps, sol.n_steps, n_evals,
                              info={"columns": k, "working_dps": wdps, "rounding": rounding, "engine": "mpmath"},
                              status=sol.status, message=sol.message)


def integrate_extrapolation(rhs: VectorField, weights: State, data: Data, t_eval: Times, *,
                            dps: int = 30, params: Params | None = None, tol: Any = None, columns: int | None = None,
                            first_step: Any = None, max_steps: int = 20_000, max_norm: float = 1e30,
                            engine: str = "auto", progress: bool | None = None, timeout: float | None = None,
                            throw: bool = True) -> Trajectory:
    """Integrate ``rhs`` (generated with ``backend="mpmath"``) at ``dps`` digits by GBS extrapolation.

    A thin alias of the front door, kept for existing callers: ``integrate(rhs, weights, data,
    t_eval, dps=dps, solver=GBSSolver(tol, columns, first_step, engine), …)``.

    ``tol`` is the local error tolerance per unit state size (default
    10^−(dps+2)); ``columns`` the number of extrapolation columns k (order 2k,
    default ≈ 0.4·dps, at least 6).  ``engine``: ``"multiword"`` runs on
    w = ⌈(dps + 1.5)/15.95⌉ float64 words (dps ≤ 62) with the k midpoint sequences
    batched; ``"mpmath"`` on mpf object arrays with k + 10 guard digits; ``"auto"``
    (default) takes multi-word when dps ≤ 62 and every node kernel of ``rhs`` has a
    multi-word implementation (:func:`supports_multiword`), else mpmath.  The
    returned ``error_estimate`` is the sum of the accepted local error estimates
    plus a rounding estimate (mpmath: 10^{−wdps} per evaluation; multi-word:
    u_w (Λ_k + 4) per step, Λ_k = Σ|γ_j| the extrapolation's error amplification,
    times max(1, ‖W‖)).

    Raises:
        PrecisionError: ``dps`` < 15, ``tol`` finer than the working precision resolves, or
            ``engine="multiword"`` asked for more than 62 digits.
        EngineError: an unknown engine, or ``"multiword"`` for a right-hand side whose kernels have
            no multi-word implementation.
        DivergenceError: ‖W‖ exceeds ``max_norm`` or the step collapses (finite-time blow-up).
        StepLimitError: more than ``max_steps`` accepted steps.
        IntegrationTimeout: longer than ``timeout`` seconds.
        SingularPreconditionerError: a strict inverse met a singular preconditioner.
        OptionError: ``rhs`` is piecewise smooth (ReLU kinks): extrapolation assumes a smooth flow and
            would step across the kinks; the Taylor stepper lands on them.
    """
    return integrate(rhs, weights, data, t_eval, dps=dps, solver=GBSSolver(tol, columns, first_step, engine),
                     params=params, max_steps=max_steps, max_norm=max_norm, progress=progress, timeout=timeout,
                     throw=throw)


def _integrate_multiword(rhs, weights, data, t_eval, dps, params, tol, k, first_step, max_steps, max_norm,
                         progress, timeout, throw) -> Trajectory:
    """GBS on w float64 words (see :func:`integrate_extrapolation`)."""
    w = gbs_words(dps, k)
    digits = int(w * mwd.DIGITS_PER_WORD)
    with mpmath.workdps(digits + 10):  # constants of the generated code (mpf(1)/3, damping) beyond w words
        tol = local_tolerance(tol, dps, digits + 1)
        y_mp = to_mp(weights, digits + 10)
        d_mp = rhs.validate(y_mp, to_mp(data, digits + 10), params)
        y = tuple(from_mpf(a, w) for a in y_mp)
        d = tuple(from_mpf(a, w) for a in d_mp)
        func = rhs.func

        def f(state):
            return func(*state, *d, **params, xp=np)

        stepper = GBS(k, tol, digits, first_step, multiword=True)
        sol = solve(stepper, f, y, output_times(t_eval), max_steps=max_steps, max_norm=max_norm,
                    progress=progress, desc="GBS", timeout=timeout, throw=throw, zero=mpmath.mpf(0))
        for s in sol.states:
            check_finite_state(s, "GBS state")
        g, _ = extrapolation_weights(k)
        amplification = float(sum(abs(x) for x in g))
        rounding = (mpmath.mpf(2) ** (-53 * w) * (amplification + 4) * max(1, sol.n_steps)
                    * max(mpmath.mpf(1), max_abs(sol.states[-1])))
        name = {2: "double-double", 3: "triple-double", 4: "quad-double"}[w]
        return Trajectory(sol.t, sol.states, f"GBS extrapolation, {k} columns (order {2 * k}), {name}",
                          sol.error + rounding, dps, sol.n_steps, sol.state.n_evals,
                          info={"columns": k, "working_dps": digits, "rounding": rounding, "engine": name,
                                "words": w},
                          status=sol.status, message=sol.message)
