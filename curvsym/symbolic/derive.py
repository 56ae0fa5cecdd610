r"""Symbolic derivation for deep linear networks (SymPy matrix calculus).

Notation (``docs/mathematics.md`` §0): layers W_e on the edges of a DAG, input
covariance Σx (symmetric, ≻ 0), target T = Σyx Σx⁻¹, end-to-end map W and loss

    L = ½ tr((W − T) Σx (W − T)ᵀ),          ∂L/∂W = G := (W − T) Σx.

For an edge e = u → v write M(u) for the map input → u and R(v) for the map
v → output (both path sums).  Since every path contains e at most once,

    ∇_{W_e} L = R(v)ᵀ G M(u)ᵀ                                   (adjoint rule)

which for a chain is the familiar ∇_{W_i} L = W_{>i}ᵀ (W − T) Σx W_{<i}ᵀ.  The
expressions are built as *nested binary products* — M(v) = W_e M(u) forward,
B(u) := R(u)ᵀ G = W_eᵀ B(v) backward — so that the generated code shares every
prefix and suffix product (O(N) matrix products for depth N).  ``display``
flattens them for printing.

Time derivatives live in :mod:`curvsym.symbolic.calculus`, exact identities and
conservation proofs in :mod:`curvsym.symbolic.algebra`; their names are
re-exported here.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass, field
from typing import Sequence

import sympy as sp
from sympy import Identity, MatAdd, MatMul, MatrixExpr, MatrixSymbol, Transpose

from ..errors import ArchitectureError, ShapeError
from .network import IDENTITY, Edge, Network
from .printing import named_latex

__all__ = [
    "Model", "Flow", "model", "forward_maps", "reverse_maps", "end_to_end", "residual", "loss",
    "output_gradient", "gradient", "gradient_flow", "scaled_flow", "end_to_end_velocity",
    "block_maps", "balance", "layer_factors", "product", "display",
]

_MOVED = {"time_derivative": ".calculus", "noncommutative": ".algebra", "is_identically_zero": ".algebra",
          "ConservationProof": ".algebra", "prove_conserved": ".algebra"}


def __getattr__(name: str):
    """Names that moved to :mod:`.calculus` and :mod:`.algebra` stay importable from here."""
    if name in _MOVED:
        return getattr(importlib.import_module(_MOVED[name], __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Model:
    """Symbols of a deep linear network regression problem.

    ``weights[k]`` is the MatrixSymbol of ``network.weights[k]``; ``Sigma`` is
    Σx (a MatrixSymbol, or the identity when ``whitened``); ``T`` the target.
    """

    network: Network
    weights: tuple[MatrixSymbol, ...]
    Sigma: MatrixExpr
    T: MatrixSymbol
    whitened: bool = False
    _memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def depth(self) -> int:
        return len(self.weights)

    def symbol_of(self, edge: Edge) -> MatrixSymbol | None:
        """The weight symbol on ``edge`` (None for an identity edge)."""
        if edge.kind == IDENTITY:
            return None
        return self.weights[[e.name for e in self.network.weights].index(edge.name)]

    @property
    def data_symbols(self) -> tuple[MatrixSymbol, ...]:
        """Σx (unless whitened) and T: the data arguments of generated code."""
        return (self.T,) if self.whitened else (self.Sigma, self.T)

    def gradient(self) -> tuple[MatrixExpr, ...]:
        """∇_{W_e} L for every weight (:func:`gradient`); nonlinear models answer the same call."""
        return gradient(self)


def model(network: Network, whitened: bool = False) -> Model:
    """Attach symbols to ``network``: weights, Σx (``Sigma_x``) and target ``T``.

    Raises:
        ArchitectureError: the network has activations or biases (use
            :func:`curvsym.symbolic.nonlinear.data_model`, which trains on data X, Y).
    """
    if not network.linear:
        raise ArchitectureError(
            f"{network.describe()}: the population loss ½tr((W − T)Σx(W − T)ᵀ) is for deep linear networks "
            "without biases; use curvsym.nonlinear.data_model(network, examples=m) for data X, Y")
    ws = tuple(MatrixSymbol(e.name, *e.shape) for e in network.weights)
    n0, nN = network.n_in, network.n_out
    sigma = Identity(n0) if whitened else MatrixSymbol("Sigma_x", n0, n0)
    return Model(network, ws, sigma, MatrixSymbol("T", nN, n0), whitened)


# --------------------------------------------------------------------------- building blocks
# ``None`` stands for an identity map whose size is implied by its neighbours.

def product(*factors: MatrixExpr | None) -> MatrixExpr:
    """Nested product of the factors, identities dropped (public form of the builder).

    Raises:
        ShapeError: product of identities only; its size is unknown.
    """
    out = _mul(*factors)
    if out is None:
        raise ShapeError("product of identities only; its size is unknown")
    return out


def _mul(*factors: MatrixExpr | None) -> MatrixExpr | None:
    """Nested binary product, dropping identity factors: _mul(a, b, c) = a(bc)."""
    fs = [f for f in factors if f is not None and not isinstance(f, Identity)]
    if not fs:
        return None
    out = fs[-1]
    for f in reversed(fs[:-1]):
        out = MatMul(f, out, evaluate=False)
    return out


def _add(terms: Sequence[MatrixExpr | None], n: int) -> MatrixExpr | None:
    if len(terms) == 1:
        return terms[0]
    return MatAdd(*[Identity(n) if t is None else t for t in terms], evaluate=False)


def _T(x: MatrixExpr | None) -> MatrixExpr | None:
    return None if x is None else Transpose(x)


def _materialise(x: MatrixExpr | None, n: int) -> MatrixExpr:
    return Identity(n) if x is None else x


def _path_sums(m: Model, edges: Sequence[Edge], start, order) -> dict:
    """M(v) = Σ over paths start → v of the ordered edge products (forward DP)."""
    maps = {start: None}
    widths = m.network.widths
    for v in order:
        if v == start:
            continue
        incoming = [e for e in edges if e.target == v and e.source in maps]
        if incoming:
            maps[v] = _add([_mul(m.symbol_of(e), maps[e.source]) for e in incoming], widths[v])
    return maps


def _memoised(fn):
    """Cache ``fn(m, *args)`` on the model: derivations are pure, and sharing their results makes
    every later comparison of the (deep) expression trees an identity check."""

    @functools.wraps(fn)
    def wrapper(m: Model, *args):
        key = (fn.__name__, args)
        if key not in m._memo:
            m._memo[key] = fn(m, *args)
        return m._memo[key]
    return wrapper


@_memoised
def forward_maps(m: Model) -> dict:
    """``{v: M(v)}``, the map from the input to node v (None = identity)."""
    net = m.network
    return _path_sums(m, net.edges, net.input, net.order)


def _accumulate_backward(m: Model, seed: MatrixExpr | None, term) -> dict:
    """maps[u] = Σ_{e = u→w} term(e, maps[w]), from maps[output] = seed (reverse DP over the graph)."""
    net = m.network
    maps = {net.output: seed}
    for u in reversed(net.order):
        if u != net.output:
            maps[u] = _add([term(e, maps[e.target]) for e in net.edges if e.source == u], net.widths[u])
    return maps


@_memoised
def reverse_maps(m: Model) -> dict:
    """``{v: R(v)}``, the map from node v to the output (None = identity): R(u) = Σ_{u→w} R(w) W_e."""
    return _accumulate_backward(m, None, lambda e, R: _mul(R, m.symbol_of(e)))


@_memoised
def layer_factors(m: Model) -> tuple[tuple[MatrixExpr, MatrixExpr], ...]:
    """For each weight edge e = u → v: (M(u), R(v)), the maps below and above it.

    For a chain these are W_{<i} (n_{i−1} × n_0) and W_{>i} (n_N × n_i); so that
    W = R(v) W_e M(u) + (paths avoiding e).
    """
    net = m.network
    M, R = forward_maps(m), reverse_maps(m)
    return tuple((_materialise(M[e.source], net.n_in), _materialise(R[e.target], net.n_out)) for e in net.weights)


@_memoised
def end_to_end(m: Model) -> MatrixExpr:
    """W = Σ_paths Π edge maps (for a chain, W_N ⋯ W_1)."""
    return _materialise(forward_maps(m)[m.network.output], m.network.n_in)


@_memoised
def residual(m: Model) -> MatrixExpr:
    """W − T."""
    return MatAdd(end_to_end(m), MatMul(-1, m.T, evaluate=False), evaluate=False)


def loss(m: Model) -> sp.Expr:
    """L = ½ tr((W − T) Σx (W − T)ᵀ)."""
    e = residual(m)
    return sp.Rational(1, 2) * sp.Trace(_mul(e, m.Sigma, Transpose(e)))


@_memoised
def output_gradient(m: Model) -> MatrixExpr:
    """G = ∂L/∂W = (W − T) Σx."""
    return _materialise(_mul(residual(m), m.Sigma), m.network.n_in)


@_memoised
def _backward_maps(m: Model, G: MatrixExpr) -> dict:
    """B(v) = R(v)ᵀ G, by B(u) = Σ_{u→w} W_eᵀ B(w) (reverse-mode accumulation)."""
    return _accumulate_backward(m, G, lambda e, B: _mul(_T(m.symbol_of(e)), B))


@_memoised
def gradient(m: Model, G: MatrixExpr | None = None) -> tuple[MatrixExpr, ...]:
    """∇_{W_e} L = R(v)ᵀ G M(u)ᵀ for every weight edge e = u → v.

    ``G`` defaults to (W − T)Σx; passing another matrix gives the pull-back
    Jᵀ applied to it (used by curvature-corrected rules).
    """
    G = output_gradient(m) if G is None else G
    M = forward_maps(m)
    B = _backward_maps(m, G)
    return tuple(_mul(B[e.target], _T(M[e.source])) for e in m.network.weights)


@dataclass(frozen=True)
class Flow:
    """A continuous-time learning rule dW_e/dt = velocities[e].

    ``parameters`` lists scalar symbols the velocities depend on (step-size
    factors, damping λ, exponent q …); generated code takes them as keyword
    arguments.
    """

    model: Model
    velocities: tuple[MatrixExpr, ...]
    name: str = "flow"
    parameters: tuple[sp.Symbol, ...] = field(default=())

    def equations(self) -> list[sp.Eq]:
        """The ODEs as SymPy equations d W_e/dt = (flattened velocity)."""
        t = sp.Symbol("t")
        return [sp.Eq(sp.Derivative(sp.Function(w.name)(t), t), display(v, self.model), evaluate=False)
                for w, v in zip(self.model.weights, self.velocities)]

    def latex(self, expand: bool = False) -> str:
        """The ODEs as a LaTeX ``aligned`` block.

        By default shared subexpressions are printed once under names (M_v, W, E,
        B_v, X_k; see :mod:`curvsym.symbolic.printing`) and the velocities in those
        names; ``expand=True`` prints every velocity flattened, ``\\dot{W}_{i} &= …``.
        """
        if not expand:
            known = {} if getattr(self.model, "nonlinear", False) else intermediate_names(self.model)
            return named_latex(self, known)  # nonlinear: X_k names only
        rows = [rf"\dot{{{sp.latex(w)}}} &= {sp.latex(display(v, self.model))}"
                for w, v in zip(self.model.weights, self.velocities)]
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"

    def _repr_latex_(self) -> str:
        return "$$" + self.latex() + "$$"


def gradient_flow(m: Model) -> Flow:
    """dW_e/dt = −∇_{W_e} L  (``docs/mathematics.md`` §0.2); for a nonlinear model, of its data loss."""
    return Flow(m, tuple(MatMul(-1, g, evaluate=False) for g in m.gradient()), "gradient flow")


def scaled_flow(flow: Flow, scales: Sequence[sp.Expr | float]) -> Flow:
    """dW_e/dt = c_e · velocity_e: a layer-dependent step size.

    With unequal c_e this leaves the Jacobian row space, so it is the natural
    negative control for balance conservation.

    Raises:
        ShapeError: not one scale per layer.
    """
    if len(scales) != len(flow.velocities):
        raise ShapeError(f"need one scale per layer ({len(flow.velocities)}), got {len(scales)}")
    cs = [sp.nsimplify(c) for c in scales]
    vel = tuple(MatMul(c, v, evaluate=False) for c, v in zip(cs, flow.velocities))
    return Flow(flow.model, vel, f"{flow.name}, layer step sizes {tuple(cs)}", flow.parameters)


def end_to_end_velocity(flow: Flow) -> MatrixExpr:
    """dW/dt = Σ_e R(v) (dW_e/dt) M(u) (chain rule; no balance assumed)."""
    m = flow.model
    M, R = forward_maps(m), reverse_maps(m)
    terms = [_mul(R[e.target], v, M[e.source]) for e, v in zip(m.network.weights, flow.velocities)]
    return terms[0] if len(terms) == 1 else MatAdd(*terms, evaluate=False)


def block_maps(m: Model) -> tuple[MatrixExpr, ...]:
    """The map of each block between consecutive cut nodes (W_i, or I + A_i).

    Raises:
        ArchitectureError: a block between consecutive cut nodes holds other than exactly one weight.
    """
    net = m.network
    out = []
    cuts = net.cut_nodes()
    for (u, v), edges in zip(zip(cuts[:-1], cuts[1:]), net.blocks()):
        n_weights = sum(e.kind != IDENTITY for e in edges)
        if n_weights != 1:
            raise ArchitectureError(
                f"block {u!r} → {v!r} holds {n_weights} weights; balance quantities need exactly one per block")
        out.append(_materialise(_path_sums(m, edges, u, net.order)[v], net.widths[u]))
    return tuple(out)


def balance(m: Model) -> tuple[MatrixExpr, ...]:
    """C_i = B_{i+1}ᵀ B_{i+1} − B_i B_iᵀ for consecutive block maps B_i (``docs/mathematics.md`` §0.3)."""
    B = block_maps(m)
    return tuple(MatAdd(MatMul(Transpose(b1), b1, evaluate=False),
                        MatMul(-1, b0, Transpose(b0), evaluate=False), evaluate=False)
                 for b0, b1 in zip(B[:-1], B[1:]))


def display(expr: MatrixExpr, m: Model | None = None) -> MatrixExpr:
    """Flatten nested products for printing (Σxᵀ → Σx)."""
    out = expr.doit()
    if m is not None and isinstance(getattr(m, "Sigma", None), MatrixSymbol):
        out = out.xreplace({Transpose(m.Sigma): m.Sigma})
    return out


def intermediate_names(m: Model) -> dict:
    """Known subexpressions of model ``m`` → their LaTeX names (see the module docstring)."""
    names: dict = {}
    for v, M in forward_maps(m).items():
        if M is not None and not isinstance(M, MatrixSymbol):
            names[M] = f"M_{{{v}}}"
    names[end_to_end(m)] = "W"
    names[residual(m)] = "E"
    for v, B in _backward_maps(m, output_gradient(m)).items():
        if B is not None and not isinstance(B, MatrixSymbol):
            names.setdefault(B, f"B_{{{v}}}")
    names.pop(None, None)
    return names
