"""App usage (input) and coarse/fine article categories L1/L2 (outputs).

The published format of the "Sandwiching Transferred Models" report: one user
per line, space-separated floats; ``app.txt`` has 52 columns, ``l1.txt`` 23,
``l2.txt`` 164; split files carry ``tr_``/``val_``/``test_`` prefixes.

``load_app_categories(root)`` reads them; ``make_app_categories(n_users)`` is
the offline default, synthetic users with the real data's statistics.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import check_finite_matrix
from .paths import find_data_dir

TRANSFER_ENV = "SANDWICHLAB_TRANSFER_DIR"
N_APP, N_L1, N_L2 = 52, 23, 164
WIDTHS = {"app": N_APP, "l1": N_L1, "l2": N_L2}
SPLIT_PREFIXES = {"train": "tr_", "val": "val_", "test": "test_", "all": ""}
# Proportions of the published 6,000 / 1,000 / 857 split.
PUBLISHED_SPLIT = {"train": 6000, "val": 1000, "test": 857}


@dataclass(frozen=True)
class AppSplit:
    """One split: ``app`` (n x 52), ``l1`` (n x 23), ``l2`` (n x 164 or None)."""

    app: np.ndarray
    l1: np.ndarray
    l2: np.ndarray | None

    @property
    def n_users(self) -> int:
        return int(self.app.shape[0])


class AppCategorySet(Mapping):
    """Mapping split name -> :class:`AppSplit`, plus where it came from.

    ``parent[j]`` is the L1 category of L2 category ``j`` (synthetic data only;
    None for the published vectors, which do not ship the taxonomy).
    """

    def __init__(self, splits: dict, source: str, parent: np.ndarray | None = None, synthetic: bool = False):
        self._splits = dict(splits)
        self.source = source
        self.parent = parent
        self.synthetic = synthetic

    def __getitem__(self, key) -> AppSplit:
        try:
            return self._splits[key]
        except KeyError:
            raise KeyError(f"split {key!r} not present; available: {sorted(self._splits)}") from None

    def __iter__(self):
        return iter(self._splits)

    def __len__(self) -> int:
        return len(self._splits)

    def summary(self) -> str:
        parts = []
        for name, s in self._splits.items():
            l2 = "with L2" if s.l2 is not None else "no L2"
            parts.append(f"{name}: {s.n_users:,} users ({l2})")
        return f"{'; '.join(parts)}. Source: {self.source}"

    def __repr__(self) -> str:
        return f"AppCategorySet({self.summary()})"


def _diagnose(path: Path, n_cols: int) -> None:
    """Scan a file line by line and raise ValueError naming the first bad line."""
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != n_cols:
                raise ValueError(f"{path}, line {lineno}: {len(parts)} values, expected {n_cols}")
            try:
                [float(v) for v in parts]
            except ValueError as exc:
                raise ValueError(f"{path}, line {lineno}: not a number ({exc})") from exc


def _read_matrix(path: Path, n_cols: int) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": reported below
            arr = np.loadtxt(path, dtype=np.float64, ndmin=2)  # fast path (C parser)
    except ValueError as exc:
        _diagnose(path, n_cols)
        raise ValueError(f"{path}: cannot be parsed ({exc})") from exc
    if arr.size == 0:
        raise ValueError(f"{path}: file is empty")
    if arr.shape[1] != n_cols:
        _diagnose(path, n_cols)
    return check_finite_matrix(arr, str(path), nonnegative=True)


def load_app_categories(root) -> AppCategorySet:
    """Read the published App/L1/L2 vectors from directory ``root``.

    Returns a mapping with the splits found among ``train`` (``tr_*``),
    ``val``, ``test`` and ``all`` (unprefixed files).  Each split needs its app
    and l1 files; ``.l2`` is None where the l2 file is absent.
    """
    if root is None:
        raise ValueError("root must be a directory path, got None")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"root={str(root)!r}: no such directory")
    splits = {}
    for name, prefix in SPLIT_PREFIXES.items():
        app_path = root / f"{prefix}app.txt"
        if not app_path.is_file():
            continue
        l1_path, l2_path = root / f"{prefix}l1.txt", root / f"{prefix}l2.txt"
        if not l1_path.is_file():
            raise FileNotFoundError(f"{l1_path}: missing (needed beside {app_path.name})")
        arrays = {"app": _read_matrix(app_path, N_APP), "l1": _read_matrix(l1_path, N_L1)}
        arrays["l2"] = _read_matrix(l2_path, N_L2) if l2_path.is_file() else None
        for key in ("l1", "l2"):
            if arrays[key] is not None and arrays[key].shape[0] != arrays["app"].shape[0]:
                raise ValueError(f"{root / (prefix + key + '.txt')} has {arrays[key].shape[0]} rows "
                                 f"but {app_path} has {arrays['app'].shape[0]}")
        splits[name] = AppSplit(**arrays)
    if not splits:
        raise FileNotFoundError(f"root={str(root)!r}: no App/L1/L2 files (expected tr_app.txt, val_app.txt, test_app.txt or app.txt)")
    return AppCategorySet(splits, f"published App/L1/L2 vectors in {root}")


def _check_count(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def make_app_categories(n_users: int = 7857, seed: int = 0, n_topics: int = 8) -> AppCategorySet:
    """Synthetic users with the published data's statistics, split like it (76/13/11 %).

    Each user mixes a few latent interests; interests drive both which apps
    they use and which articles they read, so App usage is informative about
    L1/L2.  Matches the real files on average: App rows are fractions summing
    to 1 with ~11.5 non-zeros of 52; L1 has ~4 non-zeros of 23 summing to
    ~0.76; L2 has ~6.4 non-zeros of 164 summing to ~0.83, every L2 category
    nested under one L1 parent, and 24 L2 columns never used.
    """
    n_users = _check_count(n_users, "n_users", 10)
    n_topics = _check_count(n_topics, "n_topics", 1)
    rng = np.random.default_rng(seed)

    # Taxonomy: L1 popularity falls off like the real data's; popular L1
    # categories have more L2 children.  140 of 164 L2 columns are used.
    l1_pop = 1.0 / np.arange(1, N_L1 + 1) ** 0.9
    l1_pop = rng.permutation(l1_pop)
    n_used = 140
    parent = np.empty(N_L2, dtype=np.int64)
    cols = rng.permutation(N_L2)
    used_cols, unused_cols = cols[:n_used], cols[n_used:]
    extra = rng.choice(N_L1, size=n_used - N_L1, p=l1_pop / l1_pop.sum())
    parent[used_cols] = np.concatenate([np.arange(N_L1), extra])
    parent[unused_cols] = rng.integers(0, N_L1, size=unused_cols.size)
    used = np.zeros(N_L2, dtype=bool)
    used[used_cols] = True
    children = [np.flatnonzero((parent == j) & used) for j in range(N_L1)]
    child_pop = rng.pareto(1.5, size=N_L2) + 0.2

    # Interests: each has favourite apps, L1 and L2 categories.
    topic_app = rng.dirichlet(np.full(N_APP, 0.1), size=n_topics)
    topic_l1 = rng.dirichlet(np.full(N_L1, 0.3), size=n_topics) * l1_pop
    topic_l1 /= topic_l1.sum(axis=1, keepdims=True)
    topic_l2 = rng.gamma(0.5, size=(n_topics, N_L2)) * child_pop
    theta = rng.dirichlet(np.full(n_topics, 0.15), size=n_users)

    app = np.zeros((n_users, N_APP))
    l1 = np.zeros((n_users, N_L1))
    l2 = np.zeros((n_users, N_L2))
    n_apps = np.clip(1 + rng.negative_binomial(3.2, 3.2 / (3.2 + 10.5), size=n_users), 1, N_APP)
    n_l1 = np.clip(1 + rng.negative_binomial(1.2, 1.2 / (1.2 + 3.0), size=n_users), 1, N_L1)
    s1 = np.clip(rng.normal(0.76, 0.11, size=n_users), 0.09, 1.0)
    s2 = np.clip(s1 + rng.normal(0.07, 0.15, size=n_users), 0.15, 1.9)
    for u in range(n_users):
        p_app = 0.97 * theta[u] @ topic_app + 0.03 / N_APP
        chosen = rng.choice(N_APP, size=n_apps[u], replace=False, p=p_app)
        w = rng.gamma(1.0, size=chosen.size) * p_app[chosen]
        app[u, chosen] = w / w.sum()

        p_l1 = theta[u] @ topic_l1
        cats = rng.choice(N_L1, size=n_l1[u], replace=False, p=p_l1)
        w1 = rng.gamma(1.0, size=cats.size) * p_l1[cats]
        w1 = w1 / w1.sum()
        l1[u, cats] = w1 * s1[u]

        pref = theta[u] @ topic_l2
        for j, wj in zip(cats, w1):
            kids = children[j]
            m = min(kids.size, 1 + rng.poisson(0.6))
            p = pref[kids] / pref[kids].sum()
            picked = rng.choice(kids, size=m, replace=False, p=p)
            w2 = rng.gamma(1.0, size=m) * p[np.searchsorted(kids, picked)]
            l2[u, picked] += wj * s2[u] * w2 / w2.sum()

    order = {k: v / sum(PUBLISHED_SPLIT.values()) for k, v in PUBLISHED_SPLIT.items()}
    n_train = max(1, int(round(order["train"] * n_users)))
    n_val = max(1, int(round(order["val"] * n_users)))
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, n_users)}
    splits = {k: AppSplit(app[a:b], l1[a:b], l2[a:b]) for k, (a, b) in bounds.items()}
    src = (f"synthetic users (make_app_categories, n_users={n_users:,}, seed={seed}): offline default "
           f"with the published data's statistics. For the real vectors put them in data/transfer "
           f"or set {TRANSFER_ENV}")
    return AppCategorySet(splits, src, parent=parent, synthetic=True)


def _has_transfer_files(root: Path) -> bool:
    return (root / "tr_app.txt").is_file() and (root / "tr_l1.txt").is_file()


def published_dir() -> Path | None:
    """Where the published vectors are (``$SANDWICHLAB_TRANSFER_DIR``, ``data/transfer``,
    ``../shared/data/transfer``), or None when they are absent or the variable is broken."""
    try:
        return find_data_dir("transfer", TRANSFER_ENV, _has_transfer_files)
    except FileNotFoundError:
        return None


def app_categories(root=None, *, n_users: int = 7857, seed: int = 0) -> AppCategorySet:
    """The published vectors when found (argument, ``$SANDWICHLAB_TRANSFER_DIR``,
    ``data/transfer``, ``../shared/data/transfer``), else synthetic users."""
    if root is not None:
        return load_app_categories(root)
    found = find_data_dir("transfer", TRANSFER_ENV, _has_transfer_files)
    if found is not None:
        return load_app_categories(found)
    return make_app_categories(n_users=n_users, seed=seed)
