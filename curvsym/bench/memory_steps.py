"""Benchmarks of the rules with memory (a benchmark, not a test: nothing here is asserted in tests).

``run_momentum(quick)`` — part k — times, against hand-written NumPy loops of the same
mathematics run side by side (medians of interleaved repeats), heavy ball and Adam on the
Elkabetz–Cohen protocol: the deep linear 64-50-50-10 net on 1000 digits in population form
(Σx, T; :class:`curvsym.papers.elkabetz2021.DigitsProblem`).  Ours is the rule's generated step
map Φ_h(y) = y + hF_h(y) (``rule.step_map``: the new state, each new moment or velocity formed once
and reused in the weights' update; Adam's bias-correction powers β^{k+1} read from the step count)
driven by the package's map solver (:func:`curvsym.integrate.ensemble.iterate_map`, finiteness
checked per block of steps); target ratio ≤ 1.3 at equal steps (equal wall clock per step).  The
iterates are compared with the hand-written loop before timing.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..codegen import generate_flow
from ..integrate.ensemble import iterate_map
from ..papers import elkabetz2021 as ec
from ..symbolic import derive, network
from ..symbolic.rules.memory import adam, from_betas, heavy_ball, initial_state
from .timing import BenchRow, interleaved

__all__ = ["run_momentum", "hand_heavy_ball", "hand_adam"]


def _grads(W1, W2, W3, S, T):
    A = W2 @ W1
    E = (W3 @ A - T) @ S
    B = W3.T @ E
    return W2.T @ B, B @ W1.T, E @ A.T


def hand_heavy_ball(weights: Sequence[np.ndarray], S: np.ndarray, T: np.ndarray, lr: float, beta: float,
                    n: int) -> tuple:
    """Polyak: D ← βD − lr∇L, W ← W + D (depth-3 chain on (Σx, T))."""
    W = [np.array(w, dtype=float) for w in weights]
    D = [np.zeros_like(w) for w in W]
    for _ in range(n):
        g = _grads(*W, S, T)
        for k in range(3):
            D[k] *= beta
            D[k] -= lr * g[k]
            W[k] += D[k]
    return tuple(W)


def hand_adam(weights: Sequence[np.ndarray], S: np.ndarray, T: np.ndarray, lr: float, b1: float, b2: float,
              eps: float, n: int) -> tuple:
    """Kingma & Ba with bias correction (depth-3 chain on (Σx, T))."""
    W = [np.array(w, dtype=float) for w in weights]
    M = [np.zeros_like(w) for w in W]
    V = [np.zeros_like(w) for w in W]
    for k in range(1, n + 1):
        g = _grads(*W, S, T)
        c1, c2 = 1 - b1 ** k, 1 - b2 ** k
        for j in range(3):
            M[j] = b1 * M[j] + (1 - b1) * g[j]
            V[j] = b2 * V[j] + (1 - b2) * g[j] * g[j]
            W[j] -= lr * (M[j] / c1) / (np.sqrt(V[j] / c2) + eps)
    return tuple(W)


def _setting():
    P = ec.digits_problem(1000)
    m = derive.model(network.chain(P.widths))
    W0 = P.reduce(ec.xavier_uniform(P.full_widths, np.random.default_rng(1)))
    return P, m, W0


def _row(name, rule, m, W0, S, T, params, hand, n_steps, repeats, check_steps=200) -> BenchRow:
    phi = generate_flow(rule.step_map(m))
    batch = [y[None].copy() for y in initial_state(rule, m, W0, step_map=True)]
    got = iterate_map(phi, batch, (S, T), check_steps, record_every=check_steps, params=params).final
    ref = hand(check_steps)
    dev = max(float(np.max(np.abs(a[0] - b))) / max(float(np.max(np.abs(b))), 1e-300) for a, b in zip(got, ref))
    ours_f = lambda: iterate_map(phi, batch, (S, T), n_steps, record_every=n_steps, params=params)
    hand_f = lambda: hand(n_steps)
    ours, ref_t = interleaved([ours_f, hand_f], repeats)
    ratio = ours / ref_t
    return BenchRow(name, ours, ref_t, "hand-written NumPy loop on (Σx, T)", "ratio ≤ 1.3", ratio <= 1.3,
                    f"{ours / n_steps * 1e6:.1f} µs/step; same iterates to {dev:.0e} (relative)")


def run_momentum(quick: bool = False) -> list[BenchRow]:
    """Part k: heavy ball and Adam, 10⁴ steps (quick: 10³, one repeat), one BLAS thread where available."""
    try:
        from threadpoolctl import threadpool_limits  # optional dependency, only needed here
        limit = threadpool_limits(1)
    except ImportError:  # pragma: no cover - optional
        limit = None
    n, repeats = (1000, 1) if quick else (10_000, 3)
    try:
        P, m, W0 = _setting()
        S, T = P.data()
        widths = "-".join(map(str, P.full_widths))
        lr, beta = 1e-3, 0.9
        rows = [_row(f"k. heavy ball β = {beta}, lr = {lr:g}, {n:,} steps, linear {widths}, 1000 digits", heavy_ball(),
                     m, W0, S, T, from_betas("heavy-ball", lr, beta=beta),
                     lambda k: hand_heavy_ball(W0, S, T, lr, beta, k), n, repeats)]
        b1, b2, eps = 0.9, 0.999, 1e-8
        rows.append(_row(f"k. Adam (bias-corrected) lr = {lr:g}, {n:,} steps, same net", adam(), m, W0, S, T,
                         from_betas("adam", lr, beta1=b1, beta2=b2), lambda k: hand_adam(W0, S, T, lr, b1, b2, eps, k),
                         n, repeats))
    finally:
        if limit is not None:
            limit.unregister()
    return rows
