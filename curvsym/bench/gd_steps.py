"""Benchmarks of the discrete step maps (a benchmark, not a test: nothing here is asserted in tests).

``run_discrete(quick)`` measures, as ratios against named references timed side by side
(medians of interleaved repeats, :func:`curvsym.bench.timing.interleaved`):

g. GD on a deep linear 64-50-50-10 net trained on 1000 digits (squared loss, population form
   (Σx, T); the always-zero pixels dropped, see :class:`curvsym.papers.elkabetz2021.DigitsProblem`),
   10⁵ steps in float64 through the generated rule and the existing step map
   (:func:`curvsym.integrate.ensemble.iterate`) against a hand-written NumPy loop of the same
   mathematics; target ratio ≤ 1.3.  A second reference, a hand-written loop over the 1000
   examples themselves (X of 61 × 1000), shows what the population form saves;
h. a step-size sweep of five η in one batched run (:func:`curvsym.integrate.iteration.iterate_sweep`)
   against five separate hand-written loops (no target: what batching a sweep costs or saves);
i. the arbitrary-precision step map at 50 digits (N = 2, d = 3): steps per second (no target).
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from .timing import BenchRow, interleaved

__all__ = ["run_discrete", "hand_gd", "hand_gd_data"]


def hand_gd(weights: Sequence[np.ndarray], S: np.ndarray, T: np.ndarray, eta: float, n: int) -> tuple:
    """Hand-written GD for a depth-3 chain on (Σx, T): prefix W₂W₁, E = (W − T)Σx, suffix W₃ᵀE."""
    W1, W2, W3 = (np.array(w, dtype=float) for w in weights)
    for _ in range(n):
        A = W2 @ W1
        E = (W3 @ A - T) @ S
        B = W3.T @ E
        g1 = W2.T @ B
        g2 = B @ W1.T
        g3 = E @ A.T
        W1 -= eta * g1
        W2 -= eta * g2
        W3 -= eta * g3
    return W1, W2, W3


def hand_gd_data(weights: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray, eta: float, n: int) -> tuple:
    """Hand-written GD on the examples: L = (1/2m)‖W₃W₂W₁X − Y‖², backpropagation over X (n_0 × m)."""
    W1, W2, W3 = (np.array(w, dtype=float) for w in weights)
    m = X.shape[1]
    for _ in range(n):
        H1 = W1 @ X
        H2 = W2 @ H1
        R = (W3 @ H2 - Y) / m
        D2 = W3.T @ R
        D1 = W2.T @ D2
        g3 = R @ H2.T
        g2 = D2 @ H1.T
        g1 = D1 @ X.T
        W1 -= eta * g1
        W2 -= eta * g2
        W3 -= eta * g3
    return W1, W2, W3


def _digits_setting():
    from .. import codegen
    from ..papers import elkabetz2021 as ec
    from ..symbolic import derive, network
    P = ec.digits_problem(1000)
    m = derive.model(network.chain(P.widths))
    rhs = codegen.generate_flow(derive.gradient_flow(m))
    W0 = P.reduce(ec.xavier_uniform(P.full_widths, np.random.default_rng(1)))
    return P, rhs, W0


def bench_gd_steps(n_steps: int = 100_000, repeats: int = 3, eta: float = 1e-3) -> list[BenchRow]:
    """Row g: 10⁵ GD steps of the 64-50-50-10 linear net on 1000 digits, ours against hand-written NumPy."""
    from ..integrate.ensemble import iterate
    P, rhs, W0 = _digits_setting()
    S, T = P.data()
    batch = [w[None].copy() for w in W0]
    # the same iterates (up to BLAS rounding of batched products) before timing
    check = iterate(rhs, batch, (S, T), eta, 200, record_every=200).final
    ref = hand_gd(W0, S, T, eta, 200)
    dev = max(float(np.max(np.abs(a[0] - b))) / max(float(np.max(np.abs(b))), 1e-300) for a, b in zip(check, ref))
    ours_f = lambda: iterate(rhs, batch, (S, T), eta, n_steps, record_every=n_steps)
    hand_f = lambda: hand_gd(W0, S, T, eta, n_steps)
    data_f = lambda: hand_gd_data(W0, P.X, P.Y, eta, n_steps // 10)
    ours, hand, data = interleaved([ours_f, hand_f, data_f], repeats)
    data *= 10  # it ran a tenth of the steps
    ratio = ours / hand
    widths = "-".join(map(str, P.full_widths))
    return [BenchRow(f"i. GD {n_steps:,} steps, linear {widths} (61 live inputs), 1000 digits", ours, hand,
                     "hand-written NumPy loop on (Σx, T)", "ratio ≤ 1.3", ratio <= 1.3,
                     f"{ours / n_steps * 1e6:.1f} µs/step; same iterates to {dev:.0e} (relative)"),
            BenchRow(f"i. GD {n_steps:,} steps, same net, against a loop over the 1000 examples", ours, data,
                     "hand-written NumPy backprop on X (61 × 1000)", "", None,
                     f"the population form (Σx, T) is {data / ours:.1f}× faster than looping over the examples")]


def bench_sweep(n_steps: int = 2000, repeats: int = 3) -> list[BenchRow]:
    """Row h: five step sizes η₀/r in one batched run against five hand-written loops."""
    from ..integrate.iteration import iterate_sweep
    P, rhs, W0 = _digits_setting()
    S, T = P.data()
    eta0, ratios = 1e-3, (1, 2, 5, 10, 20)
    etas = [eta0 / r for r in ratios]
    t_end = n_steps * eta0
    ours_f = lambda: iterate_sweep(rhs, W0, (S, T), etas, [0.0, t_end])
    hand_f = lambda: [hand_gd(W0, S, T, e, int(round(t_end / e))) for e in etas]
    ours, hand = interleaved([ours_f, hand_f], repeats)
    member_steps = sum(int(round(t_end / e)) for e in etas)
    return [BenchRow(f"i. sweep η₀/r, r ∈ {ratios}, {member_steps:,} member-steps in one batched run", ours, hand,
                     "five hand-written NumPy loops", "", None,
                     f"{ours / member_steps * 1e6:.1f} µs per member-step")]


def bench_precise(n_steps: int = 200, dps: int = 50) -> list[BenchRow]:
    """Row i: the arbitrary-precision step map (generated mpmath rule) at ``dps`` digits."""
    from ..codegen import generate_flow
    from ..data.problems import random_instance
    from ..integrate.iteration import iterate_precise
    from ..symbolic import derive, network
    net = network.chain([3, 3, 3])
    rhs = generate_flow(derive.gradient_flow(derive.model(net)), "mpmath")
    inst = random_instance(net, seed=0)
    t0 = time.perf_counter()
    iterate_precise(rhs, inst.weights, inst.data(), 1e-2, [0, n_steps], dps=dps)
    elapsed = time.perf_counter() - t0
    return [BenchRow(f"i. GD step map at {dps} digits, N = 2, d = 3, {n_steps} steps", elapsed, None, "", "", None,
                     f"{n_steps / elapsed:,.0f} steps/s (mpmath object arrays)")]


def run_discrete(quick: bool = False) -> list[BenchRow]:
    """All discrete-map benchmark rows (``quick``: 10⁴ steps, one repeat).

    Both sides run with one BLAS thread when ``threadpoolctl`` is installed: at these sizes
    threads only add contention, and a shared machine makes multi-threaded timings erratic.
    """
    try:
        from threadpoolctl import threadpool_limits
        limit = threadpool_limits(1)
    except ImportError:  # pragma: no cover - optional
        limit = None
    try:
        rows = bench_gd_steps(n_steps=10_000 if quick else 100_000, repeats=1 if quick else 3)
        rows += bench_sweep(n_steps=200 if quick else 2000, repeats=1 if quick else 3)
        rows += bench_precise(n_steps=50 if quick else 200)
    finally:
        if limit is not None:
            limit.unregister()
    return rows
