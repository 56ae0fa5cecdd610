"""Array-API code on several backends, batched ensembles, and backend errors (GPU tests skip without a GPU)."""

import numpy as np
import pytest
import sympy as sp
from curvsym.problems import conditioned_instance, random_instance

import curvsym as cs
from curvsym import backends, ensemble, rules

RULES = [rules.gd(), rules.natural_gradient(), rules.natural_gradient(q=sp.Rational(1, 2)),
         rules.kfac(q=sp.Rational(1, 2)), rules.bernacchia()]


def _instance():
    net = cs.chain([3, 3, 3])
    return cs.model(net), conditioned_instance(net, seed=4)


def _compare_on(name, device=None):
    m, inst = _instance()
    for rule in RULES:
        ref = cs.generate_flow(rule.flow(m))(inst.weights, *inst.data())
        arrays = backends.to_backend([*inst.weights, *inst.data()], name, device=device)
        got = cs.generate_flow(rule.flow(m), "array_api")(arrays[:2], *arrays[2:])
        for a, b in zip(got, ref):
            a = np.asarray(a.cpu() if hasattr(a, "cpu") else a)
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13, err_msg=f"{rule.name} on {name}")


def test_every_rule_runs_under_array_api_strict():
    pytest.importorskip("array_api_strict")
    _compare_on("array_api_strict")


@pytest.mark.parametrize("name", ["torch", "jax"])
def test_every_rule_on_optional_cpu_backends(name):
    try:
        backends.namespace(name)
    except backends.BackendError:
        pytest.skip(f"{name} not installed")
    _compare_on(name)


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["torch", "cupy", "jax"])
def test_every_rule_on_gpu(name):
    if not backends.has_gpu(name):
        pytest.skip(f"no GPU visible to {name}")
    _compare_on(name, device="cuda" if name == "torch" else None)


def _ensemble_setting(B=4):
    net = cs.chain([2, 3, 2])
    m = cs.model(net)
    insts = [random_instance(net, seed=b, scale=0.9) for b in range(B)]
    W = [np.stack([i.weights[k] for i in insts]) for k in range(net.depth)]
    return m, W, insts[0].Sigma, insts[0].T


@pytest.mark.parametrize("method", ["dopri5", "rk4", "gd"])
def test_ensemble_member_equals_single_trajectory(method):
    m, W, S, T = _ensemble_setting()
    rhs = cs.generate_flow(cs.gradient_flow(m))
    run = {"dopri5": lambda w: ensemble.dopri5(rhs, w, [S, T], [0, 0.5, 2], rtol=1e-10, atol=1e-12),
           "rk4": lambda w: ensemble.rk4(rhs, w, [S, T], [0, 0.5, 2], dt=0.05),
           "gd": lambda w: ensemble.gd(rhs, w, [S, T], eta=0.05, n_steps=40, record_every=20)}[method]
    batch = run(W)
    for b in range(W[0].shape[0]):
        single = run([w[b:b + 1] for w in W])
        for x, y in zip(batch.final, single.final):
            np.testing.assert_allclose(x[b], y[0], rtol=1e-13, atol=1e-14)


def test_dopri5_ensemble_matches_scipy_dop853():
    m, W, S, T = _ensemble_setting()
    rhs = cs.generate_flow(cs.gradient_flow(m))
    batch = ensemble.dopri5(rhs, W, [S, T], [0, 1, 3], rtol=1e-11, atol=1e-13)
    for b in range(W[0].shape[0]):
        ref = cs.integrate_double(rhs, [w[b] for w in W], [S, T], [0, 1, 3])
        for x, y in zip(batch.final, ref.final):
            np.testing.assert_allclose(x[b], y, rtol=1e-8, atol=1e-9)


def test_rk4_is_fourth_order():
    m, W, S, T = _ensemble_setting(B=2)
    rhs = cs.generate_flow(cs.gradient_flow(m))
    exact = ensemble.dopri5(rhs, W, [S, T], [0, 1], rtol=1e-13, atol=1e-14).final
    errs = [max(np.max(np.abs(x - y)) for x, y in zip(ensemble.rk4(rhs, W, [S, T], [0, 1], dt=h).final, exact))
            for h in (0.02, 0.01)]
    assert 14 < errs[0] / errs[1] < 18  # 2^4 = 16


def test_ensemble_under_array_api_strict_with_natural_gradient():
    xp = pytest.importorskip("array_api_strict")
    m, W, S, T = _ensemble_setting(B=3)
    rhs = cs.generate_flow(rules.natural_gradient().flow(m), "array_api")
    ref = ensemble.dopri5(rhs, W, [S, T], [0, 0.5], rtol=1e-9, atol=1e-11)
    got = ensemble.dopri5(rhs, [xp.asarray(w) for w in W], [xp.asarray(S), xp.asarray(T)], [0, 0.5],
                          rtol=1e-9, atol=1e-11)
    for x, y in zip(got.final, ref.final):
        np.testing.assert_allclose(np.asarray(x), y, rtol=1e-12, atol=1e-13)


def test_batched_data_per_trajectory():
    m, W, S, T = _ensemble_setting(B=3)
    Ts = np.stack([T, 2 * T, -T])
    rhs = cs.generate_flow(cs.gradient_flow(m))
    batch = ensemble.rk4(rhs, W, [S, Ts], [0, 0.5], dt=0.05)
    single = ensemble.rk4(rhs, [w[1:2] for w in W], [S, 2 * T], [0, 0.5], dt=0.05)
    for x, y in zip(batch.final, single.final):
        np.testing.assert_allclose(x[1], y[0], rtol=1e-13)


def test_missing_backend_is_named_with_install_hint():
    for name in ("cupy", "jax", "torch"):
        try:
            backends.namespace(name)
        except backends.BackendError as exc:
            assert name in str(exc) and "pip install" in str(exc)
            return
    pytest.skip("every optional backend is installed here")


def test_unknown_backend():
    with pytest.raises(backends.BackendError, match="unknown array backend"):
        backends.namespace("fortran")


def test_mixed_libraries_devices_and_dtypes_are_refused():
    xp = pytest.importorskip("array_api_strict")
    m, inst = _instance()
    rhs = cs.generate_flow(cs.gradient_flow(m), "array_api")
    w = [xp.asarray(a) for a in inst.weights]
    with pytest.raises(backends.BackendError, match="mix array libraries"):
        rhs(w, inst.Sigma, xp.asarray(inst.T))
    other = xp.Device("device1")
    with pytest.raises(backends.BackendError, match="different devices"):
        rhs(w, xp.asarray(inst.Sigma, device=other), xp.asarray(inst.T, device=other))
    with pytest.raises(backends.BackendError, match="different dtypes"):
        rhs([xp.asarray(a, dtype=xp.float32) for a in inst.weights], xp.asarray(inst.Sigma), xp.asarray(inst.T))


def test_ensemble_divergence_is_reported():
    m, W, S, T = _ensemble_setting(B=2)
    rhs = cs.generate_flow(cs.gradient_flow(m))
    big = [50 * w for w in W]
    with np.errstate(all="ignore"), pytest.raises(cs.DivergenceError):
        ensemble.rk4(rhs, big, [S, T], [0, 1], dt=0.5)


def test_ensemble_bench_runs_on_numpy():
    from curvsym.bench import bench_ensemble
    rows = bench_ensemble(["numpy"], sizes=((16, 2, 4),), steps=1)
    assert rows[0].name.startswith("e. ensemble RK4 B=16") and "traj·steps/s" in rows[0].note


@pytest.mark.parametrize("name", ["numpy", "array_api_strict", "torch"])
def test_rk4_and_gd_updates_in_place_leave_the_inputs_and_give_the_textbook_bits(name):
    """RK4 and the GD step map add into their own fresh temporaries in place: the caller's weights are not
    touched, and the states are bitwise those of the textbook out-of-place formulas
    y + (h/6)(k1 + 2k2 + 2k3 + k4) and y + η v on the same backend (on PyTorch, whose fused
    ``add(…, alpha=)`` may round the multiply-add once, to a few units in the last place)."""
    if name != "numpy":
        pytest.importorskip(name)
    m, inst = _instance()
    rhs = cs.generate_flow(cs.gradient_flow(m), "array_api")
    arrays = backends.to_backend([*inst.weights, *inst.data()], name)
    ws, data = list(arrays[:2]), tuple(arrays[2:])
    before = [np.array(np.asarray(w), copy=True) for w in ws]
    f = lambda y: rhs.raw(*y, *data)  # noqa: E731
    h, eta = 0.05, 0.05
    k1 = f(ws)
    k2 = f([a + (h / 2) * b for a, b in zip(ws, k1)])
    k3 = f([a + (h / 2) * b for a, b in zip(ws, k2)])
    k4 = f([a + h * b for a, b in zip(ws, k3)])
    rk4_want = [a + (h / 6) * (b + 2 * c + 2 * d + e) for a, b, c, d, e in zip(ws, k1, k2, k3, k4)]
    gd_want = [a + eta * v for a, v in zip(ws, k1)]
    batched = [w[None, ...] for w in ws]
    rk4_got = ensemble.rk4(rhs, batched, data, [0.0, h], dt=h).final
    gd_got = ensemble.iterate(rhs, batched, data, eta, 1).final
    for got, want in ((rk4_got, rk4_want), (gd_got, gd_want)):
        for g, w in zip(got, want):
            g, w = np.asarray(g[0, ...]), np.asarray(w)
            if name == "torch":
                assert np.max(np.abs(g - w)) <= 4 * 2.0 ** -52 * np.max(np.abs(w))
            else:
                assert np.array_equal(g, w)
    assert all(np.array_equal(np.asarray(w), b) for w, b in zip(ws, before))
    assert all(np.array_equal(np.asarray(w[0, ...]), b) for w, b in zip(batched, before))


def test_torch_loop_rows_compare_states_or_skip_without_torch():
    from curvsym.bench import bench_torch_loops
    rows = bench_torch_loops(sizes=((2, 2, 4),), steps=2, repeats=1)
    try:
        import torch  # noqa: F401
    except ImportError:
        assert rows[0].met is None and "not installed" in rows[0].note
        return
    assert [r.name.split()[2] for r in rows] == ["RK4", "GD"]
    for r in rows:
        assert float(r.note.rsplit("agree to ", 1)[1]) < 1e-12 and r.target == "ratio ≤ 1"
