import numpy as np
import pytest
import sympy as sp
from curvsym.derive import display, noncommutative
from curvsym.problems import random_instance
from hypothesis import given, settings
from hypothesis import strategies as st

import curvsym as cs
from curvsym.codegen import generate_expressions


def _fd_gradient(loss_fn, ws, data, eps=1e-6):
    grads = []
    for k, w in enumerate(ws):
        g = np.zeros_like(w)
        for idx in np.ndindex(w.shape):
            plus = [x.copy() for x in ws]; minus = [x.copy() for x in ws]
            plus[k][idx] += eps; minus[k][idx] -= eps
            g[idx] = (loss_fn(plus, *data)[0] - loss_fn(minus, *data)[0]) / (2 * eps)
        grads.append(g)
    return grads


@settings(max_examples=8, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=2, max_size=5), st.integers(0, 10_000))
def test_symbolic_gradient_matches_finite_differences(widths, seed):
    net = cs.chain(widths)
    m = cs.model(net)
    inst = random_instance(net, seed=seed, scale=1.0)
    loss_fn = generate_expressions(m, "loss", [cs.loss(m)])
    grad_fn = generate_expressions(m, "grad", list(cs.gradient(m)))
    sym = grad_fn(inst.weights, *inst.data())
    fd = _fd_gradient(loss_fn, inst.weights, inst.data())
    for a, b in zip(sym, fd):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_resnet_gradient_matches_finite_differences():
    net = cs.resnet(3, 3)
    m = cs.model(net)
    inst = random_instance(net, seed=3, scale=0.3)
    loss_fn = generate_expressions(m, "loss", [cs.loss(m)])
    sym = generate_expressions(m, "grad", list(cs.gradient(m)))(inst.weights, *inst.data())
    for a, b in zip(sym, _fd_gradient(loss_fn, inst.weights, inst.data())):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("N", [1, 2, 3, 4])
def test_adjoint_gradient_equals_sympy_matrix_calculus(N):
    """Independent route: SymPy's own d/dW of the trace, compared exactly in the free algebra."""
    m = cs.model(cs.deep_chain(N, 3))
    ours = cs.gradient(m)
    for W, g in zip(m.weights, ours):
        theirs = cs.loss(m).diff(W)
        diff = sp.MatAdd(g, sp.MatMul(-1, theirs))
        assert noncommutative(diff, [m.Sigma]) == 0


@pytest.mark.parametrize("N", range(2, 9))
def test_balance_conserved_exactly_up_to_depth_8(N):
    flow = cs.gradient_flow(cs.model(cs.deep_chain(N, 2)))
    proofs = cs.prove_conserved(flow)
    assert len(proofs) == N - 1 and all(p.holds for p in proofs)


def test_resnet_balance_of_blocks_conserved():
    flow = cs.gradient_flow(cs.model(cs.resnet(2, 4)))
    assert all(p.holds for p in cs.prove_conserved(flow))


def test_layer_dependent_step_sizes_break_balance():
    flow = cs.gradient_flow(cs.model(cs.chain([2, 3, 2])))
    proofs = cs.prove_conserved(cs.scaled_flow(flow, [1, sp.Rational(3, 2)]))
    assert not proofs[0].holds and proofs[0].n_terms > 0
    # equal scales stay in the row space: conserved again
    assert cs.prove_conserved(cs.scaled_flow(flow, [2, 2]))[0].holds


def test_balance_undefined_for_blocks_with_two_weights():
    import networkx as nx
    g = nx.DiGraph()
    for v in range(3):
        g.add_node(v, width=2)
    g.add_edge(0, 1); g.add_edge(1, 2); g.add_edge(0, 2)
    with pytest.raises(cs.ArchitectureError, match="exactly one"):
        cs.balance(cs.model(cs.from_graph(g)))


def test_end_to_end_velocity_matches_chain_rule_numerically(rng):
    net = cs.chain([2, 3, 3, 2])
    m = cs.model(net)
    flow = cs.gradient_flow(m)
    inst = random_instance(net, seed=1)
    v = generate_expressions(m, "v", [cs.end_to_end_velocity(flow)])(inst.weights, *inst.data())[0]
    rhs = cs.generate_flow(flow)
    h = 1e-6
    dws = rhs(inst.weights, *inst.data())
    Wp = np.linalg.multi_dot([w + h * d for w, d in zip(inst.weights, dws)][::-1])
    Wm = np.linalg.multi_dot([w - h * d for w, d in zip(inst.weights, dws)][::-1])
    np.testing.assert_allclose(v, (Wp - Wm) / (2 * h), rtol=1e-7, atol=1e-9)


def test_whitened_model_drops_sigma():
    m = cs.model(cs.chain([2, 2, 2]), whitened=True)
    flow = cs.gradient_flow(m)
    assert "Sigma" not in str(display(flow.velocities[0], m))
    assert cs.generate_flow(flow).arg_names == ("W_1", "W_2", "T")


def test_latex_rendering():
    tex = cs.gradient_flow(cs.model(cs.chain([2, 3, 2]))).latex()
    assert tex.startswith("\\begin{aligned}") and "\\dot{W_{1}}" in tex and "\\Sigma_{x}" in tex
    assert "W_{2}^{T}" in tex
