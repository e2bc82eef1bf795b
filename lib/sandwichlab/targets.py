"""Hidden targets that interpolate between inputs and labels (the hidden-targets report).

For inputs ``X`` (N x d) and labels ``y`` the report asks for targets ``H_α`` with

    H_α H_αᵀ = G_α = (1 − α) X Xᵀ + α y yᵀ,        α in [0, 1],

and takes ``H_α = U Λ^½`` from the eigendecomposition ``G_α = U Λ Uᵀ``.  Forming
the N x N matrix ``G_α`` costs O(N³) per α (minutes and a gigabyte on full
MNIST 3-vs-8).  :class:`HiddenTargets` never forms it.

How: one thin SVD of ``X`` per data set, ``X = U_x diag(s) V_xᵀ`` (rank r,
numerically-zero singular values dropped), plus an orthonormal basis ``Q_y`` of the
part of the labels outside the column space of ``X``.  ``B = [U_x, Q_y]`` (N x m,
m = r + c' <= d + c) is an orthonormal basis of everything ``G_α`` can reach, and
in that basis

    G_α = B K_α Bᵀ,    K_α = (1 − α) diag(s², 0) + α W Wᵀ,    W = Bᵀ Y   (m x c),

so each α needs only the m x m eigenproblem ``K_α = V diag(λ) Vᵀ``; then
``λ`` are the non-trivial eigenvalues of ``G_α`` and ``H_α = B V diag(λ)^½``.
Results are cached per α, so the spectrum, the effective dimension and the
targets at one α share one eigensolve.

Labels: a ±1 vector (the report's binary case, ``y yᵀ`` is +1 for same-class
pairs and −1 otherwise), or a one-hot matrix ``Y`` (N x c, c >= 2) for more
classes, where ``Y Yᵀ`` is 1 for same-class pairs and 0 otherwise.

Everything is float64: on MNIST the interesting α are 1e-10 … 1e-7, where the
label's eigenvalue is ~1e-11 of the largest; float32 (7 digits) loses it.
"""

from __future__ import annotations

import numbers
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import scipy.linalg  # loads SciPy's BLAS now, so one_blas_thread() sees it

EPS = np.finfo(np.float64).eps
DROP_RULES = (None, "correlated", "label direction")  # what lr_error may remove before fitting

__all__ = [
    "HiddenTargets", "align_signs", "one_blas_thread", "check_alpha", "check_labels", "class_index", "default_alpha_grid",
    "dense_hidden_targets", "label_correlation", "lr_error_curve", "lr_training_error",
]


# --------------------------------------------------------------------------- BLAS threads

class _OneBlasThread:
    """Context manager: BLAS runs single-threaded while any thread is inside (re-entrant, thread-safe).

    On a 2-core machine shared with other work, multi-threaded OpenBLAS eigensolves
    of a ~600 x 600 matrix take 0.1-15 s instead of ~50 ms single-threaded: the threads
    wait for each other.  The limit is process-wide (that is how BLAS works) and is
    lifted when the last caller leaves.  Enter it from the main thread: with this
    OpenBLAS a limit set from another thread does not take effect (measured).
    Without threadpoolctl (a scikit-learn dependency) it does nothing.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._depth = 0
        self._limiter = None
        self._controller = None

    def __enter__(self):
        with self._lock:
            if self._depth == 0:
                try:
                    if self._controller is None:
                        from threadpoolctl import ThreadpoolController

                        self._controller = ThreadpoolController()
                    self._limiter = self._controller.limit(limits=1, user_api="blas")
                except ImportError:  # pragma: no cover - scikit-learn always brings threadpoolctl
                    self._limiter = None
            self._depth += 1
        return self

    def __exit__(self, *exc):
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._limiter is not None:
                self._limiter.restore_original_limits()
                self._limiter = None
        return False


_ONE_BLAS_THREAD = _OneBlasThread()


def one_blas_thread() -> _OneBlasThread:
    """``with one_blas_thread(): ...`` runs BLAS single-threaded inside (see :class:`_OneBlasThread`)."""
    return _ONE_BLAS_THREAD


class _NoLimit:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# --------------------------------------------------------------------------- input checks

def check_alpha(alpha, name: str = "alpha") -> float:
    """``alpha`` as a float in [0, 1], or ValueError naming ``name``."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise ValueError(f"{name} must be a real number in [0, 1], got {alpha!r}")
    a = float(alpha)
    if not np.isfinite(a) or a < 0.0 or a > 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {alpha!r}")
    return a


def _check_X(X) -> np.ndarray:
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"X: cannot be read as a numeric array ({exc})") from exc
    if arr.ndim != 2:
        raise ValueError(f"X must be a 2-D array (N samples x d features), got shape {arr.shape}")
    if arr.shape[0] < 2:
        raise ValueError(f"X must have at least 2 samples (rows), got {arr.shape[0]}")
    if arr.shape[1] < 1:
        raise ValueError(f"X must have at least 1 feature (column), got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        raise ValueError(f"X contains NaN or inf ({int(bad.sum())} entries; first at row {i}, column {j})")
    if not arr.any():
        raise ValueError("X is all zeros: there is nothing to interpolate from")
    return arr


def check_labels(y, n_samples: int | None = None) -> np.ndarray:
    """Labels as float64: a ±1 vector (N,) or a one-hot matrix (N, c >= 2).

    ValueError naming ``y`` when the values are neither, or when the length does
    not match ``n_samples``.
    """
    try:
        arr = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"y: cannot be read as a numeric array ({exc})") from exc
    if arr.ndim not in (1, 2):
        raise ValueError(f"y must be a ±1 vector (N,) or a one-hot matrix (N, c), got shape {arr.shape}")
    if n_samples is not None and arr.shape[0] != n_samples:
        raise ValueError(f"y has {arr.shape[0]} labels but X has {n_samples} samples (rows); they must match")
    if arr.shape[0] < 2:
        raise ValueError(f"y must have at least 2 labels, got {arr.shape[0]}")
    if not np.isfinite(arr).all():
        raise ValueError("y contains NaN or inf")
    if arr.ndim == 1:
        bad = (arr != 1.0) & (arr != -1.0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            found = np.unique(arr)[:6]
            raise ValueError(f"y must contain only +1 and -1 (binary labels; pass a one-hot matrix for more classes), "
                             f"found {found.tolist()}{' ...' if np.unique(arr).size > 6 else ''} (first bad at index {i})")
        return arr
    if arr.shape[1] < 2:
        raise ValueError(f"y as a one-hot matrix needs at least 2 columns (classes), got shape {arr.shape}; "
                         "pass binary labels as a ±1 vector")
    not01 = (arr != 0.0) & (arr != 1.0)
    if not01.any():
        i, j = (int(v) for v in np.argwhere(not01)[0])
        raise ValueError(f"y as a one-hot matrix must contain only 0 and 1, found {arr[i, j]!r} at row {i}, column {j}")
    rows = arr.sum(axis=1)
    if (rows != 1.0).any():
        i = int(np.flatnonzero(rows != 1.0)[0])
        raise ValueError(f"y as a one-hot matrix must have exactly one 1 per row; row {i} has {int(rows[i])}")
    return arr


def class_index(y) -> np.ndarray:
    """Integer class of each sample from checked labels: ±1 -> 1 / 0, one-hot -> column index."""
    y = np.asarray(y)
    return (y > 0).astype(np.int64) if y.ndim == 1 else np.argmax(y, axis=1).astype(np.int64)


def _check_threshold(threshold) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not (0.0 < float(threshold) <= 1.0):
        raise ValueError(f"threshold must be a fraction in (0, 1], got {threshold!r}")
    return float(threshold)


# --------------------------------------------------------------------------- helpers

def align_signs(H: np.ndarray, reference: np.ndarray | None) -> np.ndarray:
    """Flip columns of ``H`` (N x k) so each points the same way as ``reference``'s.

    Eigenvectors are defined up to sign; aligning each column with the same
    column at the previous α keeps displayed points from jumping to their mirror
    image.  Column j is flipped when its dot product with ``reference[:, j]`` is
    negative; columns beyond ``reference``'s width are left alone.  Returns a new array.
    """
    H = np.array(H, dtype=np.float64, copy=True)
    if reference is None:
        return H
    ref = np.asarray(reference, dtype=np.float64)
    if ref.ndim != 2 or ref.shape[0] != H.shape[0]:
        raise ValueError(f"reference must be an array of shape ({H.shape[0]}, k), got {ref.shape}")
    k = min(H.shape[1], ref.shape[1])
    dots = np.einsum("ij,ij->j", H[:, :k], ref[:, :k])
    H[:, :k] *= np.where(dots < 0, -1.0, 1.0)
    return H


def label_correlation(H: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Share of each column's variance explained by the class (η², in [0, 1]); (k,).

    For ±1 labels this is the squared Pearson correlation with ``y``; for one-hot
    labels the between-class sum of squares over the total.  Constant columns get 0.
    """
    H = np.asarray(H, dtype=np.float64)
    if H.ndim != 2:
        raise ValueError(f"H must be 2-D (N x k), got shape {H.shape}")
    y = check_labels(y, H.shape[0])
    cls = class_index(y)
    n_cls = int(cls.max()) + 1
    counts = np.bincount(cls, minlength=n_cls).astype(np.float64)
    sums = np.zeros((n_cls, H.shape[1]))
    np.add.at(sums, cls, H)
    mean = H.mean(axis=0)
    total = ((H - mean) ** 2).sum(axis=0)
    present = counts > 0
    between = (counts[present, None] * (sums[present] / counts[present, None] - mean) ** 2).sum(axis=0)
    return np.where(total > 0, np.clip(between / np.where(total > 0, total, 1.0), 0.0, 1.0), 0.0)


def dense_hidden_targets(X, y, alpha) -> tuple[np.ndarray, np.ndarray]:
    """The report's dense recipe: form G_α (N x N), eigh, H = U Λ^½.

    Returns (eigenvalues descending (N,), H (N x N) with columns in the same order).
    O(N³) time and O(N²) memory: for tests and benchmarks on small N only.
    """
    X = _check_X(X)
    Y = check_labels(y, X.shape[0])
    a = check_alpha(alpha)
    Y2 = Y[:, None] if Y.ndim == 1 else Y
    G = (1.0 - a) * (X @ X.T) + a * (Y2 @ Y2.T)
    lam, U = np.linalg.eigh(G)
    lam, U = lam[::-1], U[:, ::-1]
    return lam, U * np.sqrt(np.clip(lam, 0.0, None))


# --------------------------------------------------------------------------- the main class

@dataclass(frozen=True)
class _Solve:
    """One eigensolve at one α: eigenvalues descending (rank,), eigenvectors (m x rank) or None."""

    values: np.ndarray
    vectors: np.ndarray | None


class HiddenTargets:
    """Hidden targets H_α for every α in [0, 1] from one factorisation of a data set.

    ``X``: inputs (N x d), any real numbers, no NaN/inf, N >= 2.
    ``y``: ±1 labels (N,) or one-hot labels (N x c, c >= 2).

    Set-up costs one thin SVD of X (O(N d²)); each new α costs one eigensolve of
    an m x m matrix (m = rank of [X, y] <= d + c) plus an N x k product for k
    target columns.  Thread-safe: a lock guards the per-α caches, so a background
    sweep and slider updates may share one instance.  ``single_thread=True`` runs
    that linear algebra with BLAS limited to one thread (see :func:`one_blas_thread`):
    slightly slower on an idle machine, 3-30x faster on a busy one.

    Attributes: ``n_samples`` (N), ``n_features`` (d), ``n_classes`` (2 for ±1
    labels, else c), ``rank_x`` (r, the numerical rank of X), ``dim`` (m, the
    rank of G_α for 0 < α < 1), ``rank_y`` (the rank of y yᵀ), ``label_residual``
    (‖y_⊥‖², the squared norm of the part of y outside the column space of X),
    ``labels`` (the checked labels), ``classes`` (integer class of each sample).
    """

    def __init__(self, X, y, *, cache_size: int = 32, single_thread: bool = True):
        self._blas = one_blas_thread() if single_thread else _NoLimit()
        with self._blas:
            self._setup(X, y, cache_size)

    def _setup(self, X, y, cache_size) -> None:
        X = _check_X(X)
        Y = check_labels(y, X.shape[0])
        if isinstance(cache_size, bool) or not isinstance(cache_size, numbers.Integral) or cache_size < 1:
            raise ValueError(f"cache_size must be a positive integer, got {cache_size!r}")
        self.n_samples, self.n_features = X.shape
        self.labels = Y
        self.classes = class_index(Y)
        Y2 = Y[:, None] if Y.ndim == 1 else Y
        self.n_classes = 2 if Y.ndim == 1 else Y.shape[1]
        n = self.n_samples

        # Thin SVD of X without its all-zero columns (MNIST has ~160 never-inked pixels):
        # they add nothing to X Xᵀ and only cost time.
        used = np.flatnonzero(np.any(X != 0.0, axis=0))
        U, s, Vt = np.linalg.svd(X[:, used], full_matrices=False)
        tol_x = s[0] * max(n, used.size) * EPS  # numpy.linalg.matrix_rank's rule
        r = int(np.count_nonzero(s > tol_x))
        U, s = U[:, :r], s[:r]
        self._used_features = used
        self._pixel_loadings = Vt[:r].T * s  # (d_used x r): Xᵀ U_x, the pixel pattern of each basis vector

        # The part of the labels outside the column space of X, orthogonalised twice
        # ("twice is enough") and cut where it is at rounding level.
        Wx = U.T @ Y2
        R = Y2 - U @ Wx
        for _ in range(2):
            corr = U.T @ R
            R -= U @ corr
        y_norm = float(np.linalg.norm(Y2))
        tol_y = max(n, self.n_features + Y2.shape[1]) * EPS * y_norm
        Qy = np.zeros((n, 0))
        if np.linalg.norm(R) > tol_y:
            Q, Rr, _piv = scipy.linalg.qr(R, mode="economic", pivoting=True)
            keep = int(np.count_nonzero(np.abs(np.diag(Rr)) > tol_y))
            Qy = Q[:, :keep]
            Qy -= U @ (U.T @ Qy)  # one more pass so B stays orthonormal to rounding
            Qy, _ = np.linalg.qr(Qy)
        self._basis = np.hstack([U, Qy]) if Qy.shape[1] else U  # B (N x m), orthonormal columns
        self._s2 = np.concatenate([s * s, np.zeros(Qy.shape[1])])  # diag of Bᵀ X Xᵀ B
        self._W = np.vstack([Wx, Qy.T @ Y2])  # Bᵀ Y (m x c)
        self.rank_x = r
        self.dim = int(self._basis.shape[1])
        sw = np.linalg.svd(self._W, compute_uv=False)
        self.rank_y = int(np.count_nonzero(sw > sw[0] * max(n, self.dim) * EPS)) if sw.size and sw[0] > 0 else 0
        # class sums of the basis vectors, for label correlations without forming H
        n_cls = int(self.classes.max()) + 1
        self._class_counts = np.bincount(self.classes, minlength=n_cls).astype(np.float64)
        self._class_sums = np.zeros((n_cls, self.dim))
        np.add.at(self._class_sums, self.classes, self._basis)
        self.label_residual = float(np.sum(self._W[r:] ** 2))  # ‖y_⊥‖²: the part of y no linear map of X gives

        self._lock = threading.RLock()
        self._full: OrderedDict[float, _Solve] = OrderedDict()
        self._values: OrderedDict[float, np.ndarray] = OrderedDict()
        self._cache_size = int(cache_size)
        self._lr_cache: dict = {}
        self.solves = 0  # number of eigensolves done (full + values-only): tests check the cache with it

    def clear_cache(self) -> None:
        """Forget every cached eigensolve and LR fit (benchmarks time fresh α values with it)."""
        with self._lock:
            self._full.clear()
            self._values.clear()
            self._lr_cache.clear()

    # ------------------------------------------------------------------ internals

    def rank(self, alpha) -> int:
        """Rank of G_α: r at α = 0, rank(y yᵀ) at α = 1, m in between."""
        a = check_alpha(alpha)
        return self.rank_x if a == 0.0 else self.rank_y if a == 1.0 else self.dim

    def _K(self, a: float) -> np.ndarray:
        K = (a * self._W) @ self._W.T
        K[np.diag_indices_from(K)] += (1.0 - a) * self._s2
        return K

    def _solve(self, alpha) -> _Solve:
        """The cached full eigensolve at α (computing it if needed)."""
        a = check_alpha(alpha)
        with self._lock:
            hit = self._full.get(a)
            if hit is not None:
                self._full.move_to_end(a)
                return hit
        with self._blas:
            lam, V = np.linalg.eigh(self._K(a))
        lam, V = lam[::-1], V[:, ::-1]
        k = self.rank(a)
        V = np.ascontiguousarray(V[:, :k])
        # Rayleigh quotients from the factor (no cancellation): small eigenvalues to
        # ~eps² of the largest instead of ~eps, and never negative.
        lam = (1.0 - a) * (self._s2 @ (V * V)) + a * np.sum((self._W.T @ V) ** 2, axis=0)
        order = np.argsort(-lam, kind="stable")
        lam, V = lam[order], V[:, order]
        # a deterministic sign: the largest entry of each eigenvector is positive
        big = np.argmax(np.abs(V), axis=0)
        V *= np.where(V[big, np.arange(V.shape[1])] < 0, -1.0, 1.0)
        sol = _Solve(lam, V)
        with self._lock:
            self.solves += 1
            self._full[a] = sol
            self._full.move_to_end(a)
            while len(self._full) > self._cache_size:
                self._full.popitem(last=False)
        return sol

    def _eigenvalues(self, a: float) -> np.ndarray:
        """Eigenvalues only (descending): from a cached full solve, else eigvalsh (cheaper)."""
        with self._lock:
            hit = self._full.get(a)
            if hit is not None:
                return hit.values
            vals = self._values.get(a)
            if vals is not None:
                self._values.move_to_end(a)
                return vals
        with self._blas:
            lam = np.linalg.eigvalsh(self._K(a))[::-1][: self.rank(a)]
        lam = np.clip(lam, 0.0, None)
        with self._lock:
            self.solves += 1
            self._values[a] = lam
            while len(self._values) > 32 * self._cache_size:
                self._values.popitem(last=False)
        return lam

    # ------------------------------------------------------------------ public API

    def spectrum(self, alpha) -> np.ndarray:
        """The non-trivial eigenvalues of G_α, descending (rank(α),), float64.

        Non-trivial means the rank of G_α: m for 0 < α < 1, r at α = 0, rank(y yᵀ)
        at α = 1; the other N − rank eigenvalues are exactly zero.
        """
        return self._solve(alpha).values.copy()

    def targets(self, alpha, n_components: int | None = None, *, reference: np.ndarray | None = None) -> np.ndarray:
        """H_α (N x k): the top ``n_components`` columns of U Λ^½, descending eigenvalue.

        ``n_components=None`` gives all rank(α) columns, so H_α H_αᵀ = G_α.
        ``reference`` (N x k', e.g. the targets shown at the previous α) flips
        each column to point the same way as the reference's (see :func:`align_signs`);
        without it each eigenvector's largest entry (in the internal basis) is positive.
        """
        a = check_alpha(alpha)
        k_max = self.rank(a)
        if n_components is None:
            k = k_max
        elif isinstance(n_components, bool) or not isinstance(n_components, numbers.Integral) or not 1 <= n_components <= k_max:
            raise ValueError(f"n_components must be an integer from 1 to {k_max} (the rank of G_alpha at alpha={a:g}), "
                             f"got {n_components!r}")
        else:
            k = int(n_components)
        sol = self._solve(a)
        with self._blas:
            H = self._basis @ (sol.vectors[:, :k] * np.sqrt(sol.values[:k]))
        return align_signs(H, reference) if reference is not None else H

    def effective_dimension(self, alpha, threshold: float = 0.95) -> int:
        """Fewest components whose eigenvalues hold at least ``threshold`` of the total (trace of G_α)."""
        a = check_alpha(alpha)
        t = _check_threshold(threshold)
        return _effective_dimension(self._eigenvalues(a), t)

    def effective_dimension_curve(self, alphas, threshold: float = 0.95) -> np.ndarray:
        """:meth:`effective_dimension` at each α of ``alphas`` (eigenvalues only: no eigenvectors); int (n,)."""
        t = _check_threshold(threshold)
        grid = _check_alphas(alphas)
        return np.array([_effective_dimension(self._eigenvalues(a), t) for a in grid], dtype=np.int64)

    def label_correlations(self, alpha) -> np.ndarray:
        """η² of each target column with the class (see :func:`label_correlation`), (rank(α),).

        Computed in the m-dimensional basis, without forming H_α.
        """
        sol = self._solve(alpha)
        return self._class_share(sol.vectors, sol.values)

    def _class_share(self, V: np.ndarray, lam: np.ndarray) -> np.ndarray:
        """η² of the columns B V diag(λ)^½ from the class sums of the basis (no N x k product)."""
        n = float(self.n_samples)
        lam = np.clip(np.atleast_1d(lam), 0.0, None)
        sums = (self._class_sums @ V) * np.sqrt(lam)  # per-class column sums of H
        mean = sums.sum(axis=0) / n
        total = lam - n * mean**2  # ||h||² = λ because B and V are orthonormal
        present = self._class_counts > 0
        counts = self._class_counts[present, None]
        between = (counts * (sums[present] / counts - mean) ** 2).sum(axis=0)
        ok = total > 1e-12 * max(float(lam.max(initial=0.0)), 1e-300)
        return np.where(ok, np.clip(between / np.where(ok, total, 1.0), 0.0, 1.0), 0.0)

    def pixel_patterns(self, alpha, n_components: int = 3) -> np.ndarray:
        """Xᵀ u_j for the top columns (d x k): the input pattern each target coordinate follows.

        ``u_j`` is the unit eigenvector of G_α; ``Xᵀ u_j`` is the average of the
        inputs weighted by their coordinate (zero for the part of u_j that only the
        labels explain).  Columns are signed like :meth:`targets` without reference.
        """
        a = check_alpha(alpha)
        if isinstance(n_components, bool) or not isinstance(n_components, numbers.Integral) or not 1 <= n_components <= self.rank(a):
            raise ValueError(f"n_components must be an integer from 1 to {self.rank(a)}, got {n_components!r}")
        sol = self._solve(a)
        out = np.zeros((self.n_features, n_components))
        out[self._used_features] = self._pixel_loadings @ sol.vectors[: self.rank_x, :n_components]
        return out

    def label_overlap(self, alpha) -> np.ndarray:
        """Share of each target column lying along the labels' own new direction(s), (rank(α),).

        The new direction is the part of y that no linear function of X reproduces
        (y minus its projection on the column space of X, ``y_⊥``).  At small α it
        is one extra target column (overlap ~1) with the smallest eigenvalue,
        α‖y_⊥‖²: this is how "the label enters as one extra dimension".  All zeros
        when y lies inside the column space of X (e.g. N <= d): then there is no new direction.
        """
        sol = self._solve(alpha)
        return np.sum(sol.vectors[self.rank_x:] ** 2, axis=0)

    def label_rank(self, alpha) -> int | None:
        """1-based position (by eigenvalue) of the column along the labels' new direction, or None if there is none."""
        ov = self.label_overlap(alpha)
        return int(np.argmax(ov)) + 1 if ov.size and ov.max() > 0 else None

    def critical_zone(self) -> tuple[float | None, float]:
        """(α_enter, α_takeover): where the label climbs out of the bottom and where it reaches the top.

        α_enter: the label's new direction has eigenvalue ≈ α‖y_⊥‖²; it overtakes
        the smallest input eigenvalue (1 − α)s²_min at α_enter = s²_min / (s²_min + ‖y_⊥‖²).
        Below it the label is the weakest target coordinate; above it the label is
        no longer negligible (MNIST 3-vs-8: ~1e-9, where the report's logistic
        regression starts to use it).  None when y has no part outside the
        column space of X.

        α_takeover: the label's eigenvalue near α = 1 is ≈ α‖y‖²; it overtakes the
        largest input eigenvalue (1 − α)s²_max at α_takeover = s²_max / (s²_max + ‖y‖²);
        beyond it the top target coordinate is the label (the circles' transformation
        in the report's Figures 5-7).  ‖·‖ are spectral norms (one-hot: the largest class size).
        """
        s2_max, s2_min = float(self._s2[0]), float(self._s2[self.rank_x - 1])
        y2 = float(np.linalg.norm(self._W, 2) ** 2)
        y_perp = self._W[self.rank_x:]
        enter = None
        if y_perp.size:
            yp2 = float(np.linalg.norm(y_perp, 2) ** 2)
            enter = s2_min / (s2_min + yp2) if yp2 > 0 else None
        return enter, s2_max / (s2_max + y2)

    def top_label_share(self, alphas) -> np.ndarray:
        """η² of the *top* target coordinate at each α (top eigenvector only); (n,).

        Rises from the inputs' leading direction's class share to 1 as the label
        takes over the top coordinate: a direct measurement of α_takeover.
        """
        grid = _check_alphas(alphas)
        m = self.dim
        out = np.empty(grid.size)
        for i, a in enumerate(grid):
            with self._lock:
                hit = self._full.get(a)
            if hit is not None:
                v, lam = hit.vectors[:, :1], hit.values[:1]
            else:
                with self._blas:
                    lam, v = scipy.linalg.eigh(self._K(a), subset_by_index=[m - 1, m - 1], driver="evr")
            out[i] = self._class_share(v, lam)[0]
        return out

    def lr_error(self, alpha, *, drop: str | None = None, C: float = 1.0, max_iter: int = 500) -> float:
        """Training error of logistic regression on H_α (all rank(α) columns); cached.

        ``drop``: None keeps every column; ``"correlated"`` first removes the column
        most correlated with the labels (largest η², the report's Figure 10);
        ``"label direction"`` removes the column along the labels' new direction
        (largest :meth:`label_overlap`).  Returns a fraction in [0, 1].
        """
        a = check_alpha(alpha)
        if drop not in DROP_RULES:
            raise ValueError(f"drop must be one of {DROP_RULES}, got {drop!r}")
        if isinstance(C, bool) or not isinstance(C, numbers.Real) or not (np.isfinite(C) and C > 0):
            raise ValueError(f"C must be a positive number (inverse regularisation strength), got {C!r}")
        if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 1:
            raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
        key = (a, drop, float(C), int(max_iter))
        with self._lock:
            if key in self._lr_cache:
                return self._lr_cache[key]
        H = self.targets(a)
        if drop is not None:
            score = self.label_correlations(a) if drop == "correlated" else self.label_overlap(a)
            if drop == "correlated" or score.max() > 0:
                H = np.delete(H, int(np.argmax(score)), axis=1)
        err = lr_training_error(H, self.labels, C=C, max_iter=max_iter)
        with self._lock:
            self._lr_cache[key] = err
        return err

    def cached_lr_error(self, alpha, *, drop: str | None = None, C: float = 1.0, max_iter: int = 500) -> float | None:
        """The cached :meth:`lr_error` value, or None when it has not been computed yet (never fits)."""
        with self._lock:
            return self._lr_cache.get((check_alpha(alpha), drop, float(C), int(max_iter)))


def _effective_dimension(lam: np.ndarray, threshold: float) -> int:
    if lam.size == 0:
        return 0
    cum = np.cumsum(lam)
    if cum[-1] <= 0:
        return 0
    return int(min(np.searchsorted(cum, threshold * cum[-1], side="left") + 1, lam.size))


def _check_alphas(alphas) -> np.ndarray:
    try:
        grid = np.asarray(alphas, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"alphas: cannot be read as numbers ({exc})") from exc
    if grid.size == 0:
        raise ValueError("alphas is empty")
    bad = ~np.isfinite(grid) | (grid < 0) | (grid > 1)
    if bad.any():
        raise ValueError(f"alphas must all lie in [0, 1], got {grid[bad][0]!r}")
    return grid


def default_alpha_grid(n: int = 41, lo: float = 1e-12) -> np.ndarray:
    """``n`` increasing values of α from ``lo`` to 1 − ``lo``: log-spaced up to 1/2, mirrored above.

    Both ends matter: on MNIST the label shows at α ~ 1e-10, on the circles the
    top coordinates change near 0.99, so the grid is symmetric in log(α) and log(1 − α).
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 3:
        raise ValueError(f"n must be an integer >= 3, got {n!r}")
    if not (0 < lo < 0.5):
        raise ValueError(f"lo must lie in (0, 0.5), got {lo!r}")
    if n % 2:  # odd: 1/2 sits in the middle once
        half = np.logspace(np.log10(lo), np.log10(0.5), (n + 1) // 2)
        return np.concatenate([half, 1.0 - half[-2::-1]])
    lower = np.logspace(np.log10(lo), np.log10(0.5), n // 2 + 1)[:-1]  # even: no 1/2
    return np.concatenate([lower, 1.0 - lower[::-1]])


def lr_training_error(H, y, *, C: float = 1.0, max_iter: int = 500) -> float:
    """Training error (fraction misclassified) of scikit-learn's LogisticRegression fit on (H, y).

    ``y``: ±1 labels or one-hot (multinomial fit).  Convergence warnings are
    silenced: the error after ``max_iter`` iterations is what is reported.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    H = np.asarray(H, dtype=np.float64)
    if H.ndim != 2:
        raise ValueError(f"H must be 2-D (N x k), got shape {H.shape}")
    cls = class_index(check_labels(y, H.shape[0]))
    if np.unique(cls).size < 2:
        return 0.0
    if H.shape[1] == 0:
        return float(1.0 - np.bincount(cls).max() / cls.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(C=float(C), max_iter=int(max_iter)).fit(H, cls)
    return float(1.0 - model.score(H, cls))


def lr_error_curve(targets: HiddenTargets, alphas, *, drop: str | None = None, C: float = 1.0,
                   max_iter: int = 500, progress=None, should_stop=None) -> np.ndarray:
    """Logistic-regression training error on H_α for each α in ``alphas`` (the report's Figures 4, 9-11).

    ``drop``, ``C``, ``max_iter``: as for :meth:`HiddenTargets.lr_error`.
    ``progress(i, n, alpha, error)`` is called after each α; ``should_stop()``
    returning True ends the sweep early (the rest of the result is NaN).  Each
    value is cached on ``targets``, so a repeated sweep is free.  Returns (n,) floats.
    """
    if not isinstance(targets, HiddenTargets):
        raise ValueError(f"targets must be a HiddenTargets, got {type(targets).__name__}")
    grid = _check_alphas(alphas)
    out = np.full(grid.size, np.nan)
    for i, a in enumerate(grid):
        if should_stop is not None and should_stop():
            break
        out[i] = targets.lr_error(a, drop=drop, C=C, max_iter=max_iter)
        if progress is not None:
            progress(i + 1, grid.size, float(a), float(out[i]))
    return out
