"""Numerical code generation: ``sympy.lambdify`` with matrix-aware CSE.

The derived velocities are trees of nested binary products sharing their
prefixes W_{<i} and back-propagated suffixes W_{>i}ᵀ G (see :mod:`curvsym.derive`).
:func:`matrix_cse` hash-conses those trees into single-assignment temporaries,
one matrix product per line, and ``lambdify`` prints them with
:class:`ArrayPrinter`, which writes array-API Python: ``a @ b``, ``a.mT``, ``+``
and scalar ``*`` only.  The same source therefore runs on

* NumPy float arrays (``backend="numpy"``, the default),
* NumPy object arrays of ``mpmath.mpf`` (``backend="mpmath"``; rational constants
  are printed as exact ``mpf`` quotients),
* any array-API library — CuPy, JAX, PyTorch, array-api-strict —
  (``backend="array_api"``): the namespace ``xp`` is an argument of the
  generated function, found from the inputs by ``array_api_compat``.

The generated source is kept on the result (``.source``) and can be written to
a file (``.write(path)``); ``.n_products`` counts its matrix products.
"""

from __future__ import annotations

import inspect
import linecache
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import sympy as sp
from sympy import Identity, MatAdd, MatMul, MatrixExpr, MatrixSymbol, Transpose, ZeroMatrix
from sympy.printing.pycode import PythonCodePrinter

from .derive import Flow, Model
from .errors import NonFiniteError, ShapeError

__all__ = ["ArrayPrinter", "matrix_cse", "GeneratedFunction", "generate", "generate_flow", "BACKENDS"]

BACKENDS = ("numpy", "mpmath", "array_api")


class ArrayPrinter(PythonCodePrinter):
    """Prints matrix expressions as array-API Python (``@``, ``.mT``, ``xp.*``).

    ``exact=True`` prints rational constants as ``mpf(p)/q`` so that they are
    exact at the working precision of mpmath.
    """

    printmethod = "_curvsym_array"

    def __init__(self, settings: dict | None = None, exact: bool = False):
        super().__init__(settings or {})
        self.exact = exact

    def _paren(self, expr) -> str:
        s = self._print(expr)
        if isinstance(expr, (MatrixSymbol, sp.Symbol)) or (isinstance(expr, Transpose) and isinstance(expr.arg, (MatrixSymbol,))):
            return s
        if isinstance(expr, sp.Dummy) or s.isidentifier():
            return s
        return f"({s})"

    def _print_MatMul(self, expr) -> str:
        coeff, mats = expr.as_coeff_matrices()
        body = " @ ".join(self._paren(m) for m in mats)
        if coeff == 1:
            return body
        if coeff == -1:
            return f"-{body}" if len(mats) == 1 and self._paren(mats[0]) == body else f"-({body})"
        return f"{self._print(coeff)}*{body if len(mats) == 1 else '(' + body + ')'}"

    def _print_MatAdd(self, expr) -> str:
        parts = []
        for k, a in enumerate(expr.args):
            s = self._print(a)
            if k and s.startswith("-"):
                parts.append(f" - {s[1:]}")
            else:
                parts.append(("" if not k else " + ") + s)
        return "".join(parts)

    def _print_Transpose(self, expr) -> str:
        return f"{self._paren(expr.arg)}.mT"

    def _print_Identity(self, expr) -> str:
        return f"_eye({expr.shape[0]}, xp, _like)"

    def _print_ZeroMatrix(self, expr) -> str:
        return f"_zeros({expr.shape[0]}, {expr.shape[1]}, xp, _like)"

    def _print_Trace(self, expr) -> str:
        return f"_trace({self._print(expr.arg)}, xp)"

    def _print_Rational(self, expr) -> str:
        if self.exact:
            return f"(mpf({expr.p})/{expr.q})"
        return f"({expr.p}/{expr.q})"

    def _print_Half(self, expr) -> str:
        return self._print_Rational(expr)

    def _print_BooleanTrue(self, expr) -> str:
        return "True"

    def _print_BooleanFalse(self, expr) -> str:
        return "False"

    def _print_Float(self, expr) -> str:
        return f"mpf('{expr}')" if self.exact else repr(float(expr))


# --------------------------------------------------------------------------- CSE

def _is_leaf(x) -> bool:
    if isinstance(x, sp.Basic) and not x.args:  # atoms: numbers, booleans, labels
        return True
    return isinstance(x, (MatrixSymbol, sp.Symbol, sp.Number, Identity, ZeroMatrix)) or (
        isinstance(x, Transpose) and isinstance(x.arg, MatrixSymbol))


def matrix_cse(exprs: Sequence[Any], symbols=None, optimizations=None, postprocess=None,
               order="canonical", ignore=(), list=True):
    """Common-subexpression elimination that respects matrix products.

    Every distinct product, sum or function node becomes one temporary
    ``x_k`` (structural hash-consing, so a prefix W_{<i} shared by many layers
    is computed once); transposes of temporaries stay inline as views.  Has the
    signature of :func:`sympy.cse`, so ``lambdify(..., cse=matrix_cse)`` uses it.
    """
    names: dict = {}
    replacements: list = []

    def visit(x):
        if not isinstance(x, sp.Basic) or _is_leaf(x):
            return x
        if x in names:
            return names[x]
        if isinstance(x, Transpose):
            return Transpose(visit(x.arg))
        new_args = [visit(a) for a in x.args]
        node = x.func(*new_args, evaluate=False) if isinstance(x, (MatMul, MatAdd)) else x.func(*new_args)
        if isinstance(x, MatMul) and len([a for a in x.args if isinstance(a, MatrixExpr)]) == 1:
            names[x] = node  # a scalar multiple of one matrix stays inline
            return node
        k = len(replacements)
        sym = MatrixSymbol(f"x{k}", *x.shape) if isinstance(x, MatrixExpr) else sp.Symbol(f"x{k}")
        replacements.append((sym, node))
        names[x] = sym
        return sym

    reduced = [visit(e) for e in exprs]
    return replacements, reduced


# --------------------------------------------------------------------------- runtime helpers

def _eye(n: int, xp, like):
    if getattr(like, "dtype", None) == object:
        return np.eye(n, dtype=object)
    kw = {"dtype": like.dtype}
    dev = getattr(like, "device", None)
    if dev is not None and xp is not np:
        kw["device"] = dev
    return xp.eye(n, **kw)


def _zeros(r: int, c: int, xp, like):
    if getattr(like, "dtype", None) == object:
        return np.zeros((r, c), dtype=object) * like.flat[0]
    return xp.zeros((r, c), dtype=like.dtype)


def _trace(a, xp):
    if getattr(a, "dtype", None) == object:
        return np.trace(a, axis1=-2, axis2=-1)
    return xp.linalg.trace(a) if hasattr(xp, "linalg") and hasattr(xp.linalg, "trace") else xp.trace(a)


def _runtime_namespace(backend: str) -> dict:
    import mpmath

    from .runtime import RUNTIME
    return {"_eye": _eye, "_zeros": _zeros, "_trace": _trace, "mpf": mpmath.mpf, "np": np, **RUNTIME}


# --------------------------------------------------------------------------- generated functions

@dataclass(frozen=True)
class GeneratedFunction:
    """A generated numerical function with its source.

    Call signature of ``func``: positional arrays in the order of ``arg_names``,
    then keyword scalar parameters, then ``xp`` (array namespace) and ``_like``
    (an array whose dtype/device constants should take).  ``__call__`` is the
    validating entry point: ``f(weights, Sigma_x, T, **params)``.
    """

    name: str
    source: str
    func: Callable
    arg_names: tuple[str, ...]
    arg_shapes: tuple[tuple[int, int], ...]
    parameters: tuple[str, ...]
    backend: str
    n_weights: int

    @property
    def n_products(self) -> int:
        """Matrix products per evaluation (``@`` operators in the source)."""
        return self.source.count(" @ ")

    def write(self, path: str | Path) -> Path:
        """Write the generated module to ``path`` (readable, importable Python)."""
        path = Path(path)
        header = (f'"""Generated by curvsym: {self.name} (backend {self.backend}).\n\n'
                  f"Arguments: {', '.join(self.arg_names)}"
                  + (f"; parameters: {', '.join(self.parameters)}" if self.parameters else "")
                  + '.\n"""\n'
                  "import numpy as np\nfrom mpmath import mpf\n"
                  "from curvsym.codegen import _eye, _zeros, _trace\n"
                  "from curvsym.runtime import _psd_inv_power, _operator_inv_power, _sqrt_psd\n\n\n")
        path.write_text(header + self.source)
        return path

    def raw(self, *arrays, xp=np, **params):
        """Call without validation (hot loops); arrays in ``arg_names`` order."""
        return self.func(*arrays, **params, xp=xp, _like=arrays[0])

    def validate(self, weights: Sequence[Any], data: Sequence[Any], params: dict | None = None) -> tuple:
        """Check shapes, finiteness and parameters; return the data with Σx made exactly symmetric.

        Σx must be symmetric to 1e-10 (relative) and positive definite; it is then
        replaced by (Σx + Σxᵀ)/2 so that every kernel sees the same matrix.
        """
        arrays = list(weights) + list(data)
        if len(weights) != self.n_weights:
            raise ShapeError(f"{self.name}: expected {self.n_weights} weight matrices, got {len(weights)}")
        if len(arrays) != len(self.arg_names):
            raise ShapeError(f"{self.name}: expected arguments {self.arg_names}, got {len(arrays)} arrays")
        for name, shape, a in zip(self.arg_names, self.arg_shapes, arrays):
            check_array(name, a, shape)
        missing = set(self.parameters) - set(params or {})
        if missing:
            raise TypeError(f"{self.name}: missing parameter(s) {sorted(missing)}")
        if self.backend != "mpmath" and not any(getattr(a, "dtype", None) == object for a in arrays):
            from .backends import check_consistent
            check_consistent(arrays, self.arg_names)
        names = self.arg_names[self.n_weights:]
        return tuple(symmetric_covariance(d) if n == "Sigma_x" else d for n, d in zip(names, data))

    def __call__(self, weights: Sequence[Any], *data: Any, xp=None, **params):
        data = self.validate(weights, data, params)
        arrays = list(weights) + list(data)
        if xp is None:
            xp = _namespace(arrays, self.backend)
        return self.func(*arrays, **params, xp=xp, _like=arrays[0])


def _namespace(arrays, backend):
    if backend in ("numpy", "mpmath"):
        return np
    from array_api_compat import array_namespace
    return array_namespace(*arrays)


def symmetric_covariance(S):
    """(Σ + Σᵀ)/2 after checking Σ is symmetric to 1e-10 and positive definite (NumPy or mpf arrays)."""
    Sf = np.asarray(np.vectorize(float, otypes=[float])(S) if getattr(S, "dtype", None) == object else S, dtype=float) \
        if isinstance(S, np.ndarray) else None
    if Sf is None:  # another array library: check through its namespace, symmetrise there
        from array_api_compat import array_namespace
        xp = array_namespace(S)
        asym = float(xp.max(xp.abs(S - S.mT))) / max(float(xp.max(xp.abs(S))), 1e-300)
        if asym > 1e-10:
            raise ShapeError(f"Sigma_x must be symmetric; its relative asymmetry is {asym:.1e}")
        return (S + S.mT) / 2
    scale = max(float(np.max(np.abs(Sf))), 1e-300)
    asym = float(np.max(np.abs(Sf - np.swapaxes(Sf, -1, -2)))) / scale
    if asym > 1e-10:
        raise ShapeError(f"Sigma_x must be symmetric; its relative asymmetry is {asym:.1e}")
    if np.min(np.linalg.eigvalsh((Sf + np.swapaxes(Sf, -1, -2)) / 2)) <= 1e-14 * scale:
        raise ShapeError("Sigma_x must be positive definite (an input covariance Σx ≻ 0)")
    return (S + np.swapaxes(S, -1, -2)) / 2


def check_array(name: str, a, shape: tuple[int, ...]) -> None:
    """Raise ShapeError / NonFiniteError unless ``a`` is a finite array of ``shape``
    (leading batch axes allowed)."""
    s = tuple(getattr(a, "shape", ()))
    if len(s) < len(shape) or tuple(s[len(s) - len(shape):]) != tuple(shape):
        raise ShapeError(f"{name} must have shape {tuple(shape)}, got {s}")
    if getattr(a, "dtype", None) == object:
        import mpmath
        if not all(mpmath.isfinite(v) for v in np.asarray(a).flat):
            raise NonFiniteError(f"{name} contains a non-finite entry")
        return
    if isinstance(a, np.ndarray):
        if not np.all(np.isfinite(a)):
            raise NonFiniteError(f"{name} contains NaN or infinity")
        return
    from array_api_compat import array_namespace
    xp = array_namespace(a)
    if not bool(xp.all(xp.isfinite(a))):
        raise NonFiniteError(f"{name} contains NaN or infinity")


def generate(name: str, args: Sequence[MatrixSymbol], exprs: Sequence[Any], parameters: Sequence[sp.Symbol] = (),
             backend: str = "numpy", n_weights: int | None = None) -> GeneratedFunction:
    """lambdify ``exprs`` over matrix ``args`` and scalar ``parameters`` with :func:`matrix_cse`."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    xp_sym, like_sym = sp.Symbol("xp"), sp.Symbol("_like")
    printer = ArrayPrinter({"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True},
                           exact=(backend == "mpmath"))
    fn_name = "".join(c if c.isalnum() else "_" for c in name).strip("_") or "generated"
    f = sp.lambdify([*args, *parameters, xp_sym, like_sym], list(exprs), modules=[_runtime_namespace(backend)],
                    printer=printer, cse=matrix_cse, dummify=False, docstring_limit=0)
    source = inspect.getsource(f).replace("def _lambdifygenerated(", f"def {fn_name}(", 1)
    source = source.replace("    return [", "    return (", 1)
    source = source[: source.rindex("]")] + ",)" + source[source.rindex("]") + 1:]
    namespace = dict(_runtime_namespace(backend))
    filename = f"<curvsym-generated {fn_name} {backend}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    return GeneratedFunction(name, source, namespace[fn_name], tuple(a.name for a in args),
                             tuple(tuple(int(d) for d in a.shape) for a in args),
                             tuple(p.name for p in parameters), backend,
                             n_weights if n_weights is not None else len(args))


def generate_flow(flow: Flow, backend: str = "numpy") -> GeneratedFunction:
    """Generate the right-hand side ``(W_1..W_N, [Σx,] T) ↦ (dW_1/dt, …, dW_N/dt)``."""
    m = flow.model
    return generate(flow.name, [*m.weights, *m.data_symbols], flow.velocities, flow.parameters,
                    backend, n_weights=m.depth)


def generate_expressions(m: Model, name: str, exprs: Sequence[Any], parameters: Sequence[sp.Symbol] = (),
                         backend: str = "numpy") -> GeneratedFunction:
    """Generate any quantities of ``m`` (loss, balance C_i, end-to-end map …)."""
    return generate(name, [*m.weights, *m.data_symbols], exprs, parameters, backend, n_weights=m.depth)
