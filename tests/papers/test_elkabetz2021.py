"""The Elkabetz & Cohen pieces: the digits problem, initialisations, the curvature bound, the experiment
(deep linear and nonlinear data models, digits and MNIST IDX files).

About 4 s.
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


# --------------------------------------------------------------------------- nonlinear data models (about 6 s)

def _hand_cross_entropy(Ws, X, Y, relu):
    """Mean softmax cross-entropy of a bias-free chain and its gradient, by hand (independent of curvsym)."""
    m = X.shape[1]
    Hs, Zs = [X], []
    for W in Ws[:-1]:
        Zs.append(W @ Hs[-1])
        Hs.append(np.maximum(Zs[-1], 0) if relu else Zs[-1])
    out = Ws[-1] @ Hs[-1]
    top = out.max(axis=0)
    lse = top + np.log(np.exp(out - top).sum(axis=0))
    loss = float(np.mean(lse - np.sum(Y * out, axis=0)))
    D = (np.exp(out - lse) - Y) / m
    grads = [None] * len(Ws)
    for k in range(len(Ws) - 1, -1, -1):
        grads[k] = D @ Hs[k].T
        if k:
            D = Ws[k].T @ D
            D = D * (Zs[k - 1] > 0) if relu else D
    return loss, grads


def _hand_gd(Ws, X, Y, eta, steps, relu):
    Ws = [w.copy() for w in Ws]
    for _ in range(steps):
        _, g = _hand_cross_entropy(Ws, X, Y, relu)
        Ws = [w - eta * gw for w, gw in zip(Ws, g)]
    return Ws


def test_data_problem_is_the_papers_setting_on_digits():
    """Bias-free 64-50-50-10 ReLU net, (x − μ)/σ with the digits' own μ, σ, cross-entropy: loss and field by hand."""
    from sklearn.datasets import load_digits
    P = ec.digits_problem(100, activation="relu", loss="cross_entropy")
    assert isinstance(P, ec.DataProblem) and P.widths == (64, 50, 50, 10) and P.activation == "relu"
    pixels = load_digits().data / 16.0
    mu, sd = pixels.mean(), pixels.std()
    assert P.normalization == pytest.approx((0.30526, 0.37605), abs=1e-5) and P.normalization == (mu, sd)
    np.testing.assert_allclose(P.X, (pixels[:100].T - mu) / sd, rtol=0, atol=1e-15)
    assert np.all(P.Y.sum(axis=0) == 1) and np.all(P.Y.argmax(axis=0) == load_digits().target[:100])
    W = ec.xavier_uniform(P.widths, np.random.default_rng(1))
    loss, grads = _hand_cross_entropy(W, P.X, P.Y, relu=True)
    assert P.loss(W) == pytest.approx(loss, rel=1e-13)
    velocity = cs.generate_flow(P.flow())(W, *P.data())
    assert max(np.max(np.abs(v + g)) / np.max(np.abs(g)) for v, g in zip(velocity, grads)) < 1e-12
    Q = ec.digits_problem(100, (7,), activation="linear", loss="mse", normalization=(0.0, 1.0))
    V = ec.xavier_uniform(Q.widths, np.random.default_rng(2))
    assert Q.loss(V) == pytest.approx(0.5 * np.sum((V[1] @ V[0] @ Q.X - Q.Y) ** 2) / 100, rel=1e-13)
    for bad in [dict(activation="relu", normalization=(0.0, 0.0)), dict(normalization=(0.3, 0.4)),
                dict(activation="relu", hidden=(0,))]:
        with pytest.raises(cs.OptionError):
            ec.digits_problem(100, **bad)
    with pytest.raises(cs.UnknownNameError):
        ec.digits_problem(100, activation="swish")


def test_the_experiment_on_a_relu_net_is_gd_on_the_examples():
    """Iterate k at η₀ and iterate rk at η₀/r against a hand-written GD loop on the same examples."""
    P = ec.digits_problem(40, (8, 8), activation="relu", loss="cross_entropy")
    W = ec.xavier_uniform(P.widths, np.random.default_rng(0))
    ex = ec.step_size_experiment(P.flow(), W, P.data(), 1e-3, 20, ratios=(5,), n_log=4)
    a = _hand_gd(W, P.X, P.Y, 1e-3, 20, relu=True)
    b = _hand_gd(W, P.X, P.Y, 2e-4, 100, relu=True)
    direct = np.sqrt(sum(np.sum((x - y) ** 2) for x, y in zip(a, b)))
    assert ex.distance[5][-1] == pytest.approx(direct, rel=1e-8)
    assert ex.loss[1][-1] == pytest.approx(_hand_cross_entropy(a, P.X, P.Y, relu=True)[0], rel=1e-12)
    assert ex.travelled[-1] == pytest.approx(np.sqrt(sum(np.sum((x - y) ** 2) for x, y in zip(a, W))), rel=1e-12)


def test_the_one_minus_one_over_r_law_holds_for_smooth_losses_and_breaks_at_relu_kinks():
    """D_r ∝ 1 − 1/r to 1% for linear and softplus(4) nets; the nearest wrong claim (1 − 1/r², GD within O(η²) of
    GF) is rejected; on the same ReLU net the law is off by far more than 10% (its loss is not smooth on the scale
    of a step: the asymptotic error expansion behind the law needs a smooth field), while the runs still differ
    by far less than the distance travelled."""
    residuals = {}
    for act in ("linear", "softplus(4)", "relu"):
        P = ec.digits_problem(40, (8, 8), activation=act, loss="cross_entropy")
        W = ec.xavier_uniform(P.widths, np.random.default_rng(0))
        ex = ec.step_size_experiment(P.flow(), W, P.data(), 1e-3, 20, ratios=(2, 5, 10), n_log=4)
        assert ec.check_tracking(ex, 0.01).passed
        residuals[act] = (ec.check_ratio_scaling(ex, 0.01), ec.check_ratio_scaling(ex, 0.01, power=2))
    for act in ("linear", "softplus(4)"):
        first, control = residuals[act]
        assert first.passed and not control.passed and control.residual > 0.1
    assert residuals["relu"][0].residual > 0.1


def test_mnist_subset_from_idx_files_the_user_has(tmp_path):
    """Images 0, 50, 100 of an IDX file written here, normalised (x/255 − 0.1307)/0.3081; errors name the problem."""
    from curvsym.data.datasets import write_idx
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(101, 28, 28), dtype=np.uint8)
    labels = (np.arange(101) * 7 % 10).astype(np.uint8)
    img, lab = write_idx(tmp_path / "img.idx", images), write_idx(tmp_path / "lab.idx", labels)
    P = ec.mnist_problem(img, lab, n_samples=3, hidden=(4, 3), activation="relu")
    assert list(P.indices) == [0, 50, 100] and P.widths == (784, 4, 3, 10) and ec.MNIST_NORMALIZATION == (0.1307, 0.3081)
    np.testing.assert_allclose(P.X, (images[[0, 50, 100]].reshape(3, -1).T / 255 - 0.1307) / 0.3081, atol=1e-14)
    assert list(P.labels) == [0, 0, 0] and np.all(P.Y[0] == 1)
    W = ec.xavier_uniform(P.widths, np.random.default_rng(1))
    assert P.loss(W) == pytest.approx(_hand_cross_entropy(W, P.X, P.Y, relu=True)[0], rel=1e-13)
    ex = ec.step_size_experiment(P.flow(), W, P.data(), 1e-4, 4, ratios=(2,), n_log=2)
    assert len(ex.distance[2]) == 3 and all(np.isfinite(ex.distance[2]))
    with pytest.raises(cs.OptionError, match="need 151 images"):
        ec.mnist_problem(img, lab, n_samples=4)
    with pytest.raises(cs.DatasetFileError):
        ec.mnist_problem(tmp_path / "missing.idx", lab)
    (tmp_path / "junk").write_bytes(b"not an idx file")
    with pytest.raises(cs.DatasetError):
        ec.mnist_problem(tmp_path / "junk", lab)


def test_divergence_reports_of_nonlinear_runs_carry_the_loss():
    """The loss at the last finite iterate, from the nonlinear model's own loss (not 'not available')."""
    from curvsym.symbolic import nonlinear as nl
    from curvsym.verify.step_size import gap_study, loss_function
    P = ec.digits_problem(40, (8, 8), activation="tanh", loss="mse")
    ex = ec.step_size_experiment(P.flow(), ec.xavier_uniform(P.widths, np.random.default_rng(0)), P.data(), 4.0, 20,
                                 ratios=(2,), n_log=4)
    assert ex.notes and all("loss at step" in n and "not available" not in n for n in ex.notes)
    assert not ec.check_tracking(ex).passed
    m = nl.data_model(cs.chain([3, 4, 2]), 5, loss="mse")
    rng = np.random.default_rng(0)
    X, Y = nl.data_arrays(m, rng.standard_normal((3, 5)), rng.standard_normal((2, 5)))
    W = nl.init_parameters(m, 0)
    study = gap_study(nl.gradient_flow(m), W, (X, Y), [0.5, 4.0], 200.0, dps=None, curvature=False)
    div = study.runs[1].divergence
    assert div is not None and div.loss is not None and div.loss > 1e20 and "loss at step" in str(div)
    L = loss_function(nl.gradient_flow(m), (X, Y))
    assert L(W) == pytest.approx(0.5 * np.sum((W[1] @ W[0] @ X - Y) ** 2) / 5, rel=1e-13)
