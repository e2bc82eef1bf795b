"""Containers and input checks shared by the loaders."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """Features ``X`` (N x d, float64), labels ``y`` (N,) and where they came from."""

    X: np.ndarray
    y: np.ndarray
    source: str

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def counts(self) -> dict:
        """Number of examples per label, e.g. ``{1: 500, -1: 500}``."""
        labels, n = np.unique(self.y, return_counts=True)
        return {int(k) if float(k).is_integer() else float(k): int(v) for k, v in zip(labels, n)}

    def summary(self) -> str:
        counts = ", ".join(f"{n:,} with label {k:+d}" if isinstance(k, int) else f"{n:,} with label {k}" for k, n in sorted(self.counts.items(), reverse=True))
        return f"{len(self):,} examples x {self.X.shape[1]} features ({counts}); source: {self.source}"

    def __repr__(self) -> str:
        return f"Dataset({self.summary()})"


def check_finite_matrix(a, name: str, *, ndim: int = 2, nonnegative: bool = False, where: str | None = None) -> np.ndarray:
    """Return ``a`` as a float64 array, or raise ValueError naming ``name`` and the problem."""
    label = f"{name} ({where})" if where else name
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{label}: cannot be read as a numeric array ({exc})") from exc
    if arr.ndim != ndim:
        raise ValueError(f"{label}: expected a {ndim}-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{label}: is empty (shape {arr.shape})")
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{label}: contains NaN or inf (first at index {idx}, {int(bad.sum())} in all)")
    if nonnegative and (arr < 0).any():
        idx = tuple(int(i) for i in np.argwhere(arr < 0)[0])
        raise ValueError(f"{label}: contains negative values where fractions are expected (first at index {idx}: {arr[idx]!r})")
    return arr
