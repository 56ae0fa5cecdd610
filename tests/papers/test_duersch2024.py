"""Duersch et al. 2024 (docs/mathematics.md §4): the glass model, the estimators, Alice (≈ 6 s in all).

The reference for Alice is a per-coordinate transcription, written for this test, of the
authors' Alice 1.1 (github.com/sandialabs/alice: src/alice/alice.py, the step schedule;
src/alice/alice11_fused_cuda/alice11_fused.cu, the CPU kernels pert_update / quick_update /
state_update): one row of seven numbers (μ, ν, z, G, R, H, V) per coordinate, updated in
the kernels' order.
"""

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from scipy.optimize import minimize_scalar

import curvsym as cs
from curvsym.errors import OptionError, UnknownNameError
from curvsym.integrate import optimizers as op
from curvsym.papers import duersch2024 as d

C = float(d.GLASS_CONSTANT)


# --------------------------------------------------------------------------- item 1: the model


def test_minimiser_derived_symbolically():
    der = d.derive_optimal_step()
    assert der.difference == 0 and len(der.roots) == 1
    assert der.holds
    G, h, rho = sp.symbols("G h rho", positive=True)
    assert sp.simplify(der.newton - G / h) == 0                       # ρ = 0: Newton
    assert sp.simplify(der.pure_glass - 2 * sp.pi * G ** 2 / (3 * rho)) == 0   # h = 0: pure glass


def test_closed_form_is_the_numeric_minimiser():
    rng = np.random.default_rng(0)
    cases = [(g, h, r) for g, h, r in zip(rng.normal(size=20), rng.exponential(size=20), rng.exponential(size=20))]
    cases += [(0.7, 1.3, 0.0), (-0.7, 0.0, 2.0), (2.0, 0.0, 1e-3), (-1e-3, 5.0, 10.0)]
    worst = wrong = 0.0
    for g, h, r in cases:
        delta = d.optimal_step(g, h, r)
        res = minimize_scalar(lambda x: d.loss_model(g, h, r, x), bracket=(0.0, delta), tol=1e-14)
        worst = max(worst, abs(res.x - delta) / abs(delta))
        assert d.loss_model(g, h, r, delta) <= d.loss_model(g, h, r, -delta)   # the descent side
        if r > 0 and h > 0:   # nearest wrong closed form: α twice too large (the ½ of (3/2)c lost) = ρ doubled
            bad = d.optimal_step(g, h, 2 * r)
            wrong = max(wrong, abs(res.x - bad) / abs(delta))
    assert worst <= 1e-6
    assert wrong >= 1e-2


def test_random_walk_constant_derived_and_monte_carlo():
    w = d.derive_random_walk_constant()
    assert w.holds
    assert sp.simplify(w.variance - sp.Symbol("delta", positive=True) ** 3 * sp.Symbol("rho", positive=True) / 3) == 0
    rng = np.random.default_rng(1)
    delta, rho = 0.3, 2.0
    x = np.abs(d.integrated_walk(delta, rho, 100_000, rng, n_grid=8)) / (math.sqrt(rho) * delta ** 1.5)
    mean, se = x.mean(), x.std(ddof=1) / math.sqrt(len(x))
    assert abs(mean - C) <= 4 * se                   # c = √(2/(3π)) inside the 4σ interval
    triangle = float(w.triangle.subs({x: 1 for x in w.triangle.free_symbols}))   # ∫E|B| = (2/3)√(2/π): the swap of E and |·|
    assert abs(triangle - 0.5319) < 1e-4 and abs(mean - triangle) > 20 * se


# ------------------------------------------------------------------------ item 2: the estimators


def exact(values):
    return np.array([[Fraction(v).limit_denominator(64)] for v in values], dtype=object)


def test_quadratic_exact_rho_zero_and_h_is_hz():
    """On L = ½θᵀHθ − bᵀθ (rational H, b, ν, σ): dg = 0 and h = Hz exactly, for every z."""
    H = np.array([[Fraction(3), Fraction(1, 2), Fraction(0)], [Fraction(1, 2), Fraction(1), Fraction(-1, 5)],
                  [Fraction(0), Fraction(-1, 5), Fraction(3, 10)]], dtype=object)
    b = exact([1, -2, 0.5])
    nu = exact([0.25, -1.5, 2])
    sigma = Fraction(1, 8)
    second = np.zeros(3, dtype=object)
    abs_mean = np.zeros(3, dtype=object)
    for signs in itertools.product((-1, 1), repeat=3):
        z = np.array([[Fraction(s)] for s in signs], dtype=object)
        s = d.sample_curvature(lambda th: H @ th - b, nu, sigma, z)
        assert all(v == 0 for v in s.dg.ravel()) and all(v == 0 for v in s.rho.ravel())
        assert all(a == c for a, c in zip(s.h.ravel(), (H @ z).ravel()))
        second += np.array([v * v for v in s.h.ravel()], dtype=object) / 8
        abs_mean += np.array([abs(v) for v in s.h.ravel()], dtype=object) / 8
    # over all 8 Rademacher vectors: mean h² = (H²)_ii, and mean |h| = |H_ii| (every row of H is
    # diagonally dominant, so H_ii + Σ_{j≠i} H_ij z_i z_j never changes sign)
    assert all(a == c for a, c in zip(second, np.diag(H @ H)))
    assert all(a == abs(c) for a, c in zip(abs_mean, np.diag(H)))
    # a row that is not diagonally dominant: mean |h_0| = ½(|1 + 2| + |1 − 2|) = 2 > |H_00| = 1
    K = np.array([[1, 2, 0], [2, 1, 0], [0, 0, 1]], dtype=object) * Fraction(1)
    means = sum(np.array([abs(v) for v in d.sample_curvature(lambda th: K @ th, nu, sigma, np.array(
        [[Fraction(s)] for s in signs], dtype=object)).h.ravel()]) for signs in itertools.product((-1, 1), repeat=3)) / 8
    assert means[0] == 2 and means[2] == 1
    # diagonal H: |h| = |H_ii| exactly
    D = np.diag([Fraction(3), Fraction(-1, 4), Fraction(7, 2)])
    s = d.sample_curvature(lambda th: D @ th - b, nu, sigma, exact([1, -1, -1]))
    assert [abs(v) for v in s.h.ravel()] == [3, Fraction(1, 4), Fraction(7, 2)]


def test_quadratic_float_rho_at_rounding_level():
    rng = np.random.default_rng(2)
    M = rng.standard_normal((20, 20))
    H = M @ M.T
    b = rng.standard_normal(20)
    nu = rng.standard_normal(20)
    scale = np.abs(H) @ (np.abs(nu) + 1) + np.abs(b)           # size of the terms that cancel
    for sigma in (1e-3, 1e-1, 1.0):
        z = rng.choice([-1.0, 1.0], 20)
        s = d.sample_curvature(lambda th: H @ th - b, nu, sigma, z)
        assert np.all(np.abs(s.dg) <= 8 * np.finfo(float).eps * scale)
        assert np.all(s.rho <= 2 * (8 * np.finfo(float).eps * scale) ** 2 / sigma)
        assert np.max(np.abs(s.h - H @ z)) <= 1e-9 / sigma


def brownian_gradients(rng, n, rho, sigma, nu=0.3, slope=2.0):
    """n independent Brownian gradients of density ρ plus a smooth part slope·x, at ν and ν ± σ."""
    left, right = rng.standard_normal((2, n)) * math.sqrt(rho * sigma)

    def grad(x):
        return np.where(x > nu, right, np.where(x < nu, left, 0.0)) + slope * x
    return grad, np.full(n, nu)


def kink_gradients(rng, n, rho, sigma, rate, nu=0.3):
    """A piecewise-constant gradient (piecewise-linear loss: Σ a_k ReLU(x − x_k)) with Poisson(rate)
    kinks on [ν − σ, ν + σ] and kicks a_k ~ N(0, ρ/rate): density ρ."""
    k_max = int(2 * rate * sigma + 10 * math.sqrt(2 * rate * sigma) + 10)
    count = rng.poisson(2 * rate * sigma, n)
    where = rng.uniform(nu - sigma, nu + sigma, (n, k_max))
    kicks = rng.standard_normal((n, k_max)) * math.sqrt(rho / rate) * (np.arange(k_max) < count[:, None])

    def grad(x):
        return np.sum(kicks * (x[:, None] > where), axis=1)
    return grad, np.full(n, nu)


@pytest.mark.parametrize("kind", ["brownian", "kinks"])
def test_random_walk_rho_unbiased_and_sigma_independent(kind):
    rng = np.random.default_rng(4)
    rho, n = 1.7, 40_000
    means, ses = [], []
    for sigma in (1e-3, 1.0, 1e3) if kind == "brownian" else (0.05, 1.0, 20.0):
        grad, nu = brownian_gradients(rng, n, rho, sigma) if kind == "brownian" else \
            kink_gradients(rng, n, rho, sigma, rate=2.0)
        z = rng.choice([-1.0, 1.0], n)
        est = d.sample_curvature(grad, nu, sigma, z).rho
        means.append(est.mean())
        ses.append(est.std(ddof=1) / math.sqrt(n))
        assert abs(est.mean() - rho) <= 4 * ses[-1]            # unbiased at every σ
        assert abs(est.mean() / 2 - rho) > 4 * ses[-1]         # control: dg²/σ (no factor 2)
    spread = max(means) - min(means)
    assert spread <= 4 * math.sqrt(2) * max(ses)                # σ-independent within the interval


def test_deep_linear_rho_is_order_sigma_cubed():
    """Deep linear net: dg(σ) is an even polynomial in σ with no σ⁰ term (exact), so ρ̂ = 2dg²/σ = O(σ³)."""
    s = sp.Symbol("sigma")
    rng = np.random.default_rng(5)
    shapes = [(2, 2), (2, 2), (2, 2)]
    W = [sp.Matrix(2, 2, [sp.Rational(int(v), 7) for v in rng.integers(-9, 9, 4)]) for _ in shapes]
    Z = [sp.Matrix(2, 2, [int(v) for v in rng.choice([-1, 1], 4)]) for _ in shapes]
    T = sp.Matrix([[1, 0], [sp.Rational(1, 2), 2]])
    syms = [sp.Matrix(2, 2, sp.symbols(f"w{i}_0:4")) for i in range(3)]
    Lsym = ((syms[2] * syms[1] * syms[0] - T).applyfunc(lambda x: x ** 2)).values()
    L = sum(Lsym) / 2
    grads = [[sp.diff(L, x) for x in M] for M in syms]
    flat = [x for M in syms for x in M]

    def gradient(point):
        sub = dict(zip(flat, [x for M in point for x in M]))
        return sp.Matrix([g.subs(sub) for row in grads for g in row])
    gp = gradient([w + s * z for w, z in zip(W, Z)])
    gm = gradient([w - s * z for w, z in zip(W, Z)])
    g0 = gradient(W)
    dg = ((gp + gm) / 2 - g0).applyfunc(sp.expand)
    polys = [sp.Poly(x, s) for x in dg]
    assert all(p.coeff_monomial(1) == 0 and p.coeff_monomial(s) == 0 and p.coeff_monomial(s ** 3) == 0 for p in polys)
    assert any(p.coeff_monomial(s ** 2) != 0 for p in polys)
    # the same in floating point through curvsym's generated gradient: fitted slope of ρ̂ against σ
    m = cs.model(cs.deep_chain(3, 2))
    rhs = cs.generate_flow(cs.gradient_flow(m))
    Wf = tuple(np.array(w.tolist(), dtype=float) for w in W)
    Zf = tuple(np.array(z.tolist(), dtype=float) for z in Z)
    data = (np.eye(2), np.array(T.tolist(), dtype=float))
    field = op.flow_field(rhs, [w[None] for w in Wf], data)

    def grad(point):
        return np.concatenate([-v.ravel() for v in field(tuple(p[None] for p in point), 0)])
    sigmas = np.array([2.0 ** -k for k in range(3, 9)])
    rhos = []
    for sg in sigmas:
        est = d.curvature_from_gradients(grad([w + sg * z for w, z in zip(Wf, Zf)]),
                                         grad([w - sg * z for w, z in zip(Wf, Zf)]), grad(Wf), sg)
        rhos.append(np.sum(est.rho))
    slope = np.polyfit(np.log(sigmas), np.log(rhos), 1)[0]
    assert abs(slope - 3) <= 0.05 and abs(slope - 2) > 0.5     # O(σ³), not the O(σ²) of a first guess


def test_running_average_and_effective_beta():
    assert d.effective_beta(0.9, 1) == 0 and d.effective_beta(0.9, 5) == 0.8 and d.effective_beta(0.9, 20) == 0.9
    x = Fraction(0)
    for k, v in enumerate([Fraction(3), Fraction(5), Fraction(10)], start=1):
        x = d.running_average(x, v, Fraction(k - 1, k))     # β_k = (k−1)/k: the plain mean
    assert x == 6


# --------------------------------------------------------------- item 4: Alice against a transcription


MU, NU, Z, G, R, H, V = range(7)


def reference_alice(grad, theta0, n_steps, z_of, *, lr, betas=(0.9, 0.999), eps=1e-8, w1=0.0, w2=0.0, phi=None,
                    omega=1.0, limiter="adam", lr_min=0.0, lr_max=None, hessian="abs", glass=True, quick_steps=0,
                    alpha_factor=3 / (4 * math.pi)):
    """The authors' Alice 1.1 for one flat parameter vector, coordinate by coordinate (see the module doc).

    grad(θ, k) is the gradient on minibatch k; z_of(k) the Rademacher vector of step k.
    Returns the rows M (μ, ν, z, G, R, H, V) after every step.
    """
    phi = 1 - betas[0] if phi is None else phi
    lr_max = 2 * lr if lr_max is None else lr_max
    period = quick_steps + 1
    beta3 = 1.0 - period * (1.0 - betas[1])
    M = [[float(t), float(t), 0.0, 0.0, 0.0, 0.0, 0.0] for t in theta0]
    history = []
    for k in range(n_steps):
        num_batch = k + 1
        beta_max = (num_batch - 1.0) / num_batch
        b1, b2, b3 = min(betas[0], beta_max), min(betas[1], beta_max), min(beta3, beta_max)
        if num_batch <= 1.0 / (1.0 - betas[0]) or num_batch % period == 0:
            z = z_of(k)
            step = [lr if zi > 0 else -lr for zi in z]
            for i, row in enumerate(M):          # init_pert: evaluate at ν + σz, keep ν − σz in the z column
                row[Z] = row[NU] - step[i]
            gp = grad(np.array([row[NU] + step[i] for i, row in enumerate(M)]), k)
            minus = np.array([row[Z] for row in M])
            for i, row in enumerate(M):          # pert_update 0: next point ν − σz, store g₊
                row[Z] = gp[i]
            gm = grad(minus, k)
            for i, row in enumerate(M):          # pert_update 1
                hh = 0.5 * (row[Z] - gm[i]) / lr
                hh = hh * hh + w2 * w2 if hessian == "rms" else abs(hh) + w2
                row[H] = hh + b3 * (row[H] - hh)
                row[Z] = 0.5 * (row[Z] + gm[i])
            g0 = grad(np.array([row[NU] for row in M]), k)
            for i, row in enumerate(M):          # pert_update 2
                g = g0[i]
                dg = row[Z] - g
                rho = 2.0 * dg * dg / lr
                v = g * g
                g += (-w1 if row[NU] < 0 else w1) + w2 * row[NU]
                row[R] = rho + b3 * (row[R] - rho)
                row[V] = v + b2 * (row[V] - v)
                row[G] = g + b1 * (row[G] - g)
        else:
            g0 = grad(np.array([row[NU] for row in M]), k)
            for i, row in enumerate(M):          # quick_update
                g = g0[i]
                v = g * g
                g += (-w1 if row[NU] < 0 else w1) + w2 * row[NU]
                row[V] = v + b2 * (row[V] - v)
                row[G] = g + b1 * (row[G] - g)
        if num_batch > 1.0 / (1.0 - betas[0]):
            for row in M:                        # state_update
                row[Z] = 0.0
                g = row[G]
                absg = abs(g)
                rho = row[R] if glass else 0.0
                h = 0.0 if hessian == "zero" else (row[H] if hessian == "abs" else math.sqrt(row[H]))
                alpha = alpha_factor * rho / (absg + eps)
                h_opt = alpha + h + math.sqrt(alpha * (alpha + 2.0 * h)) + eps
                delta = absg / h_opt
                lo, hi = lr_min, lr_max
                if limiter == "sgdm":
                    lo, hi = lo * absg, hi * absg
                elif limiter == "adam":
                    f = absg / (math.sqrt(row[V]) + eps)
                    lo, hi = lo * f, hi * f
                if delta < lo:
                    delta = lo
                elif not delta < hi:
                    delta = hi
                delta = -delta if g > 0 else delta
                mu = row[MU]
                row[NU] = mu + omega * delta
                row[MU] = mu + phi * delta
        history.append([list(r) for r in M])
    return np.array(history)


SHAPES = [(1, 3, 1), (1, 2, 2)]
P = np.array([[2.0, 0.3, 0, 0, 0, 0, 0], [0.3, 1.0, 0.1, 0, 0, 0, 0], [0, 0.1, 0.5, 0, 0, 0, 0],
              [0, 0, 0, 1.5, 0, 0, 0.2], [0, 0, 0, 0, 0.7, 0, 0], [0, 0, 0, 0, 0, 0.2, 0], [0, 0, 0, 0.2, 0, 0, 3.0]])
KINKS = np.array([0.1, -0.2, 0.05, 0.0, 0.3, -0.1, 0.2])


def flat_gradient(theta, k):
    """A kinked, minibatch-dependent objective: ½θᵀPθ − b_kᵀθ + 0.3 Σ|θ − kinks|."""
    b = np.array([1.0, -0.5, 0.2, 0.4, -1.0, 0.3, 0.1]) * (1 + 0.2 * math.sin(k))
    return P @ theta - b + 0.3 * np.sign(theta - KINKS)


def split(theta):
    return (theta[:3].reshape(SHAPES[0]), theta[3:].reshape(SHAPES[1]))


def field(y, k):
    theta = np.concatenate([w.ravel() for w in y])
    return tuple(-a for a in split(flat_gradient(theta, k)))


OPTIONS = [dict(lr=0.05), dict(lr=0.05, glass=False, hessian="rms"), dict(lr=0.05, hessian="zero"),
           dict(lr=0.05, glass=False), dict(lr=0.02, limiter="fixed", lr_min=1e-3, lr_max=0.1),
           dict(lr=0.02, limiter="sgdm", lr_min=0.01, lr_max=0.5), dict(lr=0.05, quick_steps=2),
           dict(lr=0.05, phi=0.5, omega=2.0, w1=0.01, w2=0.1), dict(lr=0.05, w2=0.2, hessian="rms", quick_steps=1),
           dict(lr=0.05, betas=(0.5, 0.9), eps=1e-3)]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_alice_equals_the_authors_update_step_for_step(options):
    theta0 = np.array([0.5, -0.4, 0.3, 0.2, -0.6, 0.1, 0.9])
    n_steps = 40
    alice = d.Alice(seed=11, **options)
    traj = op.optimize(alice, field, split(theta0), n_steps)
    ours = np.array([np.concatenate([w.ravel() for w in s]) for s in traj.states[1:]])

    def z_of(k):
        return np.concatenate([z.ravel() for z in d.rademacher(SHAPES, (11,), k)])
    ref = reference_alice(flat_gradient, theta0, n_steps, z_of, **options)
    assert np.max(np.abs(ours - ref[:, :, MU])) <= 1e-13
    assert np.max(np.abs(ours[-1] - theta0)) > 1e-2              # it moved
    # the stepper state after the last step, through the same stepper called directly
    state = alice.init(field, 0, split(theta0))
    y = split(theta0)
    for k in range(n_steps):
        s = alice.step(field, k, y, k + 1, state)
        y, state = s.y, s.state
    for col, part in ((NU, state.nu), (G, state.G), (R, state.R), (H, state.H), (V, state.V)):
        assert np.max(np.abs(np.concatenate([a.ravel() for a in part]) - ref[-1, :, col])) <= 1e-13
    assert traj.n_rhs == alice.gradient_count(n_steps) == sum(3 if alice.samples_at(k) else 1 for k in range(1, 41))


def test_code_constant_changes_steps_by_under_1e_5():
    theta0 = np.array([0.5, -0.4, 0.3, 0.2, -0.6, 0.1, 0.9])

    def z_of(k):
        return np.concatenate([z.ravel() for z in d.rademacher(SHAPES, (3,), k)])
    a = reference_alice(flat_gradient, theta0, 30, z_of, lr=0.05, lr_max=10.0)
    b = reference_alice(flat_gradient, theta0, 30, z_of, lr=0.05, lr_max=10.0, alpha_factor=d.CODE_ALPHA_FACTOR)
    moved = np.abs(a[-1, :, MU] - theta0)
    assert np.max(np.abs(a[:, :, MU] - b[:, :, MU])) <= 1e-5 * np.max(moved)


def test_batch_members_equal_single_runs():
    theta0 = np.array([0.5, -0.4, 0.3, 0.2, -0.6, 0.1, 0.9])
    w = split(theta0)
    batch = tuple(np.concatenate([a, 1.5 * a]) for a in w)

    def field2(y, k):   # member-wise: each member gets the flat objective
        outs = [field(tuple(a[b:b + 1] for a in y), k) for b in range(2)]
        return tuple(np.concatenate(parts) for parts in zip(*outs))
    both = op.optimize(d.Alice(lr=0.05, seed=(4, 9)), field2, batch, 25)
    for b, (seed, scale) in enumerate(((4, 1.0), (9, 1.5))):
        alone = op.optimize(d.Alice(lr=0.05, seed=seed), field, tuple(scale * a for a in w), 25)
        for x, y in zip(both.final, alone.final):
            assert np.max(np.abs(x[b] - y[0])) <= 1e-14


def test_smooth_quadratic_glass_is_inert_and_newton_is_exact():
    """ρ̂ = 0 on a quadratic, so glass + |h| follows |h| alone; with diagonal A, φ = 1 and wide fixed
    bounds the first move after the warm-up is the exact Newton step A⁻¹b."""
    A = np.diag([1.0, 4.0, 0.25])
    b = np.array([1.0, -2.0, 0.5])

    def quad(y, k):
        return (-(A @ y[0] - b[:, None]),)
    w0 = (np.zeros((1, 3, 1)),)
    opts = dict(lr=0.1, limiter="fixed", lr_max=100.0, phi=1.0)
    with_glass = op.optimize(d.Alice(glass=True, **opts), quad, w0, 30)
    without = op.optimize(d.Alice(glass=False, **opts), quad, w0, 30)
    gap = max(np.max(np.abs(x[0] - y[0])) for x, y in zip(with_glass.states, without.states))
    assert gap <= 1e-12
    newton = b / (np.diag(A) + 1e-8)                                 # |g|/(h + ε): ε = 1e-8 as in the kernel
    assert np.max(np.abs(without.states[11][0].ravel() - newton)) <= 1e-14
    assert np.max(np.abs(without.states[11][0].ravel() - np.linalg.solve(A, b))) <= 1e-6
    assert np.all(without.states[10][0] == 0)                       # warm-up: 10 steps for β₁ = 0.9
    # control: on a kinked objective the glass changes the path
    g1 = op.optimize(d.Alice(glass=True, **opts), field, split(np.full(7, 0.2)), 30)
    g0 = op.optimize(d.Alice(glass=False, **opts), field, split(np.full(7, 0.2)), 30)
    assert max(np.max(np.abs(x - y)) for x, y in zip(g1.final, g0.final)) > 1e-3


@pytest.mark.parametrize("options", [dict(lr=-0.1), dict(lr=0.0), dict(betas=(1.0, 0.9)), dict(betas=(0.9, -0.1)),
                                     dict(eps=0.0), dict(w1=-1.0), dict(w2=float("nan")), dict(phi=2.0),
                                     dict(phi=0.0), dict(omega=0.0), dict(lr_min=-1e-3),
                                     dict(lr=1e-3, lr_min=0.1, lr_max=0.01), dict(lr=1e-3, lr_min=0.01),
                                     dict(quick_steps=-1), dict(quick_steps=1.5), dict(quick_steps=5000),
                                     dict(glass=False, hessian="zero"), dict(glass="yes"), dict(betas=0.9)])
def test_bad_options_raise_option_error(options):
    with pytest.raises(OptionError):
        d.Alice(**options)


def test_unknown_names_and_variants():
    with pytest.raises(UnknownNameError):
        d.Alice(limiter="lamb")
    with pytest.raises(UnknownNameError):
        d.Alice(hessian="diag")
    with pytest.raises(UnknownNameError):
        d.variant("adahessian")
    with pytest.raises(OptionError):
        op.optimize(d.Alice(seed=(1, 2, 3)), field, split(np.zeros(7)), 2)
    v = {name: d.variant(name) for name in d.VARIANTS}
    assert (v["glass"].glass, v["glass"].hessian.value) == (True, "zero")
    assert (v["rms"].glass, v["rms"].hessian.value) == (False, "rms")
    assert all(a.lr == 5e-3 and a.lr_max == 1e-2 and a.limiter.value == "adam" and abs(a.phi - 0.1) < 1e-15
               for a in v.values())


def test_bound_fractions_count_the_limiter():
    """With wide fixed bounds no coordinate is clipped; with lr_max = 10⁻⁶ every moving coordinate is."""
    A = np.diag([1.0, 4.0, 0.25])
    b = np.array([1.0, -2.0, 0.5])

    def quad(y, k):
        return (-(A @ y[0] - b[:, None]),)
    w0 = (np.zeros((1, 3, 1)),)
    for lr_max, expected in ((100.0, (0.0, 0.0)), (1e-6, (0.0, 1.0))):
        alice = d.Alice(lr=0.1, limiter="fixed", lr_max=lr_max, glass=False)
        y, state = w0, alice.init(quad, 0, w0)
        for k in range(12):
            s = alice.step(quad, k, y, k + 1, state)
            y, state = s.y, s.state
        assert alice.bound_fractions(state) == expected
    low = d.Alice(lr=0.1, limiter="fixed", lr_min=50.0, lr_max=100.0, glass=False)
    y, state = w0, low.init(quad, 0, w0)
    for k in range(3):
        s = low.step(quad, k, y, k + 1, state)
        y, state = s.y, s.state
    assert low.bound_fractions(state) == (1.0, 0.0)
