r"""Built-in analyses of a sweep point (deep linear chains, loss ½‖(W − T)Σx^½‖_F²).

Every analysis returns a flat record of named numbers; the engine adds the wall time of each
point (column ``wall_time_s``).  Code is derived and generated once per architecture
(``build``) and shipped to the workers.

* ``gd_threshold`` — the largest step size η at which gradient descent from a given start
  converges to a global minimum, by a batched η scan refined by batched bisection, against
  η* = 2/(N‖T‖₂^{2−2/N}) (whitened, no bottleneck; ``docs/mathematics.md`` §3.6; GD is linearly
  stable at a minimum only if λ_max ≤ 2/η — Wu, Ma & E, NeurIPS 2018 — and the flattest global
  minimum has λ_max = N‖T‖₂^{2−2/N} — Mulayoff & Michaeli, ICML 2020).
* ``gf_limit`` — gradient flow to time ``t_end``: the loss there, the sharpness λ_max of the
  Hessian at W(t_end) against the flat bound N‖T‖₂^{2−2/N}, the coupling residual of the
  singular-vector path (``docs/mathematics.md`` §3.3), and the drift of the balance
  C_i = W_{i+1}ᵀW_{i+1} − W_iW_iᵀ (conserved by gradient flow, §0.3).
* ``gf_loss`` — the cheap one: loss at time ``t`` and balance drift.

Problem instances are reproducible from ``seed``: layers N(0, init_scale²/n_in) per entry and
Σx from :func:`curvsym.problems.random_instance`; the target T has spectral norm exactly
``target_norm`` — ``target = "isometry"`` (every singular value equal to it: T = ‖T‖·U_rV_rᵀ with
Haar-random U, V) or ``"gaussian"`` (a Gaussian matrix rescaled).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ..codegen import generate_expressions, generate_flow
from ..data import problems
from ..integrate import ensemble, integrate_double
from ..papers import mulayoff2020
from ..symbolic.derive import gradient_flow, loss, model
from ..symbolic.network import chain
from ..types import Data, State
from ..verify import checks, sharpness
from ..verify.checks import conservation_residual
from ..verify.dense_reference import flat, unflat
from .exceptions import ScanError, SweepSpecError
from .registry import analysis, param

__all__ = ["gd_threshold", "gf_limit", "gf_loss", "target_matrix", "lambda_max"]


# --------------------------------------------------------------------------- shared pieces

def _architecture_params() -> list:
    return [
        param("widths", "ints", None, min=1, doc="layer widths n_0, …, n_N (or give depth and width)"),
        param("depth", "int", None, min=1, doc="N, with all widths equal to width"),
        param("width", "int", None, min=1, doc="n_0 = … = n_N"),
    ]


def _instance_params(target_norm: float = 1.0, init_scale: float = 0.1) -> list:
    return [
        param("target_norm", "float", target_norm, above=0, doc="‖T‖₂"),
        param("target", "str", "isometry", choices=("isometry", "gaussian"), doc="shape of T's spectrum"),
        param("init_scale", "float", init_scale, above=0, doc="entries of W_i(0) ~ N(0, init_scale²/n_{i−1})"),
        param("seed", "int", 0, min=0, doc="seed of W(0), Σx and T"),
    ]


def canonical_widths(p: dict) -> dict:
    """Fill ``widths`` from (depth, width) or ``depth``/``width`` from ``widths`` (width only if all equal).

    Raises:
        SweepSpecError: neither form given, a single width, or widths contradicting depth/width.
    """
    p = dict(p)
    ws, depth, width = p["widths"], p["depth"], p["width"]
    if ws is None:
        if depth is None or width is None:
            raise SweepSpecError("give widths = [n_0, …, n_N], or both depth and width")
        ws = (width,) * (depth + 1)
    if len(ws) < 2:
        raise SweepSpecError(f"widths needs at least n_0 and n_1, got {list(ws)}")
    if depth is not None and depth != len(ws) - 1:
        raise SweepSpecError(f"depth = {depth} contradicts widths {list(ws)} (depth {len(ws) - 1})")
    uniform = ws[0] if len(set(ws)) == 1 else None
    if width is not None and width != uniform:
        raise SweepSpecError(f"width = {width} contradicts widths {list(ws)}")
    p.update(widths=tuple(ws), depth=len(ws) - 1, width=uniform)
    return p


def target_matrix(n_out: int, n_in: int, norm: float, kind: str, seed: int) -> np.ndarray:
    """T with ‖T‖₂ = ``norm``: ``norm·U_r V_rᵀ`` (Haar U, V; r = min(n_out, n_in)) or a rescaled Gaussian."""
    rng = np.random.default_rng([seed, 7919])
    if kind == "isometry":
        r = min(n_out, n_in)
        U = problems.orthogonal(n_out, rng)[:, :r]
        V = problems.orthogonal(n_in, rng)[:, :r]
        return norm * (U @ V.T)
    G = rng.standard_normal((n_out, n_in))
    return norm * G / np.linalg.norm(G, 2)


def _instance(p: dict, whitened: bool):
    """(W(0), data, T) of a point: data = (T,) when whitened, else (Σx, T)."""
    net = chain(list(p["widths"]))
    inst = problems.random_instance(net, seed=p["seed"], scale=p["init_scale"], whitened=whitened)
    T = target_matrix(net.n_out, net.n_in, p["target_norm"], p["target"], p["seed"])
    return tuple(inst.weights), ((T,) if whitened else (inst.Sigma, T)), T


def lambda_max(hvp: Callable, weights: State, data: Data) -> float:
    """λ_max of the Hessian from a generated Hessian–vector product ``hvp(W, V, data)``:
    dense eigvalsh of the P × P matrix for P ≤ 400 parameters, else Lanczos (``eigsh``)."""
    P = sum(int(w.size) for w in weights)

    def matvec(v):
        return flat(hvp.raw(*weights, *unflat(np.asarray(v, dtype=float).ravel(), weights), *data))
    if P <= 400:
        H = np.column_stack([matvec(e) for e in np.eye(P)])
        return float(np.linalg.eigvalsh((H + H.T) / 2)[-1])
    from scipy.sparse.linalg import LinearOperator, eigsh
    op = LinearOperator((P, P), matvec=matvec, dtype=float)
    return float(eigsh(op, k=1, which="LA", tol=1e-12, maxiter=20 * P, return_eigenvectors=False,
                       v0=np.ones(P) / np.sqrt(P))[0])


def _generated(widths: tuple, whitened: bool, hvp: bool) -> dict:
    """Derived and generated once per architecture (NumPy backend): the GF right-hand side, the
    loss, the balance C_i and, with ``hvp``, the Hessian–vector product H·V = d/dε ∇L(W + εV)|₀."""
    m = model(chain(list(widths)), whitened=whitened)
    out = {"rhs": generate_flow(gradient_flow(m)),
           "loss": generate_expressions(m, "loss", [loss(m)]),
           "balance": checks.balance_function(m, "numpy") if m.depth > 1 else None}
    if hvp:
        out["hvp"] = sharpness.hvp_function(m)
    return out


def _build_flow(widths: tuple, whitened: bool) -> dict:
    return _generated(widths, whitened, hvp=False)


def _build_chain(widths: tuple, whitened: bool) -> dict:
    return _generated(widths, whitened, hvp=True)


def _loss(fn, weights, data) -> float:
    return float(fn.raw(*weights, *data)[0])


def _balance_drift(balance, traj, data) -> float:
    if balance is None:
        return 0.0
    drift, scale = conservation_residual(traj, balance, data)
    return float(drift / scale)


# --------------------------------------------------------------------------- GD threshold

def _gd_check(p: dict) -> dict:
    p = canonical_widths(p)
    ws = p["widths"]
    if min(ws[1:-1], default=ws[0]) < min(ws[0], ws[-1]):
        raise SweepSpecError(f"gd_threshold: widths {list(ws)} have a bottleneck (a hidden width below "
                             f"rank T = {min(ws[0], ws[-1])}); η* = 2/(N‖T‖^{{2−2/N}}) needs none")
    if p["hi"] <= p["lo"]:
        raise SweepSpecError(f"gd_threshold: the scan needs lo < hi, got lo = {p['lo']}, hi = {p['hi']}")
    return p


def _build_gd(widths: tuple) -> dict:
    return _generated(widths, True, hvp=True)


def gd_converged(rhs: Any, weights: State, T: np.ndarray, etas: np.ndarray, n_steps: int, rtol: float) -> Any:
    """Run GD from the same ``weights`` at every η in ``etas`` (one batch member each).

    Converged ⇔ the final loss ½‖W − T‖_F² is finite and ≤ rtol·½‖T‖_F².  Returns the boolean
    mask and the final layers (batched).
    """
    B = len(etas)
    W0 = [np.broadcast_to(w, (B,) + w.shape).copy() for w in weights]
    with np.errstate(all="ignore"):
        final = ensemble.gd(rhs, W0, [T], eta=np.asarray(etas, dtype=float), n_steps=n_steps,
                            record_every=n_steps).final
        P = final[0]
        for w in final[1:]:
            P = w @ P
        loss = 0.5 * np.sum((P - T) ** 2, axis=(-2, -1))
    return np.isfinite(loss) & (loss <= rtol * 0.5 * float(np.sum(T ** 2))), final


@analysis("gd_threshold",
          _architecture_params() + _instance_params(init_scale=0.5) + [
              param("lo", "float", 0.5, above=0, doc="scan from lo·η_formula"),
              param("hi", "float", 1.5, above=0, doc="… to hi·η_formula"),
              param("n_eta", "int", 16, min=2, doc="step sizes per batched GD run"),
              param("rounds", "int", 3, min=0, doc="bisection rounds (each shrinks the bracket (n_eta+1)×)"),
              param("n_steps", "int", 8000, min=1, doc="GD steps per run"),
              param("rtol", "float", 1e-12, above=0, max=1, doc="converged ⇔ L ≤ rtol·½‖T‖_F²"),
          ],
          architecture=("widths",), build=_build_gd, check=_gd_check,
          labels={"eta_star": r"measured $\eta^*$", "eta_formula": r"$2/(N\,\|T\|_2^{2-2/N})$",
                  "ratio": r"$\eta^*_{\mathrm{measured}}\,/\,\eta^*_{\mathrm{formula}}$",
                  "target_norm": r"$\|T\|_2$", "depth": r"depth $N$", "init_scale": r"init scale $\sigma_0$",
                  "limit_sharpness_x_eta": r"$\eta\,\lambda_{\max}$ at the GD limit"})
def gd_threshold(p: dict, built: dict) -> dict:
    r"""Largest step size η at which GD from W(0) converges, against η_formula = 2/(N‖T‖₂^{2−2/N}).

    Scan: ``n_eta`` step sizes evenly in [lo, hi]·η_formula in one batched GD run; the bracket is
    [largest converged η, next scanned η].  Each bisection round scans ``n_eta`` points strictly
    inside the bracket and moves it to the largest converged one, so the bracket shrinks
    (n_eta + 1)-fold per round.

    Record: ``eta_star`` (bracket midpoint), ``eta_star_low``/``eta_star_high`` (the bracket),
    ``eta_formula``, ``ratio`` = eta_star/eta_formula (theory: ≤ 1, since GD can converge only to
    minima with λ_max ≤ 2/η, and ≈ 1 from small starts), ``finite_steps_bias`` = ln(1/rtol)/(4·n_steps)
    (the estimated relative shortfall from stopping after n_steps: near η* the error contracts
    by |1 − ηλ| ≈ 1 − 2δ per step, δ = 1 − η/η*), ``limit_sharpness`` (λ_max at the GD limit of
    η = eta_star_low) and ``limit_sharpness_x_eta`` = η·λ_max (≤ 2 at a stable minimum),
    ``n_runs`` (batched GD runs).

    Raises:
        ScanError: no η in the scan converged, or the largest one did (the bracket is open).
    """
    N = len(p["widths"]) - 1
    weights, (T,), _ = _instance(p, whitened=True)
    eta_formula = 2 / (N * float(np.linalg.norm(T, 2)) ** (2 - 2 / N))
    rhs, args = built["rhs"], (p["n_steps"], p["rtol"])
    etas = eta_formula * np.linspace(p["lo"], p["hi"], p["n_eta"])
    ok, final = gd_converged(rhs, weights, T, etas, *args)
    if not ok.any():
        raise ScanError(f"no step size in [{p['lo']:g}, {p['hi']:g}]·η_formula converged in {p['n_steps']} steps "
                        "(lower lo, raise n_steps, or raise init_scale to shorten the initial plateau)")
    if ok[-1]:
        raise ScanError(f"GD converged even at hi·η_formula = {p['hi']:g}·η_formula; raise hi")
    k = int(np.nonzero(ok)[0].max())
    low, high = etas[k], etas[k + 1]
    limit = tuple(w[k] for w in final)
    for _ in range(p["rounds"]):
        inner = np.linspace(low, high, p["n_eta"] + 2)[1:-1]
        ok, final = gd_converged(rhs, weights, T, inner, *args)
        if ok.any():
            k = int(np.nonzero(ok)[0].max())
            low, limit = inner[k], tuple(w[k] for w in final)
            high = inner[k + 1] if k + 1 < len(inner) else high
        else:
            high = inner[0]
    lam = lambda_max(built["hvp"], limit, (T,))
    eta_star = 0.5 * (low + high)
    return {"eta_star": eta_star, "eta_star_low": low, "eta_star_high": high, "eta_formula": eta_formula,
            "ratio": eta_star / eta_formula, "finite_steps_bias": math.log(1 / p["rtol"]) / (4 * p["n_steps"]),
            "limit_sharpness": lam, "limit_sharpness_x_eta": lam * low, "n_runs": 1 + p["rounds"]}


# --------------------------------------------------------------------------- gradient flow

def _gf_check(p: dict) -> dict:
    return canonical_widths(p)


def _gf_params(**time_param) -> list:
    return (_architecture_params() + _instance_params()
            + [param("whitened", "bool", True, doc="Σx = I (else Σx = AAᵀ/n + ½I from the seed)")]
            + [param(**time_param)]
            + [param("rtol", "float", 1e-10, above=0, max=1e-3, doc="relative tolerance of DOP853"),
               param("atol", "float", 1e-12, above=0, max=1e-3, doc="absolute tolerance of DOP853")])


def _coupling_residual(W, T) -> float:
    """:meth:`curvsym.sharpness.Coupling.residual` at W; NaN when s₁(T) is not simple (relative gap
    below 1e-6: then the top singular pair, hence the path, is not unique); 0 for one layer."""
    if len(W) == 1:
        return 0.0
    s = np.linalg.svd(T, compute_uv=False)
    if len(s) > 1 and s[0] - s[1] <= 1e-6 * s[0]:
        return math.nan
    return mulayoff2020.coupling(W, T).residual()


@analysis("gf_limit", _gf_params(name="t_end", kind="float", default=100.0, above=0, doc="integrate to this time"),
          architecture=("widths", "whitened"), build=_build_chain, check=_gf_check,
          labels={"loss_T": r"$L(t_{\mathrm{end}})$", "sharpness": r"$\lambda_{\max}(\nabla^2 L)$",
                  "flat_bound": r"$N\,\|T\|_2^{2-2/N}$", "sharpness_ratio": r"$\lambda_{\max}/(N\|T\|_2^{2-2/N})$",
                  "balance_drift": r"balance drift", "coupling_residual": r"coupling residual",
                  "target_norm": r"$\|T\|_2$", "depth": r"depth $N$", "init_scale": r"init scale $\sigma_0$"})
def gf_limit(p: dict, built: dict) -> dict:
    r"""Gradient flow dW_i/dt = −∇_{W_i}L to ``t_end`` (DOP853, double precision).

    Record: ``loss_0``, ``loss_T`` = L(W(t_end)), ``sharpness`` = λ_max(∇²L) at W(t_end),
    ``flat_bound`` = N‖T‖₂^{2−2/N} (the least λ_max of any global minimum for whitened data without
    bottleneck), ``sharpness_ratio`` = sharpness/flat_bound (→ 1 from small starts, whitened),
    ``coupling_residual`` (max of 1 − alignment of the top singular-vector path and of the relative
    gain error against s₁^{i/N}; NaN when s₁(T) is degenerate, e.g. ``target = "isometry"``), ``balance_drift`` = max_t max_i ‖C_i(t) − C_i(0)‖/max(1, ‖W‖²),
    ``n_rhs`` (right-hand-side evaluations).

    Raises:
        DivergenceError: the flow left ‖W‖_max ≤ 1e12 (stored as a failure row).
    """
    weights, data, T = _instance(p, whitened=p["whitened"])
    traj = integrate_double(built["rhs"], weights, data, [0.0, p["t_end"]], rtol=p["rtol"], atol=p["atol"])
    W = traj.final
    lam = lambda_max(built["hvp"], W, data)
    bound = mulayoff2020.flat_bound(T, len(W))
    return {"loss_0": _loss(built["loss"], weights, data), "loss_T": _loss(built["loss"], W, data),
            "sharpness": lam, "flat_bound": bound, "sharpness_ratio": lam / bound,
            "coupling_residual": _coupling_residual(W, T),
            "balance_drift": _balance_drift(built["balance"], traj, data), "n_rhs": traj.n_rhs}


@analysis("gf_loss", _gf_params(name="t", kind="float", default=1.0, min=0, doc="the time of the loss"),
          architecture=("widths", "whitened"), build=_build_flow, check=_gf_check,
          labels={"loss_t": r"$L(t)$", "loss_0": r"$L(0)$", "balance_drift": "balance drift",
                  "target_norm": r"$\|T\|_2$", "depth": r"depth $N$", "init_scale": r"init scale $\sigma_0$"})
def gf_loss(p: dict, built: dict) -> dict:
    """Gradient flow to time ``t``: record ``loss_0``, ``loss_t`` and ``balance_drift`` (see gf_limit).

    Raises:
        DivergenceError: the flow blew up before ``t`` (stored as a failure row).
    """
    weights, data, _ = _instance(p, whitened=p["whitened"])
    traj = integrate_double(built["rhs"], weights, data, [0.0, p["t"]], rtol=p["rtol"], atol=p["atol"])
    return {"loss_0": _loss(built["loss"], weights, data), "loss_t": _loss(built["loss"], traj.final, data),
            "balance_drift": _balance_drift(built["balance"], traj, data)}
