"""The compiled double-double Taylor kernel (curvsym/integrate/ddtaylor.c).

* its Horner sums equal the NumPy double-double ones to the word precision;
* an integration with it delivers the digits asked for, agrees with the BLAS program, and its error estimate is
  honest (against flint at twice the digits);
* without a compiler nothing fails: the BLAS program runs instead, and ``compiled=True`` names the problem.

(Its Taylor coefficients against the op-by-op mpmath replay: tests/integrate/test_multiword.py.)
"""

import math
import platform

import mpmath
import numpy as np
import pytest
from curvsym.problems import random_instance
from test_multiword import _distance, _gradient_flow_tape, _run  # the same integration helpers

import curvsym as cs
from curvsym.errors import EngineError
from curvsym.integrate import series_engines
from curvsym.integrate.multiword_taylor import CompiledTape, MultiwordEngine
from curvsym.integrate.series_engines import MpmathEngine, make_engine
from curvsym.integrate.tape import taylor_coefficients
from curvsym.kernels.multiword import compiled as ddkernel
from curvsym.kernels.multiword import words as mw

needs_compiler = pytest.mark.skipif(not ddkernel.available(), reason="no C compiler for the compiled kernel")


@pytest.fixture
def fresh_kernel(monkeypatch, tmp_path):
    """The kernel lookup forgotten before and after the test, with an empty cache folder of its own."""
    monkeypatch.setenv("CURVSYM_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CURVSYM_NO_COMPILE", raising=False)
    monkeypatch.setattr(series_engines, "_WARNED", set())
    ddkernel._load.cache_clear()
    ddkernel._routine.cache_clear()
    yield tmp_path
    ddkernel._load.cache_clear()
    ddkernel._routine.cache_clear()


@pytest.fixture
def no_compiler(monkeypatch, fresh_kernel):
    """A machine without a C compiler and without an install-time build."""
    monkeypatch.setattr(ddkernel.shutil, "which", lambda exe: None)
    monkeypatch.setattr(ddkernel, "_extension", lambda: (None, "no install-time build"))
    return fresh_kernel


@needs_compiler
def test_compiled_horner_matches_the_numpy_double_double_one():
    rng = np.random.default_rng(0)
    with mpmath.workprec(212):
        c = [mw.from_mpf(np.array([[mpmath.mpf(rng.standard_normal()) / 3 ** k for _ in range(4)] for _ in range(3)],
                                  dtype=object), 2) for k in range(12)]
        theta = mw.scalar(mpmath.mpf("0.7123"), 2, c[0][0])
        got = mw.to_mpf(ddkernel.horner(c, theta))
        eng = MultiwordEngine(30, compiled=False)
        want = mw.to_mpf(eng.horner(c, mpmath.mpf(mw.to_mpf(theta)[()])))
        exact = sum(mw.to_mpf(ck) * mpmath.mpf(mw.to_mpf(theta)[()]) ** k for k, ck in enumerate(c))
        for a in (got, want):
            assert max(abs(x - y) for x, y in zip(a.flat, exact.flat)) <= 1e-31
        # the nearest wrong claim: the leading words alone (float64 Horner) are nowhere near
        flt = sum(ck[0] * float(theta[0]) ** k for k, ck in enumerate(c))
        assert max(abs(x - y) for x, y in zip(flt.flat, exact.flat)) > 1e-20


@needs_compiler
@pytest.mark.parametrize("shape", [(16, 16), (17, 15)])
def test_compiled_horner_in_vector_registers_is_exact_to_the_word_precision(shape):
    """Horner's rule over 256 and 255 entries (the vectorised loop, whole vectors and a tail) at order 39: within
    1e-31 of the exact sum of the words' polynomial, as the NumPy double-double Horner is (an independent route),
    and not the float64 leading-word sum (the nearest wrong claim)."""
    rng = np.random.default_rng(7)
    hi = rng.standard_normal((40,) + shape) * 0.6 ** np.arange(40)[:, None, None]
    lo = hi * rng.standard_normal(hi.shape) * 2.0 ** -54
    c = [(hi[k], lo[k]) for k in range(40)]
    with mpmath.workprec(300):
        theta = mw.scalar(mpmath.mpf("0.8123"), 2, hi[0])
        th = mw.to_mpf(theta)[()]
        got = mw.to_mpf(ddkernel.horner(c, theta))
        want = mw.to_mpf(MultiwordEngine(30, compiled=False).horner(c, th))
        cm = [mw.to_mpf(ck) for ck in c]
        for i in range(0, hi[0].size, 17):
            exact = sum(cm[k].flat[i] * th ** k for k in range(40))
            assert abs(got.flat[i] - exact) <= 1e-31 and abs(want.flat[i] - exact) <= 1e-31
            assert abs(float(sum(hi[k].flat[i] * float(theta[0]) ** k for k in range(40))) - exact) > 1e-24 or \
                abs(exact) < 1e-8


@needs_compiler
@pytest.mark.parametrize("widths", [[16, 16, 16], [17, 16, 24]])
def test_sliced_kernel_with_whole_register_blocks_agrees_with_the_blas_program(widths, monkeypatch):
    """Widths 16-24: the exact-slice kernel's 8 x 16 register blocks across the segments of a level, the tail
    and the float path's pairs (whole blocks and the rows and columns beyond), and its one-pass slicing of whole
    vectors, give the Taylor coefficients of the stacked BLAS program (an independent route, NumPy's Ozaki
    slices and BLAS) to 1e-31·‖x‖ at every order, with the same per-order choices (the work counts)."""
    x, tape = _gradient_flow_tape(widths)
    K, s = 30, mpmath.mpf("0.02")
    with mpmath.workdps(60):
        eng = MultiwordEngine(30)
        xm = tuple(eng.load(a) for a in x)
        program = eng.compile(tape, xm[0])
        c, _ = eng.taylor_series(program, xm, K, s)
        assert program.kernel == "compiled-sliced"
        blas = MultiwordEngine(30, compiled=False)
        stacked = blas.compile(tape, xm[0])
        cb, _ = blas.taylor_series(stacked, xm, K, s)
        assert program.work == stacked.work and program.work["blocks"] > program.work["pairs"]
        scale = max(abs(v) for a in x for v in a.flat)
        for k in range(K + 1):
            for i in range(len(x)):
                err = np.max(np.abs((c[i][k][0] - cb[i][k][0]) + (c[i][k][1] - cb[i][k][1])))
                assert err <= 1e-31 * float(scale), (k, i, err)
        # and the first orders against the op-by-op replay at 60 digits (K = 3 keeps it cheap)
        ref = taylor_coefficients(tape, x, 3, MpmathEngine(60), scale=s)
        for k in range(4):
            err = max(abs(u - v) for i in range(len(x)) for u, v in zip(eng.unload(c[i][k]).flat, ref[i][k].flat))
            assert err <= 1e-31 * scale, (k, err)


@needs_compiler
def test_compiled_integration_delivers_the_digits_and_agrees_with_the_blas_program(monkeypatch):
    widths, t_end = [3, 5, 4, 3], 0.3
    ours = _run(widths, 30, t_end, "auto")
    assert ours.info["engine"] == "double-double" and ours.info["kernel"] == "compiled"
    ref = _run(widths, 60, t_end, "flint")
    err = _distance(ours, ref)
    assert err <= 1e-30
    assert err <= ours.error_estimate <= 1e4 * max(err, 1e-60)
    monkeypatch.setattr(ddkernel, "MAX_WIDTH", 0)  # every width takes the compiled exact-slice recurrence
    sliced = _run(widths, 30, t_end, "multiword")
    assert sliced.info["kernel"] == "compiled-sliced"
    assert _distance(sliced, ref) <= 1e-30 and _distance(sliced, ours) <= 1e-30
    assert _distance(sliced, ref) <= sliced.error_estimate
    monkeypatch.setattr(ddkernel, "MAX_SLICED_WIDTH", 0)  # every width falls back to the stacked BLAS program
    blas = _run(widths, 30, t_end, "multiword")
    assert blas.info["kernel"] == "blas"
    assert _distance(blas, ref) <= 1e-30 and _distance(blas, ours) <= 1e-30


def test_without_a_compiler_the_blas_program_runs(monkeypatch, no_compiler):
    net = cs.chain([3, 3, 3])
    inst = random_instance(net, seed=1, scale=1.0)
    rhs = cs.generate_flow(cs.gradient_flow(cs.model(net)), "mpmath")
    run = cs.integrate_taylor(rhs, inst.weights, inst.data(), [0, 0.1], dps=30, engine="multiword")
    assert run.info["kernel"] == "blas"
    with pytest.warns(RuntimeWarning, match="no C compiler"):
        assert make_engine("auto", 30, width=3).name == "double-double"  # the same engine, on its NumPy route
    eng = MultiwordEngine(30, compiled=True)
    from curvsym.integrate.state import to_mp
    from curvsym.integrate.tape import trace_polynomial
    with mpmath.workdps(40):
        tape = trace_polynomial(rhs, rhs.validate(to_mp(inst.weights, 40), to_mp(inst.data(), 40)))
    like = eng.load(to_mp(inst.weights, 40)[0])
    with pytest.raises(EngineError, match="C compiler"):
        eng.compile(tape, like)
    assert isinstance(MultiwordEngine(30, compiled=None).compile(tape, like), CompiledTape)


def test_a_failing_compiler_is_named(tmp_path):
    with pytest.raises(EngineError, match="compiling the double-double kernel failed"):
        ddkernel.build(tmp_path / "k.so", cc="cc -this-flag-does-not-exist")


@needs_compiler
def test_compiled_triple_double_arithmetic_is_the_numpy_one_bit_for_bit_and_exact_to_u3():
    """Same operations in the same order as mwarray._td_matmul_small: identical words (n ≤ 8, batched and
    broadcast); at n = 27 (beyond the NumPy routine's range) the error is ≤ ⌈log₂ n⌉·8u³ Σ|a||b| against 400-bit
    mpmath, and dropping the third word (the nearest wrong claim: double-double is enough) misses that bound."""
    from curvsym.kernels.multiword import array as mwarray
    rng = np.random.default_rng(3)

    def td(*shape):
        with mpmath.workprec(400):
            vals = np.array([mpmath.mpf(v) / 3 for v in rng.standard_normal(math.prod(shape))], dtype=object)
            return mw.from_mpf(vals.reshape(shape), 3)

    for sa, sb in (((3, 5), (5, 4)), ((2, 6, 6), (6, 6)), ((4, 8), (8, 1))):
        a, b = td(*sa), td(*sb)
        got, want = ddkernel.matmul(a, b), mwarray._td_matmul_small(a, b)
        assert all(np.array_equal(x, y) for x, y in zip(got, want))
        at, bt = tuple(np.swapaxes(np.swapaxes(x, -1, -2).copy(), -1, -2) for x in a), b  # a transposed view
        got = ddkernel.matmul(at, bt)
        assert all(np.array_equal(x, y) for x, y in zip(got, want))
    for sa, sb in (((3, 5), (3, 5)), ((2, 4, 4), (4, 4)), ((4, 1), (1, 6)), ((3, 1, 1), (3, 2, 2))):  # entrywise
        a, b = td(*sa), td(*sb)
        for op, ref in (("add", mwarray._td_add), ("mul", mwarray._td_mul)):
            got, want = ddkernel.elementwise(op, a, b), ref(a, b)
            assert all(np.array_equal(x, np.broadcast_to(y, x.shape)) for x, y in zip(got, want))
    a, b = td(6, 27), td(27, 5)
    with mpmath.workprec(400):
        A, B = mw.to_mpf(a), mw.to_mpf(b)
        exact = A @ B
        mag = np.abs(A) @ np.abs(B)
        bound = 5 * 8 * 2.0 ** -159 * max(mag.flat)
        err = max(abs(x - y) for x, y in zip(mw.to_mpf(ddkernel.matmul(a, b)).flat, exact.flat))
        assert err <= bound
        two = ddkernel.matmul(a[:2] + (a[2] * 0,), b[:2] + (b[2] * 0,))
        assert max(abs(x - y) for x, y in zip(mw.to_mpf(two).flat, exact.flat)) > bound


@needs_compiler
def test_compiled_refined_solve_reaches_triple_double_and_refuses_a_singular_system(monkeypatch):
    """K⁻¹B by refinement in C: the residual against 400-bit mpmath is at the triple-double level (the float64
    start alone — the nearest wrong claim, no refinement — is 1e-16 off), it agrees with the NumPy iteration, and a
    singular K gives None (the caller then takes the eigen route)."""
    from curvsym.kernels.multiword import linalg as mwlinalg
    from curvsym.kernels.multiword.array import MWArray
    rng = np.random.default_rng(7)
    with mpmath.workprec(400):
        A = np.array([[mpmath.mpf(v) for v in row] for row in rng.standard_normal((2, 9, 9)).reshape(18, 9)],
                     dtype=object).reshape(2, 9, 9)
        Kmp = np.array([a @ a.T + 9 * np.eye(9, dtype=object) for a in A])  # SPD, well conditioned
        Bmp = np.array([[mpmath.mpf(v) / 7] for v in rng.standard_normal(9)], dtype=object)
        K, B = MWArray(mw.from_mpf(Kmp, 3)), MWArray(mw.from_mpf(Bmp, 3))
        X = mwlinalg.solve_refined(K, B)
        Kx, Bx = mw.to_mpf(K.words), mw.to_mpf(B.words)
        resid = max(abs(v) for k, x in zip(Kx, mw.to_mpf(X.words)) for v in (k @ x - Bx).flat)
        assert resid <= 1e-45
        start = np.linalg.solve(K.hi, np.broadcast_to(B.hi, (2, 9, 1)))
        assert max(abs(v) for k, x in zip(Kx, start) for v in (k @ x - Bx).flat) > 1e-18
    monkeypatch.setattr(ddkernel, "available", lambda: False)
    ref = mwlinalg.solve_refined(K, B)
    assert np.max(np.abs((X - ref).float())) <= 1e-45 * np.max(np.abs(ref.hi))
    monkeypatch.undo()
    Q = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    S = Q @ np.diag([1.0, 1.0, 1e-15]) @ Q.T  # invertible in float64, κ ≈ 1e15: about one digit per pass
    z = np.zeros((3, 3))
    assert ddkernel.td_solve_refined((S, z, z), (np.eye(3), z, z), np.linalg.inv(S), 12, 4 * 2.0 ** -159) is None
    assert mwlinalg.solve_refined(MWArray((S, z, z)), MWArray((np.eye(3), z, z))) is None


@needs_compiler
def test_compiled_operator_matrix_is_the_numpy_one_bit_for_bit(monkeypatch):
    """Σ_e P_e ⊗ Q_e (the matrix of 𝒦) in C equals the broadcasting NumPy route word for word, batch axes
    broadcast; and it is the Kronecker sum (against numpy.kron on the leading words)."""
    from curvsym.kernels.multiword import linalg as mwlinalg
    from curvsym.kernels.multiword.array import MWArray
    rng = np.random.default_rng(11)

    def td(*shape):
        x = rng.standard_normal(shape)
        return MWArray((x, x * 2.0 ** -60, x * 2.0 ** -115))

    Ps, Qs = [td(2, 3, 3), td(3, 3)], [td(4, 4), td(2, 4, 4)]
    got = mwlinalg.operator_matrix(Ps, Qs, 3)
    monkeypatch.setattr(ddkernel, "available", lambda: False)
    want = mwlinalg.operator_matrix(Ps, Qs, 3)
    assert got.shape == want.shape == (2, 12, 12)
    assert all(np.array_equal(x, y) for x, y in zip(got.words, want.words))
    kron = np.kron(Ps[0].hi[1], Qs[0].hi) + np.kron(Ps[1].hi, Qs[1].hi[1])
    assert np.allclose(got.hi[1], kron, rtol=1e-14, atol=1e-14)


@needs_compiler
def test_compiled_double_double_arithmetic_for_gbs():
    """Entrywise dd sums and products are bitwise mwarray._dd_add / _dd_mul (broadcast included); the dd product
    errs by ≤ 8 n u² Σ_k|a_ik||b_kj| against 300-bit mpmath (measured ≈ 1 u²), and the leading words alone — the
    nearest wrong claim, float64 — miss that bound by orders of magnitude."""
    from curvsym.kernels.multiword import array as mwarray
    rng = np.random.default_rng(4)

    def dd(*shape):
        x = rng.standard_normal(shape)
        return x, x * 2.0 ** -60

    for sa, sb in (((3, 3), (3, 3)), ((4, 3, 3), (3, 3)), ((4, 1, 1), (4, 3, 3)), ((), (2, 2))):
        a, b = dd(*sa), dd(*sb)
        for op, ref in (("add", mwarray._dd_add), ("mul", mwarray._dd_mul)):
            got, want = ddkernel.elementwise(op, a, b), ref(*a, *b)
            assert all(np.array_equal(x, np.broadcast_to(y, x.shape)) for x, y in zip(got, want))
    a, b = dd(4, 6, 5), dd(5, 3)
    got = ddkernel.matmul(a, b)
    u2 = 2.0 ** -106
    with mpmath.workprec(300):
        A, B = mw.to_mpf(a), mw.to_mpf(b)
        for q in range(4):
            exact, mag = A[q] @ B, np.abs(A[q]) @ np.abs(B)
            ours = mw.to_mpf((got[0][q], got[1][q]))
            assert all(abs(x - y) <= 8 * 5 * u2 * s for x, y, s in zip(ours.flat, exact.flat, mag.flat))
            assert any(abs(mpmath.mpf(x) - y) > 8 * 5 * u2 * s for x, y, s in zip(got[0][q].flat, exact.flat, mag.flat))


@needs_compiler
@pytest.mark.parametrize("w", [2, 3])
def test_packed_operands_give_the_words_of_word_tuples_bit_for_bit(w):
    """Packed words (one (w, …) array, read through one address) against the same words as a tuple: contiguous,
    a transposed view, a non-contiguous slice (copied once) and every broadcasting form the loops read in place
    give identical words; the MWArray views (index, mT, reshape, −, ×2^k) of packed arrays stay packed and
    agree with their word-by-word versions."""
    from curvsym.kernels.multiword import array as mwarray
    rng = np.random.default_rng(7)

    def packed(*shape):
        scale = np.array([1.0, 2.0 ** -60, 2.0 ** -120][:w]).reshape((w,) + (1,) * len(shape))
        return rng.standard_normal((w,) + shape) * scale

    def same(x, y):
        return all(np.array_equal(a, b) for a, b in zip(x, y))

    for sa, sb in (((3, 4), (4, 2)), ((5, 3, 3), (3, 3)), ((3, 3), (5, 3, 3)), ((5, 3, 4), (5, 4, 2))):
        a, b = packed(*sa), packed(*sb)
        want = ddkernel.matmul(tuple(a), tuple(b))
        assert same(ddkernel.matmul(a, b), want)
        at = np.swapaxes(np.ascontiguousarray(np.swapaxes(a, -1, -2)), -1, -2)  # a transposed view
        assert not at.flags.c_contiguous and same(ddkernel.matmul(at, b), want)
        wide = np.concatenate([a, a], axis=-2)[..., :sa[-2], :]  # a non-contiguous slice
        assert same(ddkernel.matmul(wide, b), want)
    for sa, sb in (((3, 3), (3, 3)), ((1, 1), (3, 3)), ((3, 3), (4, 3, 3)), ((4, 1, 1), (4, 3, 3)),
                   ((2, 4, 1, 1), (1, 4, 3, 3)), ((4, 1), (4, 7)), ((2, 1, 2), (2, 5, 2, 2, 2))):
        a, b = packed(*sa), packed(*sb)
        for op in ("add", "mul"):
            want = ddkernel.elementwise(op, tuple(a), tuple(b))
            assert same(ddkernel.elementwise(op, a, b), want)
            assert same(ddkernel.elementwise(op, a[..., ::-1], b), ddkernel.elementwise(op, tuple(a[..., ::-1]), tuple(b)))
    x, y = mwarray.MWArray(packed=packed(4, 3, 3)), mwarray.MWArray(packed=packed(3, 3))
    xt, yt = mwarray.MWArray(x.words), mwarray.MWArray(y.words)
    for got, want in ((x[1:3] @ y.mT, xt[1:3] @ yt.mT), (-(x * 0.5) + y, -(xt * 0.5) + yt),
                      (x.reshape(2, 2, 3, 3)[1, 0] * y, xt.reshape(2, 2, 3, 3)[1, 0] * yt)):
        assert got.packed is not None and same(got.words, want.words)
    parts = (x, y, mwarray.MWArray(packed=packed(2, 5)))
    back = mwarray.split(mwarray.join(parts), [p.shape for p in parts])
    assert all(same(p.words, q.words) and q.packed.flags.c_contiguous for p, q in zip(parts, back))


# --------------------------------------------------------------------------- the kernel as a build artefact


def _c_signatures(text):
    """{name: (return type, parameter types)} of every exported (non-static) function in C source ``text``."""
    import re
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    out = {}
    for m in re.finditer(r"^([A-Za-z_][\w ]*?[\w*])\s*\b(curvsym_\w+)\s*\(([^)]*)\)\s*\{", text, flags=re.M):
        ret, name, params = m.groups()
        types = []
        for par in params.split(","):
            par = " ".join(par.split())
            if par in ("", "void"):
                continue
            ptype = re.sub(r"\s*\b\w+$", "", par)  # drop the parameter's name
            types.append(re.sub(r"\s*\*", " *", ptype).strip())
        out[name] = (re.sub(r"\s*\*", " *", " ".join(ret.split())), tuple(types))
    return out


def test_the_ctypes_prototypes_are_the_c_ones():
    """One table of prototypes (ddkernel.PROTOTYPES), checked against the C signatures: drift would be a crash."""
    c = _c_signatures(ddkernel.SOURCE.read_text())
    assert len(c) >= 11 and c == ddkernel.PROTOTYPES
    assert _c_signatures("int curvsym_f(int n, const double *a, ptrdiff_t *o)\n{") == {
        "curvsym_f": ("int", ("int", "const double *", "ptrdiff_t *"))}  # the parser itself
    for res, args in ddkernel.PROTOTYPES.values():  # every C type has its ctypes counterpart
        [ddkernel._ctype(t) for t in (res,) + args]


@pytest.mark.parametrize("value, off", [("1", True), ("true", True), ("YES", True), ("0", False), ("", False),
                                        ("no", False), ("false", False)])
def test_curvsym_no_compile_switches_off_only_for_yes(monkeypatch, fresh_kernel, value, off):
    monkeypatch.setenv("CURVSYM_NO_COMPILE", value)
    assert ddkernel.switched_off() is off
    if off:
        assert not ddkernel.available() and ddkernel.status().kind == "numpy"
        assert "CURVSYM_NO_COMPILE" in ddkernel.status().reason


def test_a_missing_compiler_or_source_never_raises_and_says_why(monkeypatch, no_compiler):
    assert ddkernel.library() is None and not ddkernel.available()
    st = ddkernel.status()
    assert st.kind == "numpy" and st.path is None and "no C compiler" in st.reason
    ddkernel._load.cache_clear()
    monkeypatch.setattr(ddkernel.shutil, "which", lambda exe: "/usr/bin/" + exe)
    monkeypatch.setattr(ddkernel, "SOURCE", no_compiler / "missing" / "ddtaylor.c")
    st = ddkernel.status()
    assert st.kind == "numpy" and "ddtaylor.c is not installed" in st.reason
    with pytest.raises(EngineError, match="is missing"):  # the explicit build names it
        ddkernel.build(no_compiler / "k.so", cc="cc")


def test_a_missing_sysconfig_compiler_falls_back_to_cc(monkeypatch):
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setattr(ddkernel.sysconfig, "get_config_var", lambda name: "x86_64-conda-linux-gnu-cc -pthread")
    monkeypatch.setattr(ddkernel.shutil, "which", lambda exe: "/usr/bin/cc" if exe == "cc" else None)
    assert ddkernel._compiler() == "cc"
    monkeypatch.setenv("CC", "clang -O1")  # $CC first, where it exists
    monkeypatch.setattr(ddkernel.shutil, "which", lambda exe: "/usr/bin/" + exe)
    assert ddkernel._compiler() == "clang -O1"
    monkeypatch.setattr(ddkernel.shutil, "which", lambda exe: None)
    assert ddkernel._compiler() is None


@needs_compiler
def test_the_cache_key_holds_the_cpu_architecture(monkeypatch, fresh_kernel):
    monkeypatch.setattr(ddkernel, "_extension", lambda: (None, "no install-time build"))
    first = ddkernel.status()
    assert first.kind == "cache" and first.path.parent == fresh_kernel / "cache"
    assert platform.machine() in first.path.name
    ddkernel._load.cache_clear()
    monkeypatch.setattr(ddkernel.platform, "machine", lambda: "aarch64")  # a home folder shared with an ARM host
    monkeypatch.setattr(ddkernel, "build", lambda target, cc=None: target)  # (no cross compiler here)
    other = ddkernel.status()
    assert other.kind == "numpy" and "does not load" in other.reason  # its own file, never the x86 one
    assert "aarch64" in other.reason and first.path.name not in other.reason


@needs_compiler
def test_a_stale_install_time_build_is_refused(monkeypatch, fresh_kernel):
    """An extension built from another ddtaylor.c is never loaded (its prototypes may differ): the cached build runs."""
    lib = ddkernel.build(fresh_kernel / "ext" / "_ddtaylor.so")  # its source hash: empty (a first-use build)
    spec = type("Spec", (), {"origin": str(lib)})()
    monkeypatch.setattr(ddkernel.importlib.util, "find_spec", lambda name: spec)
    so, why = ddkernel._extension()
    assert so is None and "stale" in why
    assert ddkernel.status().kind == "cache" and "stale" in ddkernel.status().reason


@needs_compiler
def test_an_install_time_build_with_fma_is_refused_on_a_cpu_without(monkeypatch, fresh_kernel):
    lib = ddkernel.build(fresh_kernel / "ext" / "_ddtaylor.so")
    spec = type("Spec", (), {"origin": str(lib)})()
    monkeypatch.setattr(ddkernel.importlib.util, "find_spec", lambda name: spec)
    monkeypatch.setattr(ddkernel, "_source_hash", lambda: "")  # (the first-use build carries no hash)
    assert ddkernel._extension()[0] is not None  # this CPU: accepted
    if not ddkernel._open(lib).curvsym_build_fma():
        pytest.skip("this build uses no fused multiply-add")
    monkeypatch.setattr(ddkernel, "cpu_fma", lambda: False)
    so, why = ddkernel._extension()
    assert so is None and "fused multiply-add" in why


def test_auto_picks_the_same_engine_with_or_without_a_compiler(monkeypatch, fresh_kernel):
    """Double-double at 30 digits and width 3 either way (compiled recurrence or NumPy route), one warning without C;
    the two final states agree to the digits asked for."""
    import warnings
    with_c = _run([3, 3, 3], 30, 0.2, "auto") if ddkernel.available() else None
    ddkernel._load.cache_clear()
    monkeypatch.setattr(ddkernel.shutil, "which", lambda exe: None)
    monkeypatch.setattr(ddkernel, "_extension", lambda: (None, "no install-time build"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        without = _run([3, 3, 3], 30, 0.2, "auto")
        make_engine("auto", 30, width=3)  # a second choice: no second warning
    ours = [w for w in caught if "compiled double-double kernel" in str(w.message)]
    assert len(ours) == 1 and "no C compiler" in str(ours[0].message) and ours[0].category is RuntimeWarning
    assert without.info["engine"] == "double-double" and without.info["kernel"] == "blas"
    if with_c is not None:
        assert with_c.info["engine"] == "double-double" and with_c.info["kernel"] == "compiled"
        assert _distance(with_c, without) <= 1e-30


def test_recurrence_factors_are_double_double_quotients():
    """The factors s/(k + 1) of the compiled recurrence (double-double division by an integer, vectorised over k)
    are within 2^{−104} of the exact quotients (at 80 digits), for scales that need more than two words."""
    from curvsym.kernels.multiword.compiled import KernelTape
    rng = np.random.default_rng(1)
    with mpmath.workdps(40):
        scales = [mpmath.mpf(1) / 3, mpmath.mpf(2) ** -30 * mpmath.pi, mpmath.mpf(7)]
        scales += [mpmath.mpf(float(a)) * (1 + mpmath.mpf(float(b)) * 2 ** -60) for a, b in rng.random((10, 2))]
    for s in scales:
        holder = type("Holder", (), {"_last_factors": (None, None, None)})()
        hi, lo = KernelTape._factors(holder, s, 39)
        with mpmath.workdps(80):
            for k, (h, l_) in enumerate(zip(hi, lo)):
                exact = s / (k + 1)
                assert abs(mpmath.mpf(h) + mpmath.mpf(l_) - exact) <= mpmath.mpf(2) ** -104 * exact
                assert abs(l_) <= 2.0 ** -52 * abs(h)  # a normalised pair
