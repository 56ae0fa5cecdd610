"""Hessians (symbolic HVP vs finite differences, dense vs Lanczos), flat-minimum bounds, coupling."""

import mpmath
import numpy as np
import pytest
import sympy as sp
from curvsym.fisher import flat, unflat
from curvsym.problems import random_instance

import curvsym as cs
from curvsym import fisher
from curvsym import sharpness as sh
from curvsym.papers import mulayoff2020


@pytest.mark.parametrize("net", [cs.chain([2, 3, 2]), cs.resnet(2, 3), cs.chain([3, 2, 4, 2])],
                         ids=lambda n: n.describe())
def test_hessian_matches_finite_differences_of_the_gradient(net):
    m = cs.model(net)
    inst = random_instance(net, seed=4)
    H = sh.dense_hessian(m, inst.weights, inst.data())
    g = cs.generate_expressions(m, "g", list(cs.gradient(m)))
    x0, eps = flat(inst.weights), 1e-6
    fd = np.column_stack([
        (flat(g(unflat(x0 + eps * e, inst.weights), *inst.data())) -
         flat(g(unflat(x0 - eps * e, inst.weights), *inst.data()))) / (2 * eps) for e in np.eye(len(x0))])
    np.testing.assert_allclose(H, fd, atol=1e-8, rtol=1e-7)


def test_dense_and_lanczos_agree_on_both_ends_of_the_spectrum():
    net = cs.chain([3, 4, 3])
    m = cs.model(net)
    inst = random_instance(net, seed=1, scale=1.0)
    for f in (sh.sharpness, sh.min_curvature):
        assert f(m, inst.weights, inst.data(), "dense") == pytest.approx(f(m, inst.weights, inst.data(), "lanczos"),
                                                                          rel=1e-10, abs=1e-12)
    assert sh.min_curvature(m, inst.weights, inst.data()) < 0 < sh.sharpness(m, inst.weights, inst.data())


def test_hessian_equals_gauss_newton_at_a_global_minimum_only():
    rng = np.random.default_rng(2)
    T = rng.standard_normal((3, 3))
    m = cs.model(cs.deep_chain(3, 3), whitened=True)
    Wm = mulayoff2020.random_minimum(T, 3, rng)
    H, F = sh.dense_hessian(m, Wm, [T]), fisher.fisher(m, Wm, [T])
    assert np.max(np.abs(H - F)) < 1e-9 * np.max(np.abs(F))
    off = tuple(w + 0.1 for w in Wm)  # away from the minimum the residual term is non-zero
    assert np.max(np.abs(sh.dense_hessian(m, off, [T]) - fisher.fisher(m, off, [T]))) > 1e-3


@pytest.mark.parametrize("N", [2, 3, 4])
def test_balanced_minimum_attains_the_bound_and_random_ones_exceed_it(N):
    rng = np.random.default_rng(N)
    T = rng.standard_normal((3, 3))
    m = cs.model(cs.deep_chain(N, 3), whitened=True)
    bound = mulayoff2020.flat_bound(T, N)
    Wb = mulayoff2020.balanced_minimum(T, [3] * (N + 1), rng)
    assert np.allclose(np.linalg.multi_dot(Wb[::-1]) if N > 1 else Wb[0], T, atol=1e-12)
    assert sh.sharpness(m, Wb, [T]) == pytest.approx(bound, rel=1e-10)
    for _ in range(10):
        assert sh.sharpness(m, mulayoff2020.random_minimum(T, N, rng), [T]) >= bound * (1 - 1e-10)


def test_balanced_minimum_rejects_a_bottleneck():
    with pytest.raises(ValueError, match="bottleneck"):
        mulayoff2020.balanced_minimum(np.eye(3), [3, 2, 3])


def test_scalar_lagrange_solution():
    y = sp.Symbol("y", positive=True)
    sols, lam, rank_one = mulayoff2020.scalar_flattest(3)
    assert rank_one and len(sols) == 1
    assert all(sp.simplify(v - y ** sp.Rational(1, 3)) == 0 for k, v in sols[0].items() if str(k).startswith("w"))
    assert sp.simplify(lam - 3 * y ** sp.Rational(4, 3)) == 0


def test_exact_sharpness_in_mpmath_matches_float():
    net = cs.chain([2, 2, 2])
    m = cs.model(net, whitened=True)
    inst = random_instance(net, seed=3, whitened=True)
    with mpmath.workdps(30):
        W, D = fisher.as_mp(inst.weights, [inst.T], 30)
        lam_mp = sh.sharpness(m, W, D, method="dense")
    assert float(lam_mp) == pytest.approx(sh.sharpness(m, inst.weights, [inst.T]), rel=1e-12)


def test_coupling_separates_flat_from_sharp_minima():
    rng = np.random.default_rng(7)
    T = rng.standard_normal((4, 4))
    flat_c = mulayoff2020.coupling(mulayoff2020.balanced_minimum(T, [4, 6, 5, 4], rng), T)
    assert flat_c.residual() < 1e-10 and all(abs(a - 1) < 1e-10 for a in flat_c.left + flat_c.right)
    assert mulayoff2020.coupling(mulayoff2020.random_minimum(T, 3, rng), T).residual() > 1e-2


def test_gd_with_one_step_size_per_member():
    from curvsym import ensemble
    net = cs.chain([2, 2, 2])
    m = cs.model(net, whitened=True)
    rhs = cs.generate_flow(cs.gradient_flow(m))
    inst = random_instance(net, seed=1, whitened=True)
    W = [np.stack([w, w]) for w in inst.weights]
    both = ensemble.gd(rhs, W, [inst.T], eta=np.array([0.01, 0.05]), n_steps=10)
    for k, eta in enumerate((0.01, 0.05)):
        one = ensemble.gd(rhs, [w[k:k + 1] for w in W], [inst.T], eta=eta, n_steps=10)
        for x, y in zip(both.final, one.final):
            np.testing.assert_allclose(x[k], y[0], rtol=1e-14)
