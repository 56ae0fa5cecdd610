"""Nonlinear networks: activations, losses, backward pass, per-neuron balance, bad input (about 10 s)."""

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import curvsym as cs
from curvsym import nonlinear as nl
from curvsym import rules
from curvsym.codegen import generate_expressions
from curvsym.kernels import entrywise
from curvsym.symbolic import activations as acts
from curvsym.symbolic.calculus import time_derivative

ACTIVATIONS = ["identity", "relu", "leaky_relu(0.1)", "tanh", "softplus(2)"]


def _problem(widths, act, loss="mse", bias=True, m=4, decay=0, seed=0):
    model = nl.data_model(cs.chain(widths, activation=act, bias=bias), m, loss=loss, weight_decay=decay)
    rng = np.random.default_rng(seed)
    params = nl.init_parameters(model, seed, 1.0, 0.5)
    X, Y = nl.data_arrays(model, rng.standard_normal((widths[0], m)), rng.integers(0, widths[-1], m))
    return model, params, X, Y


# --------------------------------------------------------------------------- gradients

@settings(max_examples=30, deadline=None)
@given(widths=st.lists(st.integers(1, 4), min_size=2, max_size=4), act=st.sampled_from(ACTIVATIONS),
       loss=st.sampled_from(["mse", "cross_entropy"]), bias=st.booleans(), m=st.integers(1, 3),
       decay=st.sampled_from([0, sp.Rational(1, 10)]), seed=st.integers(0, 10_000))
def test_gradient_matches_finite_differences(widths, act, loss, bias, m, decay, seed):
    model, params, X, Y = _problem(widths, act, loss, bias, m, decay, seed)
    fw = nl.forward(model)
    Z = generate_expressions(model, "Z", [fw.Z[v] for v in model.network.order[1:]])
    assume(min(float(np.min(np.abs(z))) for z in Z(params, X, Y)) > 1e-3)  # no kink within the FD stencil
    grad = generate_expressions(model, "grad", list(model.gradient()))(params, X, Y)
    L = generate_expressions(model, "loss", [model.loss()])
    eps = 1e-6
    for k, p in enumerate(params):
        for idx in np.ndindex(p.shape):
            plus = [q.copy() for q in params]
            minus = [q.copy() for q in params]
            plus[k][idx] += eps
            minus[k][idx] -= eps
            fd = (float(L(plus, X, Y)[0]) - float(L(minus, X, Y)[0])) / (2 * eps)
            assert abs(fd - grad[k][idx]) <= 1e-6 * (1 + abs(fd)), (k, idx, fd, grad[k][idx])


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_mpmath_backend_agrees_with_float(act, loss):
    model, params, X, Y = _problem([3, 4, 3], act, loss)
    flow = nl.gradient_flow(model)
    f = cs.generate_flow(flow)(params, X, Y)
    with mpmath.workdps(30):
        g = cs.generate_flow(flow, "mpmath")(cs.to_mp(params, 30), *cs.to_mp((X, Y), 30))
    for a, b in zip(f, g):
        np.testing.assert_allclose(a, np.asarray(b, dtype=float), rtol=1e-13, atol=1e-15)


def test_torch_autograd_agrees_to_1e_12():
    torch = pytest.importorskip("torch")
    model, params, X, Y = _problem([3, 5, 4, 3], "relu", "cross_entropy", m=6)
    grad = generate_expressions(model, "grad", list(model.gradient()), backend="array_api")
    tp = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in params]
    tX, tY = torch.tensor(X), torch.tensor(Y)
    ours = grad(tp, tX, tY)
    H = tX
    for W, b in zip(tp[0:-2:2], tp[1:-2:2]):
        H = torch.relu(W @ H + b)
    out = tp[-2] @ H + tp[-1]
    loss = -(tY * torch.log_softmax(out, dim=0)).sum() / X.shape[1]
    ref = torch.autograd.grad(loss, tp)
    for a, b in zip(ours, ref):
        assert float((a.detach() - b).abs().max()) <= 1e-12 * max(1.0, float(b.abs().max()))


@pytest.mark.parametrize("N", [2, 3, 4, 6])
def test_backward_pass_costs_3n_minus_1_products(N):
    model = nl.data_model(cs.chain([3] * (N + 1), activation="relu"), 5)
    rhs = cs.generate_flow(nl.gradient_flow(model))
    assert rhs.n_products == 3 * N - 1  # forward N, backward N − 1, outer N
    assert "_relu(" in rhs.source and " * " in rhs.source and "del " in rhs.source


def test_a_linear_data_model_is_the_population_model():
    """Without activations or biases, the data loss with Y = TX is the population loss with Σx = XXᵀ/m."""
    net = cs.chain([3, 4, 2])
    model = nl.data_model(net, 7)
    rng = np.random.default_rng(1)
    params = nl.init_parameters(model, 1)
    X, T = rng.standard_normal((3, 7)), rng.standard_normal((2, 3))
    data_flow = cs.generate_flow(cs.gradient_flow(model))(params, X, T @ X)
    pop_flow = cs.generate_flow(cs.gradient_flow(cs.model(net)))(params, X @ X.T / 7, T)
    for a, b in zip(data_flow, pop_flow):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_flow_prints_and_carries_its_state_order():
    model = nl.data_model(cs.chain([2, 3, 2], activation="relu", bias=True), 4)
    flow = rules.gd().flow(model)
    assert [w.name for w in model.weights] == ["W_1", "b_1", "W_2", "b_2"]
    text = flow.latex()
    assert r"\operatorname{relu}" in text and r"\circ" in text and r"\operatorname{relu}'" in text
    rhs = cs.generate_flow(flow)
    assert rhs.arg_names == ("W_1", "b_1", "W_2", "b_2", "X", "Y") and rhs.polynomial and rhs.piecewise
    assert "_broadcast(b_1, 4, xp)" in rhs.source


def test_time_derivative_of_an_activation_is_the_chain_rule():
    W, V = sp.MatrixSymbol("W", 3, 2), sp.MatrixSymbol("V", 3, 2)
    X = sp.MatrixSymbol("X", 2, 4)
    rng = np.random.default_rng(2)
    w, v, x = rng.standard_normal((3, 2)), rng.standard_normal((3, 2)), rng.standard_normal((2, 4))
    for act in ("tanh", "softplus(3)", "leaky_relu(1/5)"):
        e = acts.activation(act)(sp.MatMul(W, X))
        f = cs.codegen.generate("f", [W, X], [e])
        df = cs.codegen.generate("df", [W, X, V], [time_derivative(e, {W: V})])
        fd = (f.raw(w + 1e-6 * v, x)[0] - f.raw(w - 1e-6 * v, x)[0]) / 2e-6
        np.testing.assert_allclose(df.raw(w, x, v)[0], fd, rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------------- activations

def test_activation_registry_parses_without_evaluating():
    a = acts.activation("leaky_relu(0.1)")
    assert a.params == (sp.Rational(1, 10),) and str(a) == "leaky_relu(1/10)" and a.homogeneous
    assert acts.activation(("softplus", 2)).params == (2,) and not acts.activation("softplus(beta=2)").homogeneous
    assert acts.activation("relu").piecewise and acts.activation(None).is_identity
    with pytest.raises(cs.UnknownNameError, match="known: identity, relu, leaky_relu"):
        acts.activation("rleu")
    with pytest.raises(cs.UnknownNameError):
        acts.activation("__import__('os')")
    for bad in ("leaky_relu(2)", "softplus(0)", "relu(1)", "softplus(1e999)", "leaky_relu(os)"):
        with pytest.raises(cs.OptionError):
            acts.activation(bad)


def test_kernels_are_stable_and_agree_with_mpmath():
    Z = np.array([[-800.0, -1.0, 0.0], [1e-3, 2.0, 800.0]])
    sp_ = entrywise._softplus_array(Z, 0, 2.0, np)
    assert np.all(np.isfinite(sp_)) and sp_[1, 2] == 800.0 and sp_[0, 0] == 0.0
    sm = entrywise._softmax_array(Z, np)
    np.testing.assert_allclose(sm.sum(axis=0), 1.0)
    with mpmath.workdps(30):
        Zm = cs.to_mp([Z], 30)[0]
        for k in (0, 1, 2):
            np.testing.assert_allclose(entrywise._tanh_array(Z, k, np), np.asarray(entrywise._tanh_mp(Zm, k, None), float),
                                       rtol=1e-14, atol=1e-300)
            np.testing.assert_allclose(entrywise._softplus_array(Z, k, 2.0, np),
                                       np.asarray(entrywise._softplus_mp(Zm, k, 2, None), float), rtol=1e-14, atol=1e-300)
        for k in (0, 1):
            np.testing.assert_allclose(entrywise._relu_array(Z, k, np), np.asarray(entrywise._relu_mp(Zm, k, None), float))
        np.testing.assert_allclose(np.asarray(entrywise._softmax_mp(Zm, None), float), sm, rtol=1e-14, atol=1e-300)


# --------------------------------------------------------------------------- per-neuron balance

@pytest.mark.parametrize("act,holds,full", [("identity", True, True), ("relu", True, False),
                                            ("leaky_relu(0.3)", True, False), ("tanh", False, False),
                                            ("softplus(5)", False, False)])
def test_per_neuron_balance_proof(act, holds, full):
    model = nl.data_model(cs.chain([2, 3, 3, 2], activation=act, bias=True), 3, loss="cross_entropy")
    proofs = nl.prove_neuron_balance(nl.gradient_flow(model))
    assert len(proofs) == 2
    assert all(p.holds == holds and p.full_matrix == full and p.structural for p in proofs)
    if not holds:
        z, value = proofs[0].witness
        assert abs(float(value)) > 1e-3


def test_per_neuron_balance_derivative_vanishes_numerically_only_for_homogeneous():
    """Independent route: dq/dt along the flow, generated and evaluated at a random point."""
    for act, zero in (("relu", True), ("leaky_relu(0.2)", True), ("tanh", False)):
        model, params, X, Y = _problem([3, 4, 2], act, "mse", m=5, seed=3)
        flow = nl.gradient_flow(model)
        vel = dict(zip(model.weights, flow.velocities))
        dq = [time_derivative(q, vel) for q in nl.neuron_balance(model)]
        value = generate_expressions(model, "dq", dq)(params, X, Y)[0]
        assert (float(np.max(np.abs(value))) < 1e-13) == zero, (act, value)


def test_weight_decay_breaks_per_neuron_balance():
    model = nl.data_model(cs.chain([2, 3, 2], activation="relu", bias=True), 3, weight_decay=sp.Symbol("lam"))
    flow = nl.gradient_flow(model)
    assert flow.parameters == (sp.Symbol("lam"),)
    assert not nl.prove_neuron_balance(flow)[0].structural


# --------------------------------------------------------------------------- bad input

def test_bad_input_raises_named_errors():
    with pytest.raises(cs.ArchitectureError, match="output node"):
        g = __import__("networkx").DiGraph()
        g.add_node(0, width=2)
        g.add_node(1, width=2, activation="relu")
        g.add_edge(0, 1)
        cs.from_graph(g)
    with pytest.raises(cs.ArchitectureError, match="one activation per hidden node"):
        cs.chain([2, 3, 3, 2], activation=["relu"])
    relu_net = cs.chain([2, 3, 2], activation="relu")
    with pytest.raises(cs.ArchitectureError, match="data_model"):
        cs.model(relu_net)
    with pytest.raises(cs.OptionError):
        nl.data_model(relu_net, 0)
    with pytest.raises(cs.UnknownNameError):
        nl.data_model(relu_net, 3, loss="hinge")
    with pytest.raises(cs.OptionError):
        nl.data_model(relu_net, 3, weight_decay=-1)
    model = nl.data_model(relu_net, 3, loss="cross_entropy")
    with pytest.raises(cs.ArchitectureError, match="linear"):
        rules.kfac().flow(model)
    with pytest.raises(cs.ShapeError, match="X must be"):
        nl.data_arrays(model, np.zeros((3, 3)), [0, 1, 0])
    with pytest.raises(cs.NonFiniteError):
        nl.data_arrays(model, np.full((2, 3), np.nan), [0, 1, 0])
    with pytest.raises(cs.LabelError, match="outside the classes"):
        nl.data_arrays(model, np.zeros((2, 3)), [0, 1, 2])
    with pytest.raises(cs.LabelError, match="probability"):
        nl.data_arrays(model, np.zeros((2, 3)), np.ones((2, 3)))
    with pytest.raises(cs.ShapeError):
        nl.data_arrays(model, np.zeros((2, 3)), [0, 1])
    rhs = cs.generate_flow(nl.gradient_flow(model))
    params = nl.init_parameters(model)
    with pytest.raises(cs.ShapeError):
        rhs(params, np.zeros((2, 4)), np.zeros((2, 4)))
    with pytest.raises(cs.NonFiniteError):
        rhs(params, np.full((2, 3), np.inf), np.zeros((2, 3)))
