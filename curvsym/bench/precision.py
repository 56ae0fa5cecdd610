"""High-precision benchmarks: the multi-word engine against today's flint engine, heyoka and mpmath.odefun.

Every row reports time *and* measured accuracy: the digits the run agrees with a
reference at twice the digits, −log₁₀(max|ours − ref| / max(1, ‖ref‖_max)).
Rows say whether they were timed once or as the median of interleaved repeats
(ours, reference, ours, …; :func:`curvsym.bench.timing.interleaved`).  heyoka is an
optional extra (``pip install heyoka``): its rows are skipped cleanly without
it; its compile time is reported separately from the integration time.

Rows (``run_precision(quick=False)``):

* N = 4, d = 64, N = 4, d = 16 and N = 8, d = 16 at 30 digits: multi-word (double-double) per step against
  the flint engine (timed once over a short span) and against the float64 floor of the same Cauchy products
  (one plain BLAS product per stacked order and node, on one BLAS thread as ours, timed after each of our three
  runs over a longer span: medians side by side); targets ≥ 100× / ≥ 20× / ≥ 20× flint and ≤ 2.5× the floor,
  at ≥ 30 digits (or flint's); the row prints both times, the ratio and the digits
  (:func:`bench_engines`);
* the multi-word engine on a GPU (CuPy or torch, through the array API): the fp64 GEMM rate and one series
  against its floor at that rate; "not measured" without a device (:func:`bench_gpu`);
* N = 3, d = 3, 30 digits: the faster of multi-word and ``engine="auto"`` (both
  the compiled double-double kernel of :mod:`curvsym.kernels.multiword.compiled` where a
  C compiler is at hand, else BLAS / flint) against heyoka ``real`` (MPFR, 113
  bits, tolerance 1e-32), medians of interleaved repeats; target ratio ≤ 1; the
  compile times of both are reported, not timed;
* heyoka real128 (N = 3, d = 3) and MPFR (N = 4, d = 16) as references;
* mpmath.odefun at N = 3, d = 3 (30 digits), as a reference;
* non-polynomial flows by GBS (item 3 of the issue): the NGD balance theorem's
  flow (3-3-3-3 chain, ``conditioned_instance(seed=3)``, t ∈ [0, 1], 30 digits:
  triple-double, since the extrapolation amplifies rounding noise by Λ₁₂ = 2618)
  and K-FAC on the same flow, and the README's NGD example (2-2-2, t ∈ [0, 0.5],
  20 digits: double-double), and NGD on a 6-6-6 chain (𝒦 is 36 × 36), multi-word
  against the mpf GBS on the same flow (ours the median of three runs, mpf timed
  once), with the digits the two routes agree to; target ≥ 20× (the README
  example: finishes within 5 s, the issue's "in seconds").
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any, Callable

import mpmath
import numpy as np

from ..codegen import generate_flow
from ..data.problems import conditioned_instance, random_instance
from ..integrate import integrate_extrapolation, integrate_taylor
from ..integrate.state import to_mp
from ..integrate.tape import trace_polynomial
from ..kernels.multiword import compiled as ddkernel
from ..symbolic import derive, network
from ..symbolic import rules as rules_
from ..types import Array, State
from .linear import _odefun_trajectory, gf_reference
from .timing import BenchRow, interleaved


def _setting(N: int, d: int, seed: int = 0):
    net = network.deep_chain(N, d)
    inst = random_instance(net, seed=seed, scale=1.0)
    rhs = generate_flow(derive.gradient_flow(derive.model(net)), "mpmath")
    return inst, rhs


def digits_agreed(state: Any, ref: Any) -> float:
    """−log₁₀(max|a − b| / max(1, ‖b‖_max)) over all layers (mpf or float entries)."""
    with mpmath.workdps(250):
        err = max(abs(mpmath.mpf(x) - mpmath.mpf(y)) for a, b in zip(state, ref) for x, y in zip(np.ravel(a), np.ravel(b)))
        size = max(mpmath.mpf(1), max(abs(mpmath.mpf(y)) for b in ref for y in np.ravel(b)))
        return float(-mpmath.log10(err / size)) if err else math.inf


def _timed(f: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = f()
    return time.perf_counter() - t0, out


def _median_of_three(f: Callable[[], object]) -> tuple[float, object]:
    """(seconds, result) of the median of three timed runs of ``f``."""
    return sorted((_timed(f) for _ in range(3)), key=lambda r: r[0])[1]


def _floor_products(rhs: Any, inst: Any, order: int) -> list[tuple[tuple, tuple]]:
    """The shapes ((m, (k+1)n), ((k+1)n, p)) of the float64 floor of one Taylor step: for every product node and
    order k < ``order`` one plain product of the stacked operands, as the multi-word engine's float path does."""
    with mpmath.workdps(40):
        x = to_mp(inst.weights, 40)
        tape = trace_polynomial(rhs, rhs.validate(x, to_mp(inst.data(), 40)))
    shapes: dict = {}
    ops = tape.ops

    def shape(i):
        if i not in shapes:
            op = ops[i]
            if op.kind == "var":
                shapes[i] = inst.weights[op.args[0]].shape
            elif op.kind == "const":
                shapes[i] = np.shape(op.value)
            elif op.kind == "matmul":
                shapes[i] = (shape(op.args[0])[0], shape(op.args[1])[1])
            elif op.kind == "T":
                s_ = shape(op.args[0])
                shapes[i] = (s_[1], s_[0])
            else:
                shapes[i] = shape(op.args[0])
        return shapes[i]

    prods = [(shape(op.args[0]), shape(op.args[1])) for op in ops if op.kind == "matmul"]
    return [((m, (k + 1) * n), ((k + 1) * n, p)) for k in range(order) for (m, n), (_, p) in prods]


def float_floor(rhs: Any, inst: Any, order: int) -> tuple[float, float]:
    """(seconds, GFLOP/s) of the float64 floor of one Taylor step: for every product node and order k one plain
    BLAS product of the stacked operands (m × (k+1)n) @ ((k+1)n × p), as the multi-word engine's float path does,
    on one BLAS thread (as the multi-word engine runs)."""
    rng = np.random.default_rng(0)
    pairs = [(rng.standard_normal(a), rng.standard_normal(b)) for a, b in _floor_products(rhs, inst, order)]
    flops = sum(2.0 * a.shape[0] * a.shape[1] * b.shape[1] for a, b in pairs)
    from threadpoolctl import threadpool_limits  # deferred: threadpoolctl comes with scikit-learn, bench only
    with threadpool_limits(limits=1, user_api="blas"):  # as the multi-word engine runs
        t0 = time.perf_counter()
        for a, b in pairs:
            a @ b
        dt = time.perf_counter() - t0
    return dt, flops / dt / 1e9


def bench_engines(N: int, d: int, t_end: float, dps: int = 30, target: float = 20.0, span: float = 5.0,
                  floor_target: float = 2.5, reference_engine: str = "flint", repeats: int = 5) -> BenchRow:
    """Multi-word against flint at ``dps``, and against the float64 floor of its own products, per step.

    Ours runs over t ∈ [0, span·t_end] (≈ 5–20 steps, so that the per-run set-up — tracing, conversions of the
    output — is spread as in any real run: time per unit of simulated time), ``repeats`` times, each followed by
    the float64 floor of one step's products (:func:`float_floor`, one BLAS thread as ours): the medians, measured
    side by side (five pairs: on a 2-core machine single timings of either move by ±10 %).  flint runs once over [0, t_end] (tens of seconds per step at d = 64).  Digits at t_end (ours:
    the timed run's dense output there), against one run at twice the digits over [0, t_end] (quad-double
    multi-word for d ≥ 32, else flint; a reference over the whole span would cost minutes).  Met: ≥ ``target``× flint's time per step, ≤ ``floor_target``× the floor, and ≥ ``dps``
    digits (or flint's)."""
    inst, rhs = _setting(N, d)
    weights, data = inst.weights, inst.data()
    t_long = span * t_end
    times, floors, gflops = [], [], []
    ours = None
    for _ in range(repeats):
        t, ours = _timed(lambda: integrate_taylor(rhs, weights, data, [0, t_end, t_long], dps=dps,
                                                 engine="multiword"))
        times.append(t)
        f, g = float_floor(rhs, inst, ours.info["order"])
        floors.append(f)
        gflops.append(g)
    t_ours, floor, gf = float(np.median(times)), float(np.median(floors)), float(np.median(gflops))
    t_ref, theirs = _timed(lambda: integrate_taylor(rhs, weights, data, [0, t_end], dps=dps, engine=reference_engine))
    ref_engine = "multiword" if 2 * dps <= 62 and d >= 32 else "flint"
    ref = integrate_taylor(rhs, weights, data, [0, t_end], dps=2 * dps, engine=ref_engine)
    per_ours, per_ref = t_ours / ours.n_steps, t_ref / theirs.n_steps
    speed, over = per_ref / per_ours, per_ours / floor
    dig_ours = digits_agreed(ours.states[1], ref.final)  # our timed run's state at t_end (dense output)
    dig_ref = digits_agreed(theirs.final, ref.final)
    met = speed >= target and over <= floor_target and dig_ours >= min(dig_ref, dps)
    return BenchRow(f"h. Taylor N={N} d={d} {dps} digits (per step; ours t∈[0,{t_long:g}] median of {repeats}, "
                    f"{reference_engine} t∈[0,{t_end:g}] once)",
                    per_ours, per_ref, f"{reference_engine} engine (exact midpoints)",
                    f"≥ {target:g}× faster, ≤ {floor_target:g}× the float64 floor, digits ≥ {reference_engine}'s "
                    f"or ≥ {dps}", met,
                    f"float64 floor {floor * 1e3:.1f} ms/step ({gf:.0f} GFLOP/s, 1 BLAS thread as ours, measured "
                    f"after each of our runs), ours {over:.2f}× the floor; speed-up over {reference_engine} "
                    f"{speed:.1f}×; digits vs {2 * dps}-digit {ref_engine}: ours {dig_ours:.1f}, {reference_engine} "
                    f"{dig_ref:.1f}; steps {ours.n_steps}/{theirs.n_steps}, {ours.info['series_per_step']:.2f} series "
                    f"per step; error estimate {mpmath.nstr(ours.error_estimate, 2)}; "
                    f"{ours.info.get('kernel', 'blas')} kernel"
                    + (f", exact products {ours.info['product_work']:.2f}× the floor's" if "product_work" in ours.info
                       else ""))


def bench_gpu(N: int = 4, d: int = 64, backend: str | None = None, repeats: int = 3) -> list[BenchRow]:
    """The multi-word engine on a GPU, through the array API (CuPy or torch): the device's fp64 GEMM rate
    (a 4096² product), and one 30-digit Taylor series of the N, d flow (order 39, the engine's own path on
    ``xp``) against the float64 floor of its products at that rate — the fraction of the GEMM rate it reaches.
    Without a GPU (or ``backend`` naming a library without one) the rows say "not measured"; ``backend="numpy"``
    runs the same code on the CPU (for the tests)."""
    from ..codegen import backends  # deferred: bench-only import of the array-library registry
    from ..integrate.multiword_taylor import MultiwordEngine  # deferred: the engine class, bench-only
    name = backend if backend is not None else next((n for n in ("cupy", "torch") if backends.has_gpu(n)), None)
    label = f"h. GPU fp64 GEMM and multi-word Taylor series N={N} d={d} 30 digits"
    if name is None or (name != "numpy" and not backends.has_gpu(name)):
        return [BenchRow(label, None, None, "", "", None, "no GPU (CuPy or torch with a device): not measured")]
    xp = backends.namespace(name)
    device = "cuda" if name == "torch" else None
    if name == "cupy":
        import cupy  # deferred: optional extra
        sync = cupy.cuda.Device().synchronize
    elif name == "torch":
        import torch  # deferred: optional extra
        sync = torch.cuda.synchronize
    else:
        sync = lambda: None  # noqa: E731
    n = 4096 if name != "numpy" else 512
    rng = np.random.default_rng(0)
    a, b = (xp.asarray(rng.standard_normal((n, n)), device=device) for _ in range(2))

    def gemm():
        a @ b
        sync()

    gemm()
    t_gemm = statistics.median(_timed(gemm)[0] for _ in range(repeats))
    rate = 2.0 * n ** 3 / t_gemm
    inst, rhs = _setting(N, d)
    order = 39
    products = _floor_products(rhs, inst, order)
    flops = sum(2.0 * a[0] * a[1] * b[1] for a, b in products)
    with mpmath.workdps(40):
        x = to_mp(inst.weights, 40)
        tape = trace_polynomial(rhs, rhs.validate(x, to_mp(inst.data(), 40)))
        eng = MultiwordEngine(30, xp=xp, device=device, compiled=False)
        xs = [eng.load(w) for w in x]
        program = eng.compile(tape, xs[0])
        scale = mpmath.mpf("0.001")

        def series():
            eng.taylor_series(program, xs, order, scale)
            sync()

        series()
        t_series = statistics.median(_timed(series)[0] for _ in range(repeats))
    floor = flops / rate
    where = "on the CPU (numpy stand-in)" if name == "numpy" else f"on {name}'s device"
    return [BenchRow(label + f" ({name})", t_series, floor, "the floor's products at the measured GEMM rate",
                     "measured", None,
                     f"{where}: fp64 GEMM {rate / 1e9:.0f} GFLOP/s ({n}² product); one series {t_series * 1e3:.1f} ms "
                     f"= {t_series / floor:.1f}× the floor's {flops / 1e9:.2f} GFLOP at that rate ("
                     f"{flops / t_series / rate * 100:.1f}% of the GEMM rate in floor flops)")]


def bench_gbs(rule: str, widths: tuple, seed: int, t_eval: list, dps: int, target: float = 20.0,
              within: float | None = None) -> BenchRow:
    """A non-polynomial flow by GBS: multi-word (median of three runs) against mpf object arrays (timed once) on
    the same flow; the target is ``target``× faster, or, given ``within``, finishing in ``within`` seconds
    (the README example's "in seconds")."""
    net = network.chain(list(widths))
    m = derive.model(net)
    inst = conditioned_instance(net, seed=seed)
    r = {"ngd": rules_.natural_gradient(), "kfac": rules_.kfac()}[rule]
    rhs = generate_flow(r.flow(m), "mpmath")
    args = (rhs, inst.weights, inst.data(), t_eval)
    t_ours, ours = _median_of_three(lambda: integrate_extrapolation(*args, dps=dps, engine="multiword",
                                                                    progress=False))
    t_ref, theirs = _timed(lambda: integrate_extrapolation(*args, dps=dps, engine="mpmath", progress=False))
    agree = digits_agreed(ours.final, theirs.final)
    speed = t_ref / t_ours
    return BenchRow(f"h. GBS {rule} {'-'.join(map(str, widths))} {dps} digits t∈[0,{float(t_eval[-1]):g}] "
                    "(ours median of 3, mpf once)",
                    t_ours, t_ref, "mpf GBS (object arrays)",
                    (f"≤ {within:g} s" if within is not None else f"≥ {target:g}× faster") + f", ≥ {dps} digits",
                    (t_ours <= within if within is not None else speed >= target) and agree >= dps,
                    f"speed-up {speed:.1f}×; {ours.info['engine']}; routes agree to {agree:.1f} digits; steps "
                    f"{ours.n_steps}/{theirs.n_steps}; error estimates {mpmath.nstr(ours.error_estimate, 2)} / "
                    f"{mpmath.nstr(theirs.error_estimate, 2)}")


# --------------------------------------------------------------------------- heyoka

def _heyoka():
    try:
        import heyoka
    except ImportError:
        return None
    return heyoka


def heyoka_system(hy: Any, weights: State, S: Array, T: Array) -> Any:
    """The gradient flow as a heyoka ODE system (hand-written prefix/suffix products on expressions)."""
    W = []
    for i, w in enumerate(weights):
        v = np.empty(w.shape, dtype=object)
        for a in range(w.shape[0]):
            for b in range(w.shape[1]):
                v[a, b] = hy.make_vars(f"w{i}_{a}_{b}")
        W.append(v)
    out = gf_reference(W, np.asarray(S, dtype=object), np.asarray(T, dtype=object))
    return [(x, e) for Wi, Oi in zip(W, out) for x, e in zip(Wi.flat, Oi.flat)]


def _heyoka_run(hy, N, d, t_end, kind: str, bits: int = 113, tol: str = "1e-32"):
    """(compile seconds, integration seconds, steps, final state as mpf) for heyoka ``kind``."""
    inst, _ = _setting(N, d)
    S, T = inst.data()
    sys_ = heyoka_system(hy, inst.weights, S, T)
    y0 = np.concatenate([np.ravel(w) for w in inst.weights])
    t0 = time.perf_counter()
    if kind == "real128":
        ta = hy.taylor_adaptive(sys_, [hy.real128(float(v)) for v in y0], fp_type=hy.real128, tol=hy.real128(tol))
        end = hy.real128(t_end)
    elif kind == "real":
        ta = hy.taylor_adaptive(sys_, [hy.real(float(v), bits) for v in y0], fp_type=hy.real, prec=bits,
                                tol=hy.real(tol, bits))
        end = hy.real(t_end, bits)
    else:
        ta = hy.taylor_adaptive(sys_, y0, tol=float(tol))
        end = t_end
    t_compile = time.perf_counter() - t0
    t_int, res = _timed(lambda: ta.propagate_until(end))
    with mpmath.workdps(60):
        flat = [mpmath.mpf(str(v)) for v in ta.state]
    state, k = [], 0
    for w in inst.weights:
        state.append(np.array(flat[k:k + w.size], dtype=object).reshape(w.shape))
        k += w.size
    return t_compile, t_int, int(res[3]), state, ta


def bench_heyoka_small(t_end: float = 1.0, repeats: int = 5) -> list[BenchRow]:
    """N = 3, d = 3 at 30 digits: the faster of multi-word and ``auto`` against heyoka real
    (MPFR 113 bits, tol 1e-32), medians of interleaved repeats."""
    hy = _heyoka()
    if hy is None:
        return [BenchRow("h. heyoka rows", None, None, "", "", None, "heyoka not installed: rows skipped")]
    inst, rhs = _setting(3, 3)
    args = (rhs, inst.weights, inst.data(), [0, t_end])
    ref = integrate_taylor(*args, dps=60, engine="flint")
    ours = integrate_taylor(*args, dps=30, engine="multiword")
    tc, _, steps, hstate, ta = _heyoka_run(hy, 3, 3, t_end, "real")
    y0 = list(ta.state)

    def heyoka_again():
        ta.time = hy.real(0, 113)
        ta.state[:] = [hy.real(float(v), 113) for v in np.concatenate([np.ravel(w) for w in inst.weights])]
        ta.propagate_until(hy.real(t_end, 113))

    del y0
    t_compile = None
    if ddkernel.available():  # our compile time, as heyoka's: reported, not timed (a cached build is reused)
        import pathlib
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            t_compile, _ = _timed(lambda: ddkernel.build(pathlib.Path(tmp) / "kernel.so"))
    auto = integrate_taylor(*args, dps=30, engine="auto")
    t_ours, t_auto, t_hy = interleaved([lambda: integrate_taylor(*args, dps=30, engine="multiword"),
                                         lambda: integrate_taylor(*args, dps=30, engine="auto"), heyoka_again], repeats)
    best = min(t_ours, t_auto)
    rows = [BenchRow(f"h. Taylor N=3 d=3 30 digits t∈[0,{t_end:g}] (median of {repeats} interleaved)", best, t_hy,
                     "heyoka real (MPFR 113 bits, tol 1e-32)", "ratio ≤ 1", best <= t_hy,
                     f"multi-word {t_ours * 1e3:.0f} ms, auto ({auto.info['engine']}) {t_auto * 1e3:.0f} ms; digits vs "
                     f"60-digit flint: multi-word {digits_agreed(ours.final, ref.final):.1f}, auto "
                     f"{digits_agreed(auto.final, ref.final):.1f}, heyoka {digits_agreed(hstate, ref.final):.1f}; "
                     f"{ours.info.get('kernel', 'blas')} kernel; compile: heyoka {tc:.2f} s, ours "
                     f"{'—' if t_compile is None else f'{t_compile:.2f} s'} (cached; not timed)")]
    t_od, od = _timed(lambda: _odefun_trajectory(rhs, inst.weights, inst.data(), t_end, 30))
    rows.append(BenchRow(f"h. mpmath.odefun N=3 d=3 30 digits t∈[0,{t_end:g}] (timed once)", t_ours, t_od,
                         "mpmath.odefun", "reference", None,
                         f"speed-up {t_od / t_ours:.0f}×; odefun digits {digits_agreed(od.final, ref.final):.1f}"))
    return rows


def bench_heyoka_references(cases: Any=((3, 3, 1.0, "real128"), (4, 16, 0.02, "real"))) -> list[BenchRow]:
    """heyoka real128 / MPFR as named references (timed once; compile time separate)."""
    hy = _heyoka()
    if hy is None:
        return []
    rows = []
    for N, d, t_end, kind in cases:
        inst, rhs = _setting(N, d)
        args = (rhs, inst.weights, inst.data(), [0, t_end])
        t_ours, ours = _timed(lambda: integrate_taylor(*args, dps=30, engine="multiword"))
        ref = integrate_taylor(*args, dps=60, engine="multiword")
        tc, t_h, steps, hstate, _ = _heyoka_run(hy, N, d, t_end, kind)
        rows.append(BenchRow(f"h. heyoka {kind} N={N} d={d} t∈[0,{t_end:g}] (timed once)", t_ours, t_h,
                             f"heyoka {kind}" + (" (MPFR 113 bits)" if kind == "real" else ""), "reference", None,
                             f"ratio {t_h / t_ours:.1f}× in our favour; digits vs 60-digit quad-double: ours "
                             f"{digits_agreed(ours.final, ref.final):.1f}, heyoka {digits_agreed(hstate, ref.final):.1f};"
                             f" heyoka compile {tc:.1f} s (not timed), {steps} steps"))
    return rows


def run_precision(quick: bool) -> list[BenchRow]:
    """The precision rows for ``curvsym bench`` (quick: smaller sizes, no heyoka references)."""
    rows: list[BenchRow] = []
    if quick:
        rows.append(bench_engines(4, 16, 0.003, target=20.0, span=40.0))
        rows += bench_gpu()
        rows += bench_heyoka_small(t_end=0.3, repeats=3)
        rows.append(bench_gbs("ngd", (2, 2, 2), 1, [0, 0.5], 20, within=5.0))
    else:
        rows.append(bench_engines(4, 64, 0.002, target=100.0, span=10.0))
        rows.append(bench_engines(4, 16, 0.003, target=20.0, span=40.0))
        rows.append(bench_engines(8, 16, 0.01, target=20.0, span=3.0))
        rows += bench_gpu()
        rows += bench_heyoka_small()
        rows += bench_heyoka_references()
        rows.append(bench_gbs("ngd", (3, 3, 3, 3), 3, [0, 0.5, 1], 30))
        rows.append(bench_gbs("kfac", (3, 3, 3, 3), 3, [0, 0.5, 1], 30))
        rows.append(bench_gbs("ngd", (2, 2, 2), 1, [0, 0.5], 20, within=5.0))
        rows.append(bench_gbs("ngd", (6, 6, 6), 0, [0, 0.1], 30))
    return rows
