"""Reproducible problem instances: initial layers, input covariance Σx and target T."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .network import Network


@dataclass(frozen=True)
class Instance:
    """Initial weights and data of one regression problem (float64 arrays)."""

    weights: tuple
    Sigma: np.ndarray
    T: np.ndarray

    def data(self, whitened: bool = False) -> tuple:
        """The data arguments of generated code: (T,) when whitened, else (Σx, T)."""
        return (self.T,) if whitened else (self.Sigma, self.T)


def random_instance(net: Network, seed: int = 0, scale: float = 0.5, whitened: bool = False,
                    target_scale: float = 1.0) -> Instance:
    """Gaussian layers N(0, scale²/n_in) per entry, Σx = AAᵀ/n + ½I (or I), T Gaussian."""
    rng = np.random.default_rng(seed)
    ws = tuple(scale * rng.standard_normal(e.shape) / np.sqrt(e.shape[1]) for e in net.weights)
    n0, nN = net.n_in, net.n_out
    if whitened:
        S = np.eye(n0)
    else:
        A = rng.standard_normal((n0, n0))
        S = A @ A.T / n0 + 0.5 * np.eye(n0)
    T = target_scale * rng.standard_normal((nN, n0))
    return Instance(ws, S, T)
