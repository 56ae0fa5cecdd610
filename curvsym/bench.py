"""Benchmarks: every figure is a ratio against a named reference measured side by side.

``curvsym bench`` runs

a. the generated gradient-flow right-hand side against a hand-written NumPy
   prefix/suffix implementation (N = 8, d ∈ {64, 256}); target ratio ≤ 1.10, and
   ≤ 3N matrix products per evaluation;
b. the high-precision integrator against ``mpmath.odefun`` (N = 3, d = 3,
   t ∈ [0, 5], 30 and 50 digits) with the balance drift each achieves; target ≥ 20×
   faster at equal or better accuracy;
c. double-precision integration (generated RHS + DOP853) against ``solve_ivp``
   DOP853 on a hand-written RHS; target ratio ≤ 1.2;
d. symbolic derivation time for N = 4, 16, 64; target N = 64 under 10 s and growth
   no worse than quadratic.

Timings are medians of interleaved repeats (ours, reference, ours, …), so both
sides see the same machine state.  Nothing here is asserted in tests.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import mpmath
import numpy as np

from .codegen import generate_flow
from .data.problems import random_instance
from .integrate import integrate_double, integrate_taylor, to_mp
from .integrate.trajectory import Trajectory
from .symbolic import derive, network
from .verify.checks import balance_function, conservation_residual


@dataclass(frozen=True)
class BenchRow:
    name: str
    ours: float | None  # seconds (median); None for a note-only row
    reference: float | None  # seconds (median); None where the target is absolute
    reference_name: str
    target: str
    met: bool | None
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.reference if self.reference and self.ours is not None else math.nan


def _interleaved(fs: Sequence[Callable[[], object]], repeats: int) -> list[float]:
    times = [[] for _ in fs]
    for _ in range(repeats):
        for k, f in enumerate(fs):
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def _loop(f, n):
    def run():
        for _ in range(n):
            f()
    return run


# --------------------------------------------------------------------------- a. right-hand side

def gf_reference(ws: Sequence[np.ndarray], S: np.ndarray, T: np.ndarray) -> list[np.ndarray]:
    """Hand-written gradient flow: prefixes W_{<i} forward, B_i = W_{>i}ᵀ G backward (3N − 2 products)."""
    N = len(ws)
    pre = [None] * N  # pre[i] = W_i ⋯ W_1 (0-based: pre[i] = ws[i] @ … @ ws[0])
    pre[0] = ws[0]
    for i in range(1, N):
        pre[i] = ws[i] @ pre[i - 1]
    B = (pre[N - 1] - T) @ S
    out = [None] * N
    for i in range(N - 1, -1, -1):
        out[i] = -(B @ pre[i - 1].T) if i > 0 else -B
        if i > 0:
            B = ws[i].T @ B
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
        ours, ref = _interleaved([_loop(lambda: rhs.raw(*ws, S, T), inner),
                                  _loop(lambda: gf_reference(ws, S, T), inner)], repeats)
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


def bench_high_precision(digits: Sequence[int] = (30, 50), t_end: float = 5.0) -> list[BenchRow]:
    rows = []
    net = network.chain([3, 3, 3, 3])
    m = derive.model(net)
    inst = random_instance(net, seed=0, scale=0.8)
    rhs = generate_flow(derive.gradient_flow(m), "mpmath")
    C = balance_function(m, "mpmath")
    for dps in digits:
        t0 = time.perf_counter()
        ours = integrate_taylor(rhs, inst.weights, inst.data(), [0, t_end], dps=dps)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref = _odefun_trajectory(rhs, inst.weights, inst.data(), t_end, dps)
        t_ref = time.perf_counter() - t0
        drift_ours = float(conservation_residual(ours, C, inst.data())[0])
        drift_ref = float(conservation_residual(ref, C, inst.data())[0])
        speedup = t_ref / t_ours
        rows.append(BenchRow(f"b. high precision N=3 d=3 t∈[0,{t_end:g}] {dps} digits", t_ours, t_ref,
                             "mpmath.odefun", "≥ 20× faster, drift ≤ odefun's",
                             speedup >= 20 and drift_ours <= max(drift_ref, 10.0 ** (-dps)),
                             f"speed-up {speedup:.0f}×; balance drift ours {drift_ours:.1e}, odefun {drift_ref:.1e}"))
    return rows


# --------------------------------------------------------------------------- c. double precision

def bench_double(N: int = 4, d: int = 16, t_end: float = 10.0, repeats: int = 7) -> list[BenchRow]:
    from scipy.integrate import solve_ivp
    net = network.deep_chain(N, d)
    m = derive.model(net)
    rhs = generate_flow(derive.gradient_flow(m))
    inst = random_instance(net, seed=1, scale=1.0, target_scale=0.5)
    ws, (S, T) = inst.weights, inst.data()
    shapes = [w.shape for w in ws]

    def hand(t, y):
        parts = np.split(y, np.cumsum([int(np.prod(s)) for s in shapes])[:-1])
        return np.concatenate([v.ravel() for v in gf_reference([p.reshape(s) for p, s in zip(parts, shapes)], S, T)])

    y0 = np.concatenate([w.ravel() for w in ws])
    ours_f = lambda: integrate_double(rhs, ws, (S, T), [0, t_end], rtol=1e-10, atol=1e-12)
    ref_f = lambda: solve_ivp(hand, (0, t_end), y0, method="DOP853", rtol=1e-10, atol=1e-12)
    ours, ref = _interleaved([ours_f, ref_f], repeats)
    ratio = ours / ref
    return [BenchRow(f"c. double precision N={N} d={d} t∈[0,{t_end:g}]", ours, ref,
                     "solve_ivp DOP853, hand-written RHS", "ratio ≤ 1.2", ratio <= 1.2)]


# --------------------------------------------------------------------------- d. derivation

def bench_derivation(depths: Sequence[int] = (4, 16, 64), d: int = 8) -> list[BenchRow]:
    rows, times = [], []
    for N in depths:
        t0 = time.perf_counter()
        m = derive.model(network.deep_chain(N, d))
        flow = derive.gradient_flow(m)
        t_derive = time.perf_counter() - t0
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


def table(rows: Sequence[BenchRow]) -> str:
    head = ("benchmark", "ours", "reference", "ratio", "target", "met", "note")
    body = [(r.name, "—" if r.ours is None else f"{r.ours * 1e3:.3f} ms",
             "—" if r.reference is None else f"{r.reference * 1e3:.3f} ms ({r.reference_name})",
             "—" if r.reference is None else f"{r.ratio:.3f}",
             r.target, {True: "yes", False: "MISSED", None: "—"}[r.met], r.note) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    out = [line(head), line("-" * w for w in widths)] + [line(b) for b in body]
    missed = [r.name for r in rows if r.met is False]
    if missed:
        out.append("\ntargets MISSED: " + "; ".join(missed))
    else:
        out.append("\nall targets met" if any(r.met is not None for r in rows) else "\nno targets in this run")
    return "\n".join(out)


def run(parts: str = "abcd", quick: bool = False) -> list[BenchRow]:
    rows: list[BenchRow] = []
    if "a" in parts:
        rows += bench_rhs(widths=(64,) if quick else (64, 256), repeats=5 if quick else 15)
    if "b" in parts:
        rows += bench_high_precision(digits=(30,) if quick else (30, 50), t_end=1.0 if quick else 5.0)
    if "c" in parts:
        rows += bench_double(repeats=3 if quick else 7)
    if "d" in parts:
        rows += bench_derivation(depths=(4, 16) if quick else (4, 16, 64))
    if "f" in parts:
        from .sweep.bench import run_sweep_bench
        rows += run_sweep_bench(quick)
    if "p" in parts:
        from .bench_precision import run_precision
        rows += run_precision(quick)
    return rows


# --------------------------------------------------------------------------- e. batched ensembles

def _sync(name: str) -> None:
    if name == "torch":
        import torch
        if torch.cuda.is_available():
            torch.cuda.synchronize()
    elif name == "cupy":
        import cupy
        cupy.cuda.Stream.null.synchronize()


def _matmul_rate(name: str, device, n: int = 8192, repeats: int = 5) -> float:
    """Measured fp64 FLOP/s of one large n × n matmul on ``device``."""
    from .codegen.backends import namespace
    xp = namespace(name)
    a = xp.ones((n, n), dtype=xp.float64, device=device)
    b = a @ a
    _sync(name)
    t0 = time.perf_counter()
    for _ in range(repeats):
        b = a @ a
    _sync(name)
    del b
    return 2 * n ** 3 * repeats / (time.perf_counter() - t0)


def bench_ensemble(backends: Sequence[str], sizes: Sequence[tuple] = ((4096, 4, 8), (64, 8, 256)),
                   steps: int = 3) -> list[BenchRow]:
    """Throughput of batched GF integration (fixed-step RK4): trajectories × steps per second.

    Each backend runs on its GPU when it sees one, else on the CPU; the reference of every
    row is the NumPy-CPU run of the same size, and on a GPU the achieved matmul FLOP rate
    is reported as a fraction of that GPU's large fp64 matmul rate measured in the same run.
    """
    from .codegen.backends import has_gpu, namespace, to_backend
    from .integrate.ensemble import rk4
    rows = []
    base: dict = {}
    for B, N, d in sizes:
        net = network.deep_chain(N, d)
        m = derive.model(net)
        rhs = generate_flow(derive.gradient_flow(m), "array_api")
        rng = np.random.default_rng(0)
        ws = [rng.standard_normal((B, d, d)) / np.sqrt(d) for _ in range(N)]
        S, T = np.eye(d), rng.standard_normal((d, d))
        flops_per_step = 4 * rhs.n_products * 2 * d ** 3 * B
        for name in backends:
            namespace(name)
            gpu = has_gpu(name)
            device = "cuda" if gpu and name == "torch" else None
            arrays = to_backend([*ws, S, T], name, device=device)
            n_steps = steps if (gpu or B * d ** 3 < 1e8) else 1
            run = lambda: rk4(rhs, arrays[:N], arrays[N:], [0.0, 0.01 * n_steps], dt=0.01)
            run()  # warm-up (compilation, allocation)
            _sync(name)
            t0 = time.perf_counter()
            run()
            _sync(name)
            elapsed = time.perf_counter() - t0
            thr = B * n_steps / elapsed
            rate = flops_per_step * n_steps / elapsed
            note = f"{thr:,.0f} traj·steps/s, {rate / 1e9:.1f} GFLOP/s"
            met, target = None, ""
            if gpu:
                peak = _matmul_rate(name, device)
                frac = rate / peak
                note += f", {100 * frac:.0f}% of the measured fp64 matmul rate ({peak / 1e12:.1f} TFLOP/s)"
                if (B, N, d) == (64, 8, 256):
                    target, met = "≥ 50% of fp64 matmul rate", frac >= 0.5
            key = (B, N, d)
            if name == "numpy":
                base[key] = elapsed / n_steps
            ref = base.get(key)
            if gpu and (B, N, d) == (4096, 4, 8) and ref is not None:
                target, met = "≥ 100× NumPy-CPU throughput", ref / (elapsed / n_steps) >= 100
            where = "GPU" if gpu else "CPU"
            rows.append(BenchRow(f"e. ensemble RK4 B={B} N={N} d={d} [{name}, {where}]", elapsed / n_steps,
                                 ref, "NumPy CPU, same size" if ref else "", target, met, note))
    if not any(has_gpu(n) for n in backends):
        rows.append(BenchRow("e. GPU figures", None, None, "", "", None,
                             "no GPU visible to the requested backends in this run: GPU targets not measured"))
    return rows
