"""Real data: bundled digits, IDX files written by the test, centring and whitening, bad input (about 2 s)."""

import gzip

import numpy as np
import pytest

import curvsym as cs
from curvsym.data import datasets as ds


def test_digits_load_without_download():
    d = ds.load_digits()
    assert d.X.shape == (64, 1797) and d.labels.shape == (1797,) and d.n_classes == 10
    assert d.X.min() == 0.0 and d.X.max() == 1.0 and set(np.unique(d.labels)) == set(range(10))
    Y = d.one_hot()
    assert Y.shape == (10, 1797) and np.all(Y.sum(axis=0) == 1) and np.all(Y[d.labels, np.arange(1797)] == 1)
    train, test = d.split(300, seed=1)
    assert train.m == 1497 and test.m == 300
    both = np.hstack([train.X, test.X])  # a partition: every example exactly once
    assert np.array_equal(np.sort(both.sum(axis=0)), np.sort(d.X.sum(axis=0)))
    assert np.array_equal(np.bincount(np.concatenate([train.labels, test.labels])), np.bincount(d.labels))


def _write_mnist(tmp_path, images, labels, compress=False):
    ip, lp = tmp_path / "imgs.idx", tmp_path / "labs.idx"
    ds.write_idx(ip, images)
    ds.write_idx(lp, labels)
    if compress:
        for p in (ip, lp):
            p.with_suffix(".gz").write_bytes(gzip.compress(p.read_bytes()))
        return ip.with_suffix(".gz"), lp.with_suffix(".gz")
    return ip, lp


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip_and_mnist_loader(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
    labels = np.array([3, 0, 9, 1, 1], dtype=np.uint8)
    ip, lp = _write_mnist(tmp_path, images, labels, compress)
    assert np.array_equal(ds.read_idx(ip), images) and ds.read_idx(ip).dtype == np.uint8
    raw = (tmp_path / "imgs.idx").read_bytes()
    assert raw[:4] == bytes([0, 0, 0x08, 3]) and int.from_bytes(raw[4:8], "big") == 5
    d = ds.load_mnist(ip, lp)
    assert d.X.shape == (12, 5) and d.image_shape == (4, 3)
    np.testing.assert_array_equal(d.X[:, 2], images[2].reshape(-1) / 255.0)
    assert list(d.labels) == [3, 0, 9, 1, 1]
    assert ds.load_mnist(ip, lp, limit=2).m == 2
    floats = np.linspace(-1, 1, 6, dtype=">f8").reshape(2, 3)
    ds.write_idx(tmp_path / "f.idx", floats)
    np.testing.assert_array_equal(ds.read_idx(tmp_path / "f.idx"), floats)


def test_bad_files_raise_named_errors(tmp_path):
    with pytest.raises(cs.DatasetFileError, match="no such IDX file"):
        ds.read_idx(tmp_path / "missing.idx")
    with pytest.raises(FileNotFoundError):  # the built-in a caller would catch
        ds.load_mnist(tmp_path / "a", tmp_path / "b")
    (tmp_path / "junk").write_bytes(b"hello world")
    with pytest.raises(cs.DatasetError, match="not an IDX file"):
        ds.read_idx(tmp_path / "junk")
    ip, lp = _write_mnist(tmp_path, np.zeros((3, 2, 2), np.uint8), np.array([0, 1, 2], np.uint8))
    (tmp_path / "short.idx").write_bytes(ip.read_bytes()[:-2])
    with pytest.raises(cs.DatasetError, match="announces shape"):
        ds.read_idx(tmp_path / "short.idx")
    ds.write_idx(tmp_path / "four.idx", np.array([0, 1, 2, 3], np.uint8))
    with pytest.raises(cs.DatasetError, match="3 images but 4 labels"):
        ds.load_mnist(ip, tmp_path / "four.idx")
    ds.write_idx(tmp_path / "bad_labels.idx", np.array([0, 10, 2], np.uint8))
    with pytest.raises(cs.LabelError, match=r"\[10\] lie outside the classes 0 … 9"):
        ds.load_mnist(ip, tmp_path / "bad_labels.idx")
    nan_imgs = np.zeros((3, 2, 2))
    nan_imgs[1, 0, 1] = np.nan
    ds.write_idx(tmp_path / "nan.idx", nan_imgs)
    with pytest.raises(cs.NonFiniteError, match="1 NaN"):
        ds.load_mnist(tmp_path / "nan.idx", lp)
    ds.write_idx(tmp_path / "flat.idx", np.zeros((3, 4), np.uint8))
    with pytest.raises(cs.ShapeError, match="m × height × width"):
        ds.load_mnist(tmp_path / "flat.idx", lp)
    with pytest.raises(cs.DatasetError):
        ds.write_idx(tmp_path / "c.idx", np.zeros(2, dtype=complex))


def test_centring_standardisation_and_whitening():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((4, 4))
    X = A @ rng.standard_normal((4, 500)) + 5.0
    np.testing.assert_allclose(ds.center(X).mean(axis=1), 0, atol=1e-12)
    Z = ds.standardization(X).apply(X)
    assert abs(np.sqrt(np.mean(Z ** 2)) - 1) < 1e-12
    W = ds.whiten(X, eps=1e-12)
    np.testing.assert_allclose(W @ W.T / 500, np.eye(4), atol=1e-8)
    zca = ds.whitening(X, eps=1e-12)
    np.testing.assert_allclose(zca.matrix, zca.matrix.T, atol=1e-12)  # ZCA: symmetric, the closest whitening
    Xtest = A @ rng.standard_normal((4, 7)) + 5.0
    assert zca.apply(Xtest).shape == (4, 7)
    with pytest.raises(cs.ShapeError, match="fitted on 4 features"):
        zca.apply(np.zeros((3, 2)))
    with pytest.raises(cs.NonFiniteError):
        ds.center(np.array([[1.0, np.nan]]))
    with pytest.raises(cs.ShapeError):
        ds.center(np.zeros(5))
    with pytest.raises(cs.OptionError):
        ds.whitening(X, eps=0)
    with pytest.raises(cs.DatasetError, match="constant"):
        ds.standardization(np.ones((2, 3)))
    with pytest.raises(cs.LabelError):
        ds.check_data(X, rng.standard_normal(500), 3)
    with pytest.raises(cs.OptionError):
        ds.load_digits().split(0)
