import networkx as nx
import numpy as np
import pytest
from curvsym.derive import end_to_end

import curvsym as cs
from curvsym.codegen import generate_expressions


def test_chain_shapes():
    net = cs.chain([2, 5, 3])
    assert [e.shape for e in net.weights] == [(5, 2), (3, 5)]
    assert net.depth == 2 and net.n_in == 2 and net.n_out == 3


@pytest.mark.parametrize("bad, match", [
    ([3], "at least two widths"),
    ([3, 0, 2], "positive integer"),
    ([3, 2.5, 2], "positive integer"),
])
def test_chain_rejects_bad_widths(bad, match):
    with pytest.raises(cs.ArchitectureError, match=match):
        cs.chain(bad)


@pytest.mark.parametrize("depth", [0, -1, 2.0, True])
def test_depth_must_be_positive_integer(depth):
    with pytest.raises(cs.ArchitectureError, match="depth"):
        cs.resnet(3, depth)


def test_graph_validation():
    g = nx.DiGraph([(0, 1), (1, 0)])
    nx.set_node_attributes(g, 2, "width")
    with pytest.raises(cs.ArchitectureError, match="cycle"):
        cs.from_graph(g)
    g = nx.DiGraph([(0, 2), (1, 2)])
    nx.set_node_attributes(g, 2, "width")
    with pytest.raises(cs.ArchitectureError, match="one input"):
        cs.from_graph(g)
    g = nx.DiGraph()
    g.add_node(0, width=2); g.add_node(1, width=3)
    g.add_edge(0, 1, kind="identity")
    with pytest.raises(cs.ArchitectureError, match="identity edge"):
        cs.from_graph(g)


def _numeric_end_to_end(net, rng):
    m = cs.model(net)
    ws = [rng.standard_normal(e.shape) for e in net.weights]
    f = generate_expressions(m, "W", [end_to_end(m)])
    S, T = np.eye(net.n_in), np.zeros((net.n_out, net.n_in))
    return ws, f(ws, S, T)[0]


def test_resnet_end_to_end_is_product_of_blocks(rng):
    net = cs.resnet(3, 4)
    ws, W = _numeric_end_to_end(net, rng)
    expected = np.eye(3)
    for A in ws:
        expected = (np.eye(3) + A) @ expected
    np.testing.assert_allclose(W, expected, rtol=1e-13, atol=1e-13)


def test_resnet_end_to_end_equals_explicit_path_sum(rng):
    """Σ over all 2^N input→output paths of the edge products, enumerated by networkx."""
    net = cs.resnet(2, 3)
    ws, W = _numeric_end_to_end(net, rng)
    mats = {e.name: w for e, w in zip(net.weights, ws)}
    total = np.zeros((2, 2))
    for path in nx.all_simple_edge_paths(net.graph, net.input, net.output):
        P = np.eye(2)
        for (u, v, key) in path:
            data = net.graph.edges[u, v, key]
            P = (mats[data["name"]] if data["kind"] == "weight" else np.eye(2)) @ P
        total += P
    assert len(list(nx.all_simple_edge_paths(net.graph, net.input, net.output))) == 8
    np.testing.assert_allclose(W, total, rtol=1e-13, atol=1e-13)


def test_general_dag_with_long_skip(rng):
    """x ↦ W_3 W_2 W_1 x + W_4 x: a skip connection over the chain, by the same path sum."""
    g = nx.DiGraph()
    for v, n in enumerate([2, 3, 3, 2]):
        g.add_node(v, width=n)
    g.add_edge(0, 1, name="W_1"); g.add_edge(1, 2, name="W_2"); g.add_edge(2, 3, name="W_3")
    g.add_edge(0, 3, name="W_4")
    net = cs.from_graph(g)
    ws, W = _numeric_end_to_end(net, rng)
    d = {e.name: w for e, w in zip(net.weights, ws)}
    np.testing.assert_allclose(W, d["W_3"] @ d["W_2"] @ d["W_1"] + d["W_4"], rtol=1e-13)
    assert len(net.blocks()) == 1
