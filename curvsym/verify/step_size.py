r"""Discrete against continuous: distances between iterates and flows, fitted orders, curvature envelopes.

For a rule with flow θ̇ = f(θ) and step map θ_{k+1} = θ_k + η f(θ_k) (GD for f = −∇L):

* :func:`gap_study` — ‖θ_k − θ(kη)‖ along whole trajectories for a sweep of step sizes
  (one batched float64 run, or iterates at any digits), against the flow computed at high
  precision with *dense output at exactly the times kη* (Taylor series inside a step; rules
  whose flow is not a matrix polynomial are integrated by GBS, which lands on the output
  grid instead), the fitted order in η at every output time, and the envelope below;
* :func:`envelope` — the Elkabetz–Cohen envelope (``docs/mathematics.md`` §5.1)

      E(t) = (η/2) ∫₀^t exp(∫_s^t ρ(u) du) ‖f′f‖(θ(s)) ds,     ρ = max(−λ_min, 0) = −λ_−,

  evaluated along the flow.  For GD, f′f = ∇²L∇L and λ_min is the least Hessian eigenvalue.
  For any rule λ_min is the least eigenvalue of −½(Df + Dfᵀ) (so −λ_min is the logarithmic
  norm of Df, the rate at which nearby flow lines separate); for GD the two agree.  E is
  the Grönwall bound of the linearised error equation ė = Df e − (η/2) f′f (the leading
  term of GD's error, see :mod:`curvsym.symbolic.step_maps`), with no credit taken for
  contraction (ρ ≥ 0): a first-order envelope, not a rigorous bound at finite η;
* :class:`CurvatureAlong` — λ_min and ‖f′f‖ at a point: the dense Jacobian of the velocity from
  one batched directional-derivative evaluation (P ≤ ``dense_limit``), or Lanczos
  (``scipy.sparse.linalg.eigsh``) on the Jacobian–vector product for larger gradient flows,
  whose Jacobian −∇²L is symmetric (checked by probes).  These are the Hessian–vector
  products of :mod:`curvsym.verify.sharpness` (directional derivatives of the derived
  gradient), taken of the velocity so that any rule, linear or not, plugs in;
* :func:`settled_orders` — observed orders of several distances, the step size halved until every
  order has settled (the pre-asymptotic range depends on the instance);
* :func:`modified_equation_orders` — at high precision, the distance between the iterates and
  the flows of the modified equations of order 0, 1, 2, and its fitted order in η (1, 2, 3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import mpmath
import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh
from sympy import MatrixSymbol

from ..codegen import generate, generate_expressions, generate_flow
from ..errors import CurvsymError, OptionError
from ..integrate import integrate, integrate_double, to_float
from ..integrate.iteration import Divergence, common_times, iterate_precise, iterate_sweep, step_sizes
from ..integrate.stepper import Status
from ..symbolic.calculus import time_derivative
from ..symbolic.derive import Flow, loss
from ..symbolic.step_maps import lie_derivative, modified_equation
from ..types import Data, Params, State
from .checks import CheckResult

__all__ = ["distance", "FittedOrder", "fitted_order", "check_order", "SettledOrders",
           "settled_orders", "envelope", "CurvatureAlong",
           "CurvatureProfile", "curvature_along", "GapRun", "GapStudy", "gap_study", "check_below_envelope",
           "ModifiedOrders", "modified_equation_orders", "loss_function"]


# --------------------------------------------------------------------------- distances and orders

def distance(a: State, b: State) -> float:
    """‖a − b‖_F over all layers (differences of mpf arrays taken in mpmath, at the ambient precision)."""
    total = 0.0
    exact = any(getattr(x, "dtype", None) == object for x in (*a, *b))
    if exact:
        acc = mpmath.mpf(0)
        for x, y in zip(a, b):
            for u in (np.asarray(x, dtype=object) - np.asarray(y, dtype=object)).flat:
                acc += u * u
        return float(mpmath.sqrt(acc))
    for x, y in zip(a, b):
        total += float(np.sum((np.asarray(x, dtype=float) - np.asarray(y, dtype=float)) ** 2))
    return math.sqrt(total)


@dataclass(frozen=True)
class FittedOrder:
    """Least-squares fit ln(error) = ln C + p ln η over a sweep; ``rms`` is the fit's RMS misfit in ln units."""

    slope: float
    intercept: float
    rms: float
    etas: tuple
    errors: tuple

    def __str__(self) -> str:
        return f"order {self.slope:.3f} (C = {math.exp(self.intercept):.3g}, {len(self.etas)} step sizes, " \
               f"rms {self.rms:.1e})"


def fitted_order(etas: Sequence[float], errors: Sequence[float]) -> FittedOrder:
    """The order p in error ≈ C η^p, by least squares in log–log over the positive finite pairs.

    Raises:
        OptionError: fewer than two usable (η, error) pairs, or only one distinct η.
    """
    pairs = [(float(e), float(x)) for e, x in zip(etas, errors)
             if x is not None and math.isfinite(float(x)) and float(x) > 0]
    if len({e for e, _ in pairs}) < 2:
        raise OptionError(f"a fitted order needs errors at two or more step sizes, got {len(pairs)} usable")
    x = np.log([e for e, _ in pairs])
    y = np.log([v for _, v in pairs])
    p, c = np.polyfit(x, y, 1)
    rms = float(np.sqrt(np.mean((y - (p * x + c)) ** 2)))
    return FittedOrder(float(p), float(c), rms, tuple(e for e, _ in pairs), tuple(v for _, v in pairs))


def check_order(name: str, fitted: FittedOrder, expected: float, tolerance: float) -> CheckResult:
    """Residual |p − expected| of a fitted order against its tolerance."""
    res = abs(fitted.slope - expected)
    return CheckResult(name, res, tolerance, res <= tolerance,
                       {"fitted": fitted.slope, "expected": expected, "etas": str(fitted.etas),
                        "errors": str(tuple(f"{e:.3e}" for e in fitted.errors)), "rms": fitted.rms})


@dataclass(frozen=True)
class SettledOrders:
    """Distances at step sizes h_j = h_0 2^{−j}, refined until every observed order settled (:func:`settled_orders`).

    ``distances[key][j]`` is the distance at ``steps[j]``; ``settled`` is False when the refinement stopped at its
    last step size with some order still drifting.
    """

    steps: tuple
    distances: dict
    settled: bool
    window: int

    def local(self, key: str) -> tuple:
        """Local orders o_j = log₂(e(h_j)/e(h_{j+1})), one per halving."""
        return _local_orders(self.distances[key])

    def order(self, key: str) -> FittedOrder:
        """The order fitted on the last ``window + 1`` step sizes (the settled range)."""
        k = self.window + 1
        return fitted_order(self.steps[-k:], self.distances[key][-k:])


def settled_orders(distances: Callable[[float], Mapping[str, float]], first: float, window: int = 3,
                   spread: float = 0.05, max_steps: int = 8) -> SettledOrders:
    r"""Distances e(h) at h = h_0, h_0/2, h_0/4, …, refined until every observed order has settled.

    An expansion e(h) = C h^p (1 + O(h^r)) has local orders o_j = log₂(e(h_j)/e(h_{j+1})) → p, but how small h
    must be before the O(h^r) term is negligible depends on the instance (a fast gradient sign change under
    Adam, a large second moment under RMSProp).  A step size fixed in advance can therefore leave a drawn
    instance pre-asymptotic.  Here the step size is halved until, for every key, the last ``window`` local
    orders lie within ``spread`` of each other (the observed order is stable over a factor 2^window in h) and
    their drift is not growing (|o_j − o_{j−1}| ≤ max(|o_{j−1} − o_{j−2}|, spread/10): a converging sequence's
    steps shrink, while e = ah + bh² with a ≪ bh, order 1 looking like 2, drifts away from 2 faster at every
    halving), or until ``max_steps`` step sizes were used (``settled`` False).  The verdict is left to the caller: the
    orders are :meth:`SettledOrders.order`, fitted on the settled range only.  Refining never uses a step
    size larger than ``first``, so it resolves at least what a fixed sweep from ``first`` resolves; a false
    order claim settles at its true order and is rejected there.

    Raises:
        OptionError: ``first`` not positive, ``window`` < 3, ``max_steps`` < window + 1, or a distance that is
            not positive and finite (an order cannot be observed from it).
    """
    if not (math.isfinite(first) and first > 0):
        raise OptionError(f"the first step size must be positive and finite, got {first!r}")
    if window < 3 or max_steps < window + 1:
        raise OptionError(f"settled orders need window ≥ 3 and max_steps ≥ window + 1, got {window}, {max_steps}")
    steps: list[float] = []
    table: dict[str, list[float]] = {}
    settled = False
    for j in range(max_steps):
        h = first / 2 ** j
        row = distances(h)
        for key, e in row.items():
            if not (math.isfinite(float(e)) and float(e) > 0):
                raise OptionError(f"distance {key!r} at step size {h:.3g} is {e!r}: no order can be observed")
            table.setdefault(key, []).append(float(e))
        steps.append(h)
        if len(steps) > window and all(_settled(_local_orders(e)[-window:], spread) for e in table.values()):
            settled = True
            break
    return SettledOrders(tuple(steps), {k: tuple(v) for k, v in table.items()}, settled, window)


def _local_orders(e: Sequence[float]) -> tuple:
    return tuple(math.log2(a / b) for a, b in zip(e, e[1:]))


def _settled(local: Sequence[float], spread: float) -> bool:
    """The last local orders are within ``spread`` of each other and their drift is not growing."""
    steps = [abs(b - a) for a, b in zip(local, local[1:])]
    return max(local) - min(local) <= spread and steps[-1] <= max(steps[-2], spread / 10)


# --------------------------------------------------------------------------- envelope

def envelope(t: Sequence[float], rate: Sequence[float], source: Sequence[float], eta: float) -> np.ndarray:
    """E(t_k) = (η/2) ∫₀^{t_k} exp(∫_s^{t_k} rate) source(s) ds on the sampled path (trapezoidal rule).

    With R the cumulative integral of ``rate``, E_{k+1} = e^{ΔR} E_k + (η/2)(h/2)(e^{ΔR} s_k + s_{k+1})
    on [t_k, t_{k+1}], h = t_{k+1} − t_k, ΔR = h (ρ_k + ρ_{k+1})/2: stable for large ∫ρ.

    Raises:
        OptionError: samples of different lengths, non-increasing times or non-finite values.
    """
    t, r, s = (np.asarray(x, dtype=float) for x in (t, rate, source))
    if not (t.shape == r.shape == s.shape) or t.ndim != 1 or len(t) < 1:
        raise OptionError("envelope needs samples t, rate and source of one common length")
    if np.any(np.diff(t) <= 0) or not (np.all(np.isfinite(t)) and np.all(np.isfinite(r)) and np.all(np.isfinite(s))):
        raise OptionError("envelope needs increasing finite times and finite rates and sources")
    out = np.zeros_like(t)
    for k in range(len(t) - 1):
        h = t[k + 1] - t[k]
        grow = math.exp(h * (r[k] + r[k + 1]) / 2)
        out[k + 1] = grow * out[k] + (eta / 2) * (h / 2) * (grow * s[k] + s[k + 1])
    return out


def _cumulative(t: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = np.zeros_like(t)
    out[1:] = np.cumsum(np.diff(t) * (y[1:] + y[:-1]) / 2)
    return out


@dataclass(frozen=True)
class CurvatureProfile:
    """λ_min and ‖f′f‖ sampled along a flow; ``rate`` = max(−λ_min, 0) = −λ_−."""

    t: tuple
    lam_min: tuple
    source: tuple
    method: str = ""

    @property
    def rate(self) -> np.ndarray:
        return np.maximum(-np.asarray(self.lam_min, dtype=float), 0.0)

    def negative_integral(self) -> np.ndarray:
        """∫₀^t |λ_−| at every sample (trapezoidal)."""
        return _cumulative(np.asarray(self.t, dtype=float), self.rate)

    def envelope(self, eta: float) -> np.ndarray:
        """The Elkabetz–Cohen envelope for step η at every sample."""
        return envelope(self.t, self.rate, self.source, eta)


class CurvatureAlong:
    """λ_min of −sym(Df) and ‖f′f‖ at a point, for one flow (code generated once).

    ``method``: ``"dense"`` (all P directional derivatives in one batched call, then eigvalsh),
    ``"lanczos"`` (eigsh on the Jacobian–vector product; gradient flows only) or ``"auto"``
    (dense for P ≤ ``dense_limit``).

    Raises:
        OptionError: an unknown method.
        NotDifferentiableError: the rule has a node without a symbolic derivative.
    """

    def __init__(self, flow: Flow, method: str = "auto", dense_limit: int = 400, params: Params | None = None):
        if method not in ("auto", "dense", "lanczos"):
            raise OptionError(f"unknown curvature method {method!r}; use 'auto', 'dense' or 'lanczos'")
        m = flow.model
        self.flow, self.method, self.dense_limit, self.params = flow, method, dense_limit, dict(params or {})
        Vs = [MatrixSymbol(f"V_{k + 1}", *w.shape) for k, w in enumerate(m.weights)]
        jv = [time_derivative(v, dict(zip(m.weights, Vs))) for v in flow.velocities]
        self._jvp = generate("velocity_jacobian_product", [*m.weights, *Vs, *m.data_symbols], jv, flow.parameters,
                             "numpy", n_weights=m.depth)
        self._fpf = generate_expressions(m, "f_prime_f", lie_derivative(flow), flow.parameters)
        self._shapes = [tuple(int(d) for d in w.shape) for w in m.weights]
        self.P = sum(a * b for a, b in self._shapes)

    def _split(self, v: np.ndarray) -> list:
        out, k = [], 0
        lead = v.shape[:-1]
        for a, b in self._shapes:
            out.append(v[..., k:k + a * b].reshape(*lead, a, b))
            k += a * b
        return out

    def _jacobian_vectors(self, W, data, V: np.ndarray) -> np.ndarray:
        """J·v for the rows v of V (shape (B, P)), one batched evaluation."""
        res = self._jvp.func(*W, *self._split(V), *data, **self.params, xp=np)
        return np.concatenate([np.reshape(r, (V.shape[0], -1)) for r in res], axis=1)

    def lam_min(self, weights: State, data: Data) -> tuple[float, str]:
        """(λ_min of −½(Df + Dfᵀ) at ``weights``, the route used).

        Raises:
            OptionError: Lanczos asked for a flow whose Jacobian is not symmetric (not a gradient flow).
        """
        W = tuple(np.asarray(w, dtype=float) for w in weights)
        d = tuple(np.asarray(x, dtype=float) for x in data)
        method = self.method if self.method != "auto" else ("dense" if self.P <= self.dense_limit else "lanczos")
        if method == "dense":
            J = self._jacobian_vectors(W, d, np.eye(self.P)).T  # column p = J e_p
            S = -(J + J.T) / 2
            return float(np.linalg.eigvalsh(S)[0]), "dense"
        rng = np.random.default_rng(0)
        U = rng.standard_normal((2, self.P))
        JU = self._jacobian_vectors(W, d, U)
        asym = abs(U[0] @ JU[1] - U[1] @ JU[0]) / max(abs(U[0] @ JU[0]) + abs(U[1] @ JU[1]), 1e-300)
        if asym > 1e-8:
            raise OptionError("Lanczos needs a symmetric Jacobian (a gradient flow); this rule's is not "
                              f"(relative asymmetry {asym:.1e}); use method='dense' on a small net")
        op = LinearOperator((self.P, self.P), dtype=float,
                            matvec=lambda v: -self._jacobian_vectors(W, d, np.reshape(v, (1, -1)))[0])
        val = eigsh(op, k=1, which="SA", tol=1e-10, maxiter=20 * self.P, return_eigenvectors=False,
                    v0=np.ones(self.P) / math.sqrt(self.P))
        return float(val[0]), "lanczos"

    def source(self, weights: State, data: Data) -> float:
        """‖f′f‖_F at ``weights`` (‖∇²L∇L‖ for GD)."""
        W = tuple(np.asarray(w, dtype=float) for w in weights)
        vals = self._fpf.func(*W, *(np.asarray(x, dtype=float) for x in data), **self.params, xp=np)
        return math.sqrt(sum(float(np.sum(np.asarray(v, dtype=float) ** 2)) for v in vals))


def curvature_along(flow: Flow, t: Sequence[float], states: Sequence[State], data: Data, method: str = "auto",
                    params: Params | None = None) -> CurvatureProfile:
    """λ_min and ‖f′f‖ at every state of a path (float64).

    Raises:
        OptionError: an unknown method, or Lanczos on a non-gradient flow.
        NotDifferentiableError: the rule has a node without a symbolic derivative.
    """
    c = CurvatureAlong(flow, method, params=params)
    lams, srcs, routes = [], [], set()
    for s in states:
        lam, route = c.lam_min(s, data)
        lams.append(lam)
        routes.add(route)
        srcs.append(c.source(s, data))
    return CurvatureProfile(tuple(float(x) for x in t), tuple(lams), tuple(srcs), "/".join(sorted(routes)))


# --------------------------------------------------------------------------- the sweep

def loss_function(flow: Flow, data: Data, params: Params | None = None) -> Any:
    """``state ↦ L(state)`` as a float, for float64 or mpf states, generated from the flow's model.

    Deep linear models (:func:`curvsym.symbolic.derive.model`): L = ½ tr((W − T)Σx(W − T)ᵀ)
    (:func:`curvsym.symbolic.derive.loss`, data (Σx, T)).  Nonlinear data models
    (:func:`curvsym.symbolic.nonlinear.data_model`): the model's own loss ℓ of Ŷ on (X, Y) —
    (1/2m)‖Ŷ − Y‖_F² or the mean softmax cross-entropy, plus the weight decay
    (:func:`curvsym.symbolic.nonlinear.loss`).  So divergence reports of either kind carry the loss.
    ``params`` give the model's scalar parameters (a symbolic weight decay λ).
    """
    m = flow.model
    nonlinear = getattr(m, "nonlinear", False)
    fn = generate_expressions(m, "loss", [m.loss() if nonlinear else loss(m)],
                              tuple(m.parameters) if nonlinear else ())
    d = tuple(np.asarray(x, dtype=float) for x in data)
    kw = {k: v for k, v in (params or {}).items() if nonlinear and k in {str(s) for s in m.parameters}}

    def L(state):
        if getattr(state[0], "dtype", None) == object:
            state = to_float(state)
        return float(fn.raw(*state, *d, **kw)[0])
    return L


@dataclass(frozen=True)
class GapRun:
    """One step size of a :class:`GapStudy`: distances (and envelope) at the times it reached."""

    eta: float
    t: tuple
    distance: tuple
    envelope: tuple | None
    status: Status
    divergence: Divergence | None = None

    @property
    def max_distance(self) -> float:
        return max(self.distance) if self.distance else 0.0

    @property
    def envelope_ratio(self) -> float | None:
        """max over t > 0 of distance/envelope (≤ 1: below the envelope)."""
        if self.envelope is None:
            return None
        ratios = [d / e for d, e in zip(self.distance, self.envelope) if e > 0]
        return max(ratios) if ratios else None


@dataclass(frozen=True)
class GapStudy:
    """Step map against flow over a sweep of η (see :func:`gap_study`)."""

    rule: str
    times: tuple
    runs: tuple
    orders: tuple          #: FittedOrder (or None) at every output time
    order_max: FittedOrder | None  #: of max_t ‖θ_k − θ(kη)‖
    curvature: CurvatureProfile | None
    reference: str
    notes: tuple = field(default_factory=tuple)

    @property
    def order_final(self) -> FittedOrder | None:
        return self.orders[-1] if self.orders else None

    def envelope_ratio_limit(self) -> float | None:
        """max_t distance/envelope extrapolated to η → 0 (a line in η through the completed runs).

        The envelope is a first-order statement: the ratio is ≤ 1 in the limit, and at finite η
        it differs from its limit by O(η) (at the first output times, where both are ≈ (η/2)t‖f′f‖).
        """
        pts = [(r.eta, r.envelope_ratio) for r in self.runs
               if r.status is Status.SUCCESS and r.envelope_ratio is not None]
        if not pts:
            return None
        if len({e for e, _ in pts}) < 2:
            return pts[0][1]
        slope, intercept = np.polyfit([e for e, _ in pts], [x for _, x in pts], 1)
        return float(intercept)

    def as_dict(self) -> dict:
        """JSON-friendly content (floats, strings, lists)."""
        def fo(x):
            return None if x is None else {"order": x.slope, "constant": math.exp(x.intercept), "rms": x.rms,
                                           "etas": list(x.etas), "errors": list(x.errors)}
        out = {"rule": self.rule, "times": list(self.times), "reference": self.reference, "notes": list(self.notes),
               "envelope_ratio_limit": self.envelope_ratio_limit(),
               "order_max": fo(self.order_max), "orders": [fo(o) for o in self.orders], "runs": []}
        for r in self.runs:
            out["runs"].append({"eta": r.eta, "t": list(r.t), "distance": list(r.distance),
                                "envelope": None if r.envelope is None else list(r.envelope),
                                "envelope_ratio": r.envelope_ratio, "status": r.status.value,
                                "divergence": None if r.divergence is None else str(r.divergence)})
        if self.curvature is not None:
            c = self.curvature
            out["curvature"] = {"t": list(c.t), "lam_min": list(c.lam_min), "source": list(c.source),
                                "negative_integral": c.negative_integral().tolist(), "method": c.method}
        return out


def _reference(flow: Flow, weights, data, times: list, dps: int | None, params: dict, timeout):
    """The flow at ``times`` (floats or mpf): Taylor / GBS at ``dps`` digits, or DOP853 (dps None)."""
    if dps is None:
        rhs = generate_flow(flow)
        traj = integrate_double(rhs, weights, data, [float(t) for t in times], params=params, rtol=1e-13,
                                atol=1e-13, timeout=timeout)
        return traj, traj.method
    rhs = generate_flow(flow, "mpmath")
    traj = integrate(rhs, weights, data, times, dps=dps, params=params, timeout=timeout)
    how = "dense output at every t = kη" if rhs.polynomial else "landing on the output grid (no dense output)"
    return traj, f"{traj.method}, {dps} digits, {how}"


def gap_study(flow: Flow, weights: State, data: Data, etas: Sequence[float], t_end: float, *,
              params: Params | None = None, dps: int | None = 30, iterates: str = "double",
              max_points: int | None = 400, curvature: bool | str = "auto", timeout: float | None = None) -> GapStudy:
    """The step map of ``flow`` against the flow itself, for every η, along [0, t_end].

    * iterates: ``"double"`` — one batched float64 run of the whole sweep
      (:func:`~curvsym.integrate.iteration.iterate_sweep`); ``"precise"`` — :func:`iterate_precise`
      at ``dps`` digits, one η at a time.
    * reference flow: at ``dps`` digits (Taylor with dense output at the times kη of every
      member; GBS, landing on the common grid, for non-polynomial rules) or, with ``dps=None``,
      DOP853 in double precision (rtol = atol = 1e-13, dense output).
    * output grid: every common step of the sweep (:func:`common_times`), thinned to at most
      ``max_points`` intervals; distances, fitted orders and the envelope are evaluated there.
    * ``curvature``: compute λ_min and the envelope along the reference (``"auto"``: when the
      rule is differentiable and the dense or Lanczos route applies; ``True``: insist).

    A member that leaves the finite range keeps its distances up to its last output time
    inside and its :class:`~curvsym.integrate.iteration.Divergence` (step, time, loss); fitted
    orders use the members that completed the run.

    Raises:
        OptionError: a bad η, t_end or option (η ≤ 0 and non-finite η are refused before any work).
        PrecisionError: ``dps`` < 15.
        DivergenceError, StepLimitError, IntegrationTimeout: the reference flow itself failed.
        NotDifferentiableError: ``curvature=True`` for a rule without a symbolic derivative.
    """
    etas = [float(e) for e in step_sizes(list(etas) if not isinstance(etas, (int, float)) else [etas])]
    if iterates not in ("double", "precise"):
        raise OptionError(f"iterates must be 'double' or 'precise', got {iterates!r}")
    if iterates == "precise" and dps is None:
        raise OptionError("iterates='precise' needs dps (the digits of the iterates)")
    if curvature not in (True, False, "auto"):
        raise OptionError(f"curvature must be True, False or 'auto', got {curvature!r}")
    params = dict(params or {})
    weights = tuple(np.asarray(w, dtype=float) for w in weights)
    data = tuple(np.asarray(x, dtype=float) for x in data)
    non_polynomial = dps is not None and not generate_flow(flow, "mpmath").polynomial
    grid = common_times(etas, t_end, 20 if non_polynomial and max_points and max_points > 20 else max_points)
    notes = []
    try:  # the loss only labels divergence reports; a model without a derived loss simply has none
        L = loss_function(flow, data, params)
    except (CurvsymError, AttributeError, TypeError):
        L = None
    # iterates
    if iterates == "double":
        runs_raw = iterate_sweep(generate_flow(flow), weights, data, etas, grid, params=params, loss=L)
    else:
        rmp = generate_flow(flow, "mpmath")
        runs_raw = tuple(iterate_precise(rmp, weights, data, e, [int(round(t / e)) for t in grid], dps=dps,
                                         params=params, loss=L) for e in etas)
    # reference at exactly k η for every member (dense output), or on the common grid (landing)
    dense = dps is None or not non_polynomial
    if dps is not None and dense:
        with mpmath.workdps(dps + 20):
            exact = sorted({int(round(t / e)) * mpmath.mpf(e) for e in etas for t in grid})
        ref, ref_name = _reference(flow, weights, data, exact, dps, params, timeout)
        lookup = dict(zip(ref.t, ref.states))

        def at(e, k, j):
            with mpmath.workdps(dps + 20):
                return lookup[k * mpmath.mpf(e)]
        grid_states = [at(etas[0], int(round(t / etas[0])), j) for j, t in enumerate(grid)]
    else:
        ref, ref_name = _reference(flow, weights, data, grid, dps, params, timeout)
        grid_states = list(ref.states)

        def at(e, k, j):
            return grid_states[j]
        if dps is not None:
            notes.append("reference by GBS extrapolation, landing on the common output grid (no dense output)")
    # distances (run j-th output ↔ grid[j]: a run keeps a prefix of the grid)
    dists = []
    for tr, e in zip(runs_raw, etas):
        steps = tr.info["steps"]
        ctx = mpmath.workdps(dps + 10) if dps is not None else _Null()
        with ctx:
            dists.append(tuple(distance(s, at(e, k, j)) for j, (s, k) in enumerate(zip(tr.states, steps))))
    # curvature and envelope
    prof = None
    if curvature:
        try:
            prof = curvature_along(flow, grid, [to_float(s) if dps is not None else s for s in grid_states], data,
                                   params=params)
        except CurvsymError as exc:
            if curvature is True:
                raise
            notes.append(f"no envelope: {exc}")
    runs = []
    for tr, e, dd in zip(runs_raw, etas, dists):
        env = None
        if prof is not None:
            full = prof.envelope(e)
            env = tuple(float(full[j]) for j in range(len(tr.t)))
        runs.append(GapRun(e, tuple(float(t) for t in tr.t), dd, env, tr.status, tr.info.get("divergence")))
    orders = []
    for j, t in enumerate(grid):
        if j == 0:
            orders.append(None)
            continue
        pts = [(r.eta, r.distance[j]) for r in runs if r.status is Status.SUCCESS]
        try:
            orders.append(fitted_order(*zip(*pts)) if len(pts) >= 2 else None)
        except OptionError:
            orders.append(None)
    ok = [r for r in runs if r.status is Status.SUCCESS]
    try:
        order_max = fitted_order([r.eta for r in ok], [r.max_distance for r in ok]) if len(ok) >= 2 else None
    except OptionError:
        order_max = None
    if len(ok) < len(runs):
        notes.append("diverged: " + "; ".join(str(r.divergence) for r in runs if r.divergence is not None))
    return GapStudy(flow.name, tuple(grid), tuple(runs), tuple(orders), order_max, prof, ref_name, tuple(notes))


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def check_below_envelope(study: GapStudy, name: str = "‖θ_k − θ(kη)‖ below the Elkabetz–Cohen envelope",
                         scale: float = 1.0) -> CheckResult:
    """Residual max over η and t > 0 of distance/(scale·envelope); passes iff ≤ 1.

    ``scale`` < 1 tests a tighter claim (a negative control: the envelope 5% too low, say).

    Raises:
        OptionError: the study has no envelope (no curvature profile).
    """
    if study.curvature is None:
        raise OptionError("this study has no envelope (its curvature profile was not computed)")
    worst, where = 0.0, None
    for r in study.runs:
        for t, d, e in zip(r.t, r.distance, r.envelope):
            if t > 0 and e > 0 and d / (scale * e) > worst:
                worst, where = d / (scale * e), (r.eta, t)
    return CheckResult(name, worst, 1.0, worst <= 1.0,
                       {"worst_at": str(where), "scale": scale, "reference": study.reference})


# --------------------------------------------------------------------------- modified equations

@dataclass(frozen=True)
class ModifiedOrders:
    """Distances ‖θ_n − θ̃_r(nη)‖ between iterates and modified flows of order r, and their fitted orders."""

    etas: tuple
    times: tuple            #: n η per step size (exact, mpf)
    errors: dict            #: r ↦ tuple of distances
    orders: dict            #: r ↦ FittedOrder
    methods: dict           #: r ↦ integrator used


def modified_equation_orders(flow: Flow, weights: State, data: Data, etas: Sequence[float], t_end: float, *,
                             orders: Sequence[int] = (0, 1, 2), dps: int = 50, params: Params | None = None,
                             modified: dict | None = None, tol: Any = None,
                             timeout: float | None = None) -> ModifiedOrders:
    """Iterates at ``dps`` digits against the flows of f̃_r = f + … + η^r f_r (r in ``orders``) at t = nη.

    n = t_end/η must be a whole number for every η.  The iterates follow
    :func:`~curvsym.integrate.iteration.iterate_precise`; each modified flow is integrated at
    ``dps`` digits by :func:`curvsym.integrate.integrate` (Taylor for polynomial rules, GBS
    otherwise) with ``eta`` set to the same η, to the same time n η.  Expected orders: r + 1.
    ``modified`` maps r to a ready :class:`~curvsym.symbolic.derive.Flow` (a negative control
    passes its own f̃ here); ``tol`` is the integrators' local tolerance (default 10^−(dps+2)),
    which need only be well below the smallest distance measured.

    Raises:
        OptionError: a bad η, or t_end not a whole number of steps of some η.
        NotDifferentiableError: the rule has a node without a symbolic derivative.
        PrecisionError, DivergenceError, IntegrationTimeout: from the integrations.
    """
    etas = [float(e) for e in step_sizes(list(etas))]
    params = dict(params or {})
    steps = []
    for e in etas:
        n = t_end / e
        if abs(n - round(n)) > 1e-9 * max(n, 1) or round(n) < 1:
            raise OptionError(f"t_end = {t_end:g} is not a whole number of steps of η = {e:g}")
        steps.append(int(round(n)))
    flows = dict(modified or {})
    for r in orders:
        if r not in flows:
            flows[r] = modified_equation(flow, r).flow()
    rhs = {r: generate_flow(f, "mpmath") for r, f in flows.items()}
    gd = generate_flow(flow, "mpmath")
    errors: dict = {r: [] for r in orders}
    methods: dict = {}
    ends = []
    for e, n in zip(etas, steps):
        it = iterate_precise(gd, weights, data, e, [0, n], dps=dps, params=params, throw=True, timeout=timeout)
        end = it.t[-1]
        ends.append(end)
        for r in orders:
            p = dict(params)
            if flows[r].parameters and any(s.name == "eta" for s in flows[r].parameters):
                p["eta"] = it.info["eta"]
            traj = integrate(rhs[r], weights, data, [0, end], dps=dps, params=p, tol=tol, timeout=timeout)
            methods[r] = traj.method
            with mpmath.workdps(dps + 10):
                errors[r].append(distance(it.states[-1], traj.states[-1]))
    fits = {r: fitted_order(etas, errors[r]) for r in orders}
    return ModifiedOrders(tuple(etas), tuple(ends), {r: tuple(v) for r, v in errors.items()}, fits, methods)

