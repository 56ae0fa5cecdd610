r"""Nonlinear networks trained on data: forward pass, losses, backward pass, flows, per-neuron balance.

Data model (``docs/mathematics.md`` §0.1, extended).  Inputs X ∈ R^{n_0 × m}, one
column per example; targets Y ∈ R^{n_N × m} (or integer labels, turned into
one-hot columns by :func:`data_arrays`).  A node v of the network graph
(:mod:`curvsym.symbolic.network`) computes

    Z_v = Σ_{e = u→v} (W_e H_u + b_e 1ᵀ)        (identity edges: H_u),
    H_v = σ_v(Z_v),   H_input = X,   Ŷ = Z_output,

with σ_v the node's activation (:mod:`curvsym.symbolic.activations`) and 1 the
all-ones m-vector.  Losses:

    mse:            ℓ = (1/2m) ‖Ŷ − Y‖_F²                   ∂ℓ/∂Ŷ = (Ŷ − Y)/m,
    cross_entropy:  ℓ = (1/m) Σ_b [logsumexp(Ŷ_{:,b}) − Y_{:,b}ᵀŶ_{:,b}]
                                                           ∂ℓ/∂Ŷ = (softmax(Ŷ) − Y)/m
                    (columns of Y one-hot, or any probability vectors),

plus, optionally, the L2 weight decay (λ/2) Σ_e ‖W_e‖_F² (biases are not decayed).

Backward pass (the adjoint rule of :mod:`curvsym.symbolic.derive`, now with
Hadamard products).  With the *unnormalised* adjoints Δ_v = m ∂ℓ/∂Z_v,

    Δ_output = Ŷ − Y  (mse)  or  softmax(Ŷ) − Y  (cross-entropy),
    G_u = Σ_{e = u→w} W_eᵀ Δ_w  (identity edges: Δ_w),       Δ_u = G_u ⊙ σ_u'(Z_u),
    ∇_{W_e} ℓ = (1/m) Δ_v H_uᵀ + λ W_e,      ∇_{b_e} ℓ = (1/m) Δ_v 1       (e = u → v).

Everything is built as nested binary products on the graph, so after the
matrix CSE of :mod:`curvsym.codegen` a chain of depth N costs N forward, N − 1
backward and N gradient products (plus the rank-one bias broadcasts): O(N), as
for linear networks.  SymPy's own ``Trace.diff`` cannot differentiate through
``ElementwiseApplyFunction``; nothing here asks it to.

The state of a nonlinear :class:`~curvsym.symbolic.derive.Flow` is every
trainable array, per weight edge in topological order: W_e, then b_e if the
edge has a bias (W_1, b_1, W_2, b_2, … for a chain); its data are (X, Y).  So
``generate_flow``, the integrators and the conservation checks take it as they
take a linear flow.

Per-neuron balance (Du, Hu & Lee, NeurIPS 2018).  For a hidden node v whose
edges are all weight edges, let

    C̃_v = Σ_{e into v} (W_eW_eᵀ + b_eb_eᵀ) − Σ_{e out of v} W_eᵀW_e        (n_v × n_v).

Under gradient flow of any loss of Ŷ (no weight decay), exactly and for every
width and number of examples,

    dC̃_v/dt = −(1/m) (Δ_v Z_vᵀ + Z_v Δ_vᵀ) + (1/m) (G_v H_vᵀ + H_v G_vᵀ)      (*)

(a free-algebra identity in which Δ_v, G_v, H_v, the layer inputs and 1 are
opaque).  Its diagonal is, with Δ_v = G_v ⊙ σ'(Z_v) and H_v = σ(Z_v),

    d/dt (C̃_v)_jj = −(2/m) Σ_b (G_v)_jb [σ'(z_jb) z_jb − σ(z_jb)],   z = Z_v,

which vanishes for every G_v iff zσ'(z) = σ(z) on the values reached: the
*homogeneous* activations (identity, ReLU, leaky ReLU for every α).  Then each
neuron j conserves ‖incoming weights and bias of j‖² − ‖outgoing weights of j‖²,
and the layer quantity tr C̃_v = ‖W_in‖² + ‖b_in‖² − ‖W_out‖² follows by summing.
For the identity Δ_v = G_v and H_v = Z_v make the right side of (*) vanish, so
the whole matrix C̃_v is conserved (the linear balance C_i with a bias term).
:func:`prove_neuron_balance` checks (*) in the free algebra and the scalar
identity with SymPy; tanh (zσ' − σ = −⅔z³ + …) and softplus
(zσ' − σ = −log 2/β at z = 0) are refuted with a witness.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Hashable

import numpy as np
import sympy as sp
from sympy import HadamardProduct, MatAdd, MatMul, MatrixExpr, MatrixSymbol, OneMatrix, Trace, Transpose

from ..errors import ArchitectureError, LabelError, NonFiniteError, OptionError, ShapeError, UnknownNameError
from ..types import Array
from .activations import LogSumExp, Softmax, activation
from .algebra import is_identically_zero
from .calculus import time_derivative
from .derive import Flow
from .network import IDENTITY, Edge, Network

__all__ = ["Loss", "NonlinearModel", "data_model", "Forward", "forward", "backward", "output_adjoint", "loss",
           "gradient", "gradient_flow", "layer_balance", "neuron_balance", "balanced_nodes", "NeuronBalanceProof",
           "prove_neuron_balance", "homogeneity_identity", "data_arrays", "one_hot", "shapes", "init_parameters"]


class Loss(str, Enum):
    """The data losses of a nonlinear model."""

    MSE = "mse"                        #: (1/2m)‖Ŷ − Y‖²
    CROSS_ENTROPY = "cross_entropy"    #: (1/m) Σ_b [logsumexp(Ŷ_b) − Y_bᵀŶ_b]

    @classmethod
    def of(cls, name: "str | Loss") -> "Loss":
        """The loss called ``name`` (``"mse"``, ``"cross_entropy"``; ``"ce"`` and ``"softmax_cross_entropy"`` too).

        Raises:
            UnknownNameError: another name.
        """
        if isinstance(name, Loss):
            return name
        aliases = {"mse": cls.MSE, "squared": cls.MSE, "cross_entropy": cls.CROSS_ENTROPY,
                   "ce": cls.CROSS_ENTROPY, "softmax_cross_entropy": cls.CROSS_ENTROPY}
        if name not in aliases:
            raise UnknownNameError(f"unknown loss {name!r}; use 'mse' or 'cross_entropy'")
        return aliases[name]


@dataclass(frozen=True)
class NonlinearModel:
    """Symbols of a network trained on data: parameters, X (n_0 × m), Y (n_N × m), loss, weight decay.

    ``weights`` are the trainable arrays in state order (W_e, then b_e when the
    edge has a bias); ``examples`` is m; ``weight_decay`` is λ (a number, or a
    SymPy symbol that generated code takes as a keyword parameter).
    """

    network: Network
    weights: tuple[MatrixSymbol, ...]
    X: MatrixSymbol
    Y: MatrixSymbol
    examples: int
    loss_kind: Loss = Loss.MSE
    weight_decay: sp.Expr = sp.Integer(0)
    _memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    nonlinear = True

    @property
    def data_symbols(self) -> tuple[MatrixSymbol, MatrixSymbol]:
        """(X, Y): the data arguments of generated code."""
        return (self.X, self.Y)

    @property
    def depth(self) -> int:
        """N, the number of weight edges."""
        return self.network.depth

    @property
    def parameters(self) -> tuple[sp.Symbol, ...]:
        """Scalar symbols (a symbolic weight decay): keyword parameters of generated code."""
        return tuple(sorted(getattr(self.weight_decay, "free_symbols", set()), key=str))

    def _symbol(self, name: str) -> MatrixSymbol:
        return next(w for w in self.weights if w.name == name)

    def weight(self, edge: Edge) -> MatrixSymbol:
        """W_e of a weight edge."""
        return self._symbol(edge.name)

    def bias(self, edge: Edge) -> MatrixSymbol | None:
        """b_e of a weight edge (None without a bias)."""
        return self._symbol(edge.bias) if edge.bias else None

    @property
    def ones(self) -> OneMatrix:
        """1ᵀ, the 1 × m row of ones (bias broadcasts b1ᵀ; its transpose sums over examples)."""
        return OneMatrix(1, self.examples)

    def gradient(self) -> tuple[MatrixExpr, ...]:
        """∇ℓ for every parameter, in state order (:func:`gradient`)."""
        return gradient(self)

    def loss(self) -> sp.Expr:
        """ℓ (:func:`loss`)."""
        return loss(self)


def data_model(network: Network, examples: int, loss: "str | Loss" = "mse", weight_decay: Any = 0) -> NonlinearModel:
    """Attach symbols to ``network`` for training on m = ``examples`` data columns.

    Symbols: W_e and b_e per weight edge, X (n_0 × m) and Y (n_N × m).  The
    network may be linear (then this is the data-loss counterpart of
    :func:`curvsym.symbolic.derive.model`).

    Raises:
        OptionError: ``examples`` is not a positive integer, or a negative / non-numeric weight decay.
        UnknownNameError: an unknown loss name.
    """
    if isinstance(examples, bool) or not isinstance(examples, (int, np.integer)) or examples < 1:
        raise OptionError(f"examples (the number of data columns m) must be a positive integer, got {examples!r}")
    kind = Loss.of(loss)
    lam = _decay(weight_decay)
    m = int(examples)
    ws = []
    for e in network.weights:
        ws.append(MatrixSymbol(e.name, *e.shape))
        if e.bias:
            ws.append(MatrixSymbol(e.bias, e.shape[0], 1))
    X = MatrixSymbol("X", network.n_in, m)
    Y = MatrixSymbol("Y", network.n_out, m)
    return NonlinearModel(network, tuple(ws), X, Y, m, kind, lam)


def _decay(x: Any) -> sp.Expr:
    if isinstance(x, sp.Symbol):
        return x
    if isinstance(x, bool) or x is None:
        raise OptionError(f"weight decay must be a number ≥ 0 or a SymPy symbol, got {x!r}")
    try:
        lam = sp.nsimplify(x, rational=True)
    except (TypeError, ValueError, sp.SympifyError):
        raise OptionError(f"weight decay must be a number ≥ 0 or a SymPy symbol, got {x!r}") from None
    if not lam.is_number or not lam.is_real or lam < 0:
        raise OptionError(f"weight decay must be a number ≥ 0, got {x!r}")
    return lam


# --------------------------------------------------------------------------- forward and backward

def _sum(terms: list[MatrixExpr]) -> MatrixExpr:
    return terms[0] if len(terms) == 1 else MatAdd(*terms, evaluate=False)


@dataclass(frozen=True)
class Forward:
    """The forward pass: pre-activations ``Z[v]`` and activations ``H[v]`` of every node (H[input] = X)."""

    Z: dict
    H: dict

    def output(self, m: NonlinearModel) -> MatrixExpr:
        """Ŷ = Z_output."""
        return self.Z[m.network.output]


def forward(m: NonlinearModel) -> Forward:
    """Z_v = Σ_{e = u→v} (W_e H_u + b_e 1ᵀ), H_v = σ_v(Z_v), from H_input = X (topological order)."""
    net = m.network
    Z: dict = {}
    H: dict = {net.input: m.X}
    for v in net.order:
        if v == net.input:
            continue
        terms = []
        for e in net.in_edges(v):
            if e.kind == IDENTITY:
                terms.append(H[e.source])
                continue
            terms.append(MatMul(m.weight(e), H[e.source], evaluate=False))
            b = m.bias(e)
            if b is not None:
                terms.append(MatMul(b, m.ones, evaluate=False))
        Z[v] = _sum(terms)
        H[v] = Z[v] if v == net.output else net.activation(v)(Z[v])
    return Forward(Z, H)


def output_adjoint(m: NonlinearModel, fw: Forward | None = None) -> MatrixExpr:
    """Δ_output = m ∂ℓ/∂Ŷ: Ŷ − Y (mse) or softmax(Ŷ) − Y (cross-entropy)."""
    fw = fw or forward(m)
    Yhat = fw.output(m)
    pred = Softmax(Yhat) if m.loss_kind is Loss.CROSS_ENTROPY else Yhat
    return MatAdd(pred, MatMul(-1, m.Y, evaluate=False), evaluate=False)


def backward(m: NonlinearModel, seed: MatrixExpr, fw: Forward | None = None) -> tuple[dict, dict]:
    """The adjoints (Δ, G) from the output adjoint ``seed`` (n_N × m): Δ[output] = seed,
    G[u] = Σ_{e = u→w} W_eᵀ Δ[w] (Δ[w] for an identity edge), Δ[u] = G[u] ⊙ σ_u'(Z_u).

    ``seed`` may be any matrix expression — ``output_adjoint`` for the loss
    gradient, a symbol E for the reverse passes with sampled adjoints of the
    online natural gradient (:mod:`curvsym.papers.bernacchia2018`).

    Raises:
        ShapeError: ``seed`` is not n_N × m.
    """
    net = m.network
    fw = fw or forward(m)
    if tuple(seed.shape) != (net.n_out, m.examples):
        raise ShapeError(f"the output adjoint must be {net.n_out} × {m.examples}, got {tuple(seed.shape)}")
    delta: dict = {net.output: seed}
    G: dict = {}
    for u in reversed(net.order):
        if u in (net.output, net.input):
            continue
        terms = [delta[e.target] if e.kind == IDENTITY else MatMul(Transpose(m.weight(e)), delta[e.target],
                                                                   evaluate=False)
                 for e in net.out_edges(u)]
        G[u] = _sum(terms)
        deriv = net.activation(u).derivative(fw.Z[u])
        delta[u] = G[u] if deriv is None else HadamardProduct(G[u], deriv)
    return delta, G


def gradient(m: NonlinearModel, seed: MatrixExpr | None = None) -> tuple[MatrixExpr, ...]:
    """∇_{W_e} ℓ = (1/m) Δ_v H_uᵀ + λW_e and ∇_{b_e} ℓ = (1/m) Δ_v 1, in state order.

    ``seed`` replaces the output adjoint Δ_output (default: that of the loss).
    """
    fw = forward(m)
    delta, _ = backward(m, output_adjoint(m, fw) if seed is None else seed, fw)
    scale = sp.Rational(1, m.examples)
    out = []
    for e in m.network.weights:
        g = MatMul(scale, delta[e.target], Transpose(fw.H[e.source]), evaluate=False)
        if m.weight_decay != 0:
            g = MatAdd(g, MatMul(m.weight_decay, m.weight(e), evaluate=False), evaluate=False)
        out.append(g)
        if e.bias:
            out.append(MatMul(scale, delta[e.target], Transpose(m.ones), evaluate=False))
    return tuple(out)


def loss(m: NonlinearModel) -> sp.Expr:
    """ℓ = (1/2m)‖Ŷ − Y‖² or (1/m)[tr(logsumexp(Ŷ) 1) − tr(YᵀŶ)], plus (λ/2) Σ_e tr(W_eW_eᵀ)."""
    fw = forward(m)
    Yhat = fw.output(m)
    if m.loss_kind is Loss.MSE:
        E = MatAdd(Yhat, MatMul(-1, m.Y, evaluate=False), evaluate=False)
        out = sp.Rational(1, 2 * m.examples) * Trace(MatMul(E, Transpose(E), evaluate=False))
    else:
        lse = Trace(MatMul(LogSumExp(Yhat), Transpose(m.ones), evaluate=False))
        out = sp.Rational(1, m.examples) * (lse - Trace(MatMul(Transpose(m.Y), Yhat, evaluate=False)))
    if m.weight_decay != 0:
        out = out + m.weight_decay / 2 * sp.Add(*[Trace(MatMul(m.weight(e), Transpose(m.weight(e)), evaluate=False))
                                                  for e in m.network.weights])
    return out


def gradient_flow(m: NonlinearModel) -> Flow:
    """dθ/dt = −∇ℓ(θ) for every parameter θ (weights and biases): a :class:`Flow` like the linear ones."""
    return Flow(m, tuple(MatMul(-1, g, evaluate=False) for g in gradient(m)), "gradient flow", m.parameters)


# --------------------------------------------------------------------------- per-neuron balance

def balanced_nodes(m: NonlinearModel) -> tuple[Hashable, ...]:
    """Hidden nodes whose in- and out-edges are all weight edges (where C̃_v is defined).

    Raises:
        ArchitectureError: no hidden node qualifies (no hidden layer, or every node has a skip edge).
    """
    net = m.network
    nodes = tuple(v for v in net.hidden
                  if all(e.kind != IDENTITY for e in net.in_edges(v) + net.out_edges(v)))
    if not nodes:
        raise ArchitectureError(f"{net.describe()}: no hidden node with only weight edges; per-neuron balance "
                                "needs at least one")
    return nodes


def layer_balance(m: NonlinearModel, node: Hashable) -> MatrixExpr:
    """C̃_v = Σ_{e into v} (W_eW_eᵀ + b_eb_eᵀ) − Σ_{e out of v} W_eᵀW_e."""
    net = m.network
    terms = []
    for e in net.in_edges(node):
        W = m.weight(e)
        terms.append(MatMul(W, Transpose(W), evaluate=False))
        b = m.bias(e)
        if b is not None:
            terms.append(MatMul(b, Transpose(b), evaluate=False))
    for e in net.out_edges(node):
        W = m.weight(e)
        terms.append(MatMul(-1, Transpose(W), W, evaluate=False))
    return _sum(terms)


def neuron_balance(m: NonlinearModel) -> tuple[MatrixExpr, ...]:
    """The diagonals of C̃_v as columns, one per node of :func:`balanced_nodes`:

        q_v = Σ_{e in} [(W_e ⊙ W_e) 1 + b_e ⊙ b_e] − Σ_{e out} (W_eᵀ ⊙ W_eᵀ) 1,

    (q_v)_j = ‖incoming weights and bias of neuron j‖² − ‖outgoing weights of j‖².

    Raises:
        ArchitectureError: no hidden node has only weight edges.
    """
    net = m.network
    out = []
    for v in balanced_nodes(m):
        terms = []
        for e in net.in_edges(v):
            W = m.weight(e)
            terms.append(MatMul(HadamardProduct(W, W), OneMatrix(W.shape[1], 1), evaluate=False))
            b = m.bias(e)
            if b is not None:
                terms.append(HadamardProduct(b, b))
        for e in net.out_edges(v):
            Wt = Transpose(m.weight(e))
            terms.append(MatMul(-1, HadamardProduct(Wt, Wt), OneMatrix(Wt.shape[1], 1), evaluate=False))
        out.append(_sum(terms))
    return tuple(out)


def homogeneity_identity(act: Any) -> tuple[bool, tuple | None]:
    """Decide zσ'(z) = σ(z) for all real z, with SymPy: (holds, witness).

    The witness of a failure is (z, zσ'(z) − σ(z)) at the first of z = 1, −1, ½, 2,
    0 where the difference is non-zero.
    """
    return _homogeneity(activation(act))


@functools.lru_cache(maxsize=64)
def _homogeneity(act: Any) -> tuple[bool, tuple | None]:
    """Memoised body of :func:`homogeneity_identity` (activations are immutable)."""
    z = sp.Symbol("z", real=True)
    diff = sp.piecewise_fold(z * act.scalar(z, 1) - act.scalar(z, 0))
    if sp.simplify(diff) == 0:
        return True, None
    for z0 in (sp.Integer(1), sp.Integer(-1), sp.Rational(1, 2), sp.Integer(2), sp.Integer(0)):
        value = sp.N(diff.subs(z, z0), 30)
        if value != 0:
            return False, (z0, value)
    return False, None


@dataclass(frozen=True)
class NeuronBalanceProof:
    """Outcome of :func:`prove_neuron_balance` for one hidden node.

    ``structural``: identity (*) of the module docstring holds in the free algebra;
    ``homogeneous``: zσ'(z) = σ(z) was proved (``witness`` None) or refuted
    (``witness`` = (z, zσ'(z) − σ(z))); ``full_matrix``: the whole C̃_v is
    conserved (the identity activation).  ``holds`` = structural and homogeneous.
    """

    node: Hashable
    activation: str
    structural: bool
    homogeneous: bool
    witness: tuple | None
    full_matrix: bool

    @property
    def holds(self) -> bool:
        return self.structural and self.homogeneous

    @property
    def status(self) -> str:
        if self.holds:
            return "proved" + (" (whole matrix C̃)" if self.full_matrix else " (diagonal of C̃)")
        if not self.structural:
            return "refuted: dC̃/dt is not the gradient-flow form (*) (weight decay, or not gradient flow)"
        return f"refuted: zσ'(z) − σ(z) = {sp.N(self.witness[1], 6)} at z = {self.witness[0]}" if self.witness \
            else "refuted"


def prove_neuron_balance(flow: Flow) -> list[NeuronBalanceProof]:
    """Prove (or refute) per-neuron balance along a nonlinear ``flow``, node by node.

    Two steps (see the module docstring): dC̃_v/dt computed from the flow's own
    velocities must equal the right side of (*) in the free algebra with
    involution (all sizes), and zσ_v'(z) = σ_v(z) must hold identically (SymPy).

    Raises:
        ArchitectureError: the flow is not on a nonlinear data model, or no hidden node has only weight edges.
    """
    m = flow.model
    if not isinstance(m, NonlinearModel):
        raise ArchitectureError("prove_neuron_balance needs a flow on a nonlinear data model "
                                "(curvsym.nonlinear.data_model); for deep linear networks use prove_conserved")
    net = m.network
    fw = forward(m)
    delta, G = backward(m, output_adjoint(m, fw), fw)
    vel = dict(zip(m.weights, flow.velocities))
    scale = sp.Rational(1, m.examples)
    out = []
    for v in balanced_nodes(m):
        Z, H, D, Gv = fw.Z[v], fw.H[v], delta[v], G[v]
        claim = MatAdd(MatMul(-scale, D, Transpose(Z), evaluate=False),
                       MatMul(-scale, Z, Transpose(D), evaluate=False),
                       MatMul(scale, Gv, Transpose(H), evaluate=False),
                       MatMul(scale, H, Transpose(Gv), evaluate=False), evaluate=False)
        dC = time_derivative(layer_balance(m, v), vel)
        structural = is_identically_zero(MatAdd(dC, MatMul(-1, claim, evaluate=False), evaluate=False))
        act = net.activation(v)
        homogeneous, witness = homogeneity_identity(act)
        out.append(NeuronBalanceProof(v, str(act), structural, homogeneous, witness,
                                      structural and is_identically_zero(claim)))
    return out


# --------------------------------------------------------------------------- data

def shapes(m: NonlinearModel) -> tuple[tuple[int, int], ...]:
    """The shapes of the state arrays, in state order."""
    return tuple((int(w.shape[0]), int(w.shape[1])) for w in m.weights)


def init_parameters(m: NonlinearModel, seed: int = 0, scale: float = 1.0, bias: float = 0.0) -> tuple[np.ndarray, ...]:
    """Initial state: W_e with N(0, scale²/fan_in) entries, b_e with N(0, bias²) entries (0 by default).

    Raises:
        OptionError: a negative or non-finite scale.
    """
    if not (np.isfinite(scale) and np.isfinite(bias) and scale >= 0 and bias >= 0):
        raise OptionError(f"scales must be finite and ≥ 0, got scale={scale!r}, bias={bias!r}")
    rng = np.random.default_rng(seed)
    bias_names = {e.bias for e in m.network.weights if e.bias}
    out = []
    for w, (r, c) in zip(m.weights, shapes(m)):
        if w.name in bias_names:
            out.append(bias * rng.standard_normal((r, c)))
        else:
            out.append(scale * rng.standard_normal((r, c)) / np.sqrt(c))
    return tuple(out)


def one_hot(labels: Array, n_classes: int) -> np.ndarray:
    """The n_classes × m matrix with a 1 in row labels[b] of column b.

    Raises:
        LabelError: labels that are not integers in 0 … n_classes − 1, or not a 1-D sequence.
    """
    y = np.asarray(labels)
    if y.ndim != 1:
        raise LabelError(f"labels must be a 1-D sequence of class indices, got shape {y.shape}")
    if y.size and y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise LabelError("labels must be integers (class indices)")
        y = y.astype(np.int64)
    if y.size and y.dtype.kind not in "iu":
        raise LabelError(f"labels must be integers (class indices), got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        bad = sorted({int(v) for v in y if v < 0 or v >= n_classes})[:5]
        raise LabelError(f"labels {bad} lie outside the classes 0 … {n_classes - 1}")
    out = np.zeros((n_classes, y.size))
    out[y, np.arange(y.size)] = 1.0
    return out


def data_arrays(m: NonlinearModel, X: Array, Y: Array) -> tuple[np.ndarray, np.ndarray]:
    """Checked float64 data (X, Y) for ``m``: X is n_0 × m; Y is n_N × m, or m integer labels (one-hot).

    For the cross-entropy loss every column of Y must be a probability vector
    (one-hot for labels).

    Raises:
        ShapeError: X or Y of the wrong shape.
        NonFiniteError: NaN or infinity in X or Y.
        LabelError: labels outside 0 … n_N − 1, or cross-entropy targets whose columns are not probability vectors.
    """
    n0, nN, mm = m.network.n_in, m.network.n_out, m.examples
    X = np.asarray(X, dtype=float)
    if X.shape != (n0, mm):
        raise ShapeError(f"X must be n_0 × m = {n0} × {mm} (one column per example), got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise NonFiniteError(f"X contains {int(np.sum(~np.isfinite(X)))} NaN or infinite entries")
    Yarr = np.asarray(Y)
    if Yarr.ndim == 1:
        if Yarr.size != mm:
            raise ShapeError(f"need one label per example ({mm}), got {Yarr.size}")
        Yarr = one_hot(Yarr, nN)
    Yarr = np.asarray(Yarr, dtype=float)
    if Yarr.shape != (nN, mm):
        raise ShapeError(f"Y must be n_N × m = {nN} × {mm}, got {Yarr.shape}")
    if not np.all(np.isfinite(Yarr)):
        raise NonFiniteError("Y contains NaN or infinity")
    if m.loss_kind is Loss.CROSS_ENTROPY:
        if np.any(Yarr < 0) or not np.allclose(Yarr.sum(axis=0), 1.0, atol=1e-12):
            raise LabelError("cross-entropy targets must be probability vectors (one-hot labels): every column of "
                             "Y non-negative and summing to 1")
    return X, Yarr

