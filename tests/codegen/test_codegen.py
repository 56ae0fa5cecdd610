import importlib.util

import mpmath
import numpy as np
import pytest
from curvsym.problems import random_instance

import curvsym as cs


@pytest.mark.parametrize("N", [2, 3, 4, 8, 16, 32])
def test_gradient_flow_uses_linear_number_of_products(N):
    rhs = cs.generate_flow(cs.gradient_flow(cs.model(cs.deep_chain(N, 3))))
    assert rhs.n_products == 3 * N - 2  # forward N−1, (W−T)Σx 1, backward N−1, outer N


def test_resnet_products_linear_in_depth():
    counts = [cs.generate_flow(cs.gradient_flow(cs.model(cs.resnet(2, N)))).n_products for N in (2, 4, 8)]
    assert counts == [3 * N - 2 for N in (2, 4, 8)]


def _product(mats, n):
    """M_k ⋯ M_1 for mats = [M_1, …, M_k]; the n×n identity when empty."""
    out = np.eye(n)
    for M in mats:
        out = M @ out
    return out


def _reference_gf(ws, S, T):
    """dW_i/dt = −W_{>i}ᵀ (W − T) Σx W_{<i}ᵀ with dense products."""
    G = (_product(ws, S.shape[0]) - T) @ S
    return [-_product(ws[i + 1:], ws[i].shape[0]).T @ G @ _product(ws[:i], S.shape[0]).T for i in range(len(ws))]


@pytest.mark.parametrize("widths", [[2, 3], [3, 4, 2], [2, 5, 1, 3, 2]])
def test_generated_rhs_matches_dense_reference(widths):
    net = cs.chain(widths)
    inst = random_instance(net, seed=len(widths))
    got = cs.generate_flow(cs.gradient_flow(cs.model(net)))(inst.weights, *inst.data())
    for a, b in zip(got, _reference_gf(list(inst.weights), inst.Sigma, inst.T)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)


def test_written_source_is_importable_and_identical(tmp_path):
    net = cs.chain([2, 3, 2])
    rhs = cs.generate_flow(cs.gradient_flow(cs.model(net)))
    path = rhs.write(tmp_path / "gf.py")
    text = path.read_text()
    assert "def gradient_flow(W_1, W_2, Sigma_x, T, xp=np)" in text and " @ " in text
    assert "gradient_flow(W_1, W_2, Sigma_x, T, xp=np)" in text.split('"""')[1]  # the docstring states it
    spec = importlib.util.spec_from_file_location("gf", path)
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    inst = random_instance(net, seed=2)
    a = mod.gradient_flow(*inst.weights, *inst.data())
    b = rhs(inst.weights, *inst.data())
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("make", [lambda m: cs.gradient_flow(m), lambda m: cs.rules.natural_gradient().flow(m),
                                  lambda m: cs.rules.kfac(q=0.5).flow(m)], ids=["gd", "ngd", "kfac-half"])
def test_written_module_runs_with_numpy_alone(tmp_path, make):
    """The written file inlines the kernels it calls: it imports, and agrees, with curvsym made unimportable."""
    import subprocess
    import sys
    net = cs.chain([3, 3, 3])
    rhs = cs.generate_flow(make(cs.model(net)))
    rhs.write(tmp_path / "flow_module.py")
    inst = random_instance(net, seed=4, scale=1.0)
    np.savez(tmp_path / "inputs.npz", *inst.weights, *inst.data())
    code = ("import sys; sys.modules['curvsym'] = None\n"
            f"sys.path.insert(0, {str(tmp_path)!r})\n"
            "import numpy as np, flow_module\n"
            f"a = np.load({str(tmp_path / 'inputs.npz')!r}); args = [a[f'arr_{{k}}'] for k in range(len(a.files))]\n"
            f"out = flow_module.{rhs.func.__name__}(*args)\n"
            f"np.save({str(tmp_path / 'out.npy')!r}, np.stack(out))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    got = np.load(tmp_path / "out.npy")
    np.testing.assert_allclose(got, np.stack(rhs(inst.weights, *inst.data())), rtol=1e-14, atol=1e-15)


def test_mpmath_backend_agrees_with_numpy_and_keeps_rationals_exact():
    import sympy as sp
    net = cs.chain([2, 2, 2])
    flow = cs.scaled_flow(cs.gradient_flow(cs.model(net)), [1, sp.Rational(1, 3)])
    src = cs.generate_flow(flow, "mpmath").source
    assert "mpf(1)/3" in src
    inst = random_instance(net, seed=5)
    f64 = cs.generate_flow(flow)(inst.weights, *inst.data())
    with mpmath.workdps(40):
        hp = cs.generate_flow(flow, "mpmath")(cs.to_mp(inst.weights, 40), *cs.to_mp(inst.data(), 40))
        # exact third: 3·(velocity_2) equals the unscaled velocity to 40 digits
        ref = cs.generate_flow(cs.gradient_flow(cs.model(net)), "mpmath")(cs.to_mp(inst.weights, 40),
                                                                          *cs.to_mp(inst.data(), 40))
        assert max(abs(v) for v in (3 * hp[1] - ref[1]).flat) < mpmath.mpf(10) ** -38
    for a, b in zip(f64, cs.to_float(hp)):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)


def test_array_api_strict_runs_generated_code():
    xp = pytest.importorskip("array_api_strict")
    net = cs.resnet(3, 3)  # exercises the identity constant too
    flow = cs.gradient_flow(cs.model(net))
    inst = random_instance(net, seed=9)
    ref = cs.generate_flow(flow)(inst.weights, *inst.data())
    rhs = cs.generate_flow(flow, "array_api")
    got = rhs([xp.asarray(w) for w in inst.weights], *[xp.asarray(d) for d in inst.data()])
    for a, b in zip(got, ref):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-13, atol=1e-14)


def test_bad_inputs_are_named():
    net = cs.chain([2, 3, 2])
    rhs = cs.generate_flow(cs.gradient_flow(cs.model(net)))
    inst = random_instance(net)
    with pytest.raises(cs.ShapeError, match="W_1 must have shape"):
        rhs([np.zeros((2, 2)), inst.weights[1]], *inst.data())
    with pytest.raises(cs.ShapeError, match="expected 2 weight"):
        rhs(inst.weights[:1], *inst.data())
    bad = inst.weights[0].copy(); bad[0, 0] = np.nan
    with pytest.raises(cs.NonFiniteError, match="W_1"):
        rhs([bad, inst.weights[1]], *inst.data())
    with pytest.raises(cs.ShapeError, match="Sigma_x"):
        rhs(inst.weights, np.eye(3), inst.T)



@pytest.mark.parametrize("rule", ["gradient", "kfac", "ngd", "bernacchia"])
def test_folded_negation_gives_the_same_bits_and_no_negated_outputs(rule, monkeypatch):
    """matrix_cse moves the −1 of −W_{>i}ᵀ(W − T)Σx W_{<i}ᵀ into the shared sum (T − W): the generated
    values are bitwise those of the unfolded expressions (negation is exact), the product count is unchanged,
    and the gradient flow returns its temporaries with no negation pass."""
    from curvsym.codegen import cse
    from curvsym.codegen.generate import generate
    from curvsym.symbolic import rules
    net = cs.chain([3, 4, 3, 2] if rule in ("gradient", "ngd") else [3, 3, 3, 3])  # K-FAC needs full rank
    m = cs.model(net)
    flow = {"gradient": cs.gradient_flow(m), "kfac": rules.kfac().flow(m), "ngd": rules.natural_gradient().flow(m),
            "bernacchia": rules.bernacchia().flow(m)}[rule]
    args = (flow.name, [*m.weights, *m.data_symbols], flow.velocities, flow.parameters, "numpy")
    folded = generate(*args, n_weights=len(m.weights))
    monkeypatch.setattr(cse, "fold_negation", lambda e, counts=None: e)
    plain = generate(*args, n_weights=len(m.weights))
    inst = random_instance(net, seed=2)
    got, want = folded.raw(*inst.weights, *inst.data()), plain.raw(*inst.weights, *inst.data())
    assert all(np.array_equal(a, b) for a, b in zip(got, want))
    assert folded.source.count("@") == plain.source.count("@")
    if rule in ("gradient", "kfac"):  # one sum on every chain: folded, no negated output left
        assert "-" not in folded.source.splitlines()[-1] and "T - " in folded.source
        assert "-" in plain.source.splitlines()[-1] or "-(" in plain.source
