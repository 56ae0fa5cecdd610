r"""Arbitrary-precision Taylor-series integration of polynomial matrix ODEs.

Gradient-flow right-hand sides are polynomials in the layer matrices, built from
sums, transposes, scalar multiples and products.  For such f the Taylor
coefficients of the solution, x(t0 + h) = Σ_k x_k h^k, follow from the
recurrences

    x_{k+1} = [f(x)]_k / (k + 1),
    [a + b]_k = a_k + b_k,   [c a]_k = c a_k,   [aᵀ]_k = (a_k)ᵀ,
    [a b]_k  = Σ_{j=0}^{k} a_j b_{k−j}                      (Cauchy product).

:func:`trace_polynomial` runs the *generated* right-hand side once on tracer
objects and records its operations on a tape; :func:`taylor_coefficients`
replays the tape order by order (O(K²) matrix products per product node for K
coefficients).  Order and step follow Jorba & Zou (2005): K ≈ ½ ln(1/ε) + 1
and h = ρ e^{−2} with the radius ρ estimated from the last two coefficients,
so that the last retained term is ≈ ε.  The local error estimate of a step is
‖x_K‖ h^K (the first neglected term is smaller by a factor h/ρ ≈ e^{−2}).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import mpmath
import numpy as np

from ..codegen import GeneratedFunction
from ..errors import DivergenceError, PrecisionError, StepLimitError
from .engines import MpmathEngine, make_engine
from .state import check_finite_state, local_tolerance, output_times, progress_bar, to_mp, working_dps
from .trajectory import Trajectory


class NotPolynomialError(TypeError):
    """The traced right-hand side uses an operation outside the polynomial ones."""


# --------------------------------------------------------------------------- tracing

@dataclass(frozen=True)
class Op:
    kind: str  # 'var', 'const', 'add', 'sub', 'neg', 'scale', 'matmul', 'T'
    args: tuple
    value: Any = None  # const value, or scalar for 'scale'


class Tracer:
    """Records array operations on a shared tape (a list of :class:`Op`)."""

    __array_ufunc__ = None  # make NumPy defer to our reflected operators
    dtype = object

    def __init__(self, tape: list, index: int):
        self.tape, self.index = tape, index

    def _new(self, kind, args, value=None) -> "Tracer":
        self.tape.append(Op(kind, args, value))
        return Tracer(self.tape, len(self.tape) - 1)

    def _lift(self, other) -> int:
        if isinstance(other, Tracer):
            return other.index
        if isinstance(other, np.ndarray):
            self.tape.append(Op("const", (), other))
            return len(self.tape) - 1
        raise NotPolynomialError(f"cannot trace a matrix operation with {type(other).__name__}")

    def __add__(self, o):
        return self._new("add", (self.index, self._lift(o)))

    __radd__ = __add__

    def __sub__(self, o):
        return self._new("sub", (self.index, self._lift(o)))

    def __rsub__(self, o):
        return self._new("sub", (self._lift(o), self.index))

    def __neg__(self):
        return self._new("neg", (self.index,))

    def __mul__(self, c):
        if isinstance(c, (Tracer, np.ndarray)):
            raise NotPolynomialError("elementwise products are not matrix-polynomial operations")
        return self._new("scale", (self.index,), c)

    __rmul__ = __mul__

    def __matmul__(self, o):
        return self._new("matmul", (self.index, self._lift(o)))

    def __rmatmul__(self, o):
        return self._new("matmul", (self._lift(o), self.index))

    @property
    def mT(self):
        return self._new("T", (self.index,))

    T = mT

    def __getattr__(self, name):
        if name.startswith("_"):  # protocol probes (e.g. mpmath's ``_mpf_``) must see a plain AttributeError
            raise AttributeError(name)
        raise NotPolynomialError(f"the right-hand side uses '.{name}', which is not a polynomial operation")


@dataclass(frozen=True)
class Tape:
    ops: tuple
    outputs: tuple  # tape index of each velocity
    n_vars: int

    @property
    def n_products(self) -> int:
        return sum(op.kind == "matmul" for op in self.ops)


class _FakeXp:
    def __getattr__(self, name):
        if name.startswith("_"):  # protocol probes (e.g. mpmath's ``_mpf_``) must see a plain AttributeError
            raise AttributeError(name)
        raise NotPolynomialError(f"the right-hand side calls xp.{name}, which is not a polynomial operation")


def trace_polynomial(rhs: GeneratedFunction, data: Sequence[np.ndarray], params: dict | None = None) -> Tape:
    """Record the operations of ``rhs`` with weights as variables and data as constants.

    Raises :class:`NotPolynomialError` if ``rhs`` is not a matrix polynomial.
    """
    tape: list = []
    variables = []
    for k in range(rhs.n_weights):
        tape.append(Op("var", (k,)))
        variables.append(Tracer(tape, k))
    consts = []
    for d in data:
        tape.append(Op("const", (), d))
        consts.append(Tracer(tape, len(tape) - 1))
    try:
        out = rhs.func(*variables, *consts, **(params or {}), xp=_FakeXp(), _like=variables[0])
    except NotPolynomialError:
        raise
    except (TypeError, AttributeError) as exc:  # e.g. an mpf(...) * Tracer reaching mpmath
        raise NotPolynomialError(str(exc)) from exc
    outputs = []
    for o in out:
        if not isinstance(o, Tracer):
            raise NotPolynomialError("a velocity does not depend on the weights")
        outputs.append(o.index)
    return Tape(tuple(tape), tuple(outputs), rhs.n_weights)


# --------------------------------------------------------------------------- Taylor coefficients

def taylor_coefficients(tape: Tape, x0: Sequence, order: int, engine=None, scale: Any = 1) -> list[list]:
    """Coefficients ``c[i][k]`` (k = 0..order) of τ ↦ x(t₀ + sτ) through ``x0`` (s = ``scale``: s^k x_k).

    The tape is replayed op by op with the engine's arithmetic; every result is
    reduced to its midpoint (flint: the ball radius is dropped, so that the next
    operation starts from an exact value).  Node coefficients are stored in
    lists; an entry past a list's end, or ``None``, is an exact zero (constants
    have only a 0-th coefficient).  For a stacked, compiled evaluation use the
    engine's ``taylor_series`` (the multi-word engine has one).
    """
    engine = engine or MpmathEngine(mpmath.mp.dps)
    ops = tape.ops
    mul, tr, mid = engine.matmul, engine.transpose, engine.midpoint
    coef: list[list] = [[] for _ in ops]
    for idx, op in enumerate(ops):
        if op.kind == "var":
            coef[idx] = [x0[op.args[0]]]
        elif op.kind == "const":
            coef[idx] = [engine.load(op.value)]
    scalars = {idx: engine.scalar(op.value) for idx, op in enumerate(ops) if op.kind == "scale"}
    var_nodes = [i for i, op in enumerate(ops) if op.kind == "var"]
    factors = [engine.scalar(mpmath.mpf(scale) / (k + 1)) for k in range(order)]
    zero = engine.scalar(0)
    for k in range(order):
        for idx, op in enumerate(ops):
            kind = op.kind
            if kind in ("var", "const"):
                continue
            a = coef[op.args[0]]
            if kind == "matmul":
                b = coef[op.args[1]]
                acc = None
                for j in range(0, k + 1):
                    aj, bj = _get(a, j), _get(b, k - j)
                    if aj is not None and bj is not None:
                        acc = mid(mul(aj, bj)) if acc is None else mid(acc + mid(mul(aj, bj)))
                coef[idx].append(acc)
            elif kind in ("add", "sub"):
                ak, bk = _get(a, k), _get(coef[op.args[1]], k)
                if bk is not None and kind == "sub":
                    bk = -bk
                coef[idx].append(ak if bk is None else (bk if ak is None else mid(ak + bk)))
            else:
                ak = _get(a, k)
                if ak is None:
                    coef[idx].append(None)
                elif kind == "neg":
                    coef[idx].append(-ak)
                elif kind == "scale":
                    coef[idx].append(mid(scalars[idx] * ak))
                else:  # transpose
                    coef[idx].append(tr(ak))
        for v, out in zip(var_nodes, tape.outputs):
            fk = _get(coef[out], k)
            coef[v].append(mid(fk * factors[k]) if fk is not None else coef[v][0] * zero)
    return [coef[v] for v in var_nodes]


def _get(a: list, k: int):
    return a[k] if k < len(a) else None


def integrate_taylor(rhs: GeneratedFunction, weights: Sequence, data: Sequence, t_eval: Sequence, *,
                     dps: int = 30, params: dict | None = None, order: int | None = None,
                     tol: Any = None, max_steps: int = 100_000, max_norm: float = 1e30,
                     engine: str = "auto", progress: bool | None = None) -> Trajectory:
    """Integrate the polynomial flow ``rhs`` (generated with ``backend="mpmath"``) at ``dps`` digits.

    Parameters
    ----------
    weights, data : initial layers and data (Σx, T); floats convert exactly,
        strings/mpf keep their digits (to the engine's precision).
    t_eval : non-decreasing output times, starting at the initial time.
    tol : local error tolerance per unit state size (default 10^−(dps+2)).
    order : Taylor order K (default ⌈½ ln(1/tol)⌉ + 2, Jorba–Zou).
    engine : ``"auto"`` (multi-word float64 up to 62 digits for matrices of width ≥ 8, flint otherwise),
        ``"multiword"``,
        ``"dd"``/``"td"``/``"qd"`` (2/3/4 words), ``"flint"`` (arb_mat) or ``"mpmath"`` (object arrays).
    progress : tqdm bar over time: None = on a terminal for runs over 2 s, True, False.

    Each step computes the Taylor coefficients x̃_k = s^k x_k of τ ↦ x(t + sτ)
    (s = 1 for the arbitrary-precision engines; the multi-word engine keeps
    s ≥ h so that θ = h/s ≤ 1 and no rounding error is amplified by θ^k), takes
    θ = min(e^{−2−0.7/(K−1)} ρ/s, (tol·‖x‖/‖x̃_K‖)^{1/K}, (tol·‖x‖/‖x̃_{K−1}‖)^{1/(K−1)}),
    ρ/s = min((‖x‖/‖x̃_K‖)^{1/K}, (‖x‖/‖x̃_{K−1}‖)^{1/(K−1)}), and sets x ← Σ_k x̃_k θ^k.

    Returns a :class:`Trajectory` (states as object arrays of mpf) whose
    ``error_estimate`` is the sum of the local truncation estimates ‖x̃_K‖θ^K
    plus the engine's rounding estimates — an estimate of the global error for
    flows that do not expand errors strongly.

    Raises:
        DivergenceError: ‖W‖ exceeds ``max_norm`` or the step collapses (finite-time blow-up).
        StepLimitError: more than ``max_steps`` steps.
        PrecisionError: dps < 15, a tolerance finer than the working precision resolves, or a
            multi-word engine asked for more digits than it carries.
        NotPolynomialError: the right-hand side is not a matrix polynomial.
        EngineError: unknown engine name.
    """
    wdps = working_dps(dps)
    width = max((max(np.shape(a)) for a in list(weights) + list(data) if np.ndim(a) == 2), default=1)
    eng = make_engine(engine, dps, wdps, width)
    params = params or {}
    with eng.context():
        tol = local_tolerance(tol, dps, eng.resolvable_digits)
        K = order if order is not None else int(math.ceil(0.5 * float(-mpmath.log(tol)))) + 2
        if K < 2:
            raise PrecisionError(f"Taylor order must be at least 2, got {K}")
        x_mp = to_mp(weights, wdps)
        d_mp = rhs.validate(x_mp, to_mp(data, wdps), params)  # shapes, finiteness, symmetric Σx
        tape = trace_polynomial(rhs, d_mp, params)
        ts = output_times(t_eval)
        x = tuple(eng.load(a) for a in x_mp)
        program = eng.compile(tape, x[0])
        t = ts[0]
        out_t, out_x = [t], [x_mp]
        trunc = rounding = mpmath.mpf(0)
        tiny = eng.unit
        one = mpmath.mpf(1)
        inv_K, inv_K1 = one / K, one / (K - 1)
        safety = mpmath.exp(-2 - mpmath.mpf(0.7) / (K - 1))
        s = one  # time scale of the coefficients
        n_steps = n_series = 0
        bar = progress_bar(progress, float(ts[-1] - ts[0]), "Taylor")
        try:
            for target in ts[1:]:
                while t < target:
                    if n_steps >= max_steps:
                        raise StepLimitError(f"Taylor integration needed more than {max_steps} steps; "
                                             f"reached t = {mpmath.nstr(t, 8)}", float(t))
                    scale = max(one, max(eng.max_abs(a) for a in x))
                    for _ in range(3):
                        c, rnd = eng.taylor_series(program, x, K, s)
                        n_series += 1
                        nK = max(max(eng.max_abs(ci[K]) for ci in c), tiny)
                        nK1 = max(max(eng.max_abs(ci[K - 1]) for ci in c), tiny)
                        rho = min((scale / nK) ** inv_K, (scale / nK1) ** inv_K1)  # ρ / s
                        free = min(rho * safety, (tol * scale / nK) ** inv_K, (tol * scale / nK1) ** inv_K1)
                        theta = min(free, (target - t) / s)
                        if not eng.needs_scaling or (theta <= 1 and free >= mpmath.mpf("0.25")):
                            break
                        # recompute with s ≈ h: θ ≤ 1 (no amplification of absolute errors), and s not ≫ ρ
                        s = s * theta if theta > 1 else s * free * mpmath.mpf("1.25")
                    if eng.needs_scaling:
                        theta = min(theta, one)
                    h = s * theta
                    if not mpmath.isfinite(h) or h <= (abs(t) + 1) * mpmath.mpf(10) ** (-(wdps // 2)):
                        raise DivergenceError(
                            f"step size collapsed to {mpmath.nstr(h, 3)} at t = {mpmath.nstr(t, 10)}: "
                            "the solution appears to blow up in finite time", float(t))
                    x = tuple(eng.horner(ci, theta) for ci in c)
                    rounding += rnd * eng.rounding_weight(theta, K) + tiny * scale
                    trunc += nK * theta ** K
                    clipped = h >= target - t
                    t = t + h
                    n_steps += 1
                    if eng.needs_scaling and not clipped:
                        s = h * mpmath.mpf("1.25")
                    if bar is not None:
                        bar.update(float(h))
                    nx_ = max(eng.max_abs(a) for a in x)
                    if not mpmath.isfinite(nx_) or nx_ > max_norm:
                        raise DivergenceError(f"‖W‖_max = {mpmath.nstr(nx_, 5)} exceeded {max_norm:g} at "
                                              f"t = {mpmath.nstr(t, 10)} (divergence)", float(t))
                t = target
                out_t.append(t)
                out_x.append(tuple(eng.unload(a) for a in x))
        finally:
            if bar is not None:
                bar.close()
        for s_ in out_x:
            check_finite_state(s_, "Taylor state")
        return Trajectory(tuple(out_t), tuple(out_x), f"Taylor order {K} ({eng.name})", trunc + rounding, dps,
                          n_steps, n_rhs=n_steps * K,
                          info={"order": K, "engine": eng.name, "working_dps": getattr(eng, "format_digits", wdps),
                                "products_per_step": tape.n_products * K * (K + 1) // 2,
                                "series_per_step": n_series / max(1, n_steps),
                                "truncation": trunc, "rounding": rounding})
