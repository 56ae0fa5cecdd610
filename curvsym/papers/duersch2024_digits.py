r"""Duersch et al. (2024) at small scale: is the glass real, and does Alice help, on a ReLU MLP on digits?

J. A. Duersch, T. A. Catanach, A. Safonov, J. Wendt, arXiv:2411.16914 (2024);
``docs/mathematics.md`` §4.  The paper trains a ResNet-18 on CIFAR-10 (90 epochs, 30
seeds).  This module is a **small-scale substitute**: a ReLU multilayer perceptron on the
1797 8 × 8 digits bundled with scikit-learn (1437 training and 360 test images), trained
with softmax cross-entropy.  What holds here need not hold for the paper's setting.

Every number goes through curvsym's generated code.  The gradient is the adjoint rule of
:mod:`curvsym.symbolic.nonlinear`.  The Hessian–vector product H·V = d/dε ∇L(θ + εV) is the
symbolic time derivative of that gradient, so it is the Hessian of the smooth piece of the loss
that contains θ: ReLU kinks contribute nothing to it.  Two more generated functions give the
network output Ŷ, from which ℓ = (1/m) Σ_b [logsumexp(Ŷ_{:,b}) − Y_{:,b}ᵀŶ_{:,b}], and the
hidden pre-activations, whose sign changes count the ReLU boundaries a perturbation crosses.

The glass probe (:func:`glass_probe`).  At parameters μ, for Rademacher directions z (each
coordinate ±1) and sizes s, it measures the change beyond first order,

    Δ₂(s, z) = L(μ + sz) − L(μ) − s gᵀz,      R = Δ₂ − ½s² zᵀHz    (the Hessian model's residual).

It compares E|Δ₂| with two models: the Hessian-only model ½s² E|zᵀHz|, and the glass +
Hessian model ½s² E|zᵀHz| + c s^{3/2} Σ_i √ρ̂_i.  The second is Alice's per-coordinate glass
term, with ρ̂_i the three-gradient estimate at σ.  The probe also gives the random-walk
prediction c √ρ̂_dir s^{3/2}, where ρ̂_dir = E[2(zᵀdg)²/σ] is the density along z, and the
fitted exponent of E|R| against s (3/2 predicted).

The ablation (:func:`ablation`) runs the four Alice variants of the authors' script against
Adam and SGD with momentum, on minibatches, one run per seed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import sympy as sp

from ..codegen import GeneratedFunction, generate_expressions, generate_flow
from ..codegen.generate import generate
from ..data.datasets import Dataset, load_digits
from ..errors import OptionError
from ..integrate.optimizers import SGDM, AbstractOptimizer, Adam, Field, deterministic, optimize
from ..symbolic import nonlinear as nl
from ..symbolic.calculus import time_derivative
from ..symbolic.network import chain
from ..types import Array, State
from .duersch2024 import GLASS_CONSTANT, VARIANTS, Alice, curvature_from_gradients

__all__ = ["DigitsProblem", "digits_problem", "GlassProbe", "glass_probe", "AblationRun", "run_method",
           "ablation", "METHODS", "summary", "sign_changes"]


@dataclass(frozen=True)
class DigitsProblem:
    """A ReLU MLP (widths n_0 = 64, …, n_N = 10, biases) on the digits, with generated code for
    minibatches of ``batch_size`` columns, the whole training set and the test set.

    ``X_train`` (64 × 1437), ``Y_train`` (one-hot, 10 × 1437), ``X_test``, ``labels_test``;
    ``shapes`` the parameter shapes in state order (W_1, b_1, W_2, b_2, …); ``model`` the data
    model on the whole training set.  ``forward_train`` gives the output and the hidden
    pre-activations from one forward pass (:meth:`loss_and_preactivations`).
    """

    widths: tuple
    batch_size: int
    shapes: tuple
    model: nl.NonlinearModel
    X_train: np.ndarray
    Y_train: np.ndarray
    labels_train: np.ndarray
    X_test: np.ndarray
    labels_test: np.ndarray
    gradient_batch: GeneratedFunction
    gradient_train: GeneratedFunction
    hvp_train: GeneratedFunction
    output_train: GeneratedFunction
    output_test: GeneratedFunction
    preactivations_train: GeneratedFunction
    forward_train: GeneratedFunction

    @property
    def n_parameters(self) -> int:
        return sum(int(np.prod(s)) for s in self.shapes)

    @property
    def steps_per_epoch(self) -> int:
        """⌊m/batch size⌋ minibatches per epoch (the remainder is dropped, reshuffled each epoch)."""
        return self.X_train.shape[1] // self.batch_size

    def init(self, seeds: Sequence[int]) -> State:
        """He initialisation, one member per seed: W ~ N(0, 2/fan-in), b = 0
        (:func:`curvsym.symbolic.nonlinear.init_parameters` with scale √2); shape (B, …)."""
        members = [nl.init_parameters(self.model, seed=int(s), scale=math.sqrt(2)) for s in seeds]
        return tuple(np.stack(layer) for layer in zip(*members))

    def _cross_entropy(self, Yhat: Array, Y: Array) -> Array:
        c = np.max(Yhat, axis=-2, keepdims=True)
        lse = c + np.log(np.sum(np.exp(Yhat - c), axis=-2, keepdims=True))
        return (np.sum(lse, axis=(-2, -1)) - np.sum(Y * Yhat, axis=(-2, -1))) / Y.shape[-1]

    def train_loss(self, W: State) -> np.ndarray:
        """ℓ on the whole training set, per member: (1/m) Σ_b [logsumexp(Ŷ_b) − y_bᵀŶ_b]."""
        Yhat = self.output_train.raw(*W, self.X_train, self.Y_train, xp=np)[0]
        return np.atleast_1d(self._cross_entropy(Yhat, self.Y_train))

    def accuracy(self, W: State, test: bool = True) -> np.ndarray:
        """The fraction of test (or training) images whose largest output is the label, per member."""
        X, labels = (self.X_test, self.labels_test) if test else (self.X_train, self.labels_train)
        f = self.output_test if test else self.output_train
        Yhat = f.raw(*W, X, np.zeros((self.widths[-1], X.shape[1])), xp=np)[0]
        return np.atleast_1d(np.mean(np.argmax(Yhat, axis=-2) == labels, axis=-1))

    def full_field(self) -> Field:
        """(θ, k) ↦ −∇ℓ(θ) on the whole training set (k ignored)."""
        f, X, Y = self.gradient_train, self.X_train, self.Y_train
        return deterministic(lambda y: f.raw(*y, X, Y, xp=np))

    def minibatch_field(self, seeds: Sequence[int], clock: list | None = None) -> Field:
        """(θ, k) ↦ −∇ℓ_k(θ): member b's minibatch k is batch k mod E of epoch ⌊k/E⌋ of its own
        shuffle (``default_rng([seed_b, epoch])``), E = steps per epoch.  With ``clock``, the wall
        time of the first call of each step is appended (for wall-clock curves)."""
        f, X, Y, mb, spe = self.gradient_batch, self.X_train, self.Y_train, self.batch_size, self.steps_per_epoch
        m = X.shape[1]
        cache: dict = {}
        last = [-1]

        def indices(epoch):
            if epoch not in cache:
                cache.clear()
                cache[epoch] = np.stack([np.random.default_rng([int(s), int(epoch)]).permutation(m) for s in seeds])
            return cache[epoch]

        def velocity(y: State, k: int) -> State:
            if clock is not None and k != last[0]:
                clock.append(time.perf_counter())
                last[0] = k
            idx = indices(k // spe)[:, (k % spe) * mb:(k % spe + 1) * mb]
            return f.raw(*y, X[:, idx].transpose(1, 0, 2), Y[:, idx].transpose(1, 0, 2), xp=np)
        return velocity

    def gradient(self, W: State) -> State:
        """∇ℓ(θ) on the whole training set."""
        return tuple(-v for v in self.gradient_train.raw(*W, self.X_train, self.Y_train, xp=np))

    def hvp(self, W: State, V: State) -> State:
        """H·V with H the Hessian of the smooth piece of ℓ at θ (symbolic directional derivative)."""
        return self.hvp_train.raw(*W, *V, self.X_train, self.Y_train, xp=np)

    def loss_and_preactivations(self, W: State) -> tuple[np.ndarray, tuple]:
        """(ℓ per member, hidden pre-activations) from one forward pass: the values of
        :meth:`train_loss` and :meth:`preactivations`."""
        Yhat, *Z = self.forward_train.raw(*W, self.X_train, self.Y_train, xp=np)
        return np.atleast_1d(self._cross_entropy(Yhat, self.Y_train)), tuple(Z)

    def preactivations(self, W: State) -> tuple:
        """The hidden pre-activations Z_v (n_v × m per hidden node) on the training set."""
        return self.preactivations_train.raw(*W, self.X_train, self.Y_train, xp=np)

    def crossings(self, Z0: tuple, W1: State) -> np.ndarray:
        """ReLU boundaries crossed between the point with pre-activations Z0 and W1 (entries of the
        pre-activations that change sign), per member."""
        return sign_changes(Z0, self.preactivations(W1))


def sign_changes(Z0: Sequence[np.ndarray], Z1: Sequence[np.ndarray]) -> np.ndarray:
    """Σ_v #{entries of Z_v with (Z0_v > 0) ≠ (Z1_v > 0)} per member: the ReLU boundaries crossed."""
    return sum(np.sum((p > 0) != (q > 0), axis=(-2, -1)) for p, q in zip(Z0, Z1))


def digits_problem(widths: Sequence[int] = (64, 32, 10), batch_size: int = 64, n_test: int = 360,
                   split_seed: int = 0, data: Dataset | None = None) -> DigitsProblem:
    """Derive and generate everything for a ReLU MLP on the digits (see :class:`DigitsProblem`).

    Raises:
        OptionError: widths that do not start with the 64 pixels and end with the 10 classes, or a
            batch size outside 1 … number of training images.
    """
    data = data or load_digits()
    widths = tuple(int(w) for w in widths)
    if len(widths) < 3 or widths[0] != data.X.shape[0] or widths[-1] != data.n_classes:
        raise OptionError(f"widths must run from {data.X.shape[0]} inputs to {data.n_classes} classes with at least "
                          f"one hidden layer, got {widths}")
    train, test = data.split(n_test, seed=split_seed)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= train.m:
        raise OptionError(f"batch_size must be an integer in 1 … {train.m}, got {batch_size!r}")
    net = chain(list(widths), activation="relu", bias=True)
    models = {m: nl.data_model(net, m, loss="cross_entropy") for m in {batch_size, train.m, test.m}}
    mb, mt, ms = models[batch_size], models[train.m], models[test.m]
    g_batch = generate_flow(nl.gradient_flow(mb))
    g_train = generate_flow(nl.gradient_flow(mt))
    Vs = [sp.MatrixSymbol(f"V_{k + 1}", *w.shape) for k, w in enumerate(mt.weights)]
    hv = [time_derivative(g, dict(zip(mt.weights, Vs))) for g in nl.gradient(mt)]
    hvp = generate("hessian_vector_product", [*mt.weights, *Vs, *mt.data_symbols], hv, (), "numpy",
                   n_weights=len(mt.weights))
    out_train = generate_expressions(mt, "output", [nl.forward(mt).output(mt)])
    out_test = generate_expressions(ms, "output", [nl.forward(ms).output(ms)])
    fw = nl.forward(mt)
    pre = generate_expressions(mt, "preactivations", [fw.Z[v] for v in net.hidden])
    both = generate_expressions(mt, "output and preactivations", [fw.output(mt), *(fw.Z[v] for v in net.hidden)])
    X, Y = nl.data_arrays(mt, train.X, train.labels)
    Xt, _ = nl.data_arrays(ms, test.X, test.labels)
    return DigitsProblem(widths, batch_size, nl.shapes(mt), mt, X, Y, np.asarray(train.labels), Xt, np.asarray(test.labels),
                         g_batch, g_train, hvp, out_train, out_test, pre, both)


# ---------------------------------------------------------------------------------- the glass probe


@dataclass(frozen=True)
class GlassProbe:
    """Measured loss changes against the Hessian-only and the glass + Hessian models (module docstring).

    Per size s (arrays over ``sizes``): ``change`` = E|Δ₂| and its standard error; ``residual``
    = E|R|, ``residual_mean`` = E R (signed) and ``positive`` = P(R > 0); ``hessian`` =
    ½s² E|zᵀHz|; ``glass`` = c s^{3/2} Σ_i √ρ̂_i at σ = ``sigma``; ``walk`` = c √ρ̂_dir s^{3/2};
    ``crossings`` = mean number of ReLU boundaries between μ and μ + sz.  Per σ in ``sigmas``:
    ``rho_sum`` = Σ_i ρ̂_i, ``rho_dir`` (± ``rho_dir_se``), ``sqrt_rho_sum`` = Σ_i √ρ̂_i.
    Expectations are means over n Rademacher directions taken with both signs (2n samples).
    """

    sizes: np.ndarray
    change: np.ndarray
    change_se: np.ndarray
    residual: np.ndarray
    residual_se: np.ndarray
    residual_mean: np.ndarray
    residual_mean_se: np.ndarray
    positive: np.ndarray
    hessian: np.ndarray
    glass: np.ndarray
    walk: np.ndarray
    crossings: np.ndarray
    sigma: float
    sigmas: tuple
    rho_sum: np.ndarray
    rho_dir: np.ndarray
    rho_dir_se: np.ndarray
    sqrt_rho_sum: np.ndarray
    n_directions: int
    loss: float
    details: dict = field(default_factory=dict)

    def exponent(self, lo: float, hi: float) -> tuple[float, float]:
        """Least-squares slope of log E|R| against log s for lo ≤ s ≤ hi, with its standard error.

        Raises:
            OptionError: fewer than three sizes in [lo, hi].
        """
        keep = (self.sizes >= lo * (1 - 1e-9)) & (self.sizes <= hi * (1 + 1e-9))
        if keep.sum() < 3:
            raise OptionError(f"need at least three sizes in [{lo:g}, {hi:g}] to fit an exponent")
        x, y = np.log(self.sizes[keep]), np.log(self.residual[keep])
        A = np.stack([x, np.ones_like(x)], axis=1)
        coef, res, *_ = np.linalg.lstsq(A, y, rcond=None)
        dof = max(len(x) - 2, 1)
        s2 = float(res[0]) / dof if len(res) else 0.0
        cov = s2 * np.linalg.inv(A.T @ A)
        return float(coef[0]), float(math.sqrt(cov[0, 0]))

    def z_glass(self) -> np.ndarray:
        """(E|Δ₂| − glass + Hessian bound)/se per size: ≤ 0 where the bound holds, > 3 refutes it."""
        return (self.change - (self.hessian + self.glass)) / self.change_se

    def z_hessian(self) -> np.ndarray:
        """(E|Δ₂| − ½s²E|zᵀHz|)/se per size: > 3 where the Hessian-only model fails as a bound."""
        return (self.change - self.hessian) / self.change_se


def _batched(W: State, n: int) -> State:
    return tuple(np.broadcast_to(w[0], (n,) + w.shape[1:]) for w in W)


DIRECTION_CHUNK = 2
"""Directions evaluated per call of the generated code in :func:`glass_probe`.  Each direction is
computed independently, so the values do not depend on it.  Two keeps the temporaries (2 × 32 ×
1437 floats, 0.7 MB) in memory the allocator reuses: with all 128 directions at once (47 MB
temporaries, mapped afresh by the kernel for every call) the probe spent as much time in page
faults as in arithmetic, and 8 directions still fault on most calls."""


def _by_directions(f: Callable, *states: State) -> Any:
    """``f(*states)`` evaluated on slices of :data:`DIRECTION_CHUNK` directions (leading axis) and
    concatenated: the same numbers as one call, with small temporaries."""
    n = states[0][0].shape[0]
    parts = [f(*(tuple(a[i:i + DIRECTION_CHUNK] for a in S) for S in states)) for i in range(0, n, DIRECTION_CHUNK)]
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate(p) for p in zip(*parts))
    return np.concatenate(parts)


def glass_probe(problem: DigitsProblem, W: State, sizes: Sequence[float], n_directions: int = 128,
                sigma: float = 5e-3, sigmas: Sequence[float] = (1e-4, 1e-3, 1e-2), seed: int = 0) -> GlassProbe:
    """Measure the loss around the single member W (shape (1, …)) along ``n_directions`` Rademacher
    directions at the given ``sizes`` (see :class:`GlassProbe`); ρ̂ from the same directions.

    Raises:
        OptionError: W not a single member, a size or σ not positive, fewer than 2 directions.
    """
    if W[0].shape[0] != 1:
        raise OptionError("glass_probe measures one network: weights of shape (1, …)")
    sizes = np.asarray(sorted(float(s) for s in sizes))
    if np.any(sizes <= 0) or sigma <= 0 or any(s <= 0 for s in sigmas):
        raise OptionError("sizes and σ must be positive")
    if n_directions < 2:
        raise OptionError("need at least two directions")
    n = int(n_directions)
    rng = np.random.default_rng([int(seed), 11])
    Z = tuple(rng.choice([-1.0, 1.0], (n,) + w.shape[1:]) for w in W)
    mu = _batched(W, n)
    L0 = float(problem.train_loss(W)[0])
    g = problem.gradient(W)
    gz = sum(np.sum(gi * zi, axis=(-2, -1)) for gi, zi in zip(g, Z))
    # W (one member, leading axis 1) broadcasts against the n directions: the forward pass at μ is
    # computed once instead of n times (the products are the same, bit for bit)
    zHz = sum(np.sum(h * zi, axis=(-2, -1)) for h, zi in zip(_by_directions(lambda V: problem.hvp(W, V), Z), Z))
    Z0 = problem.preactivations(W)

    def loss_and_crossings(S):  # one forward pass for both
        loss, Zs = problem.loss_and_preactivations(S)
        return loss, sign_changes(Z0, Zs)
    rows = []
    for s in sizes:
        plus = tuple(a + s * b for a, b in zip(mu, Z))
        minus = tuple(a - s * b for a, b in zip(mu, Z))
        (lp, cp), (lm, cm) = _by_directions(loss_and_crossings, plus), _by_directions(loss_and_crossings, minus)
        d2 = np.concatenate([lp - L0 - s * gz, lm - L0 + s * gz])
        R = d2 - 0.5 * s * s * np.concatenate([zHz, zHz])
        cross = np.concatenate([cp, cm])
        k = len(d2)
        rows.append((np.mean(np.abs(d2)), np.std(np.abs(d2), ddof=1) / math.sqrt(k), np.mean(np.abs(R)),
                     np.std(np.abs(R), ddof=1) / math.sqrt(k), np.mean(R), np.std(R, ddof=1) / math.sqrt(k),
                     np.mean(R > 0), 0.5 * s * s * np.mean(np.abs(zHz)), np.mean(cross)))
    cols = [np.array(c) for c in zip(*rows)]
    all_sigmas = tuple(sorted(set(float(x) for x in sigmas) | {float(sigma)}))
    rho_sum, rho_dir, rho_dir_se, sqrt_sum = [], [], [], []
    g0 = tuple(np.broadcast_to(a, (n,) + a.shape[1:]) for a in g)
    for sg in all_sigmas:
        gp = _by_directions(problem.gradient, tuple(a + sg * b for a, b in zip(mu, Z)))
        gm = _by_directions(problem.gradient, tuple(a - sg * b for a, b in zip(mu, Z)))
        samples = [curvature_from_gradients(a, b, c, sg) for a, b, c in zip(gp, gm, g0)]
        per_coordinate = np.concatenate([s_.rho.mean(axis=0).ravel() for s_ in samples])
        dD = sum(np.sum(s_.dg * zi, axis=(-2, -1)) for s_, zi in zip(samples, Z))
        r_dir = 2 * dD ** 2 / sg
        rho_sum.append(per_coordinate.sum())
        sqrt_sum.append(np.sqrt(per_coordinate).sum())
        rho_dir.append(r_dir.mean())
        rho_dir_se.append(r_dir.std(ddof=1) / math.sqrt(n))
    c = float(GLASS_CONSTANT)
    i = all_sigmas.index(float(sigma))
    glass = c * sizes ** 1.5 * sqrt_sum[i]
    walk = c * math.sqrt(rho_dir[i]) * sizes ** 1.5
    return GlassProbe(sizes, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], glass, walk,
                      cols[8], float(sigma), all_sigmas, np.array(rho_sum), np.array(rho_dir), np.array(rho_dir_se),
                      np.array(sqrt_sum), n, L0, {"E zHz": float(np.mean(zHz)), "P": problem.n_parameters})


# -------------------------------------------------------------------------------------- the ablation


METHODS: dict[str, Callable[[int], AbstractOptimizer]] = {
    "Adam": lambda seed: Adam(1e-3),
    "SGDM": lambda seed: SGDM(0.1, 0.9),
    **{f"Alice {name}": (lambda seed, o=options: Alice(seed=seed, **o)) for name, options in VARIANTS.items()},
}
"""The runs of the authors' ``rn18_methods.sh`` with their hyper-parameters: Adam (η = 10⁻³), SGD
with momentum (η = 0.1, μ = 0.9) and the four Alice variants (σ = 5·10⁻³, lr_max = 10⁻²)."""


@dataclass(frozen=True)
class AblationRun:
    """One method and seed: per epoch 0 … E the training loss (whole training set), the test
    accuracy, the wall-clock seconds since the first step and the gradient evaluations so far."""

    method: str
    seed: int
    epochs: np.ndarray
    train_loss: np.ndarray
    test_accuracy: np.ndarray
    seconds: np.ndarray
    gradients: np.ndarray
    status: str


def run_method(problem: DigitsProblem, method: str, make: Callable[[int], AbstractOptimizer], seed: int,
               epochs: int) -> AblationRun:
    """Train from the seed's initialisation for ``epochs`` epochs through the discrete-step runner.

    Raises:
        OptionError: ``epochs`` not a positive integer.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise OptionError(f"epochs must be a positive integer, got {epochs!r}")
    spe = problem.steps_per_epoch
    stepper = make(seed)
    clock: list = []
    W0 = problem.init([seed])
    with np.errstate(over="ignore", invalid="ignore"):
        traj = optimize(stepper, problem.minibatch_field([seed], clock), W0, epochs * spe, record_every=spe)
    end = time.perf_counter()
    starts = clock + [end]
    seconds = np.array([starts[min(e * spe, len(starts) - 1)] - starts[0] for e in range(epochs + 1)])
    seconds[-1] = end - starts[0]
    loss = np.array([problem.train_loss(W)[0] for W in traj.states])
    acc = np.array([problem.accuracy(W)[0] for W in traj.states])
    grads = np.array([stepper.gradient_count(e * spe) for e in range(epochs + 1)])
    return AblationRun(method, seed, np.arange(epochs + 1), loss, acc, seconds, grads, traj.status[0].value)


def ablation(problem: DigitsProblem, seeds: Sequence[int], epochs: int,
             methods: Mapping[str, Callable[[int], AbstractOptimizer]] | None = None) -> dict[str, list[AblationRun]]:
    """Every method for every seed (one run each; see :func:`run_method`).

    Raises:
        OptionError: see :func:`run_method`.
    """
    methods = methods or METHODS
    return {name: [run_method(problem, name, make, s, epochs) for s in seeds] for name, make in methods.items()}


def summary(runs: Sequence[AblationRun], attribute: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over seeds of ``attribute`` (e.g. ``"train_loss"``) per epoch."""
    values = np.array([getattr(r, attribute) for r in runs], dtype=float)
    se = values.std(axis=0, ddof=1) / math.sqrt(len(runs)) if len(runs) > 1 else np.zeros(values.shape[1])
    return values.mean(axis=0), se
