"""Shared fixtures: the optional real data sets (skipped, with the reason, when absent)."""

from __future__ import annotations

import pytest

from sandwichlab.data.app_categories import TRANSFER_ENV, _has_transfer_files
from sandwichlab.data.mnist import MNIST_ENV, _has_idx_files
from sandwichlab.data.paths import find_data_dir


def _real_dir(name: str, env: str, has_files):
    try:
        found = find_data_dir(name, env, has_files)
    except FileNotFoundError as exc:
        pytest.skip(f"real {name} data unavailable: {exc}")
    if found is None:
        pytest.skip(f"real {name} data not present (looked in data/{name} and ../shared/data/{name}; "
                    f"set {env} to use it); the embedded default is tested instead")
    return found


@pytest.fixture(scope="session")
def real_mnist_dir():
    return _real_dir("mnist", MNIST_ENV, _has_idx_files)


@pytest.fixture(scope="session")
def real_transfer_dir():
    return _real_dir("transfer", TRANSFER_ENV, _has_transfer_files)
