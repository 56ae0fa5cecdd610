"""The Elkabetz & Cohen pieces: the digits problem, initialisations, the curvature bound, the experiment.

About 3 s.
"""

import numpy as np
import pytest

import curvsym as cs
from curvsym import sharpness
from curvsym.papers import elkabetz2021 as ec


def test_digits_problem_is_the_squared_loss_on_the_examples():
    P = ec.digits_problem(200)
    assert P.full_widths == (64, 50, 50, 10) and P.widths[0] == len(P.kept) < 64 and P.widths[1:] == (50, 50, 10)
    W = P.reduce(ec.xavier_uniform(P.full_widths, np.random.default_rng(0)))
    E = W[2] @ W[1] @ W[0]
    direct = 0.5 * np.sum((E @ P.X - P.Y) ** 2) / P.X.shape[1]
    assert P.loss(W) == pytest.approx(direct, rel=1e-10)
    assert np.all(np.linalg.eigvalsh(P.Sigma) > 0)
    with pytest.raises(cs.OptionError):
        ec.digits_problem(5)


def test_xavier_bounds_and_balanced_starts():
    rng = np.random.default_rng(1)
    W = ec.xavier_uniform([64, 50, 10], rng)
    assert W[0].shape == (50, 64) and np.max(np.abs(W[0])) <= np.sqrt(6 / 114)
    B = ec.balanced_init([3, 4, 4, 2], 0.5, rng)
    assert ec.imbalance(B) < 1e-14 and ec.imbalance(W[:1] + (W[1][:, :50],)) > 0.1
    with pytest.raises(cs.ShapeError):
        ec.balanced_init([3, 1, 3], 1.0, rng)


def test_the_balanced_bound_holds_at_balanced_points_and_fails_without_balance():
    """λ_min ≥ −(N−1)‖∇ℓ‖‖W‖^{1−2/N} at random balanced points (dense Hessian), not at unbalanced ones."""
    rng = np.random.default_rng(3)
    worst_balanced, worst_unbalanced = 0.0, 0.0
    for N in (2, 3, 4):
        widths = [3] * (N + 1)
        m = cs.model(cs.chain(widths))
        T = rng.standard_normal((3, 3))
        S = np.eye(3)
        for _ in range(3):
            W = ec.balanced_init(widths, 1.0, rng)
            E = W[0]
            for w in W[1:]:
                E = w @ E
            b = ec.balanced_curvature_bound(E, T, S, N)
            worst_balanced = max(worst_balanced, sharpness.min_curvature(m, W, [S, T]) / b)
            U = (3 * W[0],) + W[1:-1] + (W[-1] / 3,)
            worst_unbalanced = max(worst_unbalanced, sharpness.min_curvature(m, U, [S, T]) / b)
    assert worst_balanced <= 1.0 < worst_unbalanced


def test_step_size_experiment_distances_shrink_like_one_minus_one_over_r():
    P = ec.digits_problem(200)
    m = cs.model(cs.chain(P.widths))
    rhs = cs.generate_flow(cs.gradient_flow(m))
    W = P.reduce(ec.xavier_uniform(P.full_widths, np.random.default_rng(1)))
    ex = ec.step_size_experiment(rhs, W, P.data(), 1e-3, 100, ratios=(2, 5), n_log=4, loss=P.loss)
    assert ex.steps == (0, 25, 50, 75, 100) and ex.loss[1][-1] < ex.loss[1][0]
    d2, d5 = ex.distance[2][-1], ex.distance[5][-1]
    assert d2 < 1e-2 * ex.travelled[-1]
    assert d5 / d2 == pytest.approx((1 - 1 / 5) / (1 - 1 / 2), rel=0.05)  # the O(η) term: ∝ η₀ − η₀/r
    with pytest.raises(cs.OptionError):
        ec.step_size_experiment(rhs, W, P.data(), 1e-2, 100, n_log=3)
