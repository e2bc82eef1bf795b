"""Hidden targets through the small factorisation against the report's dense recipe.

The dense recipe (form G_α = (1 − α)XXᵀ + α yyᵀ, eigh, H = UΛ^½) is the
independent reference; tolerances are relative to the largest eigenvalue, at
float64 level (float32 would miss them by eight orders of magnitude).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from sandwichlab.data import encode_labels, make_circles
from sandwichlab.targets import (HiddenTargets, align_signs, default_alpha_grid, dense_hidden_targets,
                                 label_correlation, lr_error_curve, lr_training_error)

ALPHAS = [0.0, 1e-10, 0.05, 0.5, 1 - 1e-12, 1.0]
TOL = 1e-12  # relative to the largest eigenvalue; observed errors are ~1e-15


def _binary(n, d, seed=0, scales=None):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    if scales is not None:
        X *= scales
    y = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    y[:2] = (1.0, -1.0)
    return X, y


def _gram(X, Y, a):
    Y2 = Y[:, None] if Y.ndim == 1 else Y
    return (1 - a) * X @ X.T + a * Y2 @ Y2.T


def _check_against_dense(X, y, ht):
    for a in ALPHAS:
        lam, _ = dense_hidden_targets(X, y, a)
        top = lam[0]
        spec = ht.spectrum(a)
        k = spec.size
        assert k == ht.rank(a)
        np.testing.assert_allclose(spec, lam[:k], rtol=0, atol=TOL * top, err_msg=f"alpha={a}")
        assert np.all(np.abs(lam[k:]) <= TOL * top), f"alpha={a}: dense recipe has more non-trivial eigenvalues"
        assert np.all(np.diff(spec) <= 0), "eigenvalues must be descending"
        H = ht.targets(a)
        assert H.shape == (X.shape[0], k)
        np.testing.assert_allclose(H @ H.T, _gram(X, y, a), rtol=0, atol=TOL * top, err_msg=f"alpha={a}")
        # columns are U Λ^½: orthogonal, with squared norms = eigenvalues, in descending order
        np.testing.assert_allclose(H.T @ H, np.diag(spec), rtol=0, atol=TOL * top)


@pytest.mark.parametrize("n,d", [(40, 5), (25, 60), (60, 60)])
def test_binary_targets_match_dense_recipe(n, d):
    X, y = _binary(n, d, seed=n + d)
    ht = HiddenTargets(X, y)
    assert ht.rank_x == min(n, d)
    assert ht.dim == min(n, d + 1)  # labels add one dimension unless X already spans everything
    _check_against_dense(X, y, ht)


def test_wide_range_of_scales_and_zero_columns():
    """Singular values over 6 decades plus always-zero columns (like MNIST's blank pixels)."""
    X, y = _binary(50, 12, seed=3, scales=np.logspace(2, -4, 12))
    X[:, [2, 7]] = 0.0
    ht = HiddenTargets(X, y)
    assert ht.rank_x == 10
    _check_against_dense(X, y, ht)


def test_rank_deficient_inputs():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 3)) @ rng.normal(size=(3, 8))  # rank 3, 8 columns
    y = np.sign(rng.normal(size=30))
    y[y == 0] = 1
    ht = HiddenTargets(X, y)
    assert (ht.rank_x, ht.dim, ht.rank_y) == (3, 4, 1)
    _check_against_dense(X, y, ht)


def test_label_in_column_space_adds_no_dimension():
    X, y = _binary(30, 2, seed=1)
    X = np.column_stack([X, y])  # the label is one of the features
    ht = HiddenTargets(X, y)
    assert ht.dim == ht.rank_x == 3
    assert ht.critical_zone()[0] is None and ht.label_rank(0.5) is None
    _check_against_dense(X, y, ht)


def test_one_hot_multiclass_matches_dense():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(45, 6))
    Y, names = encode_labels(np.arange(45) % 3)
    assert Y.shape == (45, 3) and names == ("0", "1", "2")
    ht = HiddenTargets(X, Y)
    assert ht.n_classes == 3 and ht.rank_y == 3 and ht.dim == 9
    _check_against_dense(X, Y, ht)
    # at α = 1 the targets reproduce same-class 1 / other-class 0
    H = ht.targets(1.0)
    np.testing.assert_allclose(H @ H.T, Y @ Y.T, atol=1e-12 * 15)


def test_targets_equal_dense_columns_up_to_sign():
    X, y = _binary(35, 4, seed=11)
    ht = HiddenTargets(X, y)
    for a in (0.05, 0.5):
        lam, Hd = dense_hidden_targets(X, y, a)
        H = ht.targets(a)
        k = H.shape[1]
        aligned = align_signs(H, Hd[:, :k])
        np.testing.assert_allclose(aligned, Hd[:, :k], atol=1e-10 * np.sqrt(lam[0]))


def test_small_eigenvalues_have_full_relative_accuracy():
    """The label's eigenvalue at α = 1e-12 is ~1e-15 of the largest; ours keeps ~12 digits of it."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    rng = np.random.default_rng(2)
    Q, _ = np.linalg.qr(rng.normal(size=(20, 4)))
    P, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    X = (Q * np.logspace(2, -2, 4)) @ P.T
    y = np.where(rng.random(20) < 0.5, 1.0, -1.0)
    ht = HiddenTargets(X, y)
    a = 1e-12
    G = (1 - mp.mpf(a)) * mp.matrix(X.tolist()) * mp.matrix(X.tolist()).T + mp.mpf(a) * mp.matrix(y.tolist()) * mp.matrix(y.tolist()).T
    exact = np.array(sorted((float(v) for v in mp.eigsy(G, eigvals_only=True)), reverse=True)[: ht.dim])
    assert exact[-1] / exact[0] < 1e-12
    np.testing.assert_allclose(ht.spectrum(a), exact, rtol=1e-9)


def test_one_eigensolve_per_alpha_is_shared_and_cached():
    X, y = _binary(40, 5)
    ht = HiddenTargets(X, y)
    ht.spectrum(0.3)
    ht.effective_dimension(0.3)
    ht.targets(0.3, 3)
    ht.label_correlations(0.3)
    assert ht.solves == 1
    ht.effective_dimension(0.7)  # values only
    ht.effective_dimension(0.7, threshold=0.5)
    assert ht.solves == 2


def test_cache_is_bounded():
    X, y = _binary(30, 4)
    ht = HiddenTargets(X, y, cache_size=3)
    for a in np.linspace(0.1, 0.9, 10):
        ht.targets(a, 1)
    assert len(ht._full) == 3


def test_effective_dimension_matches_direct_count():
    X, y = _binary(60, 15, seed=4, scales=np.linspace(3, 0.2, 15))
    ht = HiddenTargets(X, y)
    for a in (0.0, 1e-6, 0.2, 0.9, 0.999, 1.0):
        lam = np.clip(np.linalg.eigvalsh(_gram(X, y, a))[::-1], 0, None)
        for t in (0.5, 0.95):
            frac = np.cumsum(lam) / lam.sum()
            direct = int(np.argmax(frac >= t)) + 1
            assert ht.effective_dimension(a, threshold=t) == direct, (a, t)
    curve = ht.effective_dimension_curve([0.0, 0.2, 1.0])
    assert curve.tolist() == [ht.effective_dimension(a) for a in (0.0, 0.2, 1.0)]
    assert ht.effective_dimension(1.0) == 1


def test_sign_alignment_keeps_points_continuous():
    ds = make_circles(n=200, noise=0.05, seed=0)
    X = ds.X * 20
    ht = HiddenTargets(X, ds.y)
    path = np.linspace(0.05, 0.95, 40)
    prev = ht.targets(path[0], 3)
    for a in path[1:]:
        raw = ht.targets(a, 3)
        H = ht.targets(a, 3, reference=prev)
        np.testing.assert_allclose(np.abs(H), np.abs(raw))  # only signs change
        assert np.all(np.einsum("ij,ij->j", H, prev) >= 0)
        # small step in α -> small move of every point
        assert np.abs(H - prev).max() < 0.2 * np.abs(prev).max(), a
        prev = H


def test_align_signs_flips_only_opposed_columns():
    H = np.array([[1.0, 2.0], [3.0, -1.0]])
    ref = np.array([[-1.0, 2.0], [-3.0, -1.0]])
    out = align_signs(H, ref)
    np.testing.assert_array_equal(out, [[-1.0, 2.0], [-3.0, -1.0]])
    with pytest.raises(ValueError, match="reference"):
        align_signs(H, np.ones((3, 2)))


def test_label_enters_as_the_smallest_dimension_and_takes_over_at_the_top():
    ds = make_circles(n=300, noise=0.05, seed=1)
    ht = HiddenTargets(ds.X * 20, ds.y)
    enter, takeover = ht.critical_zone()
    assert 0.95 < enter < takeover < 0.999  # with radius 20 the zone sits near 0.99, as in the report
    assert ht.label_rank(enter / 10) == 3  # the label is the third (weakest) coordinate
    assert ht.label_overlap(0.05)[2] > 0.99
    assert ht.label_rank(1 - (1 - takeover) / 10) == 1
    share = ht.top_label_share([0.5, 1 - (1 - takeover) / 10])
    assert share[0] < 0.05 and share[1] > 0.9
    # the closed form agrees with the crossing of the eigenvalue lines it describes
    s2_min = ht.spectrum(0.0)[-1]
    y_perp2 = float(np.sum((ds.y - ht.targets(0.0) @ np.linalg.lstsq(ht.targets(0.0), ds.y, rcond=None)[0]) ** 2))
    np.testing.assert_allclose(enter, s2_min / (s2_min + y_perp2), rtol=1e-10)


def test_label_correlations_match_dense_columns():
    X, y = _binary(50, 6, seed=9)
    ht = HiddenTargets(X, y)
    for a in (0.0, 0.3, 1.0):
        np.testing.assert_allclose(ht.label_correlations(a), label_correlation(ht.targets(a), y), atol=1e-10)
    # binary η² is the squared Pearson correlation
    H = ht.targets(0.3)
    r = np.array([np.corrcoef(H[:, j], y)[0, 1] ** 2 for j in range(H.shape[1])])
    np.testing.assert_allclose(label_correlation(H, y), r, atol=1e-12)


def test_lr_error_matches_sklearn_on_dense_targets():
    ds = make_circles(n=120, noise=0.1, seed=2)
    ht = HiddenTargets(ds.X, ds.y)
    for a in (0.0, 0.05, 0.5):
        _, Hd = dense_hidden_targets(ds.X, ds.y, a)
        Hd = Hd[:, : ht.rank(a)]
        ref = 1 - LogisticRegression(max_iter=500).fit(Hd, ds.y).score(Hd, ds.y)
        assert abs(ht.lr_error(a) - ref) <= 1 / 120, a
        drop = np.argmax(label_correlation(Hd, ds.y))
        Hdrop = np.delete(Hd, drop, axis=1)
        ref_drop = 1 - LogisticRegression(max_iter=500).fit(Hdrop, ds.y).score(Hdrop, ds.y)
        assert abs(ht.lr_error(a, drop="correlated") - ref_drop) <= 1 / 120, a
    assert ht.lr_error(0.0) > 0.3  # circles: no line separates them
    assert ht.lr_error(0.05) == 0.0  # the label has entered as a feature (the report's Figure 4)


def test_lr_error_curve_caches_reports_progress_and_stops():
    ds = make_circles(n=80, noise=0.05, seed=3)
    ht = HiddenTargets(ds.X, ds.y)
    seen = []
    grid = [0.0, 0.1, 0.9]
    curve = lr_error_curve(ht, grid, progress=lambda i, n, a, e: seen.append((i, n, a)))
    assert seen == [(1, 3, 0.0), (2, 3, 0.1), (3, 3, 0.9)]
    assert ht.cached_lr_error(0.1) == curve[1]
    assert ht.cached_lr_error(0.2) is None
    stopped = lr_error_curve(ht, [0.2, 0.3], should_stop=lambda: True)
    assert np.isnan(stopped).all()
    assert lr_training_error(np.zeros((4, 0)), np.array([1.0, 1.0, 1.0, -1.0])) == 0.25


def test_threads_share_one_instance_safely():
    X, y = _binary(80, 10, seed=6)
    ht = HiddenTargets(X, y, cache_size=4)
    alphas = np.linspace(0.01, 0.99, 30)
    expected = {a: HiddenTargets(X, y).spectrum(a) for a in alphas}
    errors = []

    def work(offset):
        try:
            for a in np.roll(alphas, offset):
                np.testing.assert_allclose(ht.spectrum(a), expected[a], rtol=0, atol=1e-12 * expected[a][0])
                ht.targets(a, 2)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k * 7,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_default_grid_is_symmetric_in_log_alpha_and_log_one_minus_alpha():
    g = default_alpha_grid(41)
    assert g.size == 41 and g[0] == 1e-12 and np.isclose(g[-1], 1 - 1e-12)
    np.testing.assert_allclose(g + g[::-1], 1.0, atol=1e-15)
    for n in (3, 4, 10, 40, 101):  # exactly n increasing values, odd or even
        g = default_alpha_grid(n)
        assert g.size == n and np.all(np.diff(g) > 0)
        np.testing.assert_allclose(g + g[::-1], 1.0, atol=1e-15)
    with pytest.raises(ValueError, match="n must"):
        default_alpha_grid(2)


# --------------------------------------------------------------------------- bad input

@pytest.fixture(scope="module")
def small():
    X, y = _binary(10, 3)
    return X, y, HiddenTargets(X, y)


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan"), float("inf"), True, "0.5", None])
def test_bad_alpha(small, alpha):
    with pytest.raises(ValueError, match="alpha"):
        small[2].targets(alpha)
    with pytest.raises(ValueError, match="alpha"):
        small[2].spectrum(alpha)


@pytest.mark.parametrize("make,match", [
    (lambda X, y: (np.where(X > 0, np.nan, X), y), "X contains NaN or inf"),
    (lambda X, y: (np.where(X > 0, np.inf, X), y), "X contains NaN or inf"),
    (lambda X, y: (X[:, 0], y), "X must be a 2-D"),
    (lambda X, y: (X[:1], y[:1]), "at least 2 samples"),
    (lambda X, y: (np.zeros_like(X), y), "all zeros"),
    (lambda X, y: (X, (y > 0).astype(float)), r"y must contain only \+1 and -1"),
    (lambda X, y: (X, y * 2), r"y must contain only \+1 and -1"),
    (lambda X, y: (X, y[:-1]), "y has 9 labels but X has 10"),
    (lambda X, y: (X, np.column_stack([y, y])), "one-hot matrix must contain only 0 and 1"),
    (lambda X, y: (X, np.ones((10, 2))), "exactly one 1 per row"),
    (lambda X, y: (X, (y > 0).astype(float)[:, None]), "at least 2 columns"),
    (lambda X, y: (X, np.where(y > 0, np.nan, -1.0)), "y contains NaN"),
    (lambda X, y: ([["a", "b"], ["c", "d"]], y[:2]), "X: cannot be read"),
])
def test_bad_data(small, make, match):
    X, y, _ = small
    with pytest.raises(ValueError, match=match):
        HiddenTargets(*make(X, y))


def test_bad_arguments(small):
    _, _, ht = small
    with pytest.raises(ValueError, match="n_components must be an integer from 1 to 4"):
        ht.targets(0.5, 5)
    with pytest.raises(ValueError, match="n_components"):
        ht.targets(0.5, 0)
    with pytest.raises(ValueError, match="n_components must be an integer from 1 to 1"):
        ht.targets(1.0, 2)
    for t in (0, 1.5, -1, True):
        with pytest.raises(ValueError, match="threshold"):
            ht.effective_dimension(0.5, threshold=t)
    with pytest.raises(ValueError, match="alphas must all lie in"):
        ht.effective_dimension_curve([0.1, 2.0])
    with pytest.raises(ValueError, match="drop must be one of"):
        ht.lr_error(0.5, drop="most")
    with pytest.raises(ValueError, match="C must be a positive"):
        ht.lr_error(0.5, C=0)
    with pytest.raises(ValueError, match="cache_size"):
        HiddenTargets(small[0], small[1], cache_size=0)
    with pytest.raises(ValueError, match="targets must be a HiddenTargets"):
        lr_error_curve(None, [0.1])


# --------------------------------------------------------------------------- real data

@pytest.mark.realdata
def test_full_mnist_3v8(real_mnist_dir):
    """The numbers the notebook quotes, on the full 11,982 training images."""
    from sandwichlab.data import load_mnist_3v8

    ds = load_mnist_3v8(real_mnist_dir).train
    ht = HiddenTargets(ds.X, ds.y)
    assert ht.n_samples == 11982 and ht.rank_x == 612 and ht.dim == 613
    enter, takeover = ht.critical_zone()
    assert 1e-10 < enter < 1e-8  # the report's "around 1e-9"
    assert 0.97 < takeover < 0.99
    assert ht.effective_dimension(0.0) == 85  # uncentred pixels; the report says "about 140"
    assert ht.label_rank(enter / 10) == ht.dim  # the label is the weakest coordinate before it enters
    lam = ht.spectrum(1e-10)
    assert 1e-13 < lam[-1] / lam[0] < 1e-11


def test_one_blas_thread_is_reentrant_and_restores():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from sandwichlab.targets import one_blas_thread

    def blas_threads():
        return sorted({i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"})

    before = blas_threads()
    with one_blas_thread():
        assert blas_threads() == [1]
        with one_blas_thread():
            assert blas_threads() == [1]
        assert blas_threads() == [1], "leaving the inner block must not lift the outer one"
        inside = []
        t = threading.Thread(target=lambda: inside.append(HiddenTargets(*_binary(20, 3)).spectrum(0.5)))
        t.start()
        t.join()
        assert inside and blas_threads() == [1]
    assert blas_threads() == before
