r"""Elkabetz & Cohen, "Continuous vs. Discrete Optimization of Deep Neural Networks", NeurIPS 2021.

O. Elkabetz, N. Cohen, Advances in Neural Information Processing Systems 34 (2021), arXiv:2107.06608;
code ``elkabzo/cont_disc_opt_dnn``.  GD θ_{k+1} = θ_k − η∇f(θ_k) is Euler's method for gradient
flow θ̇ = −∇f(θ); its distance from the flow at t = kη is O(η) with a constant governed by the
negative curvature met *along the flow* (``docs/mathematics.md`` §5.1):

    ‖θ_k − θ(kη)‖ ≲ (η/2) ∫₀^{kη} exp(−∫_t^{kη} λ_−) ‖∇²f ∇f‖(θ(t)) dt,   λ_− = min(λ_min(∇²f), 0)

(the generic envelope, distances and fitted orders are in :mod:`curvsym.verify.step_size`).
This module holds what is specific to the paper:

* **Proposition 1** (:func:`concave_rule`, :func:`concave_gap`, :func:`concave_step_bound`): on a
  strongly concave objective f(x) = −(m/2)x² the gap at time t is (η/2)m²x₀te^{mt}(1 + O(η)),
  so tracking GF to ε up to time t needs η ∈ O(e^{−mt}) — the convex-case η ∈ O(1/t) is not enough;
* **favourable curvature of deep linear nets** (``docs/mathematics.md`` §5.2):
  for balanced layers (all ‖W_i‖₂ = ‖W‖₂^{1/N}) and a convex ℓ,
  λ_min(∇²f) ≥ −(N − 1) ‖∇ℓ(W)‖_F ‖W‖₂^{1−2/N} (:func:`balanced_curvature_bound`), and near-zero
  balanced initialisations stay balanced under GF (:func:`balanced_init`);
* **the experiment** (:func:`digits_problem`, :func:`mnist_problem`, :func:`xavier_uniform`,
  :func:`step_size_experiment`, :func:`check_ratio_scaling`): GD at η₀ against GD at η₀/r,
  r ∈ {2, 5, 10, 20}, comparing every iterate k of the first with iterate rk of the second.
  The authors' code (``elkabzo/cont_disc_opt_dnn``, ``utils.py`` and ``model.py``) trains
  784-50-50-10 linear and ReLU nets without biases from a Xavier-uniform start, full batch,
  with the mean softmax cross-entropy, on the MNIST training images 0, 50, 100, …, 49 950
  normalised by (x − 0.1307)/0.3081, η₀ = 10⁻³ for 10⁴ iterations.  Here the same protocol runs
  through curvsym's generated gradients and the batched step-map runner
  (:func:`curvsym.integrate.iteration.iterate_sweep`) on
  — 1000 scikit-learn digits, 64-50-50-10, linear or ReLU, cross-entropy or squared loss
    (:class:`DataProblem`, the data model of :mod:`curvsym.symbolic.nonlinear`); the deep linear
    squared-loss case also in the exact population form (:class:`DigitsProblem`);
  — MNIST IDX files the user has (:func:`mnist_problem`; nothing is downloaded).

Why the distances should scale like 1 − 1/r.  For a smooth loss, Euler's global error has the
asymptotic expansion θ_η(t) = θ(t) + η e₁(t) + η² e₂(t) + O(η³) at t = kη, with e₁, e₂ independent
of η (Hairer, Nørsett & Wanner, *Solving ODEs I*, §II.8; ``docs/mathematics.md`` §5.1).  Then

    θ_{η₀}(t) − θ_{η₀/r}(t) = η₀(1 − 1/r) e₁(t) + η₀²(1 − 1/r²) e₂(t) + O(η₀³),

so D_r = ‖θ_{η₀}(k) − θ_{η₀/r}(rk)‖ ≈ a(1 − 1/r) + b(1 − 1/r²) with a = η₀‖e₁‖ and
b = η₀²⟨e₁, e₂⟩/‖e₁‖: proportional to 1 − 1/r to leading order (:func:`check_ratio_scaling`,
:func:`ratio_scaling` fits both terms).  A ReLU net's loss is only piecewise smooth (kinks where a
pre-activation crosses 0), so whether the law holds there is a measurement, not a consequence.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Sequence

import mpmath
import numpy as np
import sympy as sp

from ..codegen import generate_flow
from ..data.datasets import load_mnist
from ..errors import OptionError, ShapeError
from ..integrate.iteration import iterate_sweep
from ..integrate.stepper import Status
from ..symbolic import nonlinear as nl
from ..symbolic import rules
from ..symbolic.derive import Flow
from ..symbolic.network import chain
from ..symbolic.nonlinear import gradient_flow
from ..types import Array, Data, State
from ..verify.checks import CheckResult
from ..verify.step_size import distance, loss_function

__all__ = ["CITATION", "concave_rule", "concave_gap", "concave_first_order_gap", "concave_step_bound",
           "balanced_curvature_bound", "balanced_init", "imbalance", "xavier_uniform", "DigitsProblem",
           "DataProblem", "digits_problem", "mnist_problem", "MNIST_NORMALIZATION", "Experiment",
           "step_size_experiment", "RatioScaling", "ratio_scaling", "check_ratio_scaling", "check_tracking"]

CITATION = ("O. Elkabetz, N. Cohen. Continuous vs. Discrete Optimization of Deep Neural Networks. "
            "NeurIPS 34 (2021), arXiv:2107.06608")


# --------------------------------------------------------------------------- Proposition 1


def _whole(x: Any, low: int = 1, high: float = math.inf) -> bool:
    """x is an integer (Python or NumPy, not a bool) in low … high."""
    return not isinstance(x, bool) and isinstance(x, (int, np.integer)) and low <= x <= high

def concave_rule(m: float) -> "object":
    """The user rule θ̇ = m θ: gradient flow of f(θ) = −(m/2)‖θ‖² (λ_min ≡ −m everywhere).

    On a 1-1 chain it is the one-dimensional strongly concave objective of Proposition 1;
    it runs through the generic pipeline (:func:`curvsym.verify.step_size.gap_study`) like any rule.

    Raises:
        OptionError: m not a finite positive number.
    """

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
    if not _whole(N):
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


MNIST_NORMALIZATION = (0.1307, 0.3081)
"""(μ, σ) of the authors' code: x ↦ (x − μ)/σ with x the pixel in [0, 1] (MNIST training-set mean and std)."""


@dataclass(frozen=True, eq=False)
class DataProblem:
    """A bias-free chain n_0-…-10 trained on examples through the data model of :mod:`curvsym.symbolic.nonlinear`.

    Ŷ = W_N σ(⋯ σ(W_1 X)) with σ the identity (a deep linear net) or ReLU, on
    X = (pixels − μ)/σ_pix (n_0 × m, one column per example) and one-hot Y; the loss is the
    mean softmax cross-entropy (1/m) Σ_b [logsumexp(Ŷ_b) − Y_bᵀŶ_b] (PyTorch's
    ``CrossEntropyLoss``, as in the authors' code) or (1/2m)‖Ŷ − Y‖_F².  Every pixel is kept:
    after the shift by μ an always-zero pixel is a constant input −μ/σ_pix, whose weights do move.
    """

    model: Any                 #: the :class:`~curvsym.symbolic.nonlinear.NonlinearModel`
    X: np.ndarray              #: normalised pixels × examples
    Y: np.ndarray              #: one-hot labels, 10 × examples
    labels: np.ndarray
    indices: np.ndarray        #: the examples' positions in the source data set
    normalization: tuple       #: (μ, σ): X = (pixels − μ)/σ
    source: str

    @property
    def widths(self) -> tuple:
        """(n_0, n_1, …, n_N)."""
        shapes = [tuple(w.shape) for w in self.model.weights]
        return (int(shapes[0][1]), *(int(s[0]) for s in shapes))

    @property
    def full_widths(self) -> tuple:
        """The same as :attr:`widths` (no pixel is dropped; kept for symmetry with :class:`DigitsProblem`)."""
        return self.widths

    @property
    def activation(self) -> str:
        """The hidden activation's name (``"linear"`` for the identity)."""
        net = self.model.network
        name = str(net.activation(net.hidden[0])) if net.hidden else "identity"
        return "linear" if name == "identity" else name

    @property
    def loss_kind(self) -> str:
        """``"cross_entropy"`` or ``"mse"``."""
        return self.model.loss_kind.value

    def data(self) -> Data:
        """(X, Y): the data arguments of the generated flow and loss."""
        return (self.X, self.Y)

    def reduce(self, full_weights: State) -> tuple:
        """The layers unchanged (nothing is reduced here)."""
        return tuple(np.asarray(w, dtype=float) for w in full_weights)

    def flow(self) -> Any:
        """Gradient flow θ̇ = −∇ℓ(θ) of the model (:func:`curvsym.symbolic.nonlinear.gradient_flow`)."""
        return gradient_flow(self.model)

    @functools.cached_property
    def _loss(self) -> Any:
        return loss_function(self.flow(), self.data())

    def loss(self, weights: State) -> float:
        """ℓ(θ) by the generated loss of the model (:func:`curvsym.verify.step_size.loss_function`)."""
        return self._loss(weights)

    def describe(self) -> str:
        """One line: the net, activation, loss and data."""
        mu, sd = self.normalization
        return (f"{'-'.join(map(str, self.widths))} {self.activation} net, no biases, {self.loss_kind}, "
                f"{self.X.shape[1]} {self.source} images (x − {mu:g})/{sd:g}")


def _check_count(n: Any, what: str, low: int, high: int) -> int:
    if not _whole(n, low, high):
        raise OptionError(f"{what} must be an integer in {low}…{high}, got {n!r}")
    return int(n)


def _check_hidden(hidden: Any) -> tuple:
    hidden = tuple(hidden)
    if not all(_whole(h) for h in hidden):
        raise OptionError(f"hidden widths must be positive integers, got {list(hidden)!r}")
    return tuple(int(h) for h in hidden)


def _check_normalization(normalization: Any) -> tuple:
    try:
        mu, sd = (float(x) for x in normalization)
    except (TypeError, ValueError):
        raise OptionError(f"normalization must be a pair (mean, std), got {normalization!r}") from None
    if not (math.isfinite(mu) and math.isfinite(sd) and sd > 0):
        raise OptionError(f"normalization needs a finite mean and a finite std > 0, got ({mu!r}, {sd!r})")
    return mu, sd


def _data_problem(pixels: np.ndarray, labels: np.ndarray, indices: np.ndarray, source: str, hidden: tuple,
                  activation: Any, loss: Any, normalization: tuple) -> DataProblem:
    """X = (pixels[:, indices] − μ)/σ and one-hot labels on a bias-free chain with ``activation`` and ``loss``."""
    act = None if activation in (None, "linear", "identity") else activation
    mu, sd = normalization
    X = (pixels[:, indices] - mu) / sd
    net = chain([pixels.shape[0], *hidden, 10], activation=act)
    m = nl.data_model(net, len(indices), loss=loss)
    X, Y = nl.data_arrays(m, X, labels[indices])
    return DataProblem(m, X, Y, labels[indices].copy(), np.asarray(indices), (mu, sd), source)


def digits_problem(n_samples: int = 1000, hidden: Sequence[int] = (50, 50), activation: Any = None,
                   loss: Any = None, normalization: Sequence[float] | None = None) -> "DigitsProblem | DataProblem":
    """The first ``n_samples`` scikit-learn digits (bundled, no download), one-hot labels.

    * Neither ``activation`` nor ``loss`` given: the deep linear net with the squared loss in its
      population form (:class:`DigitsProblem`, data (Σx, T); pixels/16 in [0, 1]).  A global shift
      would turn the always-zero pixels into one shared constant, making Σx singular — while zero
      pixels can be dropped exactly (see :class:`DigitsProblem`).
    * ``activation`` (``"linear"``/``None``, ``"relu"``, any name of
      :mod:`curvsym.symbolic.activations`) or ``loss`` (``"cross_entropy"``, the default then, or
      ``"mse"``) given: a :class:`DataProblem` on the examples themselves, 64-…-10 without biases,
      pixels normalised as in the paper by x ↦ (x − μ)/σ with ``normalization`` = (μ, σ), by
      default the mean and standard deviation of all 1797 bundled images (0.3053, 0.3760) — the
      digits' counterpart of MNIST's (0.1307, 0.3081).

    Raises:
        OptionError: ``n_samples`` outside 20…1797, bad hidden widths or normalisation, or a
            normalisation for the population form.
        UnknownNameError: an unknown activation or loss.
    """
    from sklearn.datasets import (
        load_digits,  # deferred: scikit-learn takes ~1 s to import; only the digits loader needs it
    )
    n_samples = _check_count(n_samples, "n_samples", 20, 1797)
    hidden = _check_hidden(hidden)
    d = load_digits()
    if activation is not None or loss is not None:
        pixels = d.data.T / 16.0
        norm = (float(pixels.mean()), float(pixels.std())) if normalization is None else \
            _check_normalization(normalization)
        return _data_problem(pixels, d.target.astype(np.int64), np.arange(n_samples), "digits", hidden, activation,
                             "cross_entropy" if loss is None else loss, norm)
    if normalization is not None:
        raise OptionError("normalization applies to the data model (give activation= or loss=); the population "
                          "form keeps pixels in [0, 1]")
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


def mnist_problem(images: Any, labels: Any, n_samples: int = 1000, stride: int = 50,
                  hidden: Sequence[int] = (50, 50), activation: Any = "linear", loss: Any = "cross_entropy",
                  normalization: Sequence[float] = MNIST_NORMALIZATION) -> DataProblem:
    """The authors' MNIST subset from IDX files the user has: images 0, s, 2s, …, (n − 1)s (s = ``stride``).

    As in ``elkabzo/cont_disc_opt_dnn`` (``utils.data_load``: indices ``range(0, 50n, 50)`` for
    n ≤ 1001), pixels x ∈ [0, 1] (uint8/255, :func:`curvsym.data.datasets.load_mnist`) normalised
    to (x − 0.1307)/0.3081, a 784-50-50-10 bias-free net, cross-entropy.  Nothing is downloaded.

    Raises:
        DatasetFileError: a file does not exist.
        DatasetError: not an IDX file, truncated, or images and labels of different lengths.
        ShapeError: images that are not m × h × w, or labels that are not 1-D.
        OptionError: too few images for n_samples at this stride, bad counts, widths or normalisation.
        LabelError: labels outside 0 … 9.
        UnknownNameError: an unknown activation or loss.
    """
    if not _whole(stride):
        raise OptionError(f"stride must be a positive integer, got {stride!r}")
    n_samples = _check_count(n_samples, "n_samples", 1, 10 ** 6)
    hidden = _check_hidden(hidden)
    norm = _check_normalization(normalization)
    ds = load_mnist(images, labels)
    need = (n_samples - 1) * stride + 1
    if ds.m < need:
        raise OptionError(f"{n_samples} images at stride {stride} need {need} images, {ds.name} has {ds.m}")
    return _data_problem(ds.X, ds.labels, np.arange(0, need, stride), ds.name, hidden, activation, loss, norm)


@dataclass(frozen=True)
class Experiment:
    """GD at η₀ against GD at η₀/r at the common times t_k = k·(logging interval).

    ``loss[r]`` and ``distance[r]`` = ‖θ_{η₀}(t) − θ_{η₀/r}(t)‖ over all weights, per logged time,
    and ``travelled`` = ‖θ_{η₀}(t) − θ₀‖ (the paper plots the former against the latter).
    A run that left the finite range keeps the prefix it reached (``status[r]`` DIVERGED, the
    step and loss in ``notes``).
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

    def relative_distance(self, r: int) -> float:
        """max_k ‖θ_{η₀}(k) − θ_{η₀/r}(rk)‖ / ‖θ_{η₀}(k) − θ₀‖ over the logged k > 0.

        Raises:
            OptionError: r is not one of the ratios.
        """
        if r not in self.distance:
            raise OptionError(f"r = {r!r} is not a ratio of this experiment ({list(self.ratios)})")
        q = [d / s for d, s in zip(self.distance[r][1:], self.travelled[1:]) if s > 0]
        return max(q) if q else 0.0

    def as_dict(self) -> dict:
        """JSON-friendly content (floats, strings, lists; keys of dicts as strings)."""
        return {"eta0": self.eta0, "ratios": list(self.ratios), "t": list(self.t), "steps": list(self.steps),
                "loss": {str(r): list(v) for r, v in self.loss.items()},
                "distance": {str(r): list(v) for r, v in self.distance.items()},
                "travelled": list(self.travelled),
                "status": {str(r): getattr(v, "value", str(v)) for r, v in self.status.items()},
                "notes": list(self.notes)}


def step_size_experiment(rhs: Any, weights: State, data: Data, eta0: float, n_steps: int,
                         ratios: Sequence[int] = (2, 5, 10, 20), n_log: int = 100,
                         loss: Any = None) -> Experiment:
    """The paper's comparison: GD at η₀ (``n_steps`` iterations) against GD at η₀/r (r·n_steps iterations).

    One batched run of the sweep (:func:`curvsym.integrate.iteration.iterate_sweep`).  ``rhs``
    is a generated rule (:func:`curvsym.codegen.generate_flow`) or a
    :class:`~curvsym.symbolic.derive.Flow` — of a deep linear model or of a nonlinear data
    model (:meth:`DataProblem.flow`) — which is generated here; ``loss`` maps a state to its
    loss, by default (for a Flow) the model's own generated loss
    (:func:`curvsym.verify.step_size.loss_function`: squared loss on (Σx, T), or the data model's
    cross-entropy / squared loss on (X, Y)).

    Raises:
        OptionError: a bad η₀, ratio, step count or log count.
        ShapeError: weights of the wrong shapes for the rule.
    """
    if not _whole(n_steps):
        raise OptionError(f"n_steps must be a positive integer, got {n_steps!r}")
    if not _whole(n_log) or n_steps % n_log:
        raise OptionError(f"n_log must be a positive divisor of n_steps = {n_steps}, got {n_log!r}")
    if not all(_whole(r) for r in ratios):
        raise OptionError(f"the ratios r must be positive integers, got {list(ratios)!r}")
    if isinstance(rhs, Flow):
        if loss is None:
            loss = loss_function(rhs, data)
        rhs = generate_flow(rhs)
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


# --------------------------------------------------------------------------- the (1 − 1/r) law

@dataclass(frozen=True)
class RatioScaling:
    """D_r = max_k ‖θ_{η₀}(k) − θ_{η₀/r}(rk)‖ of the completed runs, and two fits of them.

    ``normalised[j]`` = D_r/(C g_p(r)) with g_p(r) = 1 − r^{−p} and C the least-squares
    constant (p = ``power``; 1 when GD tracks GF to first order); ``first`` and ``second`` are
    a and b of the two-term least-squares fit D_r = a(1 − 1/r) + b(1 − 1/r²) (the O(η₀) and
    O(η₀²) terms; needs three or more ratios, else ``None``).
    """

    ratios: tuple
    distances: tuple
    power: int
    constant: float
    normalised: tuple
    first: float | None
    second: float | None

    @property
    def residual(self) -> float:
        """max_r |D_r/(C g_p(r)) − 1|."""
        return max(abs(x - 1) for x in self.normalised)


def ratio_scaling(ex: Experiment, power: int = 1) -> RatioScaling:
    """Fit D_r ≈ C(1 − r^{−power}) (and D_r ≈ a(1 − 1/r) + b(1 − 1/r²)) over the ratios whose run completed.

    Raises:
        OptionError: fewer than two completed ratios with D_r > 0, or power < 1.
    """
    if not _whole(power):
        raise OptionError(f"power must be a positive integer, got {power!r}")
    ok = [r for r in ex.ratios if r > 1 and ex.status.get(r) is Status.SUCCESS and ex.status.get(1) is Status.SUCCESS
          and ex.distance[r] and max(ex.distance[r]) > 0]
    if len(ok) < 2:
        raise OptionError(f"the (1 − 1/r) law needs two or more completed ratios r > 1, got {ok}")
    D = np.array([max(ex.distance[r]) for r in ok])
    g = np.array([1 - float(r) ** -power for r in ok])
    C = float(D @ g / (g @ g))
    first = second = None
    if len(ok) >= 3:
        A = np.stack([1 - 1 / np.array(ok, float), 1 - 1 / np.array(ok, float) ** 2], axis=1)
        (first, second), *_ = np.linalg.lstsq(A, D, rcond=None)
        first, second = float(first), float(second)
    return RatioScaling(tuple(ok), tuple(float(x) for x in D), power, C, tuple(float(x) for x in D / (C * g)),
                        first, second)


def check_ratio_scaling(ex: Experiment, tolerance: float = 0.05, power: int = 1,
                        name: str | None = None) -> CheckResult:
    """D_r ∝ 1 − r^{−power} to within ``tolerance``: residual max_r |D_r/(C(1 − r^{−p})) − 1|, C fitted.

    power = 1 is the first-order claim (GD within O(η) of GF, module docstring).  The nearest
    plausible wrong claim, power = 2 (GD within O(η²) of GF, so D_r ∝ 1 − 1/r²), is the negative
    control: with r ∈ {2, 5, 10, 20} it predicts D_20/D_2 = 1.33 instead of 1.9.

    Raises:
        OptionError: fewer than two completed ratios, or power < 1.
    """
    s = ratio_scaling(ex, power)
    label = name or f"‖θ_η₀(k) − θ_η₀/r(rk)‖ ∝ 1 − r^−{power}"
    return CheckResult(label, s.residual, float(tolerance), s.residual <= tolerance,
                       {"ratios": str(s.ratios), "distances": str(tuple(f"{d:.4e}" for d in s.distances)),
                        "normalised": str(tuple(round(x, 4) for x in s.normalised)), "constant": s.constant,
                        "first_order": s.first, "second_order": s.second})


def check_tracking(ex: Experiment, fraction: float = 0.01, name: str | None = None) -> CheckResult:
    """The runs barely differ: residual max_{r, k > 0} ‖θ_η₀(k) − θ_η₀/r(rk)‖/‖θ_η₀(k) − θ₀‖ ≤ ``fraction``.

    The paper's first observation (distances far below the distance travelled); the
    (1 − 1/r) law of :func:`check_ratio_scaling` is an asymptotic statement that means something
    only where this holds.  A run that left the finite range fails the check (residual ∞).

    Raises:
        OptionError: ``fraction`` not a finite positive number.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not (
            math.isfinite(fraction) and fraction > 0):
        raise OptionError(f"fraction must be a finite positive number, got {fraction!r}")
    failed = [r for r, st in ex.status.items() if st is not Status.SUCCESS]
    worst = math.inf if failed else max((ex.relative_distance(r) for r in ex.distance), default=0.0)
    label = name or "‖θ_η₀(k) − θ_η₀/r(rk)‖ ≪ ‖θ_η₀(k) − θ₀‖"
    return CheckResult(label, worst, float(fraction), worst <= fraction,
                       {"diverged": str(failed), "eta0": ex.eta0, "ratios": str(ex.ratios)})
