"""curvsym — symbolic-numeric learning dynamics of deep (linear) networks.

Numbers flow one way::

    network  →  derive (SymPy)  →  codegen (lambdify + CSE)  →  integrate  →  checks  →  report

>>> import curvsym as cs
>>> m = cs.model(cs.chain([2, 3, 2]))
>>> flow = cs.gradient_flow(m)
>>> rhs = cs.generate_flow(flow)            # NumPy by default
>>> rhs.n_products
4
"""

from .checks import CheckResult, balance_residual, check_balance, check_conservation, check_exponential_law
from .codegen import GeneratedFunction, generate_expressions, generate_flow
from .derive import (Flow, Model, balance, end_to_end, end_to_end_velocity, gradient, gradient_flow, loss, model,
                     prove_conserved, scaled_flow)
from .errors import (ArchitectureError, CurvsymError, DivergenceError, NonFiniteError, PrecisionError,
                     RuleParseError, ShapeError, SingularPreconditionerError, StepLimitError)
from .integrate import (Trajectory, integrate, integrate_double, integrate_extrapolation, integrate_taylor, to_float,
                        to_mp)
from . import rules
from .network import Network, chain, deep_chain, from_graph, resnet
from .theorem import Evidence, theorem

__version__ = "0.1.0"

__all__ = [
    "Network", "chain", "deep_chain", "resnet", "from_graph",
    "Model", "Flow", "model", "end_to_end", "loss", "gradient", "gradient_flow", "scaled_flow",
    "end_to_end_velocity", "balance", "prove_conserved",
    "GeneratedFunction", "generate_flow", "generate_expressions",
    "Trajectory", "integrate", "integrate_double", "integrate_taylor", "integrate_extrapolation", "rules", "to_mp", "to_float",
    "CheckResult", "check_conservation", "check_balance", "balance_residual", "check_exponential_law",
    "Evidence", "theorem",
    "CurvsymError", "ArchitectureError", "ShapeError", "NonFiniteError", "SingularPreconditionerError",
    "DivergenceError", "StepLimitError", "PrecisionError", "RuleParseError",
]
