r"""Elkabetz & Cohen, "Continuous vs. Discrete Optimization of Deep Neural Networks", NeurIPS 2021.

O. Elkabetz, N. Cohen, Advances in Neural Information Processing Systems 34 (2021), arXiv:2107.06608;
code ``elkabzo/cont_disc_opt_dnn``.  GD θ_{k+1} = θ_k − η∇f(θ_k) is Euler's method for gradient
flow θ̇ = −∇f(θ); its distance from the flow at t = kη is O(η) with a constant governed by the
negative curvature met *along the flow* (``docs/mathematics.md`` §5.1):

    ‖θ_k − θ(kη)‖ ≲ (η/2) ∫₀^{kη} exp(−∫_t^{kη} λ_−) ‖∇²f ∇f‖(θ(t)) dt,   λ_− = min(λ_min(∇²f), 0)

(the generic envelope, distances and fitted orders are in :mod:`curvsym.verify.discrete`).
This module holds what is specific to the paper:

* **Proposition 1** (:func:`concave_rule`, :func:`concave_gap`, :func:`concave_step_bound`): on a
  strongly concave objective f(x) = −(m/2)x² the gap at time t is (η/2)m²x₀te^{mt}(1 + O(η)),
  so tracking GF to ε up to time t needs η ∈ O(e^{−mt}) — the convex-case η ∈ O(1/t) is not enough;
* **favourable curvature of deep linear nets** (``docs/mathematics.md`` §5.2):
  for balanced layers (all ‖W_i‖₂ = ‖W‖₂^{1/N}) and a convex ℓ,
  λ_min(∇²f) ≥ −(N − 1) ‖∇ℓ(W)‖_F ‖W‖₂^{1−2/N} (:func:`balanced_curvature_bound`), and near-zero
  balanced initialisations stay balanced under GF (:func:`balanced_init`);
* **the experiment** (:func:`digits_problem`, :func:`xavier_uniform`, :func:`step_size_experiment`):
  GD at η₀ against GD at η₀/r, r ∈ {2, 5, 10, 20}, comparing every iterate k of the first with
  iterate rk of the second, on a deep linear 64-50-50-10 net trained on 1000 scikit-learn
  digits with the squared loss (the paper: 784-50-50-10 linear and ReLU nets, MNIST, cross-entropy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import mpmath
import numpy as np

from ..errors import OptionError, ShapeError
from ..types import Array, Data, State

__all__ = ["CITATION", "concave_rule", "concave_gap", "concave_first_order_gap", "concave_step_bound",
           "balanced_curvature_bound", "balanced_init", "imbalance", "xavier_uniform", "DigitsProblem",
           "digits_problem", "Experiment", "step_size_experiment"]

CITATION = ("O. Elkabetz, N. Cohen. Continuous vs. Discrete Optimization of Deep Neural Networks. "
            "NeurIPS 34 (2021), arXiv:2107.06608")


# --------------------------------------------------------------------------- Proposition 1

def concave_rule(m: float) -> "object":
    """The user rule θ̇ = m θ: gradient flow of f(θ) = −(m/2)‖θ‖² (λ_min ≡ −m everywhere).

    On a 1-1 chain it is the one-dimensional strongly concave objective of Proposition 1;
    it runs through the generic pipeline (:func:`curvsym.verify.discrete.gap_study`) like any rule.

    Raises:
        OptionError: m not a finite positive number.
    """
    import sympy as sp

    from ..symbolic import rules
    if isinstance(m, bool) or not isinstance(m, (int, float)) or not math.isfinite(m) or m <= 0:
        raise OptionError(f"the concavity m must be a finite positive number, got {m!r}")
    return rules.custom(f"gradient flow of −({m:g}/2)θ²", sp.nsimplify(m) * rules.template.W, key="concave")


def concave_gap(m: float, x0: float, eta: float, k: int, dps: int = 50) -> mpmath.mpf:
    """|x₀e^{m kη} − x₀(1 + ηm)^k|: GD against GF on f(x) = −(m/2)x², exactly (mpmath, ``dps`` digits)."""
    with mpmath.workdps(dps):
        m_, x_, e_ = mpmath.mpf(m), mpmath.mpf(x0), mpmath.mpf(eta)
        return abs(x_ * mpmath.exp(m_ * k * e_) - x_ * (1 + e_ * m_) ** k)


def concave_first_order_gap(m: float, x0: float, eta: float, t: float) -> float:
    """(η/2) m² |x₀| t e^{mt}: the leading term of the gap, which the envelope reproduces exactly here."""
    return 0.5 * eta * m * m * abs(x0) * t * math.exp(m * t)


def concave_step_bound(m: float, x0: float, t: float, eps: float) -> float:
    """2ε e^{−mt}/(m²|x₀|t): to first order the largest η keeping the gap ≤ ε up to time t (η ∈ O(e^{−mt}))."""
    return 2 * eps * math.exp(-m * t) / (m * m * abs(x0) * t)


# --------------------------------------------------------------------------- favourable curvature

def balanced_curvature_bound(W: Array, T: Array, Sigma: Array, N: int) -> float:
    """−(N − 1) ‖∇ℓ(W)‖_F ‖W‖₂^{1−2/N} with ∇ℓ = (W − T)Σx: a lower bound on λ_min(∇²f) for balanced layers.

    Derivation (``docs/mathematics.md`` §5.2): d²f[V, V] = d²ℓ[DW V, DW V] + ⟨∇ℓ, D²W[V, V]⟩ with
    ℓ convex; D²W[V, V] = 2Σ_{i<j} W_{>j}V_j W_{j−1:i+1} V_i W_{<i}, and with all ‖W_i‖₂ equal to
    ‖W‖₂^{1/N} each term is at most ‖∇ℓ‖_F ‖W‖₂^{1−2/N} ‖V_i‖‖V_j‖; 2Σ_{i<j} x_ix_j ≤ (N − 1)Σx_i².

    Raises:
        OptionError: depth N < 1.
    """
    if isinstance(N, bool) or not isinstance(N, int) or N < 1:
        raise OptionError(f"depth N must be a positive integer, got {N!r}")
    W = np.asarray(W, dtype=float)
    grad = (W - np.asarray(T, dtype=float)) @ np.asarray(Sigma, dtype=float)
    return -(N - 1) * float(np.linalg.norm(grad)) * float(np.linalg.norm(W, 2)) ** (1 - 2 / N)


def balanced_init(widths: Sequence[int], scale: float, rng: np.random.Generator) -> tuple:
    """Exactly balanced layers W_i = U_i S U_{i−1}ᵀ (S = scale·diag of |N(0,1)|, U_i random orthonormal).

    Then W_{i+1}ᵀW_{i+1} = U_i S² U_iᵀ = W_iW_iᵀ: every C_i = 0, which gradient flow keeps.

    Raises:
        ShapeError: a hidden width below min(n_0, n_N) (no balanced factorisation of this kind).
    """
    r = min(widths[0], widths[-1])
    if min(widths) < r:
        raise ShapeError(f"balanced_init needs every width ≥ min(n_0, n_N) = {r}, got {list(widths)}")
    S = np.diag(scale * np.abs(rng.standard_normal(r)))
    U = []
    for n in widths:
        q, rr = np.linalg.qr(rng.standard_normal((n, n)))
        U.append((q * np.sign(np.diag(rr)))[:, :r])
    return tuple(U[i + 1] @ S @ U[i].T for i in range(len(widths) - 1))


def imbalance(weights: State) -> float:
    """max_i ‖W_{i+1}ᵀW_{i+1} − W_iW_iᵀ‖_F (0 for balanced layers)."""
    ws = [np.asarray(w, dtype=float) for w in weights]
    return max((float(np.linalg.norm(b.T @ b - a @ a.T)) for a, b in zip(ws[:-1], ws[1:])), default=0.0)


# --------------------------------------------------------------------------- the experiment

def xavier_uniform(widths: Sequence[int], rng: np.random.Generator) -> tuple:
    """W_i ~ U(−a_i, a_i), a_i = √(6/(n_{i−1} + n_i)) (Glorot & Bengio 2010; PyTorch's ``xavier_uniform_``)."""
    out = []
    for n_in, n_out in zip(widths[:-1], widths[1:]):
        a = math.sqrt(6.0 / (n_in + n_out))
        out.append(rng.uniform(-a, a, size=(n_out, n_in)))
    return tuple(out)


@dataclass(frozen=True)
class DigitsProblem:
    """Squared-loss regression of one-hot labels on digits images, as the population data (Σx, T).

    L(W) = (1/2n) Σ_j ‖W x_j − y_j‖² = ½ tr((W − T) Σx (W − T)ᵀ) + L*, Σx = XXᵀ/n, T = Σyx Σx⁻¹
    over the ``kept`` pixels.  Pixels that are 0 in every image are dropped: their column of
    W_1 has gradient exactly 0 (the column of Σx and of Σyx is 0), so it never moves and
    changes neither the outputs nor any distance between runs from the same start;
    ``widths`` are those of the reduced net, ``full_widths`` the paper's.
    """

    X: np.ndarray          #: kept pixels × examples, in [0, 1]
    Y: np.ndarray          #: one-hot labels, 10 × examples
    Sigma: np.ndarray
    T: np.ndarray
    L_star: float          #: the least achievable loss (min over all W)
    kept: np.ndarray       #: indices of the kept pixels among the 64
    widths: tuple
    full_widths: tuple

    def data(self) -> Data:
        return (self.Sigma, self.T)

    def reduce(self, full_weights: State) -> tuple:
        """Layers of the full 64-… net → the reduced net (W_1 keeps the columns of the kept pixels)."""
        return (np.asarray(full_weights[0])[:, self.kept],) + tuple(full_weights[1:])

    def loss(self, weights: State) -> float:
        """(1/2n) Σ_j ‖W x_j − y_j‖² through the population form (+ L*)."""
        W = weights[0]
        for w in weights[1:]:
            W = w @ W
        E = W - self.T
        return 0.5 * float(np.trace(E @ self.Sigma @ E.T)) + self.L_star


def digits_problem(n_samples: int = 1000, hidden: Sequence[int] = (50, 50)) -> DigitsProblem:
    """The first ``n_samples`` scikit-learn digits (bundled, no download), pixels/16, one-hot labels.

    The paper normalises MNIST with its global mean and standard deviation; here pixels stay
    in [0, 1], because a global shift would turn the always-zero pixels into one shared
    constant, making Σx singular — while zero pixels can be dropped exactly (see
    :class:`DigitsProblem`).

    Raises:
        OptionError: ``n_samples`` outside 20…1797.
    """
    from sklearn.datasets import load_digits
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or not 20 <= n_samples <= 1797:
        raise OptionError(f"n_samples must be an integer in 20…1797, got {n_samples!r}")
    d = load_digits()
    X = d.data[:n_samples].T / 16.0
    y = d.target[:n_samples]
    Y = np.eye(10)[y].T
    kept = np.flatnonzero(np.any(X != 0, axis=1))
    Xk = X[kept]
    n = X.shape[1]
    Sigma = Xk @ Xk.T / n
    Sigma = (Sigma + Sigma.T) / 2
    Syx = Y @ Xk.T / n
    T = np.linalg.solve(Sigma, Syx.T).T
    L_star = 0.5 * float(np.sum((T @ Xk - Y) ** 2)) / n
    full = (64, *hidden, 10)
    return DigitsProblem(Xk, Y, Sigma, T, L_star, kept, (len(kept), *hidden, 10), full)


@dataclass(frozen=True)
class Experiment:
    """GD at η₀ against GD at η₀/r at the common times t_k = k·(logging interval).

    ``loss[r]`` and ``distance[r]`` = ‖θ_{η₀}(t) − θ_{η₀/r}(t)‖ over all weights, per logged time,
    and ``travelled`` = ‖θ_{η₀}(t) − θ₀‖ (the paper plots the former against the latter).
    """

    eta0: float
    ratios: tuple
    t: tuple
    steps: tuple            #: iterations of the η₀ run at each logged time
    loss: dict              #: r ↦ tuple of losses (r = 1: the η₀ run)
    distance: dict          #: r ↦ tuple of distances to the η₀ run
    travelled: tuple
    status: dict            #: r ↦ Status
    notes: tuple = ()


def step_size_experiment(rhs: "object", weights: State, data: Data, eta0: float, n_steps: int,
                         ratios: Sequence[int] = (2, 5, 10, 20), n_log: int = 100,
                         loss: "object" = None) -> Experiment:
    """The paper's comparison: GD at η₀ (``n_steps`` iterations) against GD at η₀/r (r·n_steps iterations).

    One batched run of the sweep (:func:`curvsym.integrate.discrete.iterate_sweep`); ``loss``
    maps a state to its loss.  Any generated rule works (``rhs``), so a nonlinear network's
    flow plugs in unchanged.

    Raises:
        OptionError: a bad η₀, ratio, step count or log count.
    """
    from ..integrate.discrete import iterate_sweep
    from ..verify.discrete import distance
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise OptionError(f"n_steps must be a positive integer, got {n_steps!r}")
    if isinstance(n_log, bool) or not isinstance(n_log, int) or n_log < 1 or n_steps % n_log:
        raise OptionError(f"n_log must be a positive divisor of n_steps = {n_steps}, got {n_log!r}")
    if any(isinstance(r, bool) or not isinstance(r, int) or r < 1 for r in ratios):
        raise OptionError(f"the ratios r must be positive integers, got {list(ratios)!r}")
    ratios = tuple(ratios)
    etas = [float(eta0)] + [float(eta0) / r for r in ratios]
    every = n_steps // n_log
    steps = tuple(range(0, n_steps + 1, every))
    times = [k * float(eta0) for k in steps]
    runs = iterate_sweep(rhs, weights, data, etas, times, loss=loss)
    base = runs[0]
    keys = (1,) + ratios
    losses, dists, status = {}, {}, {}
    for key, run in zip(keys, runs):
        status[key] = run.status
        losses[key] = tuple(float(loss(s)) for s in run.states) if loss is not None else ()
        if key != 1:
            dists[key] = tuple(distance(a, b) for a, b in zip(base.states, run.states))
    travelled = tuple(distance(s, base.states[0]) for s in base.states)
    notes = tuple(run.message for run in runs if run.message)
    return Experiment(float(eta0), ratios, tuple(times[:len(base.states)]), steps[:len(base.states)], losses, dists,
                      travelled, status, notes)
