"""Fixtures shared by the sweep tests."""

import pytest


@pytest.fixture(scope="module")
def cluster():
    """An embedded two-worker cluster per test module (skipped without pyarrow or dask.distributed)."""
    pytest.importorskip("pyarrow")
    pytest.importorskip("distributed")
    from curvsym.sweep.engine import local_cluster
    cl = local_cluster(2)
    yield cl
    cl.close()
