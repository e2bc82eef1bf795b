"""The two-circles toy of the hidden-targets report (its Figure 1)."""

from __future__ import annotations

import numbers

import numpy as np

from .base import Dataset


def make_circles(n: int = 400, noise: float = 0.05, factor: float = 0.5, seed: int = 0) -> Dataset:
    """Two concentric noisy circles in 2-D: inner circle labelled +1, outer -1.

    Not linearly separable (a linear classifier gets about 50 %).  Uses
    ``sklearn.datasets.make_circles``; ``factor`` is the inner radius relative
    to the outer one, ``noise`` the standard deviation of Gaussian jitter.
    """
    from sklearn.datasets import make_circles as _sk_make_circles

    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if not isinstance(noise, numbers.Real) or not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    if not isinstance(factor, numbers.Real) or not (0 < factor < 1):
        raise ValueError(f"factor must be strictly between 0 and 1, got {factor!r}")
    X, lab = _sk_make_circles(n_samples=int(n), noise=float(noise), factor=float(factor), random_state=seed)
    y = np.where(lab == 1, 1.0, -1.0)
    src = f"two circles (scikit-learn make_circles, n={n}, noise={noise:g}, factor={factor:g}, seed={seed})"
    return Dataset(X.astype(np.float64), y, src)
