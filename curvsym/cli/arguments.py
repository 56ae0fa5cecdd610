"""Argument types shared by the subcommands: each parses one option's text or names the problem in one line.

They raise :class:`argparse.ArgumentTypeError`, which argparse turns into a usage line
``curvsym <command>: error: argument …: <message>``.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable


def widths(text: str) -> list[int]:
    """Layer widths ``n_0,n_1,…,n_N``: comma-separated positive integers."""
    try:
        ws = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"widths must be comma-separated integers, got {text!r}") from None
    bad = [w for w in ws if w < 1]
    if bad:
        raise argparse.ArgumentTypeError(f"every width must be a positive integer, got {bad[0]} in {text!r}")
    return ws


def digits(text: str) -> int:
    """Working digits: an integer ≥ 15 (what the high-precision integrators need)."""
    try:
        d = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--digits must be an integer, got {text!r}") from None
    if d < 15:
        raise argparse.ArgumentTypeError(
            f"--digits must be at least 15 (the high-precision integrators need ≥ 15 digits), got {d}")
    return d


def positive_ints(what: str) -> Callable[[str], list[int]]:
    """The type of option ``what``: comma-separated positive integers."""
    def parse(text: str) -> list[int]:
        try:
            values = [int(x) for x in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be comma-separated positive integers, got {text!r}") \
                from None
        if any(v < 1 for v in values):
            raise argparse.ArgumentTypeError(f"{what} must be positive integers, got {text!r}")
        return values
    return parse


def integer_at_least(minimum: int, what: str, kind: str) -> Callable[[str], int]:
    """The type of option ``what``: one integer ≥ ``minimum`` (``kind`` names it in the message)."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            v = minimum - 1
        if v < minimum:
            raise argparse.ArgumentTypeError(f"{what} must be a {kind}, got {text!r}")
        return v
    return parse


def positive_int(what: str) -> Callable[[str], int]:
    """The type of option ``what``: one positive integer."""
    return integer_at_least(1, what, "positive integer")


def positive(kind: type, what: str) -> Callable[[str], Any]:
    """The type of option ``what``: a number of type ``kind`` (int, float) that is > 0."""
    def parse(text: str) -> Any:
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a positive number, got {text!r}") from None
        if not v > 0:
            raise argparse.ArgumentTypeError(f"{what} must be positive, got {text!r}")
        return v
    return parse


def non_negative_int(what: str) -> Callable[[str], int]:
    """The type of option ``what``: one integer ≥ 0 (a seed)."""
    return integer_at_least(0, what, "non-negative integer")
