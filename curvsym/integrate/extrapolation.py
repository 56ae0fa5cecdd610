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
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import mpmath

from ..codegen import GeneratedFunction
from ..errors import DivergenceError, StepLimitError
from .state import check_finite_state, local_tolerance, max_abs, output_times, progress_bar, to_mp, working_dps
from .trajectory import Trajectory


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


def gbs_step(f, y, H, k: int):
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


def integrate_extrapolation(rhs: GeneratedFunction, weights: Sequence, data: Sequence, t_eval: Sequence, *,
                            dps: int = 30, params: dict | None = None, tol: Any = None, columns: int | None = None,
                            first_step: Any = None, max_steps: int = 20_000, max_norm: float = 1e30,
                            progress: bool | None = None) -> Trajectory:
    """Integrate ``rhs`` (generated with ``backend="mpmath"``) at ``dps`` digits by GBS extrapolation.

    ``tol`` is the local error tolerance per unit state size (default
    10^−(dps+2)); ``columns`` the number of extrapolation columns k (order 2k,
    default ≈ 0.4·dps, at least 6).  The returned ``error_estimate`` is the sum
    of the accepted local error estimates plus rounding.
    """
    k = columns or max(6, int(math.ceil(0.4 * dps)))
    # the Aitken–Neville tableau amplifies rounding errors; k extra guard digits absorb it
    wdps = working_dps(dps, guard=10 + k)
    params = params or {}
    with mpmath.workdps(wdps):
        tol = local_tolerance(tol, dps, wdps - k - 3)
        y = to_mp(weights, wdps)
        d = rhs.validate(y, to_mp(data, wdps), params)  # shapes, finiteness, symmetric Σx
        func = rhs.func
        like = y[0]

        def f(state):
            return func(*state, *d, **params, xp=None, _like=like)

        ts = output_times(t_eval)
        t = ts[0]
        H = mpmath.mpf(first_step) if first_step is not None else mpmath.mpf("0.1")
        out_t, out_y = [t], [y]
        total_err = mpmath.mpf(0)
        n_steps = n_evals = 0
        bar = progress_bar(progress, float(ts[-1] - ts[0]), "GBS")
        try:
            for target in ts[1:]:
                while t < target:
                    if n_steps >= max_steps:
                        raise StepLimitError(f"extrapolation needed more than {max_steps} steps; "
                                             f"reached t = {mpmath.nstr(t, 8)}", float(t))
                    h = min(H, target - t)
                    scale = max(mpmath.mpf(1), max_abs(y))
                    y_new, err, e = gbs_step(f, y, h, k)
                    n_evals += e
                    finite = mpmath.isfinite(err) and all(mpmath.isfinite(v) for a in y_new for v in a.flat)
                    if not finite:
                        fac = mpmath.mpf("0.2")
                    elif err == 0:
                        fac = mpmath.mpf(4)
                    else:
                        fac = mpmath.mpf("0.94") * (mpmath.mpf("0.65") * tol * scale / err) ** (mpmath.mpf(1) / (2 * k - 1))
                        fac = min(mpmath.mpf(4), max(mpmath.mpf("0.2"), fac))
                    clipped = h < H  # a short step to land on t_eval says nothing against H
                    if finite and err <= tol * scale:
                        t, y = t + h, y_new
                        total_err += err
                        n_steps += 1
                        if bar is not None:
                            bar.update(float(h))
                        ny = max_abs(y)
                        if ny > max_norm:
                            raise DivergenceError(f"‖W‖_max = {mpmath.nstr(ny, 5)} exceeded {max_norm:g} at "
                                                  f"t = {mpmath.nstr(t, 10)} (divergence)", float(t))
                        H = max(H, h * fac) if clipped else h * fac
                    else:
                        H = h * min(fac, mpmath.mpf("0.9"))
                    if H < (abs(t) + 1) * mpmath.mpf(10) ** (-(wdps // 2)):
                        raise DivergenceError(f"step size collapsed to {mpmath.nstr(H, 3)} at t = {mpmath.nstr(t, 10)}: "
                                              "the solution appears to blow up in finite time", float(t))
                t = target
                out_t.append(t)
                out_y.append(y)
        finally:
            if bar is not None:
                bar.close()
        for s in out_y:
            check_finite_state(s, "GBS state")
        rounding = mpmath.mpf(10) ** (-wdps) * n_evals * max(mpmath.mpf(1), max_abs(y))
        return Trajectory(tuple(out_t), tuple(out_y), f"GBS extrapolation, {k} columns (order {2 * k})",
                          total_err + rounding, dps, n_steps, n_evals,
                          info={"columns": k, "working_dps": wdps, "rounding": rounding})
