"""Duersch et al. 2024 on digits: the generated pieces agree with independent routes; probe and ablation run
(≈ 10 s: the 64-32-10 problem built once, one BLAS thread)."""

import math

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import curvsym as cs
from curvsym.codegen import generate_expressions
from curvsym.errors import OptionError
from curvsym.integrate import optimizers as op
from curvsym.papers import duersch2024 as d
from curvsym.papers import duersch2024_digits as dd
from curvsym.symbolic import nonlinear as nl


@pytest.fixture(scope="module")
def problem():
    with threadpool_limits(1, user_api="blas"):
        yield dd.digits_problem((64, 32, 10), batch_size=32)


@pytest.fixture(autouse=True)
def one_thread():
    with threadpool_limits(1, user_api="blas"):
        yield


def test_loss_from_the_output_equals_the_derived_loss(problem):
    """ℓ from the generated output agrees with the generated symbolic loss of curvsym.nonlinear."""
    W = problem.init([3])
    m = nl.data_model(cs.chain([64, 32, 10], activation="relu", bias=True), 1437, loss="cross_entropy")
    f = generate_expressions(m, "loss", [nl.loss(m)])
    direct = float(np.ravel(f.raw(*[w[0] for w in W], problem.X_train, problem.Y_train, xp=np)[0])[0])
    assert abs(problem.train_loss(W)[0] - direct) <= 1e-12 * abs(direct)


def test_one_forward_pass_gives_loss_and_preactivations_and_hvp_broadcasts(problem):
    """The fused forward pass returns exactly train_loss and preactivations (batched members); H·V at one
    member broadcast against several directions equals H·V at that member repeated (as glass_probe uses it)."""
    rng = np.random.default_rng(4)
    W = problem.init([2, 5, 7])
    loss, Z = problem.loss_and_preactivations(W)
    assert np.array_equal(loss, problem.train_loss(W))
    assert all(np.array_equal(a, b) for a, b in zip(Z, problem.preactivations(W)))
    one = tuple(w[:1] for w in W)
    V = tuple(rng.standard_normal((3,) + w.shape[1:]) for w in W)
    repeated = problem.hvp(tuple(np.repeat(w, 3, axis=0) for w in one), V)
    assert all(np.allclose(a, b, rtol=1e-13, atol=0) for a, b in zip(problem.hvp(one, V), repeated))


def test_gradient_and_hvp_against_finite_differences(problem):
    rng = np.random.default_rng(0)
    W = problem.init([1])
    V = tuple(rng.standard_normal(w.shape) for w in W)
    g = problem.gradient(W)
    eps = 1e-7                                      # inside the smooth piece: no ReLU boundary within ±ε
    plus = tuple(a + eps * b for a, b in zip(W, V))
    minus = tuple(a - eps * b for a, b in zip(W, V))
    Z0 = problem.preactivations(W)
    assert int(problem.crossings(Z0, plus)[0]) == 0 and int(problem.crossings(Z0, minus)[0]) == 0
    fd = (problem.train_loss(plus)[0] - problem.train_loss(minus)[0]) / (2 * eps)
    gv = sum(float(np.sum(a * b)) for a, b in zip(g, V))
    assert abs(fd - gv) <= 1e-7 * abs(gv)
    fd = [(a - b) / (2 * eps) for a, b in zip(problem.gradient(tuple(a + eps * b for a, b in zip(W, V))),
                                              problem.gradient(tuple(a - eps * b for a, b in zip(W, V))))]
    hv = problem.hvp(W, V)
    scale = max(float(np.max(np.abs(h))) for h in hv)
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(hv, fd)) <= 1e-6 * scale
    # symmetric: uᵀHv = vᵀHu
    U = tuple(rng.standard_normal(w.shape) for w in W)
    uhv = sum(float(np.sum(a * b)) for a, b in zip(U, hv))
    vhu = sum(float(np.sum(a * b)) for a, b in zip(V, problem.hvp(W, U)))
    assert abs(uhv - vhu) <= 1e-10 * abs(uhv)


def test_minibatches_cover_each_epoch_and_members_are_independent(problem):
    W = problem.init([5, 6])
    g_batched = problem.minibatch_field([5, 6])(W, 3)
    g_single = problem.minibatch_field([6])(tuple(w[1:] for w in W), 3)
    assert all(np.max(np.abs(a[1:] - b)) == 0 for a, b in zip(g_batched, g_single))
    # 1437 = 3 · 479: with batches of 479 an epoch is a partition, so its mean minibatch gradient is the full one
    third = dd.digits_problem((64, 8, 10), batch_size=479)
    W = third.init([2])
    field = third.minibatch_field([2])
    for epoch in (0, 1):
        mean = [sum(parts) / 3 for parts in zip(*(field(W, 3 * epoch + j) for j in range(3)))]
        full = third.full_field()(W, 0)
        assert max(float(np.max(np.abs(a - b))) for a, b in zip(mean, full)) <= 1e-14


def test_glass_probe_at_initialisation_follows_the_walk(problem):
    """The theorem's instance, small: 32 directions at s = 1e-4, 3e-4, 1e-3 (proofs/glass_curvature.py: 128)."""
    W = problem.init([0])
    p = dd.glass_probe(problem, W, [1e-4, 3e-4, 1e-3], n_directions=32, sigmas=(1e-3,))
    ratio = p.residual / p.walk
    assert np.all((ratio > 0.6) & (ratio < 1.6)), ratio
    slope, se = p.exponent(1e-4, 1e-3)
    assert abs(slope - 1.5) <= 0.3, (slope, se)
    assert np.all(p.z_glass() <= 3)
    assert np.all(p.crossings > 0)
    # at s = 1e-9 nothing is crossed and the residual is rounding
    q = dd.glass_probe(problem, W, [1e-9, 1e-8, 1e-7], n_directions=8, sigmas=(1e-3,))
    assert np.all(q.crossings == 0) and np.all(q.residual <= 1e-12 * abs(q.loss) + 1e-14)


def test_run_method_records_epochs_clock_and_gradients(problem):
    r = dd.run_method(problem, "Alice glass", dd.METHODS["Alice glass"], 0, 2)
    a = dd.run_method(problem, "Adam", dd.METHODS["Adam"], 0, 2)
    spe = problem.steps_per_epoch
    assert r.gradients.tolist() == [0, 3 * spe, 6 * spe] and a.gradients.tolist() == [0, spe, 2 * spe]
    assert np.all(np.diff(r.seconds) > 0) and r.seconds[0] == 0
    assert r.train_loss[-1] < r.train_loss[0] and a.train_loss[-1] < a.train_loss[0]
    assert r.status == "success" and 0 <= a.test_accuracy[-1] <= 1
    runs = dd.ablation(problem, [0, 1], 1, {"SGDM": dd.METHODS["SGDM"]})
    mean, se = dd.summary(runs["SGDM"], "train_loss")
    losses = np.array([r.train_loss for r in runs["SGDM"]])
    assert mean.shape == (2,) and np.allclose(mean, losses.mean(axis=0))
    assert np.allclose(se, losses.std(axis=0, ddof=1) / math.sqrt(2)) and np.all(se > 0)   # each seed its own init


def test_alice_on_the_mlp_matches_its_transcription_through_the_runner(problem):
    """Through generated gradients: the runner's Alice equals direct stepper calls (same draws)."""
    alice = d.Alice(lr=5e-3, lr_max=1e-2, seed=4)
    field = problem.minibatch_field([4])
    W = problem.init([4])
    traj = op.optimize(alice, field, W, 15)
    y, state = W, alice.init(field, 0, W)
    for k in range(15):
        s = alice.step(field, k, y, k + 1, state)
        y, state = s.y, s.state
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(traj.final, y)) == 0.0


def test_bad_options(problem):
    with pytest.raises(OptionError):
        dd.digits_problem((10, 5, 10))
    with pytest.raises(OptionError):
        dd.digits_problem((64, 5, 10), batch_size=0)
    W = problem.init([0, 1])
    with pytest.raises(OptionError):
        dd.glass_probe(problem, W, [1e-3])
    with pytest.raises(OptionError):
        dd.glass_probe(problem, problem.init([0]), [-1e-3])
    with pytest.raises(OptionError):
        dd.run_method(problem, "Adam", dd.METHODS["Adam"], 0, 0)
    p = dd.glass_probe(problem, problem.init([0]), [1e-4, 1e-3], n_directions=4, sigmas=(1e-3,))
    with pytest.raises(OptionError):
        p.exponent(1e-4, 1e-3)
