r"""Compiled multi-word kernels: the double-double Taylor recurrence, and the small-matrix GBS arithmetic, in C.

At small and middle widths (d ≲ 64) the NumPy multi-word engine spends its time in Python and
NumPy call overhead (tens of calls per product node and order), and a compiled integrator
(heyoka) is faster.  ``ddtaylor.c`` runs the whole recurrence of one step — every order,
every node — in C, in one of two ways:

* widths ≤ :data:`MAX_WIDTH` (``curvsym_dd_taylor``): term by term in the double-double arithmetic of
  :mod:`curvsym.kernels.multiword.words` (TwoSum, Dekker's TwoProd, the Joldes–Muller–Popescu sum and product),

      [a b]_k = Σ_{j=0}^{k} Σ_t a_j[r, t] b_{k−j}[t, c],    each term and partial sum in double-double,

  so a Cauchy sum of L = (k + 1) n terms errs by at most L·(3 + 5)u² Σ|terms| (u = 2⁻⁵³); with the
  time-scaled coefficients of :mod:`curvsym.integrate.multiword_taylor` that is of the size of the NumPy
  engine's per-order target 4·2^{−106} n S for the widths it serves (eight entries of a row side by side);
* widths up to :data:`MAX_SLICED_WIDTH` (``curvsym_dd_taylor_sliced``): the Cauchy products of the BLAS
  program (``CompiledTape._dd_cauchy`` / ``_float_cauchy``) — per order the float path when
  S_k(N + 2) ≤ 4·2^{−53} S, else e exact Ozaki levels of β bits (2β + 1 + log₂(eN) ≤ 52) on the balanced
  operands' row / column grids plus a float64 tail, summed by Sum2 — the same per-order choices and the
  same bound τ = 4·2^{−106} n S; the levels are exact, so they are the BLAS program's bits, and only the
  tail's rounding order differs.  The float64 products run in register blocks of 4 × 8 (8 × 16 with AVX-512,
  chosen at run time; the same bits), the one function compiled with fused multiply-adds: the levels are
  exact either way and the tail's bound does not depend on it.  With ``rough`` every product takes the float
  path (≈ 16 digits), which the stepper uses to choose its first scale.  Measured (loaded 2-core machine,
  medians, side by side): a 30-digit series at N = 4, d = 16 in 2–3× the time of the float64 floor
  (one BLAS product per order and node), against 14× for the BLAS program; at d = 64 2.2–2.5×, against 3.1–3.3×.

The same file holds the kernels that multi-word GBS (:mod:`curvsym.kernels.multiword.array`,
:mod:`curvsym.kernels.multiword.linalg`) calls on small matrices, where NumPy call overhead
dominates: double- and triple-double entrywise sums and products and triple-double
products (the NumPy routines' operations in their order, so the words agree bit for
bit), double-double products (error ≤ 8nu² Σ|a||b|), the triple-double refined solve
and the operator matrix Σ_e P_e ⊗ Q_e.

Where the library comes from (:func:`status` says which, and why; ``curvsym info`` prints it):

1. the extension ``curvsym.kernels.multiword._ddtaylor``, built from ``ddtaylor.c`` at install time by
   ``setup.py`` (an optional extension: an install without a compiler still succeeds), refused if it was
   built from another version of the file (a stale build: the SHA-256 is compiled in);
2. else a first-use build with the platform's C compiler (the first of ``$CC``, sysconfig's ``CC`` and
   ``cc`` on the PATH) in a per-user cache (``CURVSYM_CACHE``, default ``~/.cache/curvsym``), keyed by the
   source's hash, the compiler, the platform, the CPU architecture and the flags;
3. else none: :func:`available` is False and the NumPy routines run; a missing compiler or source never
   raises.  ``CURVSYM_NO_COMPILE=1`` (or true/yes/on) chooses this; ``0``, ``no`` or empty do not.

The ctypes prototypes come from one table, :data:`PROTOTYPES`, which a test checks against the C signatures.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import math
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections import abc
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import mpmath
import numpy as np

from ...errors import EngineError
from . import words as mw

SOURCE = Path(__file__).with_name("ddtaylor.c")
EXTENSION = "curvsym.kernels.multiword._ddtaylor"
"""The module name of the build made at install time (``setup.py``: an optional setuptools extension)."""
KINDS = {"var": 0, "const": 1, "add": 2, "sub": 3, "neg": 4, "scale": 5, "T": 6, "matmul": 7}
MAX_WIDTH = 8  # the term-by-term double-double recurrence up to this width (N = 3, d = 3: ahead of heyoka)
MAX_SLICED_WIDTH = 64  # above MAX_WIDTH and up to this width the recurrence with exact-slice products
#                        (curvsym_dd_taylor_sliced); wider: the BLAS program, whose products outrun C loops
FLAGS = ("-O2", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC")
TRUE_WORDS = ("1", "true", "yes", "on")
"""Values of ``CURVSYM_NO_COMPILE`` that switch the compiled kernels off (any case); ``0``, ``no``, empty: on."""

PROTOTYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    # name: (C return type, C parameter types), exactly as in ddtaylor.c (tests/integrate/test_ddkernel.py parses
    # the C signatures and compares); the ctypes prototypes are made from this table, nowhere else.
    "curvsym_dd_taylor": ("int", ("int", "const int *", "const int *", "const int *", "const int *", "const int *",
                                  "const int *", "const ptrdiff_t *", "double *", "double *", "const double *",
                                  "const double *", "int", "const int *", "const int *", "int", "const double *",
                                  "const double *")),
    "curvsym_dd_taylor_sliced": ("int", ("int", "const int *", "const int *", "const int *", "const int *",
                                         "const int *", "const int *", "const ptrdiff_t *", "double *", "double *",
                                         "const double *", "const double *", "int", "const int *", "const int *",
                                         "int", "const double *", "const double *", "double *", "int")),
    "curvsym_dd_horner": ("void", ("int", "ptrdiff_t", "const double *", "const double *", "double", "double",
                                   "double *", "double *")),
    "curvsym_td_matmul": ("int", ("ptrdiff_t",) + ("int",) * 7 + ("const double *",) * 6 + ("double *",) * 3),
    "curvsym_td_elementwise": ("void", ("int",) + ("ptrdiff_t",) * 5 + ("const double *",) * 6
                               + ("double *",) * 3),
    "curvsym_td_solve_refined": ("int", ("ptrdiff_t", "int", "int") + ("const double *",) * 7 + ("double *",) * 3
                                 + ("int", "double")),
    "curvsym_td_kron_sum": ("void", ("ptrdiff_t", "int", "int", "int", "const double *", "const double *",
                                     "double *")),
    "curvsym_dd_elementwise": ("void", ("int",) + ("ptrdiff_t",) * 5 + ("const double *",) * 4
                               + ("double *",) * 2),
    "curvsym_dd_matmul": ("int", ("ptrdiff_t",) + ("int",) * 7 + ("const double *",) * 4 + ("double *",) * 2),
    "curvsym_dd_slice_rows": ("void", ("int", "int", "int", "ptrdiff_t", "const double *", "const double *",
                                       "ptrdiff_t", "const double *", "const int *", "int", "int", "double *")),
    "curvsym_dd_slice_cols": ("void", ("int", "int", "int", "const double *", "const double *", "const double *",
                                       "const int *", "int", "int", "double *", "double *")),
    "curvsym_source_hash": ("const char *", ()),
    "curvsym_build_fma": ("int", ()),
}


def _ctype(c: str) -> Any:
    """The ctypes type of C type ``c`` (every pointer: ``c_void_p``, which takes addresses and ctypes pointers)."""
    if c.endswith("*"):
        return ctypes.c_char_p if c == "const char *" else ctypes.c_void_p
    return {"int": ctypes.c_int, "ptrdiff_t": ctypes.c_ssize_t, "double": ctypes.c_double, "void": None}[c]


@cache
def cpu_fma() -> bool | None:
    """Whether this CPU has fused multiply-add: read from /proc/cpuinfo on x86-64 Linux, True on 64-bit ARM
    (part of the architecture), None where it is not known."""
    machine = platform.machine().lower()
    if machine in ("aarch64", "arm64"):
        return True
    if sys.platform.startswith("linux") and machine in ("x86_64", "amd64"):
        try:
            cpu = Path("/proc/cpuinfo").read_text(errors="ignore")
        except OSError:
            return None
        line = next((x for x in cpu.splitlines() if x.startswith("flags")), "")
        return "fma" in line.partition(":")[2].split()
    return None


@cache
def flags() -> tuple:
    """The compiler flags: :data:`FLAGS`, plus ``-mfma`` on an x86-64 Linux CPU that has fused multiply-add, so
    that TwoProd is one ``fma`` (a·b − fl(a·b) exactly, the same bits as Dekker's split; measured 1.3–1.8× faster
    triple-double products).  The flags are part of the cache key, so a CPU without FMA never loads that build."""
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    return FLAGS + (("-mfma",) if x86 and cpu_fma() else ())


def cache_dir() -> Path:
    """Where compiled kernels live: $CURVSYM_CACHE, else ~/.cache/curvsym."""
    return Path(os.environ.get("CURVSYM_CACHE") or Path.home() / ".cache" / "curvsym")


def switched_off() -> bool:
    """Whether ``CURVSYM_NO_COMPILE`` switches the compiled kernels off (1, true, yes, on; not 0, no or empty)."""
    return os.environ.get("CURVSYM_NO_COMPILE", "").strip().lower() in TRUE_WORDS


def _compiler() -> str | None:
    """The C compiler for the first-use build: the first of $CC, sysconfig's CC and ``cc`` whose executable is
    on the PATH (sysconfig names the compiler Python was built with, often absent here); None if none is."""
    for cc in (os.environ.get("CC"), sysconfig.get_config_var("CC"), "cc"):
        words = (cc or "").split()
        if words and shutil.which(words[0]):
            return cc
    return None


def build(target: Path, cc: str | None = None) -> Path:
    """Compile ``ddtaylor.c`` into the shared library ``target`` (atomically: concurrent first uses see a whole
    file or none).

    Raises:
        EngineError: no C compiler, no source, or the compiler failed (its message is included).
    """
    cc = cc or _compiler()
    if cc is None:
        raise EngineError("no C compiler found for the compiled double-double kernel (install cc, or set $CC)")
    if not SOURCE.is_file():
        raise EngineError(f"the kernel source {SOURCE} is missing (an install without package data)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        out = Path(tmp) / target.name
        cmd = cc.split() + list(flags()) + [str(SOURCE), "-o", str(out)] + ([] if sys.platform == "win32" else ["-lm"])
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        except subprocess.CalledProcessError as exc:
            raise EngineError(f"compiling the double-double kernel failed: {exc.stderr.decode()[-400:]}") from None
        except (OSError, subprocess.SubprocessError) as exc:
            raise EngineError(f"compiling the double-double kernel failed: {exc}") from None
        os.replace(out, target)
    return target


class Status(NamedTuple):
    """Which compiled kernel runs, and why: ``kind`` is ``"extension"`` (built at install time), ``"cache"``
    (built on first use into :func:`cache_dir`) or ``"numpy"`` (none: the NumPy routines run); ``path`` the
    library loaded (None for ``"numpy"``); ``reason`` one line saying why this one (and why not the others)."""
    kind: str
    path: Path | None
    reason: str


def _source_hash() -> str | None:
    """The first 16 hex digits of the SHA-256 of ``ddtaylor.c``; None when the source is not installed."""
    try:
        return hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def _open(path: Path) -> Any:
    """The library at ``path`` with every routine of :data:`PROTOTYPES` typed (ctypes); None if it does not load
    or lacks a routine."""
    try:
        so = ctypes.CDLL(str(path))
        for name, (res, args) in PROTOTYPES.items():
            f = getattr(so, name)
            f.restype = _ctype(res)
            f.argtypes = [_ctype(a) for a in args]
    except (OSError, AttributeError):
        return None
    return so


def _extension() -> tuple[Any, str]:
    """(library, note) of the install-time build; (None, why not) when there is none usable.  A build from
    another version of ``ddtaylor.c`` (a stale in-place build) is refused: its prototypes may differ."""
    try:
        spec = importlib.util.find_spec(EXTENSION)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        return None, "no install-time build (installed without a C compiler, or run from a source tree)"
    so = _open(Path(spec.origin))
    if so is None:
        return None, f"the install-time build {spec.origin} does not load"
    built, here = so.curvsym_source_hash().decode(), _source_hash()
    if here is not None and built != here:
        return None, f"the install-time build {spec.origin} is of another ddtaylor.c (stale; reinstall)"
    if so.curvsym_build_fma() and cpu_fma() is False:  # (its routines would stop on an illegal instruction)
        return None, f"the install-time build {spec.origin} needs fused multiply-add, which this CPU lacks"
    return so, spec.origin


def _cached_build() -> tuple[Any, str]:
    """(library, path) of the first-use build in :func:`cache_dir` (compiled now if missing), keyed by the
    source, compiler, platform, CPU architecture and flags; (None, why not) when it cannot be had."""
    cc = _compiler()
    if cc is None:
        return None, "no C compiler for the first-use build (none of $CC, sysconfig's CC, cc is on the PATH)"
    src = _source_hash()
    if src is None:
        return None, f"the kernel source {SOURCE.name} is not installed"
    key = " ".join((src, cc, sys.platform, platform.machine()) + flags()).encode()
    tag = hashlib.sha256(key).hexdigest()[:16]
    lib = cache_dir() / f"ddtaylor-{platform.machine() or 'cpu'}-{tag}{'.dll' if sys.platform == 'win32' else '.so'}"
    if not lib.exists():
        try:
            build(lib, cc)
        except (EngineError, OSError) as exc:
            return None, str(exc).splitlines()[0][:200]
    so = _open(lib)
    return (so, str(lib)) if so is not None else (None, f"the cached build {lib} does not load")


@cache
def _load() -> tuple[Any, Status]:
    """(library, status): the install-time extension, else the cached first-use build, else None; never raises."""
    if switched_off():
        return None, Status("numpy", None, f"CURVSYM_NO_COMPILE={os.environ['CURVSYM_NO_COMPILE']} switches the "
                                           "compiled kernels off")
    try:
        so, note = _extension()
        if so is not None:
            return so, Status("extension", Path(note), "built at install time")
        so, where = _cached_build()
        if so is not None:
            return so, Status("cache", Path(where), f"built on first use; {note}")
        return None, Status("numpy", None, f"{where}; {note}")
    except Exception as exc:  # noqa: BLE001 - a broken toolchain must never stop an integration
        return None, Status("numpy", None, f"the compiled kernels failed to load: {exc!r}"[:300])


def library() -> Any:
    """The compiled library (ctypes), or None (then the NumPy routines run; :func:`status` says why)."""
    return _load()[0]


def status() -> Status:
    """Which compiled kernel is active and why (see :class:`Status`); loads it, compiling on first use if needed."""
    return _load()[1]


TD_MAX_INNER = 64  # the C triple-double routines' buffer of one dot product's terms
DD_MAX_INNER = 16  # compiled double-double products up to this inner dimension (the sliced BLAS product above)
_F64 = np.dtype(np.float64)
_ELEMENTWISE = {2: "curvsym_dd_elementwise", 3: "curvsym_td_elementwise"}
_MATMUL = {2: "curvsym_dd_matmul", 3: "curvsym_td_matmul"}


def elementwise(op: str, a: Any, b: Any) -> np.ndarray:
    """Double- or triple-double (2 or 3 words) a + b (``op="add"``) or a·b (``"mul"``) entrywise, NumPy
    broadcasting, by the compiled loop: bitwise :func:`curvsym.kernels.multiword.array._dd_add` / ``_dd_mul`` /
    ``_td_add`` / ``_td_mul``.  An operand whose shape is a trailing part of the result's (a scalar, one
    matrix against a stack) or its leading axes followed by ones is read in place (:func:`_broadcast_operand`).

    ``a`` and ``b`` are sequences of w word arrays or *packed* words, one array of shape (w, …) whose entry i
    is word i (what this function returns); a C-contiguous packed operand is read through one address.
    """
    w = len(a)
    if type(a) is np.ndarray and type(b) is np.ndarray and a.shape == b.shape and _ready(a) and _ready(b):
        C = np.empty(a.shape)  # both packed and contiguous: the common case, nothing to check or copy
        n = C[0].size
        a0, b0, c0 = _address(a), _address(b), _address(C)
        _routine(_ELEMENTWISE[w])(1 if op == "mul" else 0, n, n, n, 1, 1,
                                            *(x + 8 * n * i for x in (a0, b0, c0) for i in range(w)))
        return C
    sa, sb = _word_shape(a), _word_shape(b)
    shape = sa if sa == sb else np.broadcast_shapes(sa, sb)
    A = _broadcast_operand(a, shape)
    B = _broadcast_operand(b, shape)
    C = np.empty((w,) + shape)
    n = math.prod(shape)
    c0 = _address(C)
    _routine(_ELEMENTWISE[w])(1 if op == "mul" else 0, n, A[1], B[1], A[2], B[2],
                                        *_word_addresses(A, w), *_word_addresses(B, w),
                                        *(c0 + 8 * n * i for i in range(w)))
    return C


def matmul(a: Any, b: Any) -> np.ndarray:
    """Double- or triple-double A B (2 or 3 words; leading batch axes broadcast, transposed views read in place)
    by the compiled loop, returned packed (shape (w, …, m, p)).  Triple-double: bitwise
    :func:`curvsym.kernels.multiword.array._td_matmul_small` (the same operations in the same order), inner dimension
    ≤ 64.  Double-double: each a_ik b_kj by the DWTimesDW product, summed by AccurateDWPlusDW,
    |error| ≤ 8 n u² Σ_k|a_ik||b_kj|.  Operands are word sequences or packed words (see :func:`elementwise`).

    Raises:
        EngineError: a triple-double inner dimension above 64 (callers route those to the sliced product).
    """
    if type(a) is np.ndarray and type(b) is np.ndarray:
        C = _matmul_packed(a, b)
        if C is not None:
            return C
    w = len(a)
    sa, sb = _word_shape(a), _word_shape(b)
    m, n, p = sa[-2], sa[-1], sb[-1]
    batch = sa[:-2] if sa[:-2] == sb[:-2] else np.broadcast_shapes(sa[:-2], sb[:-2])
    A, ta = _operand(a, batch)
    B, tb = _operand(b, batch)
    C = np.empty((w,) + batch + (m, p))
    c0 = _address(C)
    size = math.prod(batch) * m * p
    status = _routine(_MATMUL[w])(math.prod(batch), m, n, p, int(len(A[2]) > 2), int(len(B[2]) > 2),
                                            ta, tb, *_word_addresses(A, w), *_word_addresses(B, w),
                                            *(c0 + 8 * size * i for i in range(w)))
    if status != 0:  # pragma: no cover - callers keep n ≤ TD_MAX_INNER
        raise EngineError(f"inner dimension {n} exceeds the compiled triple-double product's {TD_MAX_INNER}")
    return C


def _matmul_packed(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """:func:`matmul` of two packed operands, each contiguous or the transpose of a contiguous array, with equal
    batch axes or one of them a single matrix (the generated code's every product), in one C call with no
    copies; None for anything else (the general route then takes it)."""
    sa, sb = a.shape, b.shape
    w, m, n, p = sa[0], sa[-2], sa[-1], sb[-1]
    batch = sa[1:-2] if len(sa) > 3 else sb[1:-2]
    if (len(sa) > 3 and len(sb) > 3 and sa[1:-2] != sb[1:-2]) or sb[-2] != n:
        return None
    a0, ta = _packed_matrix(a)
    b0, tb = _packed_matrix(b)
    if a0 is None or b0 is None:
        return None
    q = math.prod(batch)
    C = np.empty((w,) + batch + (m, p))
    c0 = _address(C)
    sza, szb, szc = a.size // w * 8, b.size // w * 8, q * m * p * 8
    if w == 2:
        words = (a0, a0 + sza, b0, b0 + szb, c0, c0 + szc)
    else:
        words = (a0, a0 + sza, a0 + 2 * sza, b0, b0 + szb, b0 + 2 * szb, c0, c0 + szc, c0 + 2 * szc)
    if _routine(_MATMUL[w])(q, m, n, p, len(sa) > 3, len(sb) > 3, ta, tb, *words) != 0:  # pragma: no cover
        return None  # callers keep n ≤ 64
    return C


def _packed_matrix(a: np.ndarray) -> tuple:
    """(address, transposed flag) of packed words that are C-contiguous or the transpose of a C-contiguous
    array; (None, 0) otherwise."""
    if a.dtype is not _F64:
        return None, 0
    if a.flags.c_contiguous:
        return _address(a), 0
    t = a.swapaxes(-1, -2)
    if t.flags.c_contiguous:
        return _address(t), 1
    return None, 0


@cache
def _routine(name: str) -> Any:
    """The compiled routine ``name`` (looked up in the library once)."""
    return getattr(library(), name)


def slice_rows(a: np.ndarray, a1: np.ndarray | None, fa: np.ndarray, Er: np.ndarray, beta: int, e: int,
               L: np.ndarray) -> None:
    """The row side of a double-double Cauchy sum's Ozaki slices, in one pass (mwtaylor's ``_dd_cauchy``):
    a (m, J, n) — a view whose (J, n) part is contiguous — balanced by the powers of two fa (J), cut into e
    slices s_i = fl(fl(v + σ_i) − σ_i), σ_i = 1.5·2^{Er_r − (i+1)β + 52}, on each row's grid, written to
    L[:, i] of the contiguous (m, e + 1, J, n) array L, the remainder (plus fa·a1 when given) to L[:, e]."""
    m, J, n = a.shape
    _routine("curvsym_dd_slice_rows")(m, J, n, a.strides[0] // 8, _view_address(a),
                                      None if a1 is None else _view_address(a1), 0 if a1 is None else a1.strides[0] // 8,
                                      _address(fa), _address(Er), beta, e, _address(L))


def slice_cols(b: np.ndarray, b1: np.ndarray | None, fb: np.ndarray, Fc: np.ndarray, beta: int, e: int,
               R: np.ndarray, Bs: np.ndarray) -> None:
    """The column side: b (J, n, p) contiguous, balanced by fb (J); R[e] = the balanced b, slice i on each
    column's grid (Fc) to Bs[e − 1 − i] ((e, J, n, p)), the remainder after it (plus fb·b1 when given) to
    R[e − 1 − i] ((e + 1, J, n, p))."""
    J, n, p = b.shape
    _routine("curvsym_dd_slice_cols")(J, n, p, _view_address(b), None if b1 is None else _view_address(b1),
                                      _address(fb), _address(Fc), beta, e, _address(R), _address(Bs))


def _view_address(x: np.ndarray) -> int:
    """The address of a view's first entry (any strides)."""
    return x.__array_interface__["data"][0]


def _word_shape(a: Any) -> tuple:
    """The shape of one word of word sequence or packed words ``a``."""
    return a.shape[1:] if type(a) is np.ndarray else a[0].shape


def _word_addresses(op: tuple, w: int) -> Any:
    """The w word addresses of an operand prepared by :func:`_broadcast_operand` / :func:`_operand`."""
    words, _, _, stride = op
    if stride:
        base = _address(words)
        return (base + stride * i for i in range(w))
    return map(_address, words)


def _ready(x: Any) -> bool:
    """A C-contiguous float64 NumPy array (usable by the C routines as it is)."""
    return type(x) is np.ndarray and x.flags.c_contiguous and x.dtype is _F64


def _broadcast_operand(words: Any, shape: tuple) -> tuple:
    """(words, size, d, stride) as the C loops read them: result entry i reads entry (i / d) % size of each
    word — in place when the words' shape is a trailing part of ``shape`` (d = 1: they repeat) or its leading
    r axes followed by ones (d = the size of the trailing axes: one value per leading index); otherwise
    broadcast copies (d = 1).  Packed words come back contiguous with their word stride in bytes, word
    sequences as a list of contiguous words and stride 0 (:func:`_word_addresses` reads either; the arrays
    are returned, not only their addresses, so that a copy lives until the C call)."""
    s = _word_shape(words)
    d = 1
    if s != shape and not (len(s) <= len(shape) and shape[len(shape) - len(s):] == s):
        r = len(s)
        while r > 0 and s[r - 1] == 1:
            r -= 1
        if len(s) == len(shape) and s[:r] == shape[:r]:
            d = math.prod(shape[r:])
        elif type(words) is np.ndarray:  # the word axis stays in front: pad the word shape with leading ones
            words = np.broadcast_to(words.reshape(words.shape[:1] + (1,) * (len(shape) - len(s)) + s),
                                    words.shape[:1] + shape)
            s = shape
        else:
            words = [np.broadcast_to(x, shape) for x in words]
            s = shape
    size = math.prod(s)
    if type(words) is np.ndarray:
        if not _ready(words):
            words = np.ascontiguousarray(words, dtype=np.float64)  # one copy of all words
        return words, size, d, 8 * size
    return [_contiguous(x, x.shape) for x in words], size, d, 0


def td_solve_refined(K: Sequence[np.ndarray], B: Sequence[np.ndarray], Kinv: np.ndarray, max_iter: int,
                     tol: float) -> np.ndarray | None:
    """K⁻¹B in triple-double (packed words, shape (3, …)) by iterative refinement from the float64 inverse
    ``Kinv``, in C (see :func:`curvsym.kernels.multiword.linalg.solve_refined`, whose iteration it is, member by
    member of the batch).  None when a member does not converge or a correction is not finite; NotImplemented for sizes the C routine
    does not take (n > 64)."""
    n, r = K[0].shape[-1], B[0].shape[-1]
    batch = np.broadcast_shapes(K[0].shape[:-2], B[0].shape[:-2])
    Kc = [_contiguous(x, batch + (n, n)) for x in K]
    Bc = [_contiguous(x, batch + (n, r)) for x in B]
    Ki = _contiguous(Kinv, batch + (n, n))
    X = np.empty((3,) + batch + (n, r))
    size = X[0].size * 8
    x0 = _address(X)
    status = library().curvsym_td_solve_refined(math.prod(batch), n, r,
                                                *(_address(x) for x in Kc + Bc + [Ki]),
                                                x0, x0 + size, x0 + 2 * size, max_iter, tol)
    if status == 3:
        return NotImplemented
    return X if status == 0 else None


def td_kron_sum(Ps: Sequence[Sequence[np.ndarray]], Qs: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
    """Σ_e P_e ⊗ Q_e (triple-double words, returned packed; leading batch axes broadcast) in C: bitwise the NumPy route of
    :func:`curvsym.kernels.multiword.linalg.operator_matrix` (td_mul per entry, td_add over e left to right)."""
    m, k = Ps[0][0].shape[-1], Qs[0][0].shape[-1]
    batch = np.broadcast_shapes(*(p[0].shape[:-2] for p in Ps), *(q[0].shape[:-2] for q in Qs))
    P = np.empty((3, len(Ps)) + batch + (m, m))
    Q = np.empty((3, len(Qs)) + batch + (k, k))
    for e, (p, q) in enumerate(zip(Ps, Qs)):
        for w in range(3):
            P[w, e] = p[w]  # broadcast over the batch axes by assignment
            Q[w, e] = q[w]
    K = np.empty((3,) + batch + (m * k, m * k))
    library().curvsym_td_kron_sum(math.prod(batch), len(Ps), m, k, _address(P), _address(Q), _address(K))
    return K


def _address(x: np.ndarray) -> int:
    """The data address of a contiguous array (through the buffer protocol for writable arrays: 0.6 µs against
    2 µs for ``__array_interface__``)."""
    if x.flags.writeable and x.size:
        return ctypes.addressof(ctypes.c_char.from_buffer(x))
    return x.ctypes.data


def _contiguous(x: np.ndarray, shape: tuple) -> np.ndarray:
    """x broadcast to ``shape``, as a C-contiguous float64 array (a copy only where needed)."""
    if x.shape != shape:
        x = np.broadcast_to(x, shape)
    return x if _ready(x) else np.ascontiguousarray(x, dtype=np.float64)


def _operand(words: Any, batch: tuple) -> tuple:
    """(operand, transposed flag) for the C product: the words as they are when contiguous, their transposes
    when they are transposed views of contiguous arrays (``a.mT``), else contiguous copies; a single matrix
    (no batch axes) is read for every batch member.  The operand is (packed words, size, word shape, word
    stride in bytes) for packed contiguous words, else (words, size, word shape, 0)."""
    s = _word_shape(words)
    if len(s) == 2 or s[:-2] == batch:
        size = math.prod(s)
        if type(words) is np.ndarray:
            if _ready(words):
                return (words, size, s, 8 * size), 0
            t = np.swapaxes(words, -1, -2)
            if _ready(t):
                return (t, size, s, 8 * size), 1
        else:
            if all(_ready(x) for x in words):
                return (words, size, s, 0), 0
            t = [np.swapaxes(x, -1, -2) for x in words]
            if all(_ready(x) for x in t):
                return (t, size, s, 0), 1
    shape = s if len(s) == 2 else batch + s[-2:]
    return ([_contiguous(x, shape) for x in words], math.prod(shape), shape, 0), 0


def kernel() -> Any:
    """The Taylor-coefficient function of the compiled library, or None."""
    so = library()
    return None if so is None else so.curvsym_dd_taylor


def horner(c: Sequence[mw.MW], theta: mw.MW) -> mw.MW:
    """Σ_k c_k θ^k in double-double by the compiled Horner loop (the library must be available)."""
    if isinstance(c, Blocks):  # the kernel's own stacked blocks
        hi, lo = c.hi, c.lo
    else:
        hi = np.ascontiguousarray(np.stack([ck[0] for ck in c]))
        lo = np.ascontiguousarray(np.stack([ck[1] for ck in c]))
    out_hi, out_lo = np.empty_like(hi[0]), np.empty_like(hi[0])
    P = lambda a: a.ctypes.data_as(ctypes.POINTER(ctypes.c_double))  # noqa: E731
    library().curvsym_dd_horner(len(c) - 1, hi[0].size, P(hi), P(lo), float(theta[0]), float(theta[1]),
                                P(out_hi), P(out_lo))
    return out_hi, out_lo


def available() -> bool:
    """Whether the compiled kernel can be used here."""
    return library() is not None


class KernelTape:
    """A polynomial tape run by the compiled kernel (double-double, NumPy arrays on the host).

    The interface of :class:`curvsym.integrate.multiword_taylor.CompiledTape`: ``run(x, order, scale)`` returns
    ``c[i][k]`` = (hi, lo) of every variable and order; ``n_ops`` counts the time-dependent operations.
    """

    def __init__(self, tape: Any, program: Any, fallback: bool = True):
        self.tape, self.program, self.fallback = tape, program, fallback
        self._width: int | None = None  # the widest matrix of the state, once a run has seen it
        self.kernel = None  # "compiled" or "blas" once it has run
        ops = tape.ops
        self.n_ops = program.n_ops
        self.var_nodes = list(program.var_nodes)
        n = len(ops)
        self.kind = np.array([KINDS[op.kind] for op in ops], dtype=np.intc)
        self.is_const = np.array([0 if (op.kind == "var" or program.time_dependent[i]) else 1
                                  for i, op in enumerate(ops)], dtype=np.intc)
        self.arg0 = np.array([op.args[0] if op.kind not in ("var", "const") and op.args else -1 for op in ops],
                             dtype=np.intc)
        self.arg1 = np.array([op.args[1] if op.kind in ("add", "sub", "matmul") else -1 for op in ops],
                             dtype=np.intc)
        self.const_value = {i: program.const_value[i] for i in range(n) if self.is_const[i]}
        self.scalar_hi = np.zeros(n)
        self.scalar_lo = np.zeros(n)
        for i, v in program.scalars.items():
            self.scalar_hi[i], self.scalar_lo[i] = float(v[0]), float(v[1])
        self.outputs = np.array(tape.outputs, dtype=np.intc)
        self._last_factors: tuple = (None, None, None)
        self._plan: tuple | None = None  # ((state shapes, order), what _make_plan made for them)
        work = np.zeros(2)  # the sliced kernel's two counters, and their pointer, for every run
        self._work = (work, work.ctypes.data_as(ctypes.POINTER(ctypes.c_double)))

    @property
    def uses_blas(self) -> bool:
        """Whether a run calls BLAS (the fallback program, for states wider than :data:`MAX_SLICED_WIDTH`; True
        until a run has seen the state): the engine limits BLAS threads only then."""
        return self.fallback and (self._width is None or self._width > MAX_SLICED_WIDTH)

    @property
    def work(self) -> dict:
        """The BLAS program's product work (zero while the compiled recurrence runs)."""
        return self.program.work

    def _layout(self, x: Sequence[mw.MW]) -> list[tuple[int, int]]:
        """The shape of every node for the state ``x``."""
        shapes: list = [None] * len(self.tape.ops)
        for v, xv in zip(self.var_nodes, x):
            shapes[v] = tuple(xv[0].shape)
        for i, op in enumerate(self.tape.ops):
            if op.kind == "var":
                continue
            if self.is_const[i]:
                shapes[i] = tuple(self.const_value[i][0].shape)
            elif op.kind == "matmul":
                shapes[i] = (shapes[op.args[0]][0], shapes[op.args[1]][1])
            elif op.kind == "T":
                shapes[i] = tuple(reversed(shapes[op.args[0]]))
            else:
                shapes[i] = shapes[op.args[0]]
        return shapes

    def _make_plan(self, x: Sequence[mw.MW], order: int) -> tuple:
        """What a run at the state shapes of ``x`` and ``order`` needs besides the state: the widest matrix, the
        node shapes and block offsets, the work arrays (hi, lo) of every node's blocks with the constants'
        blocks written once (the kernels only read them), the buffers of the recurrence factors, and the
        ctypes arguments of the kernels — made once per integration (they were remade at every step: ≈ 0.5 ms
        of Python per series at d = 16, a tenth of the float64 floor of the step's products)."""
        shapes = self._layout(x)
        width = max(max(s) for s in shapes)
        rows = np.array([s[0] for s in shapes], dtype=np.intc)
        cols = np.array([s[1] for s in shapes], dtype=np.intc)
        blocks = np.where(self.is_const == 1, 1, order + 1)
        sizes = rows.astype(np.intp) * cols * blocks
        # the variables' blocks first (returned as one copy), then every other node's; every block the kernels
        # read they have written in the same run, or is a constant's, written here
        first = np.zeros(len(sizes), dtype=bool)
        first[self.var_nodes] = True
        order_ = np.concatenate([np.flatnonzero(first), np.flatnonzero(~first)])
        off = np.empty(len(sizes), dtype=np.intp)
        off[order_] = np.concatenate([[0], np.cumsum(sizes[order_])[:-1]])
        total, n_var = int(sizes.sum()), int(sizes[first].sum())
        hi, lo = np.zeros(total), np.zeros(total)
        for i, v in self.const_value.items():
            hi[off[i]:off[i] + v[0].size] = np.ravel(v[0])
            lo[off[i]:off[i] + v[0].size] = np.ravel(v[1])
        fac_hi, fac_lo = np.zeros(max(order, 1)), np.zeros(max(order, 1))
        P = lambda a, t: a.ctypes.data_as(ctypes.POINTER(t))  # noqa: E731
        ci, cd = ctypes.c_int, ctypes.c_double
        var_node = np.array(self.var_nodes, dtype=np.intc)
        args = (len(self.kind), P(self.kind, ci), P(self.arg0, ci), P(self.arg1, ci), P(self.is_const, ci),
                P(rows, ci), P(cols, ci), P(off, ctypes.c_ssize_t), P(hi, cd), P(lo, cd),
                P(self.scalar_hi, cd), P(self.scalar_lo, cd), len(self.var_nodes),
                P(var_node, ci), P(self.outputs, ci), order, P(fac_hi, cd), P(fac_lo, cd))
        self._keep = (var_node,)  # the arrays behind the pointers live as long as the plan
        return width, rows, cols, off, n_var, hi, lo, fac_hi, fac_lo, args

    def _factors(self, scale: Any, order: int) -> tuple[np.ndarray, np.ndarray]:
        """The double-double words of s/(k + 1), k < ``order``, kept for the last scale (the stepper asks for the
        same s twice when a float64 series chose it).

        From s = s_h + s_l (its two-word expansion) by the double-double division by an integer d = k + 1:
        q_h = fl(s_h/d), the remainder s_h − q_h d exactly by TwoProd, q_l = fl((s_h − q_h d + s_l)/d),
        renormalised; relative error ≤ 2^{−104} (the size of one double-double product's rounding), vectorised
        over k.
        """
        if not isinstance(scale, mpmath.mpf):
            with mpmath.workdps(40):
                scale = mpmath.mpf(scale)
        key = (scale, order)
        if self._last_factors[0] != key:
            s_h, s_l = mw._mpf_words(scale._mpf_, 2)
            d = np.arange(1, order + 1, dtype=np.float64)
            q_h = s_h / d
            p, e = mw.two_prod(q_h, d)
            q_l = (((s_h - p) - e) + s_l) / d
            hi, lo = mw.fast_two_sum(q_h, q_l)
            self._last_factors = (key, hi if order else np.zeros(1), lo if order else np.zeros(1))
        return self._last_factors[1], self._last_factors[2]

    def run_rough(self, x: Sequence[mw.MW], order: int, scale: Any) -> list[list] | None:
        """The series with every product in float64 (leading words; about 16 correct digits), to choose a first
        scale s cheaply; None where the full series is as cheap (the term-by-term kernel, widths ≤ MAX_WIDTH)."""
        width = max(max(s) for s in self._layout(x))
        if width <= MAX_WIDTH:
            return None
        if width > MAX_SLICED_WIDTH:
            return self.program.run_rough(x, order, scale)
        return self.run(x, order, scale, rough=True)

    def run(self, x: Sequence[mw.MW], order: int, scale: Any, rough: bool = False) -> list[list]:
        """``c[i][k]`` = (hi, lo) of every variable i and order k ≤ ``order`` of τ ↦ x(t + sτ), s = ``scale``
        (``rough``: every product in float64, the exact-slice kernel only).

        Raises:
            EngineError: the tape holds an operation the C kernel does not know (excluded by :func:`supports`).
        """
        key = (tuple(xv[0].shape for xv in x), order)
        if self._plan is None or self._plan[0] != key:
            self._plan = (key, self._make_plan(x, order))
        width, rows, cols, off, n_var, hi, lo, fac_hi, fac_lo, args = self._plan[1]
        self._width = width
        if self.fallback and width > MAX_SLICED_WIDTH:
            self.kernel = "blas"
            return self.program.run(x, order, scale)  # wide matrices: the BLAS engine is faster
        sliced = width > MAX_WIDTH or rough
        for v, xv in zip(self.var_nodes, x):  # block 0 of every variable (the constants' blocks stay as written)
            n = xv[0].size
            hi[off[v]:off[v] + n] = xv[0].reshape(-1)
            lo[off[v]:off[v] + n] = xv[1].reshape(-1)
        f_hi, f_lo = self._factors(scale, order)
        fac_hi[:f_hi.size] = f_hi
        fac_lo[:f_lo.size] = f_lo
        if sliced:
            work, work_p = self._work
            work[:] = 0.0
            status = _routine("curvsym_dd_taylor_sliced")(*args, work_p, int(rough))
            if status == -2 and self.fallback:  # an order needs more than 6 exact levels: the NumPy program
                self.kernel = "blas"
                return self.program.run(x, order, scale)
            if rough:
                return self._unpack(hi[:n_var].copy(), lo[:n_var].copy(), off, rows, cols, order)
            self.program.work["pairs"] += int(work[0])
            self.program.work["blocks"] += int(work[1])
        else:
            status = kernel()(*args)
        if status != 0:  # pragma: no cover - the tape was checked in supports()
            raise EngineError(f"the compiled Taylor kernel failed (status {status}: -1 an unknown operation, "
                              "-2 an order beyond 6 exact slice levels, -3 out of memory)")
        self.kernel = "compiled-sliced" if sliced else "compiled"
        return self._unpack(hi[:n_var].copy(), lo[:n_var].copy(), off, rows, cols, order)

    def _unpack(self, hi: np.ndarray, lo: np.ndarray, off: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                order: int) -> list[list]:
        """Every variable's blocks 0..order as (hi, lo) views of the kernel's arrays (a :class:`Blocks`)."""
        out = []
        for v in self.var_nodes:
            r, c = int(rows[v]), int(cols[v])
            h = hi[off[v]: off[v] + (order + 1) * r * c].reshape(order + 1, r, c)
            l_ = lo[off[v]: off[v] + (order + 1) * r * c].reshape(order + 1, r, c)
            out.append(Blocks(h, l_))
        return out


class Blocks(abc.Sequence):
    """The coefficient blocks (hi_k, lo_k), k = 0..K, of one variable, as a sequence of word pairs, that also holds
    them stacked: ``hi``, ``lo`` of shape (K + 1, rows, cols) (contiguous), for Horner's rule and the order norms
    without copies.  The pairs are views made when asked for (a list of K + 1 tuples per variable and series was
    made and mostly thrown away)."""

    __slots__ = ("hi", "lo")

    def __init__(self, hi: np.ndarray, lo: np.ndarray):
        self.hi, self.lo = hi, lo

    def __len__(self) -> int:
        return len(self.hi)

    def __getitem__(self, k: Any) -> Any:
        if isinstance(k, slice):
            return [(h, l_) for h, l_ in zip(self.hi[k], self.lo[k])]
        return self.hi[k], self.lo[k]


def supports(tape: Any, like: mw.MW, words: int) -> bool:
    """Whether the compiled kernel can run ``tape``: double-double, NumPy float64 state, only the kernel's
    operations, and no matrix wider than :data:`MAX_WIDTH` (beyond it the BLAS engine is faster)."""
    if words != 2 or not isinstance(like[0], np.ndarray) or not available():
        return False
    return all(op.kind in KINDS for op in tape.ops)
