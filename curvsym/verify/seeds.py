"""Seeds of theorem instances: the shipped ones by default, fresh ones on request.

A theorem file draws every random instance through :func:`pick` (an integer seed) or :func:`rng`
(a NumPy generator), naming the seed it ships with: ``random_instance(net, seed=pick(7))``.  Outside
:func:`using` (the default, ``curvsym prove proofs/``) ``pick(7)`` is 7, so the shipped verdicts are
unchanged.  Inside ``using(S)`` (``curvsym prove --seed S``) every shipped seed is replaced by one
derived from (S, shipped seed, salt) with NumPy's :class:`~numpy.random.SeedSequence`: every
instance is redrawn, two instances that shipped with different seeds stay independent, and the run
is reproducible from S alone.

Kinds of claims (the ``kind`` of :func:`curvsym.verify.theorem.theorem`):

* ``"exact"``: the claim holds for every instance; a fresh seed that fails it refutes it.
* ``"statistical"``: the claim holds for a random instance with a stated probability ``rate``
  (a distributional claim is stated as the probability that its own test accepts); a run of
  n fresh seeds meets the claim when at least ``rate`` of them pass.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Callable, Iterator, TypeVar

import numpy as np

from ..errors import CurvsymError, OptionError

I = TypeVar("I")

__all__ = ["current", "using", "pick", "rng", "fresh", "derive", "draw_until"]

_SEED: contextvars.ContextVar = contextvars.ContextVar("curvsym_theorem_seed", default=None)


def current() -> int | None:
    """The seed set by :func:`using`, or None (the shipped instances)."""
    return _SEED.get()


def fresh() -> bool:
    """True inside :func:`using` with a seed: instances are redrawn."""
    return _SEED.get() is not None


@contextlib.contextmanager
def using(seed: int | None) -> Iterator[int | None]:
    """Within the block, :func:`pick` derives every instance seed from ``seed`` (None: shipped seeds).

    Raises:
        OptionError: ``seed`` is not a non-negative integer.
    """
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise OptionError(f"a theorem seed is a non-negative integer, got {seed!r}")
    token = _SEED.set(None if seed is None else int(seed))
    try:
        yield current()
    finally:
        _SEED.reset(token)


def derive(seed: int, shipped: int, salt: int = 0) -> int:
    """The seed that replaces ``shipped`` under run seed ``seed`` (a 32-bit integer)."""
    return int(np.random.SeedSequence([int(seed), int(shipped), int(salt), 0x25]).generate_state(1)[0])


def pick(shipped: int, salt: int = 0) -> int:
    """``shipped`` outside :func:`using`; inside, a seed derived from the run seed, ``shipped`` and ``salt``."""
    s = _SEED.get()
    return int(shipped) if s is None else derive(s, shipped, salt)


def rng(shipped: int, salt: int = 0) -> np.random.Generator:
    """``np.random.default_rng(pick(shipped, salt))``."""
    return np.random.default_rng(pick(shipped, salt))


def draw_until(make: Callable[[int], I], accept: Callable[[I], bool], shipped: int, tries: int = 20) -> tuple[I, int]:
    """The first instance ``make(pick(shipped, k))``, k = 0, 1, …, that satisfies a claim's hypothesis ``accept``,
    and the number of draws it took.

    A theorem whose claim has a hypothesis that a random instance can violate (an invertible target, a rank
    margin, a valid slow-manifold start) checks it on each draw instead of assuming it.  Outside :func:`using`
    there is one draw, the shipped instance.

    Raises:
        CurvsymError: no draw satisfies the hypothesis (the shipped one, or none of ``tries`` fresh ones).
    """
    for k in range(tries if fresh() else 1):
        instance = make(pick(shipped, k))
        if accept(instance):
            return instance, k + 1
    raise CurvsymError(f"no instance drawn from seed {shipped} ({tries if fresh() else 1} draw(s)) satisfies the "
                       "theorem's hypothesis")
