"""Deep networks described as directed acyclic graphs of linear maps and activations.

A network is a ``networkx`` DiGraph (or MultiDiGraph, for parallel edges) whose
nodes carry a ``width`` n_v and whose edges are linear maps between the node
spaces: a trainable *weight* ``W_e ∈ R^{n_v × n_u}`` for an edge u → v, or a
fixed *identity* (a skip connection, n_u = n_v).  The graph must have a single
input node (no predecessors) and a single output node (no successors).

Nonlinear networks (:mod:`curvsym.symbolic.nonlinear`): a hidden node may carry
an ``activation`` (``"relu"``, ``"leaky_relu(0.1)"``, ``"tanh"``,
``"softplus(2)"``, or an :class:`~curvsym.symbolic.activations.Activation`; the
default is the identity), and a weight edge may carry a ``bias`` (True, or the
name of its bias vector b_e ∈ R^{n_v}).  Node v then computes
Z_v = Σ_{e = u→v} (M_e H_u + b_e 1ᵀ) and H_v = σ_v(Z_v).  A network with no
activation other than the identity and no bias is *linear* (``Network.linear``)
and is what the population-loss derivation of :mod:`curvsym.symbolic.derive` takes.

The end-to-end map is the sum over input → output paths p of the ordered
product of the edge maps along p,

    W = Σ_p  M_{e_k} ⋯ M_{e_1},

which :mod:`curvsym.derive` evaluates by dynamic programming over the graph
(distributivity), so nothing here is special-cased for chains or ResNets.

Constructors:

* :func:`chain` — the plain chain ``x ↦ W_N ⋯ W_1 x`` with widths n_0 … n_N;
* :func:`resnet` — the linear ResNet ``x ↦ (I + A_N) ⋯ (I + A_1) x``, each block
  an identity edge in parallel with a weight edge.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any, Hashable, Sequence

import networkx as nx

from ..errors import ArchitectureError
from .activations import activation, identity

WEIGHT = "weight"
IDENTITY = "identity"


@dataclass(frozen=True)
class Edge:
    """One edge u → v of the network: a weight ``name`` or a fixed identity; ``bias`` names b_e (or None)."""

    source: Hashable
    target: Hashable
    kind: str
    name: str | None
    shape: tuple[int, int]  # (n_target, n_source)
    bias: str | None = None


@dataclass(frozen=True)
class Network:
    """A validated deep linear network.

    Attributes
    ----------
    graph : the (Multi)DiGraph it was built from (not modified).
    input, output : the unique source and sink nodes.
    order : nodes in a fixed topological order.
    widths : ``{node: n_node}``.
    edges : every edge, in topological order of the source node.
    activations : ``{hidden node: Activation}`` for every hidden node (identity by default).
    """

    graph: nx.DiGraph
    input: Hashable
    output: Hashable
    order: tuple[Hashable, ...]
    widths: dict
    edges: tuple[Edge, ...]
    activations: dict = field(default_factory=dict)

    @property
    def linear(self) -> bool:
        """True if every activation is the identity and no edge has a bias (a deep linear network)."""
        return all(a.is_identity for a in self.activations.values()) and not any(e.bias for e in self.edges)

    @property
    def hidden(self) -> tuple[Hashable, ...]:
        """The nodes other than the input and the output, in topological order."""
        return tuple(v for v in self.order if v not in (self.input, self.output))

    def activation(self, node: Hashable) -> Any:
        """The activation of ``node`` (the identity for the input, the output and unmarked nodes)."""
        return self.activations.get(node) or identity()

    @property
    def weights(self) -> tuple[Edge, ...]:
        """The trainable edges W_1 … W_N, in topological order."""
        return tuple(e for e in self.edges if e.kind == WEIGHT)

    @property
    def depth(self) -> int:
        """N, the number of weight matrices."""
        return len(self.weights)

    @property
    def n_in(self) -> int:
        return self.widths[self.input]

    @property
    def n_out(self) -> int:
        return self.widths[self.output]

    def in_edges(self, node: Hashable) -> tuple[Edge, ...]:
        return tuple(e for e in self.edges if e.target == node)

    def out_edges(self, node: Hashable) -> tuple[Edge, ...]:
        return tuple(e for e in self.edges if e.source == node)

    def cut_nodes(self) -> tuple[Hashable, ...]:
        """Nodes every input → output path passes through, in order.

        These are the dominators of the output node; consecutive cut nodes
        delimit the *blocks* of the network (a layer of a chain, a residual
        block of a ResNet).
        """
        idom = nx.immediate_dominators(self.graph, self.input)
        cuts = [self.output]
        while cuts[-1] != self.input:
            cuts.append(idom[cuts[-1]])
        return tuple(reversed(cuts))

    def blocks(self) -> tuple[tuple[Edge, ...], ...]:
        """The edges between consecutive cut nodes, one tuple per block."""
        cuts = self.cut_nodes()
        position = {v: i for i, v in enumerate(self.order)}
        out = []
        for u, v in zip(cuts[:-1], cuts[1:]):
            inside = {w for w in self.order if position[u] <= position[w] <= position[v]
                      and nx.has_path(self.graph, u, w) and nx.has_path(self.graph, w, v)}
            out.append(tuple(e for e in self.edges if e.source in inside and e.target in inside))
        return tuple(out)

    def describe(self) -> str:
        kinds = "chain" if all(len(b) == 1 for b in self.blocks()) else "DAG"
        ws = " → ".join(str(self.widths[v]) for v in self.order)
        out = f"{kinds}, depth N={self.depth}, widths {ws}"
        acts = sorted({str(a) for a in self.activations.values() if not a.is_identity})
        if acts:
            out += f", activations {', '.join(acts)}"
        if any(e.bias for e in self.edges):
            out += ", biases"
        return out


def _edge_items(graph: nx.DiGraph):
    if graph.is_multigraph():
        yield from graph.edges(keys=False, data=True)
    else:
        yield from graph.edges(data=True)


def from_graph(graph: nx.DiGraph) -> Network:
    """Validate ``graph`` and return the :class:`Network` it describes.

    Node attribute ``width`` (positive int) is required; a hidden node may carry
    an ``activation`` (see :func:`curvsym.symbolic.activations.activation`).
    Edge attribute ``kind`` is ``"weight"`` (default) or ``"identity"``; a weight
    may carry a ``name`` (default ``W_1, W_2, …`` in topological order) and a
    ``bias`` (True for ``b_1, b_2, …`` numbered like the weights, or a name).

    Raises:
        ArchitectureError: not a DiGraph, fewer than two nodes, a cycle, not exactly one input and one
            output, a missing or non-positive width, an identity between unequal widths, a bad or repeated
            weight or bias name, an unknown edge kind, no weight edge at all, an activation on the input or
            output node, or a bias on an identity edge.
        UnknownNameError: an activation name that is not in the registry.
        OptionError: a bad activation parameter.
    """
    if not isinstance(graph, nx.DiGraph):
        raise ArchitectureError(f"a network must be a networkx DiGraph, got {type(graph).__name__}")
    if graph.number_of_nodes() < 2:
        raise ArchitectureError("a network needs at least an input and an output node")
    if not nx.is_directed_acyclic_graph(graph):
        raise ArchitectureError("the network graph has a cycle; a feed-forward network must be acyclic")
    sources = [v for v in graph if graph.in_degree(v) == 0]
    sinks = [v for v in graph if graph.out_degree(v) == 0]
    if len(sources) != 1:
        raise ArchitectureError(f"the network must have exactly one input node, found {sources}")
    if len(sinks) != 1:
        raise ArchitectureError(f"the network must have exactly one output node, found {sinks}")
    widths, activations = {}, {}
    for v, data in graph.nodes(data=True):
        n = data.get("width")
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ArchitectureError(f"node {v!r} needs a positive integer 'width', got {n!r}")
        widths[v] = int(n)  # NumPy integers are welcome
        act = activation(data.get("activation"))
        if v in (sources[0], sinks[0]):
            if not act.is_identity:
                where = "input" if v == sources[0] else "output"
                raise ArchitectureError(f"the {where} node {v!r} cannot carry an activation ({act}); activations "
                                        "belong to hidden nodes (the loss decides the output: mse or softmax "
                                        "cross-entropy)")
        else:
            activations[v] = act
    order = tuple(nx.lexicographical_topological_sort(graph, key=str))
    position = {v: i for i, v in enumerate(order)}
    raw = sorted(_edge_items(graph), key=lambda e: (position[e[0]], position[e[1]]))
    edges, names, counter = [], set(), 0
    for u, v, data in raw:
        kind = data.get("kind", WEIGHT)
        shape = (widths[v], widths[u])
        bias = data.get("bias", False)
        if kind == IDENTITY:
            if widths[u] != widths[v]:
                raise ArchitectureError(
                    f"identity edge {u!r} → {v!r} joins widths {widths[u]} and {widths[v]}; they must match")
            if bias:
                raise ArchitectureError(f"identity edge {u!r} → {v!r} cannot carry a bias; put it on a weight edge")
            edges.append(Edge(u, v, IDENTITY, None, shape))
        elif kind == WEIGHT:
            counter += 1
            name = data.get("name", f"W_{counter}")
            if not isinstance(name, str) or not name.isidentifier():
                raise ArchitectureError(f"weight name {name!r} on edge {u!r} → {v!r} is not a Python identifier")
            if name in names:
                raise ArchitectureError(f"two weight edges are both named {name!r}")
            names.add(name)
            bias_name = None
            if bias is True:
                bias_name = f"b_{counter}"
            elif isinstance(bias, str):
                bias_name = bias
            elif bias not in (False, None):
                raise ArchitectureError(f"bias on edge {u!r} → {v!r} must be True, False or a name, got {bias!r}")
            if bias_name is not None:
                if not bias_name.isidentifier():
                    raise ArchitectureError(f"bias name {bias_name!r} on edge {u!r} → {v!r} is not a Python "
                                            "identifier")
                if bias_name in names:
                    raise ArchitectureError(f"two parameters are both named {bias_name!r}")
                names.add(bias_name)
            edges.append(Edge(u, v, WEIGHT, name, shape, bias_name))
        else:
            raise ArchitectureError(f"edge {u!r} → {v!r} has kind {kind!r}; use 'weight' or 'identity'")
    if counter == 0:
        raise ArchitectureError("the network has no weight edge, so nothing can be trained")
    return Network(graph, sources[0], sinks[0], order, widths, tuple(edges), activations)


def _per_layer(value: Any, n: int, what: str) -> list:
    """``value`` repeated n times, or the list itself if it is a list of n items."""
    if isinstance(value, list):
        if len(value) != n:
            raise ArchitectureError(f"need one {what} per {'hidden node' if what == 'activation' else 'layer'} "
                                    f"({n}), got {len(value)}")
        return list(value)
    return [value] * n


def chain(widths: Sequence[int], activation: Any = None, bias: Any = False) -> Network:
    """Chain ``x ↦ W_N σ(⋯ σ(W_1 x + b_1 1ᵀ) ⋯) + b_N 1ᵀ``, ``W_i ∈ R^{n_i × n_{i−1}}``, widths (n_0, …, n_N).

    ``activation``: one activation for every hidden node (a name, a tuple such as
    ``("leaky_relu", 0.1)``, or an Activation), or a *list* with one per hidden
    node (N − 1); default the identity (a deep linear network).  ``bias``:
    True/False for every layer, or a list (or tuple) of N.  With both at their defaults
    this is the plain linear chain ``x ↦ W_N ⋯ W_1 x``.

    Raises:
        ArchitectureError: fewer than two widths, a width that is not a positive integer, or a list of
            activations or biases of the wrong length.
        UnknownNameError: an unknown activation name.
        OptionError: a bad activation parameter.
    """
    widths = list(widths)
    if len(widths) < 2:
        raise ArchitectureError(
            f"a chain needs at least two widths (n_0, n_1), got {widths!r}; depth N = len(widths) − 1 must be ≥ 1")
    N = len(widths) - 1
    acts = _per_layer(activation, N - 1, "activation")
    biases = _per_layer(list(bias) if isinstance(bias, tuple) else bias, N, "bias")
    g = nx.DiGraph()
    for i, n in enumerate(widths):
        if 0 < i < N and acts[i - 1] is not None:
            g.add_node(i, width=n, activation=acts[i - 1])
        else:
            g.add_node(i, width=n)
    for i in range(1, len(widths)):
        if biases[i - 1]:
            g.add_edge(i - 1, i, kind=WEIGHT, name=f"W_{i}", bias=f"b_{i}")
        else:
            g.add_edge(i - 1, i, kind=WEIGHT, name=f"W_{i}")
    return from_graph(g)


def deep_chain(depth: int, width: int) -> Network:
    """Chain of ``depth`` square layers of size ``width``."""
    _check_depth(depth)
    return chain([width] * (depth + 1))


def resnet(width: int, depth: int) -> Network:
    """Linear ResNet ``x ↦ (I + A_N) ⋯ (I + A_1) x`` with all widths equal to ``width``.

    Each block i is an identity edge in parallel with a weight edge ``A_i``
    (a MultiDiGraph with two edges i−1 → i).
    """
    _check_depth(depth)
    g = nx.MultiDiGraph()
    for i in range(depth + 1):
        g.add_node(i, width=width)
    for i in range(1, depth + 1):
        g.add_edge(i - 1, i, key="skip", kind=IDENTITY)
        g.add_edge(i - 1, i, key="weight", kind=WEIGHT, name=f"A_{i}")
    return from_graph(g)


def _check_depth(depth: int) -> None:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ArchitectureError(f"depth must be a positive integer, got {depth!r}")
