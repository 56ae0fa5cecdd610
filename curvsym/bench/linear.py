"""Parts a–d of ``curvsym bench``: the deep-linear pipeline against named references.

a. the generated gradient-flow right-hand side against a hand-written NumPy
   prefix/suffix implementation (N = 8, d ∈ {64, 256}); target ratio ≤ 1.10, and
   ≤ 3N matrix products per evaluation;
b. the high-precision integrator against ``mpmath.odefun`` (N = 3, d = 3,
   t ∈ [0, 5], 30 and 50 digits) with the balance drift each achieves; target ≥ 20×
   faster at equal or better accuracy.  One odefun run takes 30–150 s, so here a side
   is repeated only while one run of it costs less than ``once_above`` seconds
   (default 10): the Taylor integrator gets the median of 5 interleaved runs, odefun is
   timed once, and every row says how many runs each figure is;
c. double-precision integration (generated RHS + DOP853) against ``solve_ivp``
   DOP853 on a lean hand-written RHS; target ratio ≤ 1.2;
d. symbolic derivation time for N = 4, 16, 64; target N = 64 under 10 s and growth
   no worse than quadratic.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Callable, Sequence

import mpmath
import numpy as np

from ..codegen import generate_flow
from ..data.problems import random_instance
from ..integrate import integrate_double, integrate_taylor, to_mp
from ..integrate.trajectory import Trajectory
from ..symbolic import derive, network
from ..verify.checks import balance_function, conservation_residual
from .timing import BenchRow, interleaved, loop

# --------------------------------------------------------------------------- a. right-hand side

def gf_reference(ws: Sequence[np.ndarray], S: np.ndarray, T: np.ndarray) -> list[np.ndarray]:
    """Hand-written gradient flow: prefixes W_{<i} forward, B_i = W_{>i}ᵀ G backward (3N − 2 products).

    Plain ``@`` and ``.mT``, so it runs as it is on stacks of matrices and on NumPy, torch or object arrays."""
    N = len(ws)
    pre = [None] * N  # pre[i] = W_i ⋯ W_1 (0-based: pre[i] = ws[i] @ … @ ws[0])
    pre[0] = ws[0]
    for i in range(1, N):
        pre[i] = ws[i] @ pre[i - 1]
    B = (pre[N - 1] - T) @ S
    out = [None] * N
    for i in range(N - 1, -1, -1):
        out[i] = -(B @ pre[i - 1].mT) if i > 0 else -B
        if i > 0:
            B = ws[i].mT @ B
    return out


def bench_rhs(N: int = 8, widths: Sequence[int] = (64, 256), repeats: int = 15) -> list[BenchRow]:
    rows = []
    for d in widths:
        net = network.deep_chain(N, d)
        m = derive.model(net)
        rhs = generate_flow(derive.gradient_flow(m))
        inst = random_instance(net, seed=0, scale=1.0)
        ws, (S, T) = inst.weights, inst.data()
        for a, b in zip(rhs.raw(*ws, S, T), gf_reference(ws, S, T)):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        inner = max(1, int(2e8 / (N * 3 * d ** 3)))
        ours, ref = interleaved([loop(lambda: rhs.raw(*ws, S, T), inner),
                                  loop(lambda: gf_reference(ws, S, T), inner)], repeats)
        ratio = ours / ref
        rows.append(BenchRow(f"a. GF right-hand side N={N} d={d}", ours / inner, ref / inner,
                             "hand-written NumPy prefix/suffix", "ratio ≤ 1.10, products ≤ 3N",
                             ratio <= 1.10 and rhs.n_products <= 3 * N,
                             f"{rhs.n_products} products (3N = {3 * N})"))
    return rows


# --------------------------------------------------------------------------- b. high precision

def _odefun_trajectory(rhs, weights, data, t_end, dps) -> Trajectory:
    with mpmath.workdps(dps):
        D = rhs.validate(to_mp(weights, dps), to_mp(data, dps))
        shapes = [w.shape for w in weights]
        sizes = [int(np.prod(s)) for s in shapes]

        def F(t, y):
            ws, k = [], 0
            for s, n in zip(shapes, sizes):
                ws.append(np.array(y[k:k + n], dtype=object).reshape(s))
                k += n
            return [v for o in rhs.raw(*ws, *D) for v in o.flat]

        y0 = [v for w in to_mp(weights, dps) for v in w.flat]
        sol = mpmath.odefun(F, 0, y0)
        y = sol(t_end)
        out, k = [], 0
        for s, n in zip(shapes, sizes):
            out.append(np.array(y[k:k + n], dtype=object).reshape(s))
            k += n
    return Trajectory((mpmath.mpf(0), mpmath.mpf(t_end)), (to_mp(weights, dps), tuple(out)), "mpmath.odefun",
                      mpmath.mpf(0), dps)


def _interleaved_affordable(fs: Sequence[Callable[[], object]], repeats: int,
                            once_above: float) -> tuple[list[float], list[int], list[object]]:
    """Interleaved rounds f_0, f_1, … up to ``repeats`` times; a side whose first run took longer
    than ``once_above`` seconds is timed once and left out of later rounds.

    Returns (median seconds per side, number of runs per side, first result per side).
    """
    times: list[list[float]] = [[] for _ in fs]
    results: list[object] = [None] * len(fs)
    for r in range(repeats):
        for k, f in enumerate(fs):
            if r > 0 and times[k][0] > once_above:
                continue
            t0 = time.perf_counter()
            out = f()
            times[k].append(time.perf_counter() - t0)
            if r == 0:
                results[k] = out
    return [statistics.median(t) for t in times], [len(t) for t in times], results


def _runs(n: int) -> str:
    return "1 run" if n == 1 else f"median of {n} interleaved runs"


def bench_high_precision(digits: Sequence[int] = (30, 50), t_end: float = 5.0, repeats: int = 5,
                         once_above: float = 10.0) -> list[BenchRow]:
    """Taylor (flint) against ``mpmath.odefun`` on the same generated right-hand side.

    Each side is run in interleaved rounds (ours, odefun, ours, …) up to ``repeats`` times,
    except that a side whose first run took more than ``once_above`` seconds is timed once;
    the note of every row states the number of runs behind each figure.
    """
    rows = []
    net = network.chain([3, 3, 3, 3])
    m = derive.model(net)
    inst = random_instance(net, seed=0, scale=0.8)
    rhs = generate_flow(derive.gradient_flow(m), "mpmath")
    C = balance_function(m, "mpmath")
    for dps in digits:
        (t_ours, t_ref), (n_ours, n_ref), (ours, ref) = _interleaved_affordable(
            [lambda: integrate_taylor(rhs, inst.weights, inst.data(), [0, t_end], dps=dps),
             lambda: _odefun_trajectory(rhs, inst.weights, inst.data(), t_end, dps)], repeats, once_above)
        drift_ours = float(conservation_residual(ours, C, inst.data())[0])
        drift_ref = float(conservation_residual(ref, C, inst.data())[0])
        speedup = t_ref / t_ours
        rows.append(BenchRow(f"b. high precision N=3 d=3 t∈[0,{t_end:g}] {dps} digits", t_ours, t_ref,
                             "mpmath.odefun", "≥ 20× faster, drift ≤ odefun's",
                             speedup >= 20 and drift_ours <= max(drift_ref, 10.0 ** (-dps)),
                             f"speed-up {speedup:.0f}×; balance drift ours {drift_ours:.1e}, odefun {drift_ref:.1e}; "
                             f"ours {_runs(n_ours)}, odefun {_runs(n_ref)}"))
    return rows


# --------------------------------------------------------------------------- c. double precision

def bench_double(N: int = 4, d: int = 16, t_end: float = 10.0, repeats: int = 7) -> list[BenchRow]:
    from scipy.integrate import solve_ivp
    net = network.deep_chain(N, d)
    m = derive.model(net)
    rhs = generate_flow(derive.gradient_flow(m))
    inst = random_instance(net, seed=1, scale=1.0, target_scale=0.5)
    ws, (S, T) = inst.weights, inst.data()
    size = d * d  # a lean reference: views at fixed offsets, one preallocated output vector
    out = np.empty(N * size)

    def hand(t, y):
        layers = [y[k * size:(k + 1) * size].reshape(d, d) for k in range(N)]
        for k, v in enumerate(gf_reference(layers, S, T)):
            out[k * size:(k + 1) * size] = v.ravel()
        return out.copy()

    y0 = np.concatenate([w.ravel() for w in ws])
    ours_f = lambda: integrate_double(rhs, ws, (S, T), [0, t_end], rtol=1e-10, atol=1e-12, progress=False)
    ref_f = lambda: solve_ivp(hand, (0, t_end), y0, method="DOP853", rtol=1e-10, atol=1e-12)
    a, b = ours_f().final, ref_f().y[:, -1]
    err = float(np.max(np.abs(np.concatenate([w.ravel() for w in a]) - b)))
    ours, ref = interleaved([ours_f, ref_f], repeats)
    ratio = ours / ref
    return [BenchRow(f"c. double precision N={N} d={d} t∈[0,{t_end:g}]", ours, ref,
                     "solve_ivp DOP853, lean hand-written RHS", "ratio ≤ 1.2", ratio <= 1.2,
                     f"max |ours − reference| = {err:.1e}; medians of {repeats} interleaved runs")]


# --------------------------------------------------------------------------- d. derivation

def bench_derivation(depths: Sequence[int] = (4, 16, 64), d: int = 8, repeats: int = 5) -> list[BenchRow]:
    """Derivation time of a depth-N chain's gradient flow (best of ``repeats``); growth exponent over the last two N."""
    rows, times = [], []
    for N in depths:
        t_derive = math.inf
        for _ in range(repeats):  # best of ``repeats`` fresh derivations (a fresh model each time: no memo)
            t0 = time.perf_counter()
            m = derive.model(network.deep_chain(N, d))
            flow = derive.gradient_flow(m)
            t_derive = min(t_derive, time.perf_counter() - t0)
        t0 = time.perf_counter()
        generate_flow(flow)
        t_gen = time.perf_counter() - t0
        times.append(t_derive)
        rows.append(BenchRow(f"d. derivation N={N}", t_derive, None, "",
                             "N=64 < 10 s" if N == 64 else "", (t_derive < 10) if N == 64 else None,
                             f"(lambdify + CSE of the same flow: {t_gen * 1e3:.1f} ms)"))
    if len(depths) >= 2:
        growth = math.log(times[-1] / times[-2]) / math.log(depths[-1] / depths[-2])
        rows.append(BenchRow(f"d. derivation growth N={depths[-2]}→{depths[-1]}", times[-1], times[-2],
                             f"derivation at N={depths[-2]}", "exponent ≤ 2", growth <= 2,
                             f"time ∝ N^{growth:.2f}"))
    return rows


def run_rhs(quick: bool) -> list[BenchRow]:
    """Part a."""
    return bench_rhs(widths=(64,) if quick else (64, 256), repeats=5 if quick else 15)


def run_odefun(quick: bool) -> list[BenchRow]:
    """Part b."""
    return bench_high_precision(digits=(30,) if quick else (30, 50), t_end=1.0 if quick else 5.0,
                                repeats=1 if quick else 5)


def run_double(quick: bool) -> list[BenchRow]:
    """Part c."""
    return bench_double(repeats=3 if quick else 7)


def run_derivation(quick: bool) -> list[BenchRow]:
    """Part d."""
    return bench_derivation(depths=(4, 16) if quick else (4, 16, 64))
