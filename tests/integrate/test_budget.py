"""Digits beyond what the engines support are refused before any work, and ``timeout=`` covers the set-up
(issue 24, item 6)."""

from __future__ import annotations

import time

import numpy as np
import pytest

import curvsym as cs
from curvsym.errors import IntegrationTimeout, PrecisionError
from curvsym.integrate.budget import MAX_DPS, Deadline


@pytest.fixture(scope="module")
def rhs():
    m = cs.model(cs.chain([2, 2, 2]), whitened=True)
    return cs.generate_flow(cs.gradient_flow(m), backend="mpmath")


@pytest.mark.parametrize("dps", [MAX_DPS + 1, 1000, 10 ** 6])
def test_too_many_digits_are_refused_at_once_with_the_limit(rhs, dps):
    W = [np.eye(2) * 0.5, np.eye(2) * 0.5]
    t0 = time.perf_counter()
    with pytest.raises(PrecisionError, match=f"dps = {dps} is beyond the supported {MAX_DPS} digits"):
        cs.integrate(rhs, W, (np.eye(2),), [0, 0.1], dps=dps)
    assert time.perf_counter() - t0 < 5  # refused before any work (generous bound; measured ~1 ms)


def test_the_deadline_counts_from_the_call():
    assert Deadline(0.0).remaining() == 0.0
    assert Deadline(None).remaining() is None and 0 < Deadline(1e9).remaining() <= 1e9


def test_a_timeout_spent_in_set_up_is_a_timeout(rhs):
    W = [np.eye(2) * 0.5, np.eye(2) * 0.5]
    with pytest.raises(IntegrationTimeout, match="stopped after the timeout"):
        cs.integrate(rhs, W, (np.eye(2),), [0, 0.1], dps=50, timeout=1e-9)
