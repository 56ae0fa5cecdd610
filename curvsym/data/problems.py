"""Reproducible problem instances: initial layers, input covariance Σx and target T."""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import numpy as np

from ..symbolic.network import Network


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
        S = (S + S.T) / 2
    T = target_scale * rng.standard_normal((nN, n0))
    return Instance(ws, S, T)


def orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-random orthogonal n × n matrix (QR of a Gaussian, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def exact_orthogonal(d: int, rng: np.random.Generator) -> np.ndarray:
    """An orthogonal d × d matrix exact at the ambient mpmath precision: a product of Givens rotations.

    Q = Π_{i<j} G_ij(θ_ij) with θ_ij uniform on [0, 2π) drawn from ``rng`` in the order (0,1), (0,2), …;
    each G_ij is the identity with [[cos θ, −sin θ], [sin θ, cos θ]] in rows and columns i, j.  Unlike a
    float QR factor, QᵀQ = I holds to the working precision, which high-precision checks of invariants
    under orthogonal changes of basis need.  For d = 2 it is the rotation by θ.
    """
    Q = np.eye(d, dtype=object) * mpmath.mpf(1)
    for i in range(d):
        for j in range(i + 1, d):
            th = mpmath.mpf(float(rng.uniform(0, 2 * np.pi)))
            G = np.eye(d, dtype=object) * mpmath.mpf(1)
            G[i, i] = G[j, j] = mpmath.cos(th)
            G[i, j], G[j, i] = -mpmath.sin(th), mpmath.sin(th)
            Q = G @ Q
    return Q


def conditioned_instance(net: Network, seed: int = 0, spectrum: tuple = (1.5, 1.0, 0.7),
                         sigma_spectrum: tuple = (1.6, 1.0, 0.6), whitened: bool = False) -> Instance:
    """A well-conditioned instance for square chains: layers = random orthogonal
    matrices, T = U diag(spectrum) Vᵀ, Σx = Q diag(sigma_spectrum) Qᵀ (cycled to size)."""
    rng = np.random.default_rng(seed)
    ws = []
    for e in net.weights:
        m, n = e.shape
        ws.append(orthogonal(max(m, n), rng)[:m, :n])
    n0, nN = net.n_in, net.n_out
    s = np.resize(np.asarray(spectrum, dtype=float), min(n0, nN))
    U, V = orthogonal(nN, rng)[:, :len(s)], orthogonal(n0, rng)[:, :len(s)]
    T = (U * s) @ V.T
    if n0 == nN and all(e.shape[0] == e.shape[1] for e in net.weights) and len(net.blocks()) == net.depth:
        # keep det T and det W(0) of one sign: otherwise W(t) = T + (W0 − T)e^{−t} crosses det W = 0,
        # where the network Jacobian is not onto and curvature-corrected velocities blow up
        det_w = np.prod([np.linalg.det(w) for w in ws])
        if np.sign(np.linalg.det(T)) != np.sign(det_w):
            U[:, 0] = -U[:, 0]
            T = (U * s) @ V.T
    if whitened:
        S = np.eye(n0)
    else:
        Q = orthogonal(n0, rng)
        S = (Q * np.resize(np.asarray(sigma_spectrum, dtype=float), n0)) @ Q.T
        S = (S + S.T) / 2
    return Instance(tuple(ws), S, T)
