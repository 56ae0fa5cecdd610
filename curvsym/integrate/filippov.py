r"""Filippov sliding modes of ReLU-family gradient flows, integrated by Taylor series at 30–100 digits.

The network has one hidden layer of a ReLU-family activation σ(z) = z (z > 0), λz (z < 0),
0 ≤ λ < 1 (ReLU: λ = 0; leaky ReLU: λ > 0), optional biases, and the loss
L = (1/2n) Σ_j ‖A σ(W x_j + b) − y_j‖² on n examples.  Gradient flow is piecewise polynomial:
in a *region* (the side of every pre-activation z_ij = w_i·x_j + b_i) it is the polynomial field

    ẇ_i = −(1/n) Σ_j g_ij σ'(z_ij) x̃_j,   ȧ_i = −(1/n) Σ_j r_j σ(z_ij),   g_ij = a_iᵀ r_j,

with x̃_j = (x_j, 1) when there are biases and r_j = Aσ(Wx_j + b) − y_j.  When an entry z_ij is
pushed onto its kink from both sides (σ'(0⁺) = 1 gives ż_ij < 0, σ'(0⁻) = λ gives ż_ij > 0) the
Filippov solution stays on the kink: σ'(z_ij) is replaced by the convex combination
s_ij ∈ [λ, 1] for which ż_ij = 0.  For every neuron i with sliding entries S_i these conditions
are linear, G_{S_i S_i} u_i = −Σ_{l ∉ S_i} g_il σ'(z_il) G_{S_i l} with u_il = g_il s_il and G the
Gram matrix of the x̃_j, a constant matrix; so the sliding field is again polynomial and its Taylor
series is exact (Picard iteration on truncated power series, python-flint ``arb_series``).
A sliding entry leaves when s_ij reaches 1 (to the positive side) or λ (to the negative side);
an entry on the kink pushed away from it on both sides (non-unique solutions) raises
:class:`~curvsym.errors.NonSmoothError`.

Steps follow the Jorba–Zou rule of :mod:`curvsym.integrate.taylor` (order K ≈ 1.15·dps + 2,
h = ρ e^{−2} capped by the truncation tolerance).  A step never passes an event: the event
functions (p·z_ij for entries on side p; g_ij − u_ij and u_ij − λg_ij, signed, for sliding
entries) are polynomials in the step's time, sampled and their first root refined
(:func:`mpmath.findroot`, bracketing) to working precision.  At an event the state is the series
at the root and the entries on the kink are settled from the leading Taylor coefficients of the
two one-sided fields.  Every crossing, sliding entry and sliding exit is reported with its time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import mpmath
import numpy as np
from flint import arb, arb_mat, arb_poly, arb_series, arf, ctx

from ..errors import NonSmoothError, OptionError

__all__ = ["FilippovNet", "FilippovEvent", "FilippovPath", "integrate_filippov", "gd_path", "per_neuron_balance",
           "matrix_balance"]


@dataclass(frozen=True)
class FilippovEvent:
    """An event along a Filippov path: ``kind`` is "cross" (the entry changes side), "enter" (it
    starts sliding) or "exit" (it leaves its kink to ``side`` ±1); (neuron, example) name z_ij."""

    t: Any
    kind: str
    neuron: int
    example: int
    side: int


@dataclass
class FilippovPath:
    """States at the requested times, events, and the sliding intervals of every entry."""

    t: list
    states: list                      # per time: (W, b, A) as lists of mpf (b empty without biases)
    events: list = field(default_factory=list)
    sliding: dict = field(default_factory=dict)   # (i, j) -> [[t_enter, t_exit or None], …]
    steps: int = 0
    dps: int = 30
    info: dict = field(default_factory=dict)

    @property
    def slid(self) -> bool:
        """Whether some entry slid for a positive time."""
        return any((e if e is not None else self.t[-1]) > s for iv in self.sliding.values() for s, e in iv)

    def sliding_time(self) -> Any:
        """Total time spent sliding, summed over entries."""
        return sum(((e if e is not None else self.t[-1]) - s for iv in self.sliding.values() for s, e in iv),
                   mpmath.mpf(0))


def _to_arb(x: Any) -> arb:
    if isinstance(x, arb):
        return x
    if isinstance(x, mpmath.mpf):
        man, exp = mpmath.mpf(x).man_exp
        return arb(arf((int(man), int(exp))))
    if isinstance(x, (int, np.integer)):
        return arb(int(x))
    if isinstance(x, (float, np.floating)):
        return arb(arf(float(x)))
    return arb(str(x))


def _leak(leak: Any) -> mpmath.mpf:
    """λ as an mpf: a number, a decimal string, or a fraction "p/q"."""
    if isinstance(leak, str) and "/" in leak:
        p, q = leak.split("/")
        return mpmath.mpf(int(p)) / int(q)
    return mpmath.mpf(leak)


def _to_mpf(x: arb) -> mpmath.mpf:
    man, exp = x.mid().man_exp()
    return mpmath.mpf((int(man), int(exp))) if man else mpmath.mpf(0)


class FilippovNet:
    """The data, widths and activation of a one-hidden-layer ReLU-family net (see the module docstring).

    Raises:
        OptionError: shapes that do not match, a leak outside [0, 1), or fewer than one example.
    """

    def __init__(self, X: Any, Y: Any, hidden: int, leak: Any = 0, bias: bool = True):
        X, Y = np.asarray(X, dtype=object), np.asarray(Y, dtype=object)
        if X.ndim != 2 or Y.ndim != 2 or X.shape[1] != Y.shape[1] or X.shape[1] < 1 or hidden < 1:
            raise OptionError(f"need X (d × n), Y (m × n) with the same n ≥ 1 and hidden ≥ 1, got {X.shape}, "
                              f"{Y.shape}, {hidden}")
        if not 0 <= _leak(leak) < 1:
            raise OptionError(f"the leak λ of σ(z) = λz (z < 0) must be in [0, 1), got {leak!r}")
        self.X, self.Y, self.hidden, self.leak, self.bias = X, Y, int(hidden), leak, bool(bias)
        self.d, self.n = X.shape
        self.m = Y.shape[0]

    @property
    def shapes(self) -> tuple:
        return (self.hidden, self.d), (self.hidden,) if self.bias else (0,), (self.m, self.hidden)

    def pack(self, W: Any, b: Any, A: Any) -> list:
        """Flatten (W, b, A) in the order W (row-major), b, A (row-major).

        Raises:
            OptionError: the layers do not match the net's widths.
        """
        flat = list(np.asarray(W, dtype=object).ravel()) + (list(np.asarray(b, dtype=object).ravel())
                                                           if self.bias else []) + list(np.asarray(A, dtype=object).ravel())
        if len(flat) != self.hidden * self.d + (self.hidden if self.bias else 0) + self.m * self.hidden:
            raise OptionError("the layers do not match the net's widths")
        return flat

    def unpack(self, y: Sequence) -> tuple:
        h, d, m = self.hidden, self.d, self.m
        W = [list(y[i * d:(i + 1) * d]) for i in range(h)]
        o = h * d
        b = list(y[o:o + h]) if self.bias else []
        o += h if self.bias else 0
        A = [list(y[o + k * h:o + (k + 1) * h]) for k in range(m)]
        return W, b, A


class _Field:
    """The region-wise polynomial field at working precision (arb scalars and arb_series)."""

    def __init__(self, net: FilippovNet):
        self.net = net
        self.X = [[_to_arb(net.X[a, j]) for j in range(net.n)] for a in range(net.d)]
        self.Y = [[_to_arb(net.Y[k, j]) for j in range(net.n)] for k in range(net.m)]
        if isinstance(net.leak, str) and "/" in net.leak:
            p, q = net.leak.split("/")
            self.lam = arb(int(p)) / int(q)
        else:
            self.lam = _to_arb(mpmath.mpf(net.leak) if isinstance(net.leak, str) else net.leak)
        n = net.n
        xt = [[self.X[a][j] for a in range(net.d)] + ([arb(1)] if net.bias else []) for j in range(n)]
        self.G = [[sum((xt[j][a] * xt[l][a] for a in range(len(xt[j]))), arb(0)) for l in range(n)]
                  for j in range(n)]
        self.inv_n = arb(1) / n
        self._inverse: dict = {}

    def slope(self, side: int) -> arb:
        return arb(1) if side > 0 else self.lam

    def inverse(self, S: tuple) -> list:
        if S not in self._inverse:
            M = arb_mat([[self.G[j][l] for l in S] for j in S])
            inv = M.inv()
            self._inverse[S] = [[inv[a, c] for c in range(len(S))] for a in range(len(S))]
        return self._inverse[S]

    def __call__(self, y: list, P: list, zero: Any) -> tuple:
        """(dy, z, g, u): the field, pre-activations, g_ij and u_ij (sliding entries; else None)."""
        net = self.net
        W, b, A = net.unpack(y)
        h, d, n, m = net.hidden, net.d, net.n, net.m
        z = [[None] * n for _ in range(h)]
        act = [[None] * n for _ in range(h)]
        for i in range(h):
            for j in range(n):
                s = b[i] if net.bias else zero
                for a in range(d):
                    s = s + W[i][a] * self.X[a][j]
                z[i][j] = s
                act[i][j] = zero if P[i][j] == 0 else (s if P[i][j] > 0 else s * self.lam)
        r = [[sum((A[k][i] * act[i][j] for i in range(h)), zero) - self.Y[k][j] for j in range(n)]
             for k in range(m)]
        g = [[sum((A[k][i] * r[k][j] for k in range(m)), zero) for j in range(n)] for i in range(h)]
        c = [[None] * n for _ in range(h)]
        u = [[None] * n for _ in range(h)]
        for i in range(h):
            S = tuple(j for j in range(n) if P[i][j] == 0)
            for j in range(n):
                if P[i][j] != 0:
                    c[i][j] = g[i][j] * self.slope(P[i][j])
            if S:
                inv = self.inverse(S)
                rhs = [-sum((c[i][l] * self.G[l][jj] for l in range(n) if P[i][l] != 0), zero) for jj in S]
                for a, j in enumerate(S):
                    u[i][j] = sum((inv[a][q] * rhs[q] for q in range(len(S))), zero)
                    c[i][j] = u[i][j]
        dW = [[-self.inv_n * sum((c[i][j] * self.X[a][j] for j in range(n)), zero) for a in range(d)]
              for i in range(h)]
        db = [-self.inv_n * sum((c[i][j] for j in range(n)), zero) for i in range(h)] if net.bias else []
        dA = [[-self.inv_n * sum((r[k][j] * act[i][j] for j in range(n)), zero) for i in range(h)] for k in range(m)]
        dy = [x for row in dW for x in row] + db + [x for row in dA for x in row]
        return dy, z, g, u


def _series(field: _Field, y0: list, P: list, K: int) -> tuple:
    """Taylor coefficients (arb, orders 0…K) of the state and of z, g, u on the region P (Picard)."""
    old = ctx.cap
    try:
        ys = [arb_series([c]) for c in y0]
        for k in range(1, K + 1):
            ctx.cap = k + 1
            zero = arb_series([0])
            dy, _, _, _ = field(ys, P, zero)
            ys = [arb_series([c]) + f.integral() for c, f in zip(y0, dy)]
        ctx.cap = K + 1
        zero = arb_series([0])
        dy, z, g, u = field(ys, P, zero)
    finally:
        ctx.cap = old

    def co(s):
        c = s.coeffs()
        return [c[k] if k < len(c) else arb(0) for k in range(K + 1)]
    n_h, n = field.net.hidden, field.net.n
    return ([co(s) for s in ys], [[co(z[i][j]) for j in range(n)] for i in range(n_h)],
            [[co(g[i][j]) for j in range(n)] for i in range(n_h)],
            [[co(u[i][j]) if u[i][j] is not None else None for j in range(n)] for i in range(n_h)])


def _lead_sign(coefs: list, negligible: Any) -> int:
    """Sign of the first coefficient of order ≥ 1 above ``negligible`` (0: none)."""
    for c in coefs[1:]:
        v = _to_mpf(c)
        if abs(v) > negligible:
            return 1 if v > 0 else -1
    return 0


def _poly(coefs: list):
    mp = [_to_mpf(c) for c in coefs][::-1]
    return lambda t: mpmath.polyval(mp, t)


def _first_root(f, h, sign0, samples: int, start, t0=0.0):
    """The first t in (start, h] where sign(f) leaves sign0 (bracketed and refined), else None.

    Raises:
        NonSmoothError: f has the wrong sign at ``start`` already (an entry that left its kink the wrong way).
    """
    prev = start
    if start > 0 and f(start) * sign0 <= 0:
        raise NonSmoothError("Filippov: an entry settled on one side of its kink moves to the other at once "
                             f"(a tangency the settling cannot resolve) at t = {float(t0):.15g}", float(t0))
    for k in range(1, samples + 1):
        t = start + (h - start) * k / samples
        v = f(t)
        if v * sign0 < 0:
            a, b = prev, t
            try:
                root = mpmath.findroot(f, (a, b), solver="anderson")
                if a <= root <= b:
                    return root
            except (ValueError, ZeroDivisionError):
                pass
            for _ in range(int(3.4 * mpmath.mp.dps) + 10):  # bisection fallback
                mid = (a + b) / 2
                if f(mid) * sign0 > 0:
                    a = mid
                else:
                    b = mid
            return b
        prev = t
    return None


def integrate_filippov(net: FilippovNet, W: Any, b: Any, A: Any, t_eval: Sequence, *, dps: int = 30,
                       order: int | None = None, max_steps: int = 20_000, samples: int = 24) -> FilippovPath:
    """Gradient flow of ``net`` from (W, b, A), continued along sliding modes (Filippov), at ``dps`` digits.

    ``t_eval``: non-decreasing output times from 0.  Floats convert exactly; strings keep their digits.

    Raises:
        OptionError: dps outside 30 … 100 digits' range of use (15 … 200 accepted), bad times.
        NonSmoothError: an entry repelled from its kink on both sides (no unique continuation), or an
            entry that cannot be settled.
    """
    if not 15 <= dps <= 200:
        raise OptionError(f"dps must be in 15 … 200, got {dps}")
    times = [mpmath.mpf(t) if not isinstance(t, str) else mpmath.mpf(t) for t in t_eval]
    if not times or times[0] != 0 or any(b2 < a2 for a2, b2 in zip(times, times[1:])):
        raise OptionError("t_eval must start at 0 and be non-decreasing")
    with mpmath.workdps(dps + 10):
        old_dps = ctx.dps
        ctx.dps = dps + 10
        try:
            return _integrate(net, W, b, A, times, dps, order, max_steps, samples)
        finally:
            ctx.dps = old_dps


def _integrate(net, W, b, A, times, dps, order, max_steps, samples):
    field = _Field(net)
    K = order or int(math.ceil(0.5 * math.log(10.0 ** (dps + 2)))) + 2
    tol = mpmath.mpf(10) ** (-(dps + 2))
    negligible = mpmath.mpf(10) ** (-(dps - 5))
    land = mpmath.mpf(10) ** (-(dps - 8))
    y = [_to_arb(mpmath.mpf(x) if isinstance(x, str) else x) for x in net.pack(W, b, A)]
    h_, n = net.hidden, net.n
    _, z0, _, _ = _series(field, y, [[1] * n for _ in range(h_)], 1)
    P = [[1 if _to_mpf(z0[i][j][0]) >= 0 else -1 for j in range(n)] for i in range(h_)]
    path = FilippovPath([], [], dps=dps)
    t = mpmath.mpf(0)
    events = path.events
    on_kink = {(i, j) for i in range(h_) for j in range(n) if abs(_to_mpf(z0[i][j][0])) <= land}
    P = _settle(field, y, P, on_kink, t, negligible, events, path.sliding)
    out_k = 0

    def record(state):
        path.t.append(times[out_k])
        path.states.append(net.unpack([_to_mpf(v) for v in state]))

    while out_k < len(times) and times[out_k] <= t:
        record(y)
        out_k += 1
    steps = 0
    while out_k < len(times):
        if steps >= max_steps:
            raise NonSmoothError(f"Filippov: more than {max_steps} steps before t = {mpmath.nstr(times[-1], 6)}",
                                 float(t))
        steps += 1
        c, z, g, u = _series(field, y, P, K)
        scale = max(mpmath.mpf(1), max(abs(_to_mpf(v)) for v in y))
        nK = max(max(abs(_to_mpf(ci[K])) for ci in c), mpmath.mpf(10) ** (-3 * dps))
        nK1 = max(max(abs(_to_mpf(ci[K - 1])) for ci in c), mpmath.mpf(10) ** (-3 * dps))
        rho = min((scale / nK) ** (mpmath.mpf(1) / K), (scale / nK1) ** (mpmath.mpf(1) / (K - 1)))
        h = min(rho * mpmath.exp(-2), (tol * scale / nK) ** (mpmath.mpf(1) / K),
                (tol * scale / nK1) ** (mpmath.mpf(1) / (K - 1)), times[-1] - t)
        # the event functions and their sides: (value polynomial, sign it keeps, what happens at its root)
        first, what = None, None
        for i in range(h_):
            for j in range(n):
                if P[i][j] != 0:
                    cand = [(z[i][j], P[i][j], ("cross", i, j))]
                else:
                    sg = 1 if _to_mpf(g[i][j][0]) >= 0 else -1
                    hi = [sg * (gk - uk) for gk, uk in zip(g[i][j], u[i][j])]
                    lo = [sg * (uk - field.lam * gk) for gk, uk in zip(g[i][j], u[i][j])]
                    cand = [(hi, 1, ("exit", i, j, 1)), (lo, 1, ("exit", i, j, -1))]
                for coefs, side, tag in cand:
                    v0 = _to_mpf(coefs[0]) * side
                    at_kink = abs(v0) <= land
                    sign0 = _lead_sign([0] + [x * side for x in coefs[1:]], negligible) if at_kink else 1
                    if sign0 == 0:    # at rest on its kink throughout this region: no event
                        continue
                    if not at_kink and v0 < 0:
                        raise NonSmoothError(f"Filippov: entry ({tag[1]}, {tag[2]}) is on the wrong side of its "
                                             f"kink at t = {mpmath.nstr(t, 15)}", float(t))
                    f = _poly(coefs)
                    root = _first_root(lambda s, f=f, side=side: f(s) * side, h, sign0, samples,
                                       h * mpmath.mpf(10) ** -8 if at_kink else mpmath.mpf(0), t)
                    if root is not None and (first is None or root < first):
                        first, what = root, tag
        step = h if first is None else first
        ts = _to_arb(step)
        y_new = [arb_poly(ci)(ts).mid() for ci in c]
        t_new = t + step
        while out_k < len(times) and times[out_k] <= t_new:
            s_out = _to_arb(times[out_k] - t)
            record([arb_poly(ci)(s_out).mid() for ci in c])
            out_k += 1
        y, t = y_new, t_new
        if what is not None:
            resting = {(i, j) for i in range(h_) for j in range(n) if P[i][j] != 0 and (i, j) != what[1:3]
                       and abs(_to_mpf(arb_poly(z[i][j])(ts))) <= land}
            if what[0] == "cross":
                _, i, j = what
                P = _settle(field, y, P, {(i, j)}, t, negligible, events, path.sliding, came_from=P[i][j],
                            non_unique=path.info.setdefault("non_unique", []))
                P = _settle(field, y, P, resting, t, negligible, events, path.sliding,
                            non_unique=path.info.setdefault("non_unique", [])) if resting else P
            else:
                _, i, j, side = what
                P = [row[:] for row in P]
                P[i][j] = side
                path.sliding[(i, j)][-1][1] = t
                events.append(FilippovEvent(t, "exit", i, j, side))
                P = _settle(field, y, P, {(i, j)}, t, negligible, events, path.sliding, came_from=side,
                            non_unique=path.info.setdefault("non_unique", []))
                P = _settle(field, y, P, resting, t, negligible, events, path.sliding,
                            non_unique=path.info.setdefault("non_unique", [])) if resting else P
    path.steps = steps
    path.info.update({"order": K, "dps": dps, "leak": str(net.leak)})
    return path


def _settle(field, y, P, entries, t, negligible, events, sliding, came_from=None, non_unique=None):
    """Put the entries on their kink on the side their one-sided fields agree on, or make them slide."""
    P = [row[:] for row in P]
    non_unique = [] if non_unique is None else non_unique
    pending = set(entries)
    for _ in range(8 * (len(pending) + sum(r.count(0) for r in P)) + 8):
        if not pending:
            return P
        i, j = pending.pop()
        leads = {}
        for side in (1, -1):
            Q = [row[:] for row in P]
            Q[i][j] = side
            _, z, _, _ = _series(field, y, Q, 6)
            leads[side] = _lead_sign([arb(0)] + z[i][j][1:], negligible)
        plus_ok, minus_ok = leads[1] > 0, leads[-1] < 0
        here = P[i][j] if P[i][j] != 0 else came_from
        if leads[1] == 0 and leads[-1] == 0:        # a dead entry: it does not move
            new = here or 1
        elif (plus_ok or leads[1] == 0) and (minus_ok or leads[-1] == 0):
            # repelled on one side and at rest (or repelled) on the other: Filippov solutions are not unique;
            # the entry keeps the side it is on (the limit of GD, whose iterate sits on that side)
            if here not in (1, -1):
                raise NonSmoothError(f"Filippov: neuron {i}, example {j} is pushed off its kink on both sides at "
                                     f"t = {mpmath.nstr(t, 15)}: the continuation is not unique", float(t))
            new = here
            non_unique.append((t, i, j))
        elif plus_ok:
            new = 1
        elif minus_ok:
            new = -1
        elif leads[-1] == 0:   # pushed back from the positive side, at rest on the negative one (a dead unit)
            new = -1
        elif leads[1] == 0:
            new = 1
        else:
            new = 0
        old = P[i][j]
        P[i][j] = new
        if new == 0 and old != 0:
            sliding.setdefault((i, j), []).append([t, None])
            events.append(FilippovEvent(t, "enter", i, j, 0))
        elif new != 0 and came_from in (1, -1) and new != came_from:
            events.append(FilippovEvent(t, "cross", i, j, new))
        # the sliding set of neuron i changed: every sliding entry's s must stay in [λ, 1]
        if any(P[i][l] == 0 for l in range(len(P[i]))):
            _, _, g, u = _series(field, y, P, 1)
            for l in range(len(P[i])):
                if P[i][l] == 0:
                    gv, uv = _to_mpf(g[i][l][0]), _to_mpf(u[i][l][0])
                    lam = _to_mpf(field.lam)
                    if abs(gv) <= negligible:
                        continue
                    s = uv / gv
                    if s > 1 + negligible or s < lam - negligible:
                        side = 1 if s > 1 else -1
                        P[i][l] = side
                        sliding[(i, l)][-1][1] = t
                        events.append(FilippovEvent(t, "exit", i, l, side))
                        pending.add((i, l))
        came_from = None
    if pending:
        raise NonSmoothError(f"Filippov: could not settle the ReLU regions at t = {mpmath.nstr(t, 15)}", float(t))
    return P


def gd_path(net: FilippovNet, W: Any, b: Any, A: Any, eta: float, t_out: Sequence[float]) -> list:
    """Gradient descent in float64 with step ``eta`` (σ'(0) = 0), its states (W, b, A) at the times in
    ``t_out`` (each a multiple of ``eta`` up to rounding).

    Raises:
        OptionError: an output time that is not a multiple of η.
    """
    X = np.asarray(net.X, dtype=float)
    Y = np.asarray(net.Y, dtype=float)
    lam = float(_leak(net.leak))
    W = np.asarray(W, dtype=float).copy()
    b = np.asarray(b, dtype=float).copy() if net.bias else np.zeros(net.hidden)
    A = np.asarray(A, dtype=float).copy()
    ks = []
    for t in t_out:
        k = round(float(t) / eta)
        if abs(k * eta - float(t)) > 1e-9 * max(1.0, float(t)):
            raise OptionError(f"output time {t} is not a multiple of η = {eta}")
        ks.append(k)
    out, k = [], 0
    n = X.shape[1]
    for target in ks:
        while k < target:
            Z = W @ X + b[:, None]
            S = np.where(Z > 0, Z, lam * Z)
            D = np.where(Z > 0, 1.0, lam)
            R = A @ S - Y
            Gm = (A.T @ R) * D
            gW, gb, gA = Gm @ X.T / n, Gm.sum(axis=1) / n, R @ S.T / n
            W, A = W - eta * gW, A - eta * gA
            if net.bias:
                b = b - eta * gb
            k += 1
        out.append((W.copy(), b.copy() if net.bias else np.zeros(0), A.copy()))
    return out


def per_neuron_balance(state: tuple) -> list:
    """q_i = ‖w_i‖² + b_i² − ‖A[:, i]‖² for every hidden neuron i (any number type)."""
    W, b, A = state
    W, A = [list(r) for r in W], [list(r) for r in A]
    b = list(b)
    return [sum(x * x for x in W[i]) + (b[i] * b[i] if b else 0) - sum(A[k][i] * A[k][i] for k in range(len(A)))
            for i in range(len(W))]


def matrix_balance(state: tuple) -> list:
    """The off-diagonal entries (i < l) of C = WWᵀ + bbᵀ − AᵀA, the linear-network law's remainder."""
    W, b, A = state
    W, A = [list(r) for r in W], [list(r) for r in A]
    b = list(b)
    h = len(W)
    return [sum(x * y for x, y in zip(W[i], W[l])) + (b[i] * b[l] if b else 0)
            - sum(A[k][i] * A[k][l] for k in range(len(A))) for i in range(h) for l in range(i + 1, h)]
