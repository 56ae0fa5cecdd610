r"""Dense Jacobian, Fisher and gradient from the raw layer matrices: the independent reference.

Nothing here touches the symbolic derivation, the generated code or its runtime
kernels.  The maps below and above every weight edge are multiplied out directly
from the weight arrays over the network graph, the Jacobian is assembled from
explicit Kronecker products, and PSD powers come from this module's own
eigendecompositions (``numpy.linalg.eigh`` / ``mpmath.eigsy``).  So an agreement
between this route and generated code is evidence, not a tautology.

Formulas (docs/mathematics.md §0.6).  For a weight edge e = u → v let M(u) be the
path sum input → u and R(v) the path sum v → output, computed by

    M(input) = I,   M(v) = Σ_{edges a→v} map_a M(a),
    R(output) = I,  R(u) = Σ_{edges u→b} R(b) map_b,

with map = W_e on a weight edge and I on an identity edge (a chain: M = W_{<i},
R = W_{>i}; a linear ResNet: products of blocks I + A_j).  Every path uses e at
most once, so W is affine in W_e and

    ∂W/∂W_e [V] = R(v) V M(u).

With the row-major vec (``numpy.ravel``), vec(A X B) = (A ⊗ Bᵀ) vec(X), hence the
block of the Jacobian of θ ↦ vec(W Σx^{½}) belonging to W_e is

    J_e = R(v) ⊗ (M(u) Σx^{½})ᵀ,         J = [J_1 | … | J_N]   ((n_N·n_0) × P),

the Fisher of the Gaussian output model is the Gauss–Newton matrix F = JᵀJ, and
∇L = Jᵀ vec((W − T) Σx^{½}) for L = ½ tr((W − T) Σx (W − T)ᵀ).  The exact
Kronecker factors of the diagonal Fisher block of W_e are G_e = R(v)ᵀR(v) and
A_e = M(u) Σx M(u)ᵀ: F_ee = G_e ⊗ A_e.

Everything is dense (F is P × P), so this is for checking small nets only.  It
works in float64, or — given NumPy object arrays of ``mpmath.mpf`` — in mpmath at
the ambient precision (:func:`as_mp` makes such copies).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import mpmath
import numpy as np

from ..errors import NonFiniteError, OptionError, ShapeError
from ..symbolic.network import IDENTITY, Network
from ..types import Data, State

if TYPE_CHECKING:  # only the network and the whitened flag of a model are read
    from ..symbolic.derive import Model

__all__ = ["flat", "unflat", "path_factors", "end_to_end_map", "sqrt_psd", "jacobian", "fisher", "residual_vector",
           "dense_gradient", "dense_direction", "sym_power", "kron", "as_mp"]

RCOND_FLOAT = 1e-10


# --------------------------------------------------------------------------- vectors of layers

def flat(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """θ = (vec W_1, …, vec W_N): the row-major vectors of the layers, concatenated."""
    return np.concatenate([np.ravel(a) for a in arrays])


def unflat(v: np.ndarray, like: Sequence[np.ndarray]) -> tuple:
    """Inverse of :func:`flat`: split ``v`` into arrays shaped like ``like``.

    Raises:
        ShapeError: ``v`` does not have exactly as many entries as ``like`` in total.
    """
    total = sum(int(np.size(a)) for a in like)
    if np.size(v) != total:
        raise ShapeError(f"cannot split a vector of {np.size(v)} entries into layers with {total} entries")
    out, k = [], 0
    for a in like:
        out.append(np.reshape(v[k:k + a.size], a.shape))
        k += a.size
    return tuple(out)


def _exact(a: np.ndarray) -> bool:
    return a.dtype == object


def _eye(n: int, exact: bool) -> np.ndarray:
    return np.eye(n, dtype=object) * mpmath.mpf(1) if exact else np.eye(n)


# --------------------------------------------------------------------------- inputs

def _check_weights(net: Network, weights: Sequence[np.ndarray]) -> tuple:
    if len(weights) != net.depth:
        raise ShapeError(f"the network has {net.depth} weight matrices, got {len(weights)}")
    out = []
    for e, w in zip(net.weights, weights):
        w = np.asarray(w)
        if w.shape != e.shape:
            raise ShapeError(f"{e.name} must have shape {e.shape}, got {w.shape}")
        _check_finite(w, e.name)
        out.append(w)
    exact = {_exact(w) for w in out}
    if len(exact) != 1:
        raise ShapeError("mix of float and mpmath (object) weight arrays; convert all of them with as_mp")
    return tuple(out)


def _check_finite(a: np.ndarray, name: str) -> None:
    ok = all(mpmath.isfinite(x) for x in a.flat) if _exact(a) else bool(np.all(np.isfinite(a)))
    if not ok:
        raise NonFiniteError(f"{name} contains a non-finite entry")


def _split_data(m: "Model", weights, data) -> tuple:
    """(Σx, T) with Σx = I for a whitened model; shapes checked."""
    net = m.network
    exact = _exact(weights[0])
    data = [np.asarray(d) for d in data]
    if m.whitened:
        if len(data) != 1:
            raise ShapeError(f"a whitened model takes data (T,), got {len(data)} arrays")
        S, T = _eye(net.n_in, exact), data[0]
    else:
        if len(data) != 2:
            raise ShapeError(f"the model takes data (Σx, T), got {len(data)} arrays")
        S, T = data
        if S.shape != (net.n_in, net.n_in):
            raise ShapeError(f"Σx must be {net.n_in}×{net.n_in}, got {S.shape}")
        _check_finite(S, "Σx")
        asym = max((abs(S[i, j] - S[j, i]) for i in range(net.n_in) for j in range(i)), default=0)
        if asym > 1e-10 * max(abs(x) for x in S.flat):
            raise ShapeError(f"Σx must be symmetric (largest asymmetry {float(asym):.1e})")
        S = (S + S.T) / 2
    if T.shape != (net.n_out, net.n_in):
        raise ShapeError(f"T must be {net.n_out}×{net.n_in}, got {T.shape}")
    _check_finite(T, "T")
    return S, T


# --------------------------------------------------------------------------- path products

def path_factors(net: Network, weights: Sequence[np.ndarray]) -> tuple:
    """For each weight edge e = u → v: (M(u), R(v)), multiplied out from the raw weights.

    M(u) (n_u × n_0) sums the products of edge maps over all paths input → u, R(v)
    (n_N × n_v) over all paths v → output (a chain: W_{<i} and W_{>i}).

    Raises:
        ShapeError: wrong number, shapes or kinds of weight arrays.
        NonFiniteError: a weight contains NaN or infinity.
    """
    weights = _check_weights(net, weights)
    exact = _exact(weights[0])
    value = {e.name: w for e, w in zip(net.weights, weights)}

    def edge_map(e):
        return None if e.kind == IDENTITY else value[e.name]

    M = {net.input: _eye(net.n_in, exact)}
    for v in net.order:
        if v == net.input:
            continue
        terms = [(M[e.source] if edge_map(e) is None else edge_map(e) @ M[e.source])
                 for e in net.edges if e.target == v and e.source in M]
        if terms:
            M[v] = sum(terms[1:], terms[0])
    R = {net.output: _eye(net.n_out, exact)}
    for u in reversed(net.order):
        if u == net.output:
            continue
        terms = [(R[e.target] if edge_map(e) is None else R[e.target] @ edge_map(e))
                 for e in net.edges if e.source == u and e.target in R]
        if terms:
            R[u] = sum(terms[1:], terms[0])
    return tuple((M[e.source], R[e.target]) for e in net.weights)


def end_to_end_map(net: Network, weights: Sequence[np.ndarray]) -> np.ndarray:
    """W = Σ_paths Π edge maps (a chain: W_N ⋯ W_1; a ResNet: Π (I + A_j)), from the raw weights.

    Raises:
        ShapeError, NonFiniteError: as :func:`path_factors`.
    """
    weights = _check_weights(net, weights)
    exact = _exact(weights[0])
    value = {e.name: w for e, w in zip(net.weights, weights)}
    M = {net.input: _eye(net.n_in, exact)}
    for v in net.order:
        if v == net.input:
            continue
        terms = [(M[e.source] if e.kind == IDENTITY else value[e.name] @ M[e.source])
                 for e in net.edges if e.target == v and e.source in M]
        if terms:
            M[v] = sum(terms[1:], terms[0])
    return M[net.output]


# --------------------------------------------------------------------------- symmetric functions

def _sym_eig(X: np.ndarray) -> tuple:
    """(eigenvalues, orthonormal eigenvectors as columns) of symmetric X."""
    if _exact(X):
        E, Q = mpmath.eigsy(mpmath.matrix(X.tolist()))
        n = X.shape[0]
        return [E[i] for i in range(n)], np.array(Q.tolist(), dtype=object)
    w, U = np.linalg.eigh(X)
    return list(w), U


def _sym_apply(X: np.ndarray, f) -> np.ndarray:
    """Q diag(f(λ_k)) Qᵀ for symmetric X = Q diag(λ) Qᵀ."""
    w, Q = _sym_eig(X)
    vals = [f(v) for v in w]
    if _exact(X):
        return (Q * np.array(vals, dtype=object)[None, :]) @ Q.T
    return (Q * np.array(vals, dtype=float)) @ Q.T


def sqrt_psd(X: np.ndarray) -> np.ndarray:
    """X^{½} of symmetric PSD X (negative round-off eigenvalues clipped to 0).

    Raises:
        ShapeError: X is not square.
    """
    if X.ndim != 2 or X.shape[0] != X.shape[1]:
        raise ShapeError(f"sqrt_psd needs a square matrix, got shape {X.shape}")
    if _exact(X):
        return _sym_apply(X, lambda v: mpmath.sqrt(max(v, 0)))
    return _sym_apply(X, lambda v: float(np.sqrt(max(v, 0.0))))


def sym_power(F: np.ndarray, q: Any, damping: Any=0) -> np.ndarray:
    """(F⁺)^q, or (F + λI)^{−q} for damping λ > 0, of symmetric PSD F by eigendecomposition.

    Without damping, eigenvalues at or below a relative cutoff (1e-10 in float64,
    10^{−dps/2} in mpmath) count as zero and map to zero (the pseudo-inverse).

    Raises:
        ShapeError: F is not square.
        OptionError: negative damping.
    """
    if F.ndim != 2 or F.shape[0] != F.shape[1]:
        raise ShapeError(f"sym_power needs a square matrix, got shape {F.shape}")
    if damping < 0:
        raise OptionError(f"damping must be ≥ 0, got {damping}")
    w, Q = _sym_eig(F)
    exact = _exact(F)
    wmax = max((abs(v) for v in w), default=0)
    cut = wmax * (mpmath.mpf(10) ** (-(mpmath.mp.dps // 2)) if exact else RCOND_FLOAT)
    if damping:
        vals = [(max(v, 0) + damping) ** (-q) for v in w]
    else:
        vals = [v ** (-q) if v > cut and v > 0 else 0 * v for v in w]
    if exact:
        return (Q * np.array(vals, dtype=object)[None, :]) @ Q.T
    return (Q * np.array(vals, dtype=float)) @ Q.T


def kron(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """A ⊗ B: the matrix of X ↦ A X Bᵀ on row-major vec(X) (works on object arrays)."""
    return np.kron(A, B)


# --------------------------------------------------------------------------- Jacobian, Fisher, gradient

def jacobian(m: "Model", weights: Sequence[np.ndarray], data: Sequence[np.ndarray]) -> np.ndarray:
    """J = [R_e ⊗ (M_e Σx^{½})ᵀ]_e, the Jacobian of θ ↦ vec(W Σx^{½}); shape (n_N·n_0, P).

    Raises:
        ShapeError: wrong number or shapes of weights or data, asymmetric Σx.
        NonFiniteError: non-finite weights or data.
    """
    weights = _check_weights(m.network, weights)
    S, _ = _split_data(m, weights, data)
    half = sqrt_psd(S)
    return np.concatenate([kron(R, (M @ half).T) for M, R in path_factors(m.network, weights)], axis=1)


def fisher(m: "Model", weights: State, data: Data) -> np.ndarray:
    """F = JᵀJ (P × P), the Fisher / Gauss–Newton matrix.

    Raises:
        ShapeError, NonFiniteError: as :func:`jacobian`.
    """
    J = jacobian(m, weights, data)
    return J.T @ J


def residual_vector(m: "Model", weights: State, data: Data) -> np.ndarray:
    """r = vec((W − T) Σx^{½}), with W multiplied out from the raw weights.

    Raises:
        ShapeError, NonFiniteError: as :func:`jacobian`.
    """
    weights = _check_weights(m.network, weights)
    S, T = _split_data(m, weights, data)
    return np.ravel((end_to_end_map(m.network, weights) - T) @ sqrt_psd(S))


def dense_gradient(m: "Model", weights: State, data: Data) -> np.ndarray:
    """∇L = Jᵀ vec((W − T) Σx^{½}) as a flat vector (equal to θ ↦ ∇_θ ½‖r(θ)‖²).

    Raises:
        ShapeError, NonFiniteError: as :func:`jacobian`.
    """
    return jacobian(m, weights, data).T @ residual_vector(m, weights, data)


def dense_direction(rule: str, m: "Model", weights: State, data: Data, q: Any=1, damping: Any=0) -> tuple:
    """Reference velocity of ``rule`` ∈ {gd, ngd, kfac, bernacchia}, from dense matrices.

    * ``gd``: −∇L;
    * ``ngd``: −(F⁺)^q ∇L, or −(F + λI)^{−q} ∇L with damping λ (for q = 1 this is
      −Jᵀ(JJᵀ + λI)⁻¹r, the damping of the output-space operator);
    * ``kfac``: per block −((G_e ⊗ A_e)⁺)^q ∇_e L; with damping λ the *factors* are
      damped, −((G_e + λI)^{−q} ⊗ (A_e + λI)^{−q}) ∇_e L, as in K-FAC;
    * ``bernacchia``: the ``kfac`` direction (q = 1) divided by the depth N.

    Returned as layer matrices shaped like ``weights``.

    Raises:
        OptionError: unknown rule, or negative damping.
        ShapeError, NonFiniteError: as :func:`jacobian`.
    """
    if rule not in ("gd", "ngd", "kfac", "bernacchia"):
        raise OptionError(f"no dense reference for rule {rule!r}; use gd, ngd, kfac or bernacchia")
    weights = _check_weights(m.network, weights)
    g = dense_gradient(m, weights, data)
    if rule == "gd":
        v = -g
    elif rule == "ngd":
        v = -(sym_power(fisher(m, weights, data), q, damping) @ g)
    else:
        S, _ = _split_data(m, weights, data)
        qq = 1 if rule == "bernacchia" else q
        parts, k = [], 0
        for (M, R), w in zip(path_factors(m.network, weights), weights):
            G, A = R.T @ R, M @ S @ M.T
            if damping:
                B = kron(sym_power(G, qq, damping), sym_power(A, qq, damping))
            else:
                B = sym_power(kron(G, A), qq)
            parts.append(-(B @ g[k:k + w.size]))
            k += w.size
        v = np.concatenate(parts)
        if rule == "bernacchia":
            v = v / len(weights)
    return unflat(v, weights)


def as_mp(weights: State, data: Data, dps: int) -> tuple:
    """(weights, data) as object arrays of ``mpf`` at ``dps`` digits (floats convert exactly)."""
    with mpmath.workdps(dps):
        conv = np.vectorize(lambda x: mpmath.mpf(x), otypes=[object])
        return (tuple(conv(np.asarray(w, dtype=object)) for w in weights),
                tuple(conv(np.asarray(d, dtype=object)) for d in data))
