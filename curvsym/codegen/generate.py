"""Numerical code generation: ``sympy.lambdify`` with matrix-aware CSE.

:func:`~curvsym.codegen.cse.matrix_cse` turns the derived trees into
single-assignment temporaries, one matrix product per line, and ``lambdify``
prints them with :class:`~curvsym.codegen.printer.ArrayPrinter`.  The same
source therefore runs on

* NumPy float arrays (``backend="numpy"``, the default),
* NumPy object arrays of ``mpmath.mpf`` (``backend="mpmath"``; rational constants
  are printed as exact ``mpf`` quotients),
* any array-API library — CuPy, JAX, PyTorch, array-api-strict —
  (``backend="array_api"``): the namespace ``xp`` is an argument of the
  generated function, found from the inputs by ``array_api_compat``.

The functions a generated source may call are the kernels registered in
:mod:`curvsym.kernels` (:data:`~curvsym.kernels.KERNELS`; which node calls which is the
table :mod:`curvsym.codegen.kernel_calls`) and the helpers of
:mod:`curvsym.kernels.constants`; that one registry feeds both the
namespace the source runs in and the imports of a file written by
:meth:`GeneratedFunction.write`.  The source is kept on the result
(``.source``); ``.n_products`` counts its matrix products and ``.polynomial``
says whether it is a matrix polynomial (what Taylor methods need).
"""

from __future__ import annotations

import inspect
import linecache
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import mpmath
import numpy as np
import sympy as sp
from sympy import HadamardProduct, Identity, MatAdd, MatMul, MatrixSymbol, OneMatrix, Transpose, ZeroMatrix

from ..errors import ParameterError, ShapeError, UnknownNameError
from ..kernels import HELPERS, KERNELS
from ..symbolic import activations, matfuncs  # noqa: F401  (register the node kernels)
from ..symbolic.derive import Flow, Model
from ..symbolic.nodes import MatrixNode
from .backends import check_consistent
from .cse import matrix_cse
from .printer import ArrayPrinter
from .standalone import standalone_source
from .validate import check_array, namespace_of, symmetric_covariance

__all__ = ["GeneratedFunction", "generate", "generate_flow", "generate_expressions", "runtime_namespace",
           "is_polynomial", "is_piecewise", "release_temporaries", "BACKENDS"]

BACKENDS = ("numpy", "mpmath", "array_api")


def runtime_namespace(backend: str) -> dict:
    """The globals generated code of ``backend`` runs in: helpers, node kernels, ``mpf``, ``np``."""
    return {**HELPERS, "mpf": mpmath.mpf, "np": np,
            **KERNELS}


_POLYNOMIAL = (MatrixSymbol, Identity, ZeroMatrix, OneMatrix, Transpose, MatAdd, MatMul, HadamardProduct)


def is_polynomial(exprs: Sequence[Any]) -> bool:
    """True if every expression has a Taylor rule: a matrix polynomial of the weights, or built from nodes with rules.

    Allowed below it: matrix symbols, I, 0, the all-ones matrix, transposes, sums,
    products, Hadamard products, scalar coefficients, and curvsym nodes that
    declare a Taylor rule (analytic ones such as tanh, and piecewise-linear ones
    such as ReLU, whose kinks the Taylor stepper treats as events).  Anything
    else (a pseudo-inverse, a PSD power, SymPy's ``Inverse`` or ``Trace``) is not.
    """
    for e in exprs:
        if not isinstance(e, sp.MatrixExpr):
            return False
        for node in sp.preorder_traversal(e):
            if isinstance(node, sp.MatrixExpr):
                if isinstance(node, MatrixNode):
                    if not node.taylor:
                        return False
                elif not isinstance(node, _POLYNOMIAL):
                    return False
    return True


def _plain_float64(arrays: Sequence[Any]) -> bool:
    """All NumPy float64 arrays: one library, one device, one dtype — nothing more to check."""
    return all(type(a) is np.ndarray and a.dtype == np.float64 for a in arrays)


def is_piecewise(exprs: Sequence[Any]) -> bool:
    """True if a node with kinks (``piecewise``, e.g. ReLU) occurs: the function is only piecewise smooth."""
    return any(isinstance(node, MatrixNode) and node.piecewise
               for e in exprs if isinstance(e, sp.Basic) for node in sp.preorder_traversal(e))


@dataclass(frozen=True)
class GeneratedFunction:
    """A generated numerical function with its source.

    Signature of ``func``: the arrays in the order of ``arg_names``, then the scalar
    parameters, then ``xp`` (the array namespace, NumPy by default); constants
    (I, 0) take the dtype and device of the first argument.  ``__call__`` is the
    validating entry point: ``f(weights, Sigma_x, T, **params)``; ``raw`` skips the
    checks for hot loops.  ``polynomial``:
    every node has a Taylor rule; ``piecewise``: a node has kinks (ReLU), so only a
    stepper that lands on them (the Taylor stepper's events) integrates it to
    high precision.
    """

    name: str
    source: str
    func: Callable
    arg_names: tuple[str, ...]
    arg_shapes: tuple[tuple[int, int], ...]
    parameters: tuple[str, ...]
    backend: str
    n_weights: int
    polynomial: bool = True
    n_outputs: int = 0
    piecewise: bool = False

    @property
    def n_products(self) -> int:
        """Matrix products per evaluation (``@`` operators in the source)."""
        return self.source.count(" @ ")

    @property
    def signature(self) -> str:
        """``name(W_1, …, T, params…, xp=np)`` as written in the source."""
        return self.source.split("\n", 1)[0][len("def "):].rstrip(":")

    def module_source(self) -> str:
        """A standalone module: a docstring with the signature, imports, the runtime it needs, the function.

        NumPy and array-API sources need only NumPy (or the array library the
        caller passes as ``xp``): the helpers and node kernels they call are
        inlined from :mod:`curvsym.kernels`.  mpmath sources that call node
        kernels import them from curvsym (their mpmath kernels are not inlined).
        """
        doc = (f'"""Generated by curvsym: {self.name} (backend {self.backend}).\n\n'
               f"    {self.signature}\n\n"
               f"Arguments: {', '.join(self.arg_names)} (2-D arrays, or with leading batch axes)"
               + (f"; scalar parameters: {', '.join(self.parameters)}" if self.parameters else "")
               + "; ``xp``: the array namespace (NumPy by default"
               + ("; pass array_api_compat.array_namespace(W_1) for another library" if self.backend == "array_api"
                  else "") + ").\n"
               + f"Returns a tuple of {self.n_outputs} arrays (for a flow: the velocities dW_i/dt in layer order).\n"
               + '"""\n')
        return doc + standalone_source(self.source, self.backend) + "\n\n\n" + self.source

    def write(self, path: str | Path) -> Path:
        """Write :meth:`module_source` to ``path``: a readable module that runs without curvsym (see there)."""
        path = Path(path)
        path.write_text(self.module_source())
        return path

    def raw(self, *arrays: Any, xp: Any = np, **params: Any) -> tuple:
        """Call without validation (hot loops); arrays in ``arg_names`` order."""
        return self.func(*arrays, **params, xp=xp)

    def validate(self, weights: Sequence[Any], data: Sequence[Any], params: dict | None = None) -> tuple:
        """Check shapes, finiteness and parameters; return the data with Σx made exactly symmetric.

        Σx must be symmetric to 1e-10 (relative) and positive definite; it is then
        replaced by (Σx + Σxᵀ)/2 so that every kernel sees the same matrix.

        Raises:
            ShapeError: the wrong number of arrays, an array of the wrong shape, or a Σx that is not
                symmetric positive definite.
            NonFiniteError: an array holds NaN or infinity.
            ParameterError: a scalar parameter of the generated code is missing.
            BackendError: the arrays mix libraries, devices or dtypes.
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
            raise ParameterError(f"{self.name}: missing parameter(s) {sorted(missing)}")
        if self.backend != "mpmath" and not _plain_float64(arrays):
            if not any(getattr(a, "dtype", None) == object for a in arrays):
                check_consistent(arrays, self.arg_names)
        names = self.arg_names[self.n_weights:]
        return tuple(symmetric_covariance(d) if n == "Sigma_x" else d for n, d in zip(names, data))

    def __call__(self, weights: Sequence[Any], *data: Any, xp=None, **params):
        data = self.validate(weights, data, params)
        arrays = list(weights) + list(data)
        if xp is None:
            xp = namespace_of(arrays, self.backend)
        return self.func(*arrays, **params, xp=xp)


def release_temporaries(source: str) -> str:
    """Insert ``del x_a, x_b`` after the last use of each temporary (those not returned).

    Temporaries otherwise all live until the function returns; with many large ones
    every call maps fresh memory and pays its page faults (glibc serves large blocks
    by mmap), which on a 64-50-50-10 net with m = 1000 examples doubled the run time,
    and a batched N = 8, d = 64 gradient flow on PyTorch (B = 64) ran 1.2× slower than
    the same products with the temporaries freed.  Released early, they are reused.
    Every generated function is written this way unless ``generate(..., release=False)``.
    """
    lines = source.splitlines()
    head, body, ret = lines[0], lines[1:-1], lines[-1]
    assign = re.compile(r"^    (x\d+) = (.*)$")
    last: dict[str, int] = {}
    for i, line in enumerate(body):
        m = assign.match(line)
        rhs = m.group(2) if m else line
        for name in re.findall(r"\bx\d+\b", rhs):
            last[name] = i
    returned = set(re.findall(r"\bx\d+\b", ret))
    out = [head]
    for i, line in enumerate(body):
        out.append(line)
        dead = sorted((n for n, j in last.items() if j == i and n not in returned), key=lambda n: int(n[1:]))
        if dead:
            out.append("    del " + ", ".join(dead))
    out.append(ret)
    return "\n".join(out) + ("\n" if source.endswith("\n") else "")


def generate(name: str, args: Sequence[MatrixSymbol], exprs: Sequence[Any], parameters: Sequence[sp.Symbol] = (),
             backend: str = "numpy", n_weights: int | None = None, release: bool = True) -> GeneratedFunction:
    """lambdify ``exprs`` over matrix ``args`` and scalar ``parameters`` with :func:`matrix_cse`.

    ``release``: free each temporary after its last use (:func:`release_temporaries`; the default, for
    every generated function; ``False`` keeps the bare single-assignment listing).

    Raises:
        UnknownNameError: unknown backend …; choose one of ….
    """
    if backend not in BACKENDS:
        raise UnknownNameError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    xp_sym = sp.Symbol("xp")
    printer = ArrayPrinter({"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True},
                           exact=(backend == "mpmath"), like=args[0].name)
    fn_name = "".join(c if ("_" + c).isidentifier() else "_" for c in name).strip("_") or "generated"
    if not fn_name.isidentifier():  # e.g. it starts with a digit
        fn_name = "f_" + fn_name
    f = sp.lambdify([*args, *parameters, xp_sym], list(exprs), modules=[runtime_namespace(backend)],
                    printer=printer, cse=matrix_cse, dummify=False, docstring_limit=0)
    source = inspect.getsource(f).replace("def _lambdifygenerated(", f"def {fn_name}(", 1)
    source = source.replace(", xp):", ", xp=np):", 1)
    source = source.replace("    return [", "    return (", 1)
    source = source[: source.rindex("]")] + ",)" + source[source.rindex("]") + 1:]
    if release:
        source = release_temporaries(source)
    namespace = runtime_namespace(backend)
    filename = f"<curvsym-generated {fn_name} {backend}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    return GeneratedFunction(name, source, namespace[fn_name], tuple(a.name for a in args),
                             tuple(tuple(int(d) for d in a.shape) for a in args),
                             tuple(p.name for p in parameters), backend,
                             n_weights if n_weights is not None else len(args), is_polynomial(exprs), len(exprs),
                             is_piecewise(exprs))


def _cached(m: Any, key: tuple, make: Callable[[], GeneratedFunction]) -> GeneratedFunction:
    """Generated code is a pure function of its expressions: build it once per model (``m._memo``)."""
    memo = getattr(m, "_memo", None)
    if memo is None:
        return make()
    key = ("generated",) + key
    if key not in memo:
        memo[key] = make()
    return memo[key]


def generate_flow(flow: Flow, backend: str = "numpy") -> GeneratedFunction:
    """Generate the right-hand side ``(W_1..W_N, [Σx,] T) ↦ (dW_1/dt, …, dW_N/dt)`` (cached per model).

    For a nonlinear model (:mod:`curvsym.symbolic.nonlinear`) the state is every
    trainable array (weights and biases) and the data are (X, Y).

    Raises:
        UnknownNameError: an unknown ``backend``.
    """
    m = flow.model
    return _cached(m, (flow.name, flow.velocities, flow.parameters, backend),
                   lambda: generate(flow.name, [*m.weights, *m.data_symbols], flow.velocities, flow.parameters,
                                    backend, n_weights=len(m.weights)))


def generate_expressions(m: Model, name: str, exprs: Sequence[Any], parameters: Sequence[sp.Symbol] = (),
                         backend: str = "numpy") -> GeneratedFunction:
    """Generate any quantities of ``m`` (loss, balance C_i, end-to-end map …), cached per model.

    Raises:
        UnknownNameError: an unknown ``backend``.
    """
    return _cached(m, (name, tuple(exprs), tuple(parameters), backend),
                   lambda: generate(name, [*m.weights, *m.data_symbols], exprs, parameters, backend,
                                    n_weights=len(m.weights)))
