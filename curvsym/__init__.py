"""curvsym — symbolic-numeric learning dynamics of deep networks.

Numbers flow one way, and the package tree follows them::

    symbolic (derive)  →  codegen (generate)  →  integrate  →  verify (check)  →  report / cli

============  ==========================================================================
subpackage    holds
============  ==========================================================================
symbolic      networks, the node protocol, derivation, learning rules, mode dynamics
codegen       printers, matrix CSE, generated functions, runtime kernels, array backends
integrate     steppers (Taylor, GBS, DOP853, RK4, Dopri5, step map), the runner, ensembles
verify        checks, theorems, reports, dense reference routes, sharpness
data          problem instances, real data sets (scikit-learn digits, MNIST IDX files)
papers        one module per reproduced paper
============  ==========================================================================

The short module paths of earlier versions (``curvsym.derive``, ``curvsym.rules``,
``curvsym.rules_text``, ``curvsym.problems``, …) stay importable: they name the
same module objects as their places in the tree (see :data:`MODULES`).

>>> import curvsym as cs
>>> m = cs.model(cs.chain([2, 3, 2]))
>>> flow = cs.gradient_flow(m)
>>> rhs = cs.generate_flow(flow)            # NumPy by default
>>> rhs.n_products
4
"""

import importlib as _importlib
import sys as _sys

from . import laws
from .codegen import GeneratedFunction, generate_expressions, generate_flow
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
from .integrate import (
    Status,
    Trajectory,
    integrate,
    integrate_double,
    integrate_extrapolation,
    integrate_taylor,
    to_float,
    to_mp,
)
from .symbolic.algebra import prove_conserved
from .symbolic.calculus import time_derivative
from .symbolic.derive import (
    Flow,
    Model,
    balance,
    end_to_end,
    end_to_end_velocity,
    gradient,
    gradient_flow,
    loss,
    model,
    scaled_flow,
)
from .symbolic.network import Network, chain, deep_chain, from_graph, resnet
from .verify.checks import CheckResult, balance_residual, check_balance, check_conservation, check_exponential_law
from .verify.theorem import Evidence, theorem

__version__ = "0.2.0"

MODULES = {
    "network": "symbolic.network", "derive": "symbolic.derive", "matfuncs": "symbolic.matfuncs",
    "rules": "symbolic.rules", "rules_text": "symbolic.rules.text", "modes": "symbolic.modes",
    "runtime": "codegen.runtime", "backends": "codegen.backends", "ensemble": "integrate.ensemble",
    "checks": "verify.checks", "theorem": "verify.theorem", "report": "verify.report", "fisher": "verify.fisher",
    "sharpness": "verify.sharpness", "problems": "data.problems",
    "activations": "symbolic.activations", "nonlinear": "symbolic.nonlinear", "datasets": "data.datasets",
}
"""Short module path → place in the tree (``curvsym.rules`` is ``curvsym.symbolic.rules``)."""

for _short, _full in MODULES.items():
    _module = _importlib.import_module(f"{__name__}.{_full}")
    _sys.modules.setdefault(f"{__name__}.{_short}", _module)
    globals().setdefault(_short, _module)  # cs.theorem stays the decorator
del _short, _full, _module

__all__ = [
    "Network", "chain", "deep_chain", "resnet", "from_graph",
    "Model", "Flow", "model", "end_to_end", "loss", "gradient", "gradient_flow", "scaled_flow",
    "end_to_end_velocity", "balance", "prove_conserved", "time_derivative", "laws",
    "GeneratedFunction", "generate_flow", "generate_expressions",
    "Trajectory", "Status", "integrate", "integrate_double", "integrate_taylor", "integrate_extrapolation",
    "to_mp", "to_float",
    "CheckResult", "check_conservation", "check_balance", "balance_residual", "check_exponential_law",
    "Evidence", "theorem",
    "CurvsymError", "ArchitectureError", "ShapeError", "NonFiniteError", "OptionError", "ParameterError",
    "UnknownNameError", "SingularPreconditionerError", "NotPolynomialError", "NotDifferentiableError",
    "DecouplingError", "IntegrationError", "DivergenceError", "StepLimitError", "IntegrationTimeout",
    "PrecisionError", "RuleParseError", "TheoremFileError", "BackendError", "EngineError", "NonSmoothError",
    "DatasetError", "DatasetFileError", "LabelError",
    *(name for name in MODULES if name != "theorem"),
]
