"""curvsym — symbolic-numeric learning dynamics of deep networks.

Numbers flow one way, and the package tree follows them (each layer imports only the
layers below it; ``lint-imports`` checks this in CI)::

    kernels  →  symbolic (derive)  →  codegen (generate) | data  →  integrate  →  verify (check)
             →  papers  →  sweep  →  bench  →  cli

============  ==========================================================================
subpackage    holds
============  ==========================================================================
kernels       numerical kernels on the array API, mpmath and multi-word floats (no SymPy)
symbolic      networks, the node protocol, derivation, learning rules, mode dynamics
codegen       printers, node → kernel calls, matrix CSE, generated functions, array backends
data          problem instances, real data sets (scikit-learn digits, MNIST IDX files)
integrate     solvers (Taylor, GBS, DOP853, RK4, Dopri5, step maps), the runner, ensembles
verify        checks, theorems, exact identities, reports, dense reference routes, sharpness
papers        one module per reproduced paper
sweep         parameter sweeps on Dask with results that are never lost
bench         benchmarks against named references
cli           the ``curvsym`` command
============  ==========================================================================

Importing curvsym is cheap: every name below is loaded on first use (PEP 562), and the
short module paths (``curvsym.rules``, ``curvsym.problems``, …) name the same module
objects as their places in the tree (see :data:`MODULES`).

>>> import curvsym as cs
>>> m = cs.model(cs.chain([2, 3, 2]))
>>> flow = cs.gradient_flow(m)
>>> rhs = cs.generate_flow(flow)            # NumPy by default
>>> rhs.n_products
4
"""

from __future__ import annotations

import importlib as _importlib
import importlib.machinery as _machinery
import sys as _sys

from .errors import (
    ArchitectureError,
    BackendError,
    CurvsymError,
    DatasetError,
    DatasetFileError,
    DecouplingError,
    DivergenceError,
    EngineError,
    IntegrationError,
    IntegrationTimeout,
    LabelError,
    NonFiniteError,
    NonSmoothError,
    NotDifferentiableError,
    NotPolynomialError,
    OptionError,
    ParameterError,
    PrecisionError,
    RuleParseError,
    ShapeError,
    SingularPreconditionerError,
    StepLimitError,
    TheoremFileError,
    UnknownNameError,
)
from .version import __version__

MODULES = {
    "network": "symbolic.network", "derive": "symbolic.derive", "matfuncs": "symbolic.matfuncs",
    "rules": "symbolic.rules", "rules_text": "symbolic.rules.text", "modes": "symbolic.modes",
    "backends": "codegen.backends", "ensemble": "integrate.ensemble",
    "checks": "verify.checks", "theorem": "verify.theorem", "report": "verify.report",
    "fisher": "verify.dense_reference", "sharpness": "verify.sharpness", "problems": "data.problems",
    "activations": "symbolic.activations", "nonlinear": "symbolic.nonlinear", "datasets": "data.datasets",
}
"""Short module path → place in the tree (``curvsym.rules`` is ``curvsym.symbolic.rules``)."""

_NAMES = {
    "codegen": ("GeneratedFunction", "generate_expressions", "generate_flow"),
    "integrate": ("EnsembleTrajectory", "Solver", "Status", "Trajectory", "choose", "integrate", "integrate_double",
                  "integrate_extrapolation", "integrate_taylor", "solvers", "to_float", "to_mp"),
    "verify.identities": ("prove_conserved",),
    "symbolic.calculus": ("time_derivative",),
    "symbolic.derive": ("Flow", "Model", "balance", "end_to_end", "end_to_end_velocity", "gradient",
                        "gradient_flow", "loss", "model", "scaled_flow"),
    "symbolic.network": ("Network", "chain", "deep_chain", "from_graph", "resnet"),
    "verify.checks": ("CheckResult", "balance_residual", "check_balance", "check_conservation",
                      "check_exponential_law"),
    "verify.theorem": ("Evidence", "theorem"),
}
_CALLABLE_PACKAGES = ("laws",)
"""Subpackages that are also functions (``cs.laws(flow)`` calls :func:`curvsym.laws.laws`)."""
_WHERE = {name: module for module, names in _NAMES.items() for name in names}


def __getattr__(name: str):
    """Load a public name (or a short module path) on first use and keep it (PEP 562)."""
    if name in _WHERE:
        value = getattr(_importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    elif name in MODULES or name in _CALLABLE_PACKAGES:
        value = _importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE) | set(MODULES))


class _ShortPaths:
    """``import curvsym.<short>`` gives the module at its place in the tree (:data:`MODULES`), loaded on demand.

    A meta-path finder and loader by protocol (``find_spec``, ``create_module``, ``exec_module``), not by
    subclassing :mod:`importlib.abc`, whose import (importlib.resources, pathlib, re) would double the cost of
    ``import curvsym`` in a fresh environment."""

    def find_spec(self, fullname, path=None, target=None):
        prefix, _, short = fullname.partition(".")
        if prefix == __name__ and short in MODULES:
            return _machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec):
        module = _importlib.import_module(f"{__name__}.{MODULES[spec.name.partition('.')[2]]}")
        _sys.modules[spec.name] = module
        return module

    def exec_module(self, module):
        pass  # already executed at its place in the tree


if not any(isinstance(f, _ShortPaths) for f in _sys.meta_path):
    _sys.meta_path.append(_ShortPaths())

__all__ = [
    "Network", "chain", "deep_chain", "resnet", "from_graph",
    "Model", "Flow", "model", "end_to_end", "loss", "gradient", "gradient_flow", "scaled_flow",
    "end_to_end_velocity", "balance", "prove_conserved", "time_derivative", "laws",
    "GeneratedFunction", "generate_flow", "generate_expressions",
    "Trajectory", "EnsembleTrajectory", "Status", "integrate", "Solver", "solvers", "choose", "integrate_double",
    "integrate_taylor", "integrate_extrapolation", "to_mp", "to_float",
    "CheckResult", "check_conservation", "check_balance", "balance_residual", "check_exponential_law",
    "Evidence", "theorem",
    "CurvsymError", "ArchitectureError", "ShapeError", "NonFiniteError", "OptionError", "ParameterError",
    "UnknownNameError", "SingularPreconditionerError", "NotPolynomialError", "NotDifferentiableError",
    "DecouplingError", "IntegrationError", "DivergenceError", "StepLimitError", "IntegrationTimeout",
    "PrecisionError", "RuleParseError", "TheoremFileError", "BackendError", "EngineError", "NonSmoothError",
    "DatasetError", "DatasetFileError", "LabelError", "__version__",
]
