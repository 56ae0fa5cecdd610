r"""Bernacchia, Lengyel & Hennequin, "Exact natural gradient in deep linear networks and its application
to the nonlinear case", NeurIPS 2018 (pp. 5945–5954).  Authors' code: ``hennequin-lab/bernacchia-nips-2018``.

The *online natural gradient* (``docs/mathematics.md`` §2.5) applied to any
network of :mod:`curvsym.symbolic.nonlinear` trained on the mean squared error.
Per step, on a minibatch of B examples (columns of X, targets Y), for every
weight edge e = u → v with layer input H̄_u (H_u with a row of ones appended when
the edge has a bias, so that W̄_e = [W_e b_e]):

    A_e = (1/B) H̄_u H̄_uᵀ                                   (forward pass)
    G_e = (1/(BR)) Σ_{r=1}^{R} Δ_v^{(r)} Δ_v^{(r)ᵀ}          (R reverse passes, output adjoints E_r with
                                                           independent N(0, 1) entries)
    ∇_e = (1/B) Δ_v H̄_uᵀ                                    (one reverse pass of Δ_output = Ŷ − Y)
    W̄_e ← W̄_e − (α/N) (G_e + √λ I)⁻¹ ∇_e (A_e + √λ I)⁻¹      (N weight layers, damping λ)

where Δ_v = m·∂ℓ/∂Z_v are the back-propagated pre-activation adjoints (the
``backward`` of :mod:`curvsym.symbolic.nonlinear`, whose generated code is what
runs here).  The Gaussian model y ~ N(ŷ, I) makes E_r[Δ^{(r)}Δ^{(r)ᵀ}] the
per-example Gauss–Newton factor, so G_e ⊗ A_e is the K-FAC block of the Fisher.
``exact_G=True`` replaces the samples by the R = n_N basis adjoints E_c = e_c1ᵀ,
giving G_e = (1/B) Σ_c Δ^{(c)}Δ^{(c)ᵀ} = (1/B) Σ_b M_bᵀM_b exactly (M_b the Jacobian
of the output with respect to Z_v at example b).

The inverses are applied, as in the authors' code, through thin SVDs of the
batch matrices: H̄_u/√B = U S Vᵀ gives ∇(A + √λ)⁻¹ = ∇ U (S² + √λ)⁻¹ Uᵀ (exact:
the rows of ∇ lie in span U), and D/√(BR) = U_G S_G V_Gᵀ (D = [Δ^{(1)} … Δ^{(R)}])
gives (G + √λ)⁻¹ M ≈ U_G (S_G² + √λ)⁻¹ U_Gᵀ M, restricted to the sampled span.
With λ = 0 singular values below ``rcond``·max are dropped: the pseudo-inverses.

Levenberg–Marquardt damping: with α' = α/N and NG_e the preconditioned direction,
the quadratic model predicts Δℓ = Σ_e (−α' + α'²/2) ⟨NG_e, ∇_e⟩; with
ρ = (ℓ_new − ℓ_old)/predicted, λ ← 3λ/2 if ρ < ¼ and λ ← 2λ/3 if ρ > ¾ (the step
is always taken, as in the authors' code).

For a deep linear network without biases, with Y = TX, exact G_e and λ → 0, the
online direction is the exact natural gradient of the learning-rules module:
−(1/N) G_e⁺ ∇_e L A_e⁺ with G_e = W_{>e}ᵀW_{>e}, A_e = W_{<e}ΣxW_{<e}ᵀ, Σx = XXᵀ/B
(:class:`curvsym.symbolic.rules.Bernacchia`; ``proofs/online_ngd_limit.py``).

:func:`autoencoder_experiment` reproduces the paper's comparison on the digits:
a tanh autoencoder (64-32-16-32-64 by default) trained by online NGD and by SGD
(learning rates swept), several seeds, test MSE against epochs and wall-clock.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from sympy import MatrixSymbol
from threadpoolctl import threadpool_limits

from ..codegen import generate
from ..errors import OptionError, ShapeError
from ..symbolic import network as _network
from ..symbolic import nonlinear as nl
from ..types import Array

__all__ = ["Programs", "programs", "OnlineNGD", "SGD", "Curve", "autoencoder", "train", "autoencoder_experiment",
           "ngd_direction", "CITATION"]

CITATION = ("A. Bernacchia, M. Lengyel, G. Hennequin. Exact natural gradient in deep linear networks and its "
            "application to the nonlinear case. NeurIPS 31 (2018), pp. 5945–5954.")


# --------------------------------------------------------------------------- generated programs

@dataclass(frozen=True)
class Programs:
    """Generated code for one network and batch size B.

    ``forward_backward(params, X, Y)`` → (ℓ, H_u of every weight edge …, Δ_v of every weight edge …);
    ``adjoints(params, X, E)`` → Δ_v of every weight edge for the output adjoint E (n_N × B);
    ``loss(params, X, Y)`` → (ℓ,).
    """

    model: nl.NonlinearModel
    forward_backward: Any
    adjoints: Any
    loss: Any

    @property
    def batch(self) -> int:
        return self.model.examples


def programs(network: _network.Network, batch: int, backend: str = "numpy") -> Programs:
    """Generate the forward/backward programs of ``network`` for minibatches of ``batch`` examples (MSE loss).

    Raises:
        OptionError: ``batch`` is not a positive integer.
    """
    m = nl.data_model(network, batch, "mse")
    fw = nl.forward(m)
    delta, _ = nl.backward(m, nl.output_adjoint(m, fw), fw)
    edges = m.network.weights
    inputs = [fw.H[e.source] for e in edges]
    adjoints = [delta[e.target] for e in edges]
    fb = generate("forward_backward", [*m.weights, m.X, m.Y], [nl.loss(m), *inputs, *adjoints],
                  backend=backend, n_weights=len(m.weights))
    E = MatrixSymbol("E", network.n_out, batch)
    d_E, _ = nl.backward(m, E, fw)
    adj = generate("adjoints", [*m.weights, m.X, E], [d_E[e.target] for e in edges], backend=backend,
                   n_weights=len(m.weights))
    lo = generate("loss", [*m.weights, m.X, m.Y], [nl.loss(m)], backend=backend, n_weights=len(m.weights))
    return Programs(m, fb, adj, lo)


# --------------------------------------------------------------------------- the online natural gradient

def _layers(m: nl.NonlinearModel) -> list[tuple[int, int | None]]:
    """(index of W_e, index of b_e or None) in the state, per weight edge."""
    names = [w.name for w in m.weights]
    return [(names.index(e.name), names.index(e.bias) if e.bias else None) for e in m.network.weights]


def _augment(H: np.ndarray, bias: bool) -> np.ndarray:
    return np.vstack([H, np.ones((1, H.shape[1]))]) if bias else H


def _restricted_inverse(M: np.ndarray, sqrt_damping: float, rcond: float) -> tuple[np.ndarray, np.ndarray]:
    """(U, 1/(s² + √λ)) from the thin SVD M = U S Vᵀ; with λ = 0, directions with s² ≤ rcond·max s² dropped."""
    U, s, _ = np.linalg.svd(M, full_matrices=False)
    e = s * s
    if sqrt_damping == 0:
        keep = e > rcond * (e.max() if e.size else 0)
        U, e = U[:, keep], e[keep]
    return U, 1.0 / (e + sqrt_damping)


def ngd_direction(grad: np.ndarray, H: np.ndarray, D: np.ndarray, damping: float, rcond: float = 1e-10) -> np.ndarray:
    """(G + √λ)⁻¹ ∇ (A + √λ)⁻¹ through thin SVDs, A = HHᵀ (H already scaled by 1/√B), G = DDᵀ (D scaled).

    Raises:
        ShapeError: ∇ is not rows(D) × rows(H).
        OptionError: a negative damping.
    """
    if grad.shape != (D.shape[0], H.shape[0]):
        raise ShapeError(f"the gradient must be {D.shape[0]} × {H.shape[0]}, got {grad.shape}")
    if not damping >= 0:
        raise OptionError(f"damping λ must be ≥ 0, got {damping!r}")
    r = float(np.sqrt(damping))
    Ua, fa = _restricted_inverse(H, r, rcond)
    right = ((grad @ Ua) * fa) @ Ua.T
    Ug, fg = _restricted_inverse(D, r, rcond)
    return Ug @ ((Ug.T @ right) * fg[:, None])


@dataclass
class OnlineNGD:
    """The online natural gradient with Levenberg–Marquardt damping (see the module docstring).

    ``alpha`` α, ``damping`` λ (initial value when ``levenberg``), ``repeats`` R
    sampled reverse passes, ``exact_G`` the basis adjoints instead, ``rcond`` the
    cutoff for λ = 0, ``seed`` of the sampled adjoints.
    """

    alpha: float = 1.0
    damping: float = 1.0
    levenberg: bool = True
    repeats: int = 1
    exact_G: bool = False
    rcond: float = 1e-10
    seed: int = 0
    rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self):
        if not (self.alpha > 0 and self.damping >= 0 and self.repeats >= 1):
            raise OptionError(f"online NGD needs α > 0, λ ≥ 0 and R ≥ 1, got α={self.alpha}, λ={self.damping}, "
                              f"R={self.repeats}")
        self.rng = np.random.default_rng(self.seed)

    name = "online NGD"

    def directions(self, prog: Programs, params: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray) -> tuple:
        """(ℓ, gradients ∇_e, natural directions NG_e) per weight edge, on the state's own layout (W̄_e = [W_e b_e])."""
        m = prog.model
        B = prog.batch
        loss, Hbs, grads = _gradients(prog, params, X, Y)
        if self.exact_G:
            E_list = []
            for c in range(m.network.n_out):
                E = np.zeros((m.network.n_out, B))
                E[c] = 1.0
                E_list.append(E)
            scale = 1.0 / np.sqrt(B)
        else:
            E_list = [self.rng.standard_normal((m.network.n_out, B)) for _ in range(self.repeats)]
            scale = 1.0 / np.sqrt(B * self.repeats)
        samples = [prog.adjoints.raw(*params, X, E) for E in E_list]
        dirs = []
        for k, (grad, Hb) in enumerate(zip(grads, Hbs)):
            D = np.hstack([np.asarray(s[k]) for s in samples]) * scale
            dirs.append(ngd_direction(grad, Hb / np.sqrt(B), D, self.damping, self.rcond))
        return loss, grads, dirs

    def step(self, prog: Programs, params: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray) -> tuple:
        """One online NGD step: (new parameters, loss before the step)."""
        m = prog.model
        loss, grads, dirs = self.directions(prog, params, X, Y)
        a = self.alpha / m.depth
        new = _apply(m, params, [-a * d for d in dirs])
        if self.levenberg:
            predicted = sum((-a + a * a / 2) * float(np.sum(d * g)) for d, g in zip(dirs, grads))
            new_loss = float(prog.loss.raw(*new, X, Y)[0])
            rho = (new_loss - loss) / predicted if predicted != 0 else 1.0
            if rho < 0.25:
                self.damping *= 1.5
            elif rho > 0.75:
                self.damping *= 2.0 / 3.0
        return new, loss



def _gradients(prog: Programs, params: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray) -> tuple:
    """(ℓ, [H̄_e], [∇_e ℓ]) with H̄_e = [H_e; 1] the layer input (augmented when the edge has a bias) and
    ∇_e ℓ = D_e H̄_eᵀ/B from one forward–backward pass of the generated program."""
    m, B, N = prog.model, prog.batch, prog.model.depth
    out = prog.forward_backward.raw(*params, X, Y)
    Hs, Ds = out[1:1 + N], out[1 + N:]
    Hbs = [_augment(np.asarray(Hs[k], dtype=float), ib is not None) for k, (_, ib) in enumerate(_layers(m))]
    return float(out[0]), Hbs, [np.asarray(D) @ Hb.T / B for D, Hb in zip(Ds, Hbs)]


@dataclass
class SGD:
    """Plain minibatch SGD: θ ← θ − η ∇ℓ on the generated gradient."""

    lr: float = 0.05
    name = "SGD"

    def step(self, prog: Programs, params: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray) -> tuple:
        """One SGD step: (new parameters, loss before the step)."""
        loss, _, grads = _gradients(prog, params, X, Y)
        return _apply(prog.model, params, [-self.lr * g for g in grads]), loss


def _apply(m: nl.NonlinearModel, params: Sequence[np.ndarray], updates: Sequence[np.ndarray]) -> tuple:
    """θ + update with each W̄_e update split back into W_e and b_e."""
    new = list(params)
    for (iw, ib), u in zip(_layers(m), updates):
        cols = params[iw].shape[1]
        new[iw] = params[iw] + u[:, :cols]
        if ib is not None:
            new[ib] = params[ib] + u[:, cols:]
    return tuple(new)


# --------------------------------------------------------------------------- experiment

def autoencoder(widths: Sequence[int] = (64, 32, 16, 32, 64), activation: str = "tanh") -> _network.Network:
    """A chain autoencoder with ``activation`` on every hidden layer, biases, and a linear output.

    Raises:
        OptionError: the input and output widths differ.
    """
    if widths[0] != widths[-1]:
        raise OptionError(f"an autoencoder needs equal input and output widths, got {widths[0]} and {widths[-1]}")
    return _network.chain(list(widths), activation=activation, bias=True)


@dataclass(frozen=True)
class Curve:
    """One training run: test MSE (per pixel, ‖X̂ − X‖²/(m n_0)) after each epoch, and the training seconds.

    A run whose test error became non-finite stops there: ``diverged`` is True and
    the curves end at the last finite value.
    """

    optimizer: str
    setting: str
    seed: int
    epochs: tuple
    seconds: tuple
    test_mse: tuple
    diverged: bool = False


def _blas_limit(threads: int | None):
    """A context limiting BLAS threads (small matrices on a busy machine), or a no-op."""
    if threads is None:
        return contextlib.nullcontext()
    return threadpool_limits(threads)


def train(optimizer: Any, net: _network.Network, train_X: np.ndarray, test_X: np.ndarray, epochs: int,
          batch: int, seed: int = 0, init_scale: float = 1.0, blas_threads: int | None = None) -> Curve:
    """Train the autoencoder ``net`` to reconstruct ``train_X`` (columns = examples); evaluate on ``test_X``.

    Minibatches are drawn by a random permutation per epoch (incomplete last batches
    dropped); the clock counts training only, not the evaluations.  ``blas_threads``
    limits the BLAS thread pool during training (1 is fastest for these small
    matrices when cores are shared).

    Raises:
        ShapeError: data whose rows are not the network's input width.
        OptionError: a batch larger than the training set.
    """
    with _blas_limit(blas_threads):
        return _train(optimizer, net, train_X, test_X, epochs, batch, seed, init_scale)


def _train(optimizer, net, train_X, test_X, epochs, batch, seed, init_scale) -> Curve:
    if train_X.shape[0] != net.n_in or test_X.shape[0] != net.n_in:
        raise ShapeError(f"data must have {net.n_in} rows (one column per example)")
    if batch > train_X.shape[1]:
        raise OptionError(f"batch {batch} exceeds the {train_X.shape[1]} training examples")
    prog = programs(net, batch)
    test_prog = programs(net, test_X.shape[1])
    params = nl.init_parameters(prog.model, seed, init_scale, 0.0)
    rng = np.random.default_rng(seed + 10_000)

    def test_mse(p):
        return 2 * float(test_prog.loss.raw(*p, test_X, test_X)[0]) / net.n_in

    ep, secs, mse = [0], [0.0], [test_mse(params)]
    clock = 0.0
    diverged = False
    n_batches = train_X.shape[1] // batch
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected and reported below
        for k in range(1, epochs + 1):
            perm = rng.permutation(train_X.shape[1])
            t0 = time.perf_counter()
            for j in range(n_batches):
                Xb = np.ascontiguousarray(train_X[:, perm[j * batch:(j + 1) * batch]])
                params, _ = optimizer.step(prog, params, Xb, Xb)
            clock += time.perf_counter() - t0
            value = test_mse(params)
            if not np.isfinite(value) or value > 1e6 * mse[0]:
                diverged = True
                break
            ep.append(k)
            secs.append(clock)
            mse.append(value)
    setting = f"lr {optimizer.lr:g}" if isinstance(optimizer, SGD) else f"α {optimizer.alpha:g}, R {optimizer.repeats}"
    return Curve(optimizer.name, setting, seed, tuple(ep), tuple(secs), tuple(mse), diverged)


def autoencoder_experiment(X: Array, widths: Sequence[int] = (64, 32, 16, 32, 64), seeds: Sequence[int] = (0, 1, 2),
                           sgd_rates: Sequence[float] = (0.02, 0.05, 0.1, 0.2), sgd_epochs: int = 60,
                           sgd_batch: int = 20, ngd_epochs: int = 30, ngd_batch: int = 250, alpha: float = 1.0,
                           damping: float = 1.0, repeats: int = 1, n_test: int = 300,
                           blas_threads: int | None = 1) -> list[Curve]:
    """Online NGD against SGD (learning rates swept) on a tanh autoencoder, several seeds.

    ``X`` are the data (n_0 × m, e.g. :func:`curvsym.data.datasets.load_digits` after
    :func:`~curvsym.data.datasets.standardization`); the last ``n_test`` columns of a
    fixed random permutation are the test set.  Training runs with ``blas_threads``
    BLAS threads (default 1: these matrices are small).

    Raises:
        ShapeError: X is not n_0 × m with n_0 the autoencoder's width.
        OptionError: n_test not smaller than m.
    """
    X = np.asarray(X, dtype=float)
    net = autoencoder(widths)
    if X.ndim != 2 or X.shape[0] != net.n_in:
        raise ShapeError(f"X must be {net.n_in} × m, got {X.shape}")
    if not 0 < n_test < X.shape[1]:
        raise OptionError(f"n_test must lie in 1 … {X.shape[1] - 1}, got {n_test}")
    perm = np.random.default_rng(12345).permutation(X.shape[1])
    test, tr = X[:, perm[:n_test]], X[:, perm[n_test:]]
    curves = []
    for seed in seeds:
        ngd = OnlineNGD(alpha=alpha, damping=damping, repeats=repeats, seed=seed)
        curves.append(train(ngd, net, tr, test, ngd_epochs, ngd_batch, seed, blas_threads=blas_threads))
        for lr in sgd_rates:
            curves.append(train(SGD(lr), net, tr, test, sgd_epochs, sgd_batch, seed, blas_threads=blas_threads))
    return curves
