r"""Conservation laws discovered, not typed: exact search and the Lie-algebra certificate of completeness.

``cs.laws(flow, degree=4)`` returns a :class:`~.api.LawReport`: the laws (text, LaTeX,
how each was proved), their number, the certificate dim Lie(𝒱)(θ) and a verdict
("found k laws; the maximum is k: complete").  ``docs/conservation_laws.md`` has
the mathematics and the table of counts per rule and architecture.

This package sits at the level of :mod:`curvsym.verify`: it imports symbolic,
codegen, integrate and errors, and nothing below it imports it.

The package itself is callable — ``cs.laws(flow)`` is ``cs.laws.laws(flow)`` — so that the
short call and the submodules (``curvsym.laws.search`` …) share one name.
"""

import sys as _sys
import types as _types

from .api import LawReport, laws, step_laws
from .arith import GF, MP, PRIME, NotExactError
from .fields import FlowField
from .lie import LieRank, bracket, jvp, lie_rank
from .search import Law, entry_laws, logdet_laws, word_laws

__all__ = ["laws", "step_laws", "LawReport", "Law", "LieRank", "lie_rank", "bracket", "jvp", "FlowField",
           "GF", "MP", "PRIME", "NotExactError", "entry_laws", "word_laws", "logdet_laws"]


class _CallableModule(_types.ModuleType):
    """``curvsym.laws(flow, …)`` calls :func:`~.api.laws`."""

    def __call__(self, *args, **kwargs) -> LawReport:
        return laws(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
