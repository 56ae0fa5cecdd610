r"""Learning rules: maps from the derived layer gradients to layer velocities.

Each rule is a class carrying its own metadata (:mod:`.base`); the built-in ones
are in :mod:`.builtin`, rules with memory (heavy ball, Nesterov, RMSProp, Adam: auxiliary
state with its own velocity) in :mod:`.memory`, user rules as SymPy template expressions in
:mod:`.custom` or as text parsed without ``eval`` in :mod:`.text`.

:data:`RULES` is the registry ``curvsym rules`` lists: one key per class and per
variant preset the class declares (``ngd-frac`` is the natural gradient with
q = ½), built from the classes themselves.
"""

from __future__ import annotations

from typing import Callable

from ...errors import UnknownNameError
from .base import AbstractRule, Inverse
from .builtin import (
    BUILTIN,
    Bernacchia,
    BlockNaturalGradient,
    GradientDescent,
    NaturalGradient,
    _factory,
    bernacchia,
    gd,
    kfac,
    natural_gradient,
)
from .custom import CustomRule, custom, template
from .custom_memory import CustomMemoryRule, load_memory_rule_file, memory_rule
from .memory import (
    MEMORY_RULES,
    Adam,
    HeavyBall,
    MemoryRule,
    Nesterov,
    NesterovConvex,
    RMSProp,
    adam,
    from_betas,
    heavy_ball,
    initial_state,
    nesterov,
    rmsprop,
    split_state,
)
from .text import load_rule_file, parse_expression, parse_rule

__all__ = ["AbstractRule", "Rule", "Inverse", "GradientDescent", "NaturalGradient", "BlockNaturalGradient",
           "Bernacchia", "CustomRule", "gd", "natural_gradient", "kfac", "bernacchia", "custom", "template",
           "RULES", "RULE_CLASSES", "get_rule", "parse_rule", "parse_expression", "load_rule_file",
           "MemoryRule", "HeavyBall", "Nesterov", "NesterovConvex", "RMSProp", "Adam", "heavy_ball", "nesterov", "rmsprop", "adam",
           "from_betas", "initial_state", "split_state", "CustomMemoryRule", "memory_rule", "load_memory_rule_file"]

Rule = AbstractRule  # the name of the rule type before rules became classes


def _registry() -> tuple[dict[str, Callable[..., AbstractRule]], dict[str, type[AbstractRule]]]:
    factories, classes = {}, {}
    for cls in (*BUILTIN, *MEMORY_RULES):
        presets = cls.variants or {cls.key: {}}
        for key, preset in presets.items():
            factories[key] = _factory(cls, preset)
            classes[key] = cls
    return factories, classes


RULES, RULE_CLASSES = _registry()
"""``RULES[key](**options)`` builds a rule; ``RULE_CLASSES[key]`` is its class (metadata)."""


def get_rule(key: str, **options) -> AbstractRule:
    """Rule by key (``curvsym rules`` lists them), with options q / damping / strict.

    Raises:
        UnknownNameError: no rule has this key (the message lists the known keys).
        OptionError: an option value is out of range.
    """
    if key not in RULES:
        raise UnknownNameError(f"unknown rule {key!r}; available: {', '.join(RULES)}")
    return RULES[key](**options)
