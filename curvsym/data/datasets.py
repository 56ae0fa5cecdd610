r"""Real data for nonlinear networks: scikit-learn's bundled digits, MNIST IDX files, centring and whitening.

Data are matrices with **one column per example**, X ∈ R^{n_0 × m}, as the
derivation of :mod:`curvsym.symbolic.nonlinear` takes them, with integer class
labels y ∈ {0, …, C − 1}^m alongside.

* :func:`load_digits` — the 1797 8 × 8 handwritten digits bundled with
  scikit-learn (no download; pixel values 0 … 16 scaled to [0, 1]); the default data set.
* :func:`read_idx` / :func:`load_mnist` — the IDX format of LeCun's MNIST files, for
  files the user already has (plain or gzipped).  Nothing is downloaded.
* :func:`centering`, :func:`standardization`, :func:`whitening` — affine maps
  x ↦ A(x − μ) fitted on training data and applied to any data:
  centring (A = I), Bernacchia et al.'s preprocessing (centred per pixel, scaled by
  1/σ with σ the global standard deviation), and ZCA whitening
  A = U (Λ + εI)^{−½} Uᵀ with Σ = U Λ Uᵀ the covariance (1/m)(X − μ1ᵀ)(X − μ1ᵀ)ᵀ,
  so that the whitened training covariance is U Λ(Λ + ε)^{−1} Uᵀ ≈ I.

Errors name the problem: :class:`~curvsym.errors.DatasetFileError` (missing file),
:class:`~curvsym.errors.DatasetError` (not an IDX file, truncated, images and
labels of different lengths), :class:`~curvsym.errors.ShapeError`,
:class:`~curvsym.errors.NonFiniteError` (NaN pixels) and
:class:`~curvsym.errors.LabelError` (labels outside the classes).
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError, DatasetFileError, LabelError, NonFiniteError, OptionError, ShapeError
from ..symbolic.nonlinear import one_hot as _one_hot
from ..types import Array

__all__ = ["Dataset", "Affine", "load_digits", "read_idx", "write_idx", "load_mnist", "check_data", "one_hot",
           "centering", "standardization", "whitening", "center", "whiten"]


def check_data(X: Array, labels: Array | None = None, n_classes: int | None = None) -> tuple:
    """X as a finite float64 n × m matrix and labels as int64 in 0 … n_classes − 1 (if given).

    Raises:
        ShapeError: X is not 2-D, or the number of labels is not the number of columns of X.
        NonFiniteError: X has NaN or infinite entries (the message counts them).
        LabelError: labels that are not integers, or outside 0 … n_classes − 1.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ShapeError(f"data must be a matrix with one column per example, got shape {X.shape}")
    bad = int(np.sum(~np.isfinite(X)))
    if bad:
        raise NonFiniteError(f"the data contain {bad} NaN or infinite entries (first at column "
                             f"{int(np.argwhere(~np.isfinite(X))[0][1])})")
    if labels is None:
        return X, None
    y = np.asarray(labels)
    if y.ndim != 1 or y.size != X.shape[1]:
        raise ShapeError(f"need one label per example (column of X): {X.shape[1]}, got shape {y.shape}")
    if y.size and y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise LabelError("labels must be integer class indices")
    elif y.size and y.dtype.kind not in "iu":
        raise LabelError(f"labels must be integer class indices, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if n_classes is not None and y.size and (y.min() < 0 or y.max() >= n_classes):
        bad_labels = sorted({int(v) for v in y if v < 0 or v >= n_classes})[:5]
        raise LabelError(f"labels {bad_labels} lie outside the classes 0 … {n_classes - 1}")
    return X, y


def one_hot(labels: Array, n_classes: int) -> np.ndarray:
    """The n_classes × m matrix with a 1 in row labels[b] of column b.

    Raises:
        LabelError: labels that are not integers in 0 … n_classes − 1.
    """
    return _one_hot(labels, n_classes)


@dataclass(frozen=True)
class Dataset:
    """Examples as columns of ``X`` (n_features × m), integer ``labels`` (m,), ``n_classes``, a ``name``."""

    X: np.ndarray
    labels: np.ndarray | None
    n_classes: int
    name: str
    image_shape: tuple | None = None

    @property
    def m(self) -> int:
        """The number of examples."""
        return int(self.X.shape[1])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[0])

    def one_hot(self) -> np.ndarray:
        """Y = one-hot labels, n_classes × m.

        Raises:
            LabelError: the data set has no labels.
        """
        if self.labels is None:
            raise LabelError(f"{self.name} has no labels")
        return one_hot(self.labels, self.n_classes)

    def subset(self, indices: Array) -> "Dataset":
        """The examples ``indices`` (in that order)."""
        idx = np.asarray(indices, dtype=np.int64)
        return Dataset(self.X[:, idx], None if self.labels is None else self.labels[idx], self.n_classes,
                       self.name, self.image_shape)

    def split(self, n_test: int, seed: int = 0) -> tuple["Dataset", "Dataset"]:
        """(train, test) with ``n_test`` examples held out for **testing**; the other m − n_test train.

        The number is the size of the *test* set, not of the training set: ``d.split(300)`` on the
        1797 digits gives 1497 training and 300 test examples.  Write ``d.split(n_test=300)`` to make
        that plain to a reader.  The examples are drawn at random, reproducibly by ``seed``.

        Example:
            >>> from curvsym.data.datasets import load_digits
            >>> train, test = load_digits().split(n_test=300, seed=0)
            >>> train.X.shape, test.X.shape
            ((64, 1497), (64, 300))

        Raises:
            OptionError: n_test not in 1 … m − 1.
        """
        if isinstance(n_test, bool) or not isinstance(n_test, (int, np.integer)) or not 0 < n_test < self.m:
            raise OptionError(f"n_test must be an integer in 1 … {self.m - 1}, got {n_test!r}")
        perm = np.random.default_rng(seed).permutation(self.m)
        return self.subset(np.sort(perm[n_test:])), self.subset(np.sort(perm[:n_test]))


def load_digits() -> Dataset:
    """scikit-learn's bundled 8 × 8 digits: X is 64 × 1797 with pixels in [0, 1], 10 classes (no download)."""
    from sklearn.datasets import (
        load_digits as _load,  # deferred: scikit-learn takes ~1 s to import; only the digits loader needs it
    )
    d = _load()
    return Dataset(np.ascontiguousarray(d.data.T / 16.0), d.target.astype(np.int64), 10, "digits", (8, 8))


# --------------------------------------------------------------------------- IDX files

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _open(path: Path):
    with open(path, "rb") as fh:
        head = fh.read(2)
    return gzip.open(path, "rb") if head == b"\x1f\x8b" else open(path, "rb")


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file (LeCun's MNIST format; gzip-compressed files too).

    Layout: two zero bytes, a type byte (0x08 uint8, 0x09 int8, 0x0B int16,
    0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions, the sizes
    as big-endian int32, then the data, big-endian, C order.

    Raises:
        DatasetFileError: the file does not exist.
        DatasetError: not an IDX file (bad magic or type), or the data are truncated or too long.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetFileError(f"no such IDX file: {path} (curvsym never downloads data; point it at files you have)")
    try:
        with _open(path) as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DatasetError(f"{path} is not an IDX file (magic bytes {raw[:4].hex() or 'missing'})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}i", raw[4:header])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DatasetError(f"{path}: the header announces shape {shape} ({expected} bytes of data) but the file "
                           f"holds {len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: Array) -> Path:
    """Write ``array`` (uint8, int8, int16, int32, float32 or float64) as an IDX file (the inverse of :func:`read_idx`).

    Raises:
        DatasetError: a dtype the IDX format cannot hold.
    """
    a = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("=").str: k for k, v in _IDX_TYPES.items()}
    key = a.dtype.newbyteorder("=").str
    if key not in codes:
        raise DatasetError(f"the IDX format cannot hold dtype {a.dtype}")
    code = codes[key]
    path = Path(path)
    body = np.ascontiguousarray(a, dtype=np.dtype(_IDX_TYPES[code])).tobytes()
    path.write_bytes(bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}i", *a.shape) + body)
    return path


def load_mnist(images: str | Path, labels: str | Path, limit: int | None = None, n_classes: int = 10) -> Dataset:
    """MNIST-style data from IDX files the user has: images (m × h × w) and labels (m).

    X is (h·w) × m with pixels divided by 255 (uint8 files) or as stored
    (float files); ``limit`` keeps the first examples.

    Raises:
        DatasetFileError: a file does not exist.
        DatasetError: not an IDX file, truncated, or images and labels of different lengths.
        ShapeError: images that are not a 3-D array (m × h × w), or labels that are not 1-D.
        NonFiniteError: NaN or infinite pixels.
        LabelError: labels outside 0 … n_classes − 1.
    """
    imgs, labs = read_idx(images), read_idx(labels)
    if imgs.ndim != 3:
        raise ShapeError(f"{images}: images must be m × height × width, got shape {imgs.shape}")
    if labs.ndim != 1:
        raise ShapeError(f"{labels}: labels must be a 1-D array, got shape {labs.shape}")
    if imgs.shape[0] != labs.shape[0]:
        raise DatasetError(f"{imgs.shape[0]} images but {labs.shape[0]} labels")
    if limit is not None:
        imgs, labs = imgs[:limit], labs[:limit]
    X = imgs.reshape(imgs.shape[0], -1).T.astype(float)
    if imgs.dtype == np.uint8:
        X = X / 255.0
    X, y = check_data(X, labs, n_classes)
    return Dataset(np.ascontiguousarray(X), y, n_classes, f"MNIST ({Path(images).name})", tuple(imgs.shape[1:]))


# --------------------------------------------------------------------------- preprocessing

@dataclass(frozen=True)
class Affine:
    """x ↦ A(x − μ) applied to every column: ``mean`` μ (n × 1), ``matrix`` A (n × n, or a scalar)."""

    mean: np.ndarray
    matrix: Any
    name: str = "affine"

    def apply(self, X: Array) -> np.ndarray:
        """A(X − μ1ᵀ).

        Raises:
            ShapeError: X has another number of rows than μ.
            NonFiniteError: X has NaN or infinite entries.
        """
        X, _ = check_data(X)
        if X.shape[0] != self.mean.shape[0]:
            raise ShapeError(f"{self.name}: fitted on {self.mean.shape[0]} features, got data with {X.shape[0]}")
        centred = X - self.mean
        return self.matrix @ centred if np.ndim(self.matrix) == 2 else self.matrix * centred


def centering(X: Array) -> Affine:
    """x ↦ x − μ with μ the mean column of X.

    Raises:
        ShapeError: X is not a matrix.
        NonFiniteError: X has NaN or infinite entries.
    """
    X, _ = check_data(X)
    return Affine(X.mean(axis=1, keepdims=True), 1.0, "centring")


def standardization(X: Array) -> Affine:
    """x ↦ (x − μ)/σ: centred per feature, scaled by the global standard deviation σ (Bernacchia et al.).

    Raises:
        ShapeError: X is not a matrix.
        NonFiniteError: X has NaN or infinite entries.
        DatasetError: the data are constant (σ = 0).
    """
    X, _ = check_data(X)
    mu = X.mean(axis=1, keepdims=True)
    sigma = float(np.sqrt(np.mean((X - mu) ** 2)))
    if sigma == 0:
        raise DatasetError("the data are constant; there is no scale to standardise by")
    return Affine(mu, 1.0 / sigma, "standardisation")


def whitening(X: Array, eps: float = 1e-5) -> Affine:
    """ZCA whitening x ↦ U(Λ + ε)^{−½}Uᵀ(x − μ), Σ = UΛUᵀ = (1/m)(X − μ1ᵀ)(X − μ1ᵀ)ᵀ.

    Constant features (Λ = 0) are scaled by ε^{−½}·0 = 0 in their direction, so ε > 0
    keeps the map finite.

    Raises:
        ShapeError: X is not a matrix.
        NonFiniteError: X has NaN or infinite entries.
        OptionError: ε ≤ 0 or not finite.
    """
    if not (isinstance(eps, (int, float)) and np.isfinite(eps) and eps > 0):
        raise OptionError(f"whitening needs a regulariser ε > 0, got {eps!r}")
    X, _ = check_data(X)
    mu = X.mean(axis=1, keepdims=True)
    C = (X - mu) @ (X - mu).T / X.shape[1]
    lam, U = np.linalg.eigh((C + C.T) / 2)
    lam = np.clip(lam, 0, None)
    return Affine(mu, (U / np.sqrt(lam + eps)) @ U.T, "ZCA whitening")


def center(X: Array) -> np.ndarray:
    """X − μ1ᵀ (its own mean removed).

    Raises:
        ShapeError: X is not a matrix.
        NonFiniteError: X has NaN or infinite entries.
    """
    return centering(X).apply(X)


def whiten(X: Array, eps: float = 1e-5) -> np.ndarray:
    """X ZCA-whitened by its own covariance (:func:`whitening`).

    Raises:
        ShapeError: X is not a matrix.
        NonFiniteError: X has NaN or infinite entries.
        OptionError: ε ≤ 0.
    """
    return whitening(X, eps).apply(X)
