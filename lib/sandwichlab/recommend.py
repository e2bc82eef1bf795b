"""Recommendation and Table-1 evaluation for the sandwich models (report sections 6.4 and 7).

A :class:`SandwichTask` fixes who trains what and who is evaluated:

* synthetic users: App -> L1 and the L2 parts are trained on the training
  users, everything is evaluated on the test users;
* the published vectors: the 6,000 training users have no L2, so App -> L1 is
  pre-trained on them and every L2 part is trained on the 1,000 validation
  users; everything is evaluated on the 857 test users.  Nothing is tuned on
  the test users (epochs and learning rates are fixed by the preset).

Two-stage recommendation (section 6.4), "predicted L1 filters, predicted L2
ranks":

* category level (:func:`two_stage_scores`): keep the L2 categories whose
  parent is among the user's ``n_l1`` highest predicted L1 categories, rank
  them by predicted L2; the other categories follow, also by predicted L2,
  so there are always five to recommend.  The parent map is the synthetic
  taxonomy, or, for the published vectors (which ship none), one derived from
  co-occurrence on the L2-training users (:func:`derive_parent`).
* article level (synthetic data, :func:`recommend_articles`): a synthetic
  catalogue of articles with L1/L2 vectors; keep the ``keep`` articles whose
  L1 vector is closest to the user's predicted L1, rank those by predicted L2.

Baselines: :func:`popularity_predictions` (everyone gets the mean training
L1/L2) and :func:`ridge_predictions` (scikit-learn ``RidgeCV``, App -> L1 and
App -> L2).  :class:`SandwichRun` trains one model with the trainer and
evaluates it; :func:`evaluate` turns predictions into the Table-1 metrics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .data import AppCategorySet
from .losses import get_loss
from .metrics import category_accuracy, popularity_scores, ranking_metrics
from .models import MODELS, build_model, get_preset, make_stages
from .training import Trainer

# The report's Table 1 (category accuracy on its test users), by our model names.
REPORT_CLAIMS = {
    ("direct", "mse"): 0.18,
    ("baseline", "mse"): 0.20,
    ("baseline", "masked"): 0.22,
    ("autoencoder", "masked"): 0.35,
    ("bidirectional", "masked"): 0.40,
}


# --------------------------------------------------------------------------- parent map

def derive_parent(l1, l2) -> np.ndarray:
    """An L2 -> L1 parent map from co-occurrence, for data without a taxonomy.

    l1 ``(n, n_l1)``, l2 ``(n, n_l2)``: the same users' non-negative weights.
    If L2 categories nest under L1 ones, a category's parent is present
    whenever it is; so the parent of L2 category ``j`` is the L1 category most
    often present when ``j`` is (``P(l1_i > 0 | l2_j > 0)``), ties broken by
    lift (``P(l1_i > 0 | l2_j > 0) / P(l1_i > 0)``: popular L1 categories
    co-occur with everything).  Categories never present get ``-1``.
    Returns an int array ``(n_l2,)``.
    """
    l1, l2 = _matrix(l1, "l1"), _matrix(l2, "l2")
    if l1.shape[0] != l2.shape[0]:
        raise ValueError(f"l1 and l2 must have the same users (rows), got {l1.shape[0]} and {l2.shape[0]}")
    b1, b2 = (l1 > 0).astype(np.float64), (l2 > 0).astype(np.float64)
    n2 = b2.sum(axis=0)
    cond = (b2.T @ b1) / np.maximum(n2, 1)[:, None]          # (n_l2, n_l1)
    lift = cond / np.maximum(b1.mean(axis=0), 1e-12)[None, :]
    best = cond >= cond.max(axis=1, keepdims=True) - 1e-9
    parent = np.where(best, lift, -np.inf).argmax(axis=1)
    parent[n2 == 0] = -1
    return parent.astype(np.int64)


def _matrix(a, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (n_users, n_items) array, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf")
    return a


def _check_parent(parent, n_l2: int, n_l1: int) -> np.ndarray:
    parent = np.asarray(parent)
    if parent.shape != (n_l2,) or not np.issubdtype(parent.dtype, np.integer):
        raise ValueError(f"parent must be an integer array of shape ({n_l2},), got {parent.dtype} {parent.shape}")
    if parent.size and (parent.min() < -1 or parent.max() >= n_l1):
        raise ValueError(f"parent entries must be L1 indices in [0, {n_l1}) or -1 (unknown)")
    return parent


# --------------------------------------------------------------------------- two-stage recommendation

def implied_l1(l2_hat, parent, n_l1: int) -> np.ndarray:
    """L1 scores implied by L2 scores: each L1 category sums its children's.

    For models with no L1 output (the no-transfer MLP, the baselines if asked).
    Returns ``(n_users, n_l1)``.
    """
    l2_hat = _matrix(l2_hat, "l2_hat")
    parent = _check_parent(parent, l2_hat.shape[1], n_l1)
    out = np.zeros((l2_hat.shape[0], n_l1))
    known = parent >= 0
    np.add.at(out.T, parent[known], l2_hat[:, known].T)
    return out


def two_stage_scores(l1_hat, l2_hat, parent, n_l1: int = 3) -> np.ndarray:
    """Scores that rank L2 categories by "L1 filters, L2 ranks" (section 6.4).

    l1_hat ``(n, n_l1_cats)``, l2_hat ``(n, n_l2)`` predicted scores; parent
    ``(n_l2,)`` L1 index of each L2 category (-1: unknown, never kept).  The
    categories whose parent is among the user's ``n_l1`` best predicted L1
    categories come first, ranked by ``l2_hat``; the rest follow, also by
    ``l2_hat``.  Feed the result to the ranking metrics, or take its top 5.
    """
    l1_hat, l2_hat = _matrix(l1_hat, "l1_hat"), _matrix(l2_hat, "l2_hat")
    if l1_hat.shape[0] != l2_hat.shape[0]:
        raise ValueError(f"l1_hat and l2_hat must have the same users, got {l1_hat.shape[0]} and {l2_hat.shape[0]}")
    n_cats = l1_hat.shape[1]
    parent = _check_parent(parent, l2_hat.shape[1], n_cats)
    if isinstance(n_l1, bool) or not isinstance(n_l1, (int, np.integer)) or not 1 <= n_l1 <= n_cats:
        raise ValueError(f"n_l1 must be an integer in [1, {n_cats}], got {n_l1!r}")
    top = np.argsort(-l1_hat, axis=1, kind="stable")[:, :n_l1]
    chosen = np.zeros_like(l1_hat, dtype=bool)
    np.put_along_axis(chosen, top, True, axis=1)
    kept = np.where(parent[None, :] >= 0, chosen[:, np.maximum(parent, 0)], False)
    span = l2_hat.max(axis=1, keepdims=True) - l2_hat.min(axis=1, keepdims=True) + 1.0
    return l2_hat + kept * span


@dataclass(frozen=True)
class Catalogue:
    """Synthetic articles: ``l1`` ``(n_articles, n_l1)`` and ``l2`` ``(n_articles, n_l2)``
    vectors (each sums to 1) and each article's main L2 ``category``."""

    l1: np.ndarray
    l2: np.ndarray
    category: np.ndarray

    @property
    def n_articles(self) -> int:
        return int(self.l2.shape[0])

    def relevance(self, l2_true) -> np.ndarray:
        """``(n_users, n_articles)``: a user's true weight of each article's main category
        (> 0 means the user reads that category: the article is relevant)."""
        l2_true = _matrix(l2_true, "l2_true")
        return l2_true[:, self.category]


def make_catalogue(parent, n_articles: int = 5000, seed: int = 0, popularity=None) -> Catalogue:
    """A synthetic article catalogue consistent with a taxonomy ``parent`` ``(n_l2,)``.

    Each article has a main L2 category (drawn by ``popularity`` ``(n_l2,)``,
    e.g. the mean training L2, else uniformly among categories with a known
    parent) with weight 0.7-0.9 and a second category (usually a sibling) with
    the rest; its L1 vector sums its L2 vector over parents.
    """
    parent = np.asarray(parent)
    if parent.ndim != 1 or not np.issubdtype(parent.dtype, np.integer):
        raise ValueError(f"parent must be a 1-D integer array, got {parent.dtype} {parent.shape}")
    if isinstance(n_articles, bool) or not isinstance(n_articles, (int, np.integer)) or n_articles < 1:
        raise ValueError(f"n_articles must be an integer >= 1, got {n_articles!r}")
    n_l2 = parent.size
    n_l1 = int(parent.max()) + 1
    known = parent >= 0
    p = np.where(known, 1.0, 0.0) if popularity is None else np.where(known, np.asarray(popularity, float), 0.0) + known * 1e-3
    if p.shape != (n_l2,) or not np.isfinite(p).all() or p.sum() <= 0:
        raise ValueError(f"popularity must be a finite, non-negative ({n_l2},) array with some weight on known categories")
    p = p / p.sum()
    rng = np.random.default_rng(seed)
    main = rng.choice(n_l2, size=n_articles, p=p)
    l2 = np.zeros((n_articles, n_l2))
    w = rng.uniform(0.7, 0.9, size=n_articles)
    l2[np.arange(n_articles), main] = w
    for a in range(n_articles):
        siblings = np.flatnonzero((parent == parent[main[a]]) & (np.arange(n_l2) != main[a]))
        pool = siblings if siblings.size and rng.random() < 0.8 else np.flatnonzero(known & (np.arange(n_l2) != main[a]))
        l2[a, rng.choice(pool)] += 1.0 - w[a]
    l1 = np.zeros((n_articles, n_l1))
    np.add.at(l1.T, parent[known], l2[:, known].T)
    return Catalogue(l1=l1, l2=l2, category=main.astype(np.int64))


def article_scores(l1_hat, l2_hat, catalogue: Catalogue, keep: int = 2000) -> np.ndarray:
    """Scores ``(n_users, n_articles)`` ranking articles as in section 6.4.

    Keep the ``keep`` articles whose L1 vector is closest (Euclidean) to the
    user's predicted L1 vector scaled to sum 1; rank them by ``l2_hat . article.l2``;
    the other articles follow by the same L2 score.  ``keep >= n_articles``
    means no filter (rank by L2 alone).
    """
    l1_hat, l2_hat = _matrix(l1_hat, "l1_hat"), _matrix(l2_hat, "l2_hat")
    if isinstance(keep, bool) or not isinstance(keep, (int, np.integer)) or keep < 1:
        raise ValueError(f"keep must be an integer >= 1, got {keep!r}")
    if l1_hat.shape[1] != catalogue.l1.shape[1] or l2_hat.shape[1] != catalogue.l2.shape[1]:
        raise ValueError("l1_hat / l2_hat widths do not match the catalogue's")
    l2_score = l2_hat @ catalogue.l2.T
    if keep >= catalogue.n_articles:
        return l2_score
    u = np.clip(l1_hat, 0, None)
    u = u / np.maximum(u.sum(axis=1, keepdims=True), 1e-12)
    dist = (u ** 2).sum(1)[:, None] - 2 * u @ catalogue.l1.T + (catalogue.l1 ** 2).sum(1)[None, :]
    nearest = np.argpartition(dist, keep - 1, axis=1)[:, :keep]
    kept = np.zeros(dist.shape, dtype=bool)
    np.put_along_axis(kept, nearest, True, axis=1)
    span = l2_score.max(axis=1, keepdims=True) - l2_score.min(axis=1, keepdims=True) + 1.0
    return l2_score + kept * span


def recommend_articles(l1_hat, l2_hat, catalogue: Catalogue, keep: int = 2000, n: int = 5) -> np.ndarray:
    """The ``n`` recommended article indices per user ``(n_users, n)``, best first."""
    from .metrics import top_k
    return top_k(article_scores(l1_hat, l2_hat, catalogue, keep), n)


# --------------------------------------------------------------------------- the task

@dataclass
class SandwichTask:
    """Arrays (float64 numpy) for training and evaluation, and what they are.

    ``l1_fit``: ``{"app", "l1"}`` users for App -> L1; ``l2_fit``:
    ``{"app", "l1", "l2"}`` users for the L2 parts; ``eval``: the held-out
    users every number is reported on.  ``parent``: L2 -> L1 map used by the
    two-stage filter; ``catalogue``: synthetic articles (synthetic data only).
    """

    l1_fit: dict
    l2_fit: dict
    eval: dict
    parent: np.ndarray
    parent_source: str
    source: str
    synthetic: bool
    roles: str
    catalogue: Catalogue | None = None
    n_l1_filter: int = 3
    article_keep: int = 2000

    @property
    def n_l1(self) -> int:
        return int(self.eval["l1"].shape[1])


def make_task(data: AppCategorySet, *, n_articles: int = 5000, article_keep: int = 2000,
              n_l1_filter: int = 3) -> SandwichTask:
    """Decide the roles of ``data``'s splits (see the module docstring)."""
    if not isinstance(data, AppCategorySet):
        raise ValueError(f"data must be an AppCategorySet (sandwichlab.data), got {type(data).__name__}")
    for split in ("train", "test"):
        if split not in data:
            raise ValueError(f"data must have a {split!r} split; it has {sorted(data)}")
    tr, te = data["train"], data["test"]
    if te.l2 is None:
        raise ValueError("data['test'] has no L2 targets: nothing to evaluate on")

    def arrays(s, with_l2=True):
        d = {"app": s.app, "l1": s.l1}
        if with_l2:
            d["l2"] = s.l2
        return d

    if tr.l2 is not None:
        l2_name, l2_split = "train", tr
    elif "val" in data and data["val"].l2 is not None:
        l2_name, l2_split = "val", data["val"]
    else:
        raise ValueError("no split with L2 targets to train on (need train or val L2)")
    if data.parent is not None:
        parent, parent_source = np.asarray(data.parent, dtype=np.int64), "the synthetic taxonomy"
    else:
        parent = derive_parent(l2_split.l1, l2_split.l2)
        parent_source = (f"derived from co-occurrence on the {l2_split.n_users:,} {l2_name} users "
                         f"(no taxonomy ships with the published vectors)")
    roles = (f"App→L1 trained on {tr.n_users:,} train users; L2 parts on {l2_split.n_users:,} {l2_name} users; "
             f"every number on {te.n_users:,} test users")
    task = SandwichTask(l1_fit=arrays(tr, False), l2_fit=arrays(l2_split), eval=arrays(te), parent=parent,
                        parent_source=parent_source, source=data.source, synthetic=bool(data.synthetic),
                        roles=roles, n_l1_filter=n_l1_filter, article_keep=article_keep)
    if data.synthetic:
        task.catalogue = make_catalogue(parent, n_articles=n_articles, seed=0,
                                        popularity=l2_split.l2.mean(axis=0))
        task.article_keep = min(article_keep, n_articles)
    return task


# --------------------------------------------------------------------------- evaluation

def evaluate(l1_hat, l2_hat, task: SandwichTask, k: int = 5) -> dict:
    """Table-1 metrics of predictions for ``task.eval`` users.

    ``l2_hat`` ``(n, n_l2)``; ``l1_hat`` ``(n, n_l1)`` or None (then the
    two-stage filter uses the L1 scores implied by ``l2_hat``).  Keys:
    ``category_accuracy`` (top-1 L2), ``precision@k``, ``map@k``, ``ndcg@k``
    (L2 ranked alone); ``two_stage_*`` (L1 filter, L2 ranking, category
    level); ``l1_accuracy`` (top-1 L1, own L1 output only); on synthetic
    data ``article_precision@k`` / ``article_ndcg@k`` (article level) and
    ``article_l2_only_precision@k`` (the same catalogue ranked by L2 alone).
    """
    l2_hat = _matrix(l2_hat, "l2_hat")
    y1, y2 = task.eval["l1"], task.eval["l2"]
    if l2_hat.shape != y2.shape:
        raise ValueError(f"l2_hat must have shape {y2.shape} (the task's eval users), got {l2_hat.shape}")
    out = {k_: v for k_, v in ranking_metrics(l2_hat, y2, k).items() if k_ != "n_users"}
    own_l1 = l1_hat is not None
    l1 = _matrix(l1_hat, "l1_hat") if own_l1 else implied_l1(l2_hat, task.parent, task.n_l1)
    if l1.shape != y1.shape:
        raise ValueError(f"l1_hat must have shape {y1.shape}, got {l1.shape}")
    two = ranking_metrics(two_stage_scores(l1, l2_hat, task.parent, task.n_l1_filter), y2, k)
    out.update({f"two_stage_{k_}": v for k_, v in two.items() if k_ != "n_users"})
    out["l1_accuracy"] = category_accuracy(l1, y1) if own_l1 else math.nan
    if task.catalogue is not None:
        rel = task.catalogue.relevance(y2)
        art = ranking_metrics(article_scores(l1, l2_hat, task.catalogue, task.article_keep), rel, k)
        out[f"article_precision@{k}"], out[f"article_ndcg@{k}"] = art[f"precision@{k}"], art[f"ndcg@{k}"]
        plain = ranking_metrics(article_scores(l1, l2_hat, task.catalogue, task.catalogue.n_articles), rel, k)
        out[f"article_l2_only_precision@{k}"] = plain[f"precision@{k}"]
    return out


def popularity_predictions(task: SandwichTask):
    """Everyone gets the mean training L1 and L2: ``(l1_hat, l2_hat)`` for the eval users."""
    n = task.eval["app"].shape[0]
    return popularity_scores(task.l1_fit["l1"], n), popularity_scores(task.l2_fit["l2"], n)


def ridge_predictions(task: SandwichTask, alphas=tuple(np.logspace(-4, 3, 15)), *, return_alphas: bool = False):
    """Ridge regression App -> L1 (on ``l1_fit``) and App -> L2 (on ``l2_fit``),
    the penalty chosen from ``alphas`` by efficient leave-one-out CV on the
    fitting users.  Returns ``(l1_hat, l2_hat)`` for the eval users, plus the
    two chosen penalties if ``return_alphas``."""
    from sklearn.linear_model import RidgeCV

    alphas = np.asarray(alphas, dtype=np.float64).ravel()
    if alphas.size == 0 or not (alphas > 0).all():
        raise ValueError(f"alphas must be positive numbers, got {alphas!r}")
    r1 = RidgeCV(alphas=alphas).fit(task.l1_fit["app"], task.l1_fit["l1"])
    r2 = RidgeCV(alphas=alphas).fit(task.l2_fit["app"], task.l2_fit["l2"])
    out = (r1.predict(task.eval["app"]), r2.predict(task.eval["app"]))
    return (*out, (float(r1.alpha_), float(r2.alpha_))) if return_alphas else out


# --------------------------------------------------------------------------- one training run

TRACKED = ("category_accuracy", "precision@5", "two_stage_precision@5", "l1_accuracy")


@dataclass
class SandwichRun:
    """One model trained with the trainer on a task; ``run()`` or ``start()``.

    ``model``: a key of :data:`sandwichlab.models.MODELS`; ``loss``: a
    :func:`sandwichlab.losses.get_loss` name (``"mse"``, ``"masked"``, ...),
    used with ``reduction="mean"`` (per user) for every output; ``preset``: a
    :data:`sandwichlab.models.PRESETS` name or Preset; ``track``: evaluate
    ``TRACKED`` metrics on the eval users after every epoch (for live curves;
    nothing is selected with them).  ``seed`` fixes the initial weights,
    shuffling and dropout (reproducible on the CPU).
    """

    model: str
    loss: str
    task: SandwichTask
    preset: object = "classroom"
    seed: int = 0
    device: object = None
    optimizer: str = "adam"
    track: bool = True
    trainer: Trainer = field(init=False, repr=False)
    net: torch.nn.Module = field(init=False, repr=False)
    stages: list = field(init=False, repr=False)

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {sorted(MODELS)}, got {self.model!r}")
        if not isinstance(self.task, SandwichTask):
            raise ValueError(f"task must be a SandwichTask (make_task), got {type(self.task).__name__}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        self.preset = get_preset(self.preset)
        loss_fn = get_loss(self.loss, reduction="mean")
        torch.manual_seed(int(self.seed))
        self.net = build_model(self.model, self.preset, n_app=self.task.eval["app"].shape[1],
                               n_l1=self.task.n_l1, n_l2=self.task.eval["l2"].shape[1])
        t = self.task

        def tensors(d):
            return {k: torch.as_tensor(v, dtype=torch.float32) for k, v in d.items()}

        self.trainer = Trainer(self.net, tensors(t.l2_fit), batch_size=self.preset.batch_size,
                               device=self.device, seed=int(self.seed))
        self._eval_app = torch.as_tensor(t.eval["app"], dtype=torch.float32, device=self.trainer.device)
        self.stages = make_stages(self.model, self.net, loss_fn, self.preset, l1_data=tensors(t.l1_fit),
                                  l2_data=tensors(t.l2_fit), evaluate=self._track if self.track else None,
                                  optimizer=self.optimizer)

    @property
    def label(self) -> str:
        return f"{MODELS[self.model].label} + {self.loss}"

    def predict(self):
        """``(l1_hat or None, l2_hat)`` numpy arrays for the eval users (eval mode, no grad)."""
        was = self.net.training
        self.net.train(False)
        try:
            with torch.no_grad():
                l1, l2 = self.net.predict(self._eval_app)
        finally:
            self.net.train(was)
        return (None if l1 is None else l1.double().cpu().numpy()), l2.double().cpu().numpy()

    def _track(self) -> dict:
        l1, l2 = self.predict()
        m = evaluate(l1, l2, _without_articles(self.task))
        return {f"eval_{k}": m[k] for k in TRACKED}

    def run(self) -> dict:
        """Train in this thread; return :meth:`results`."""
        self.trainer.run(self.stages)
        return self.results()

    def start(self):
        """Train in the trainer's background thread (``trainer.stop()`` ends it)."""
        return self.trainer.start(self.stages)

    def results(self) -> dict:
        """Table-1 metrics of the current weights on the eval users (see :func:`evaluate`)."""
        l1, l2 = self.predict()
        return evaluate(l1, l2, self.task)


def _without_articles(task: SandwichTask) -> SandwichTask:
    """The task minus its catalogue (the per-epoch curves skip the article-level metrics)."""
    if task.catalogue is None:
        return task
    from dataclasses import replace
    return replace(task, catalogue=None)


# --------------------------------------------------------------------------- Table 1

TABLE_METRICS = ("category_accuracy", "precision@5", "map@5", "ndcg@5", "two_stage_precision@5", "l1_accuracy",
                 "article_precision@5", "article_l2_only_precision@5")
BASELINES = {"popularity": "Popularity (mean training L2 for everyone)", "ridge": "Ridge regression (RidgeCV)"}


def table1_runs(task: SandwichTask, *, models=tuple(MODELS), losses=("mse", "masked"), seeds=(0, 1, 2),
                preset="classroom", device=None, progress=None, stop=None, baselines=True) -> list[dict]:
    """One record per (model, loss, seed) plus, with ``baselines``, the two baselines
    (seed-independent; pass ``baselines=False`` when they are already at hand).

    Each record: ``{"model", "loss", "seed", "seconds", "state", <metrics>}``.
    ``progress(i, n, record)`` (optional) is called after each run.  ``stop``
    (optional ``threading.Event``): once set, the current run stops at its next
    batch (recorded with state ``"stopped"``) and no further run starts.  Runs
    train with ``track=False`` (no per-epoch evaluation).
    """
    import time

    models, losses, seeds = list(models), list(losses), list(seeds)
    if not models or any(m not in MODELS for m in models):
        raise ValueError(f"models must be a non-empty list of {sorted(MODELS)}, got {models!r}")
    if not losses or not seeds:
        raise ValueError("losses and seeds must not be empty")
    records = []
    for name, predict in (("popularity", popularity_predictions), ("ridge", ridge_predictions)) if baselines else ():
        l1, l2 = predict(task)
        records.append({"model": name, "loss": "-", "seed": -1, "seconds": 0.0, "state": "done",
                        **evaluate(l1, l2, task)})
    jobs = [(m, lo, s) for m in models for lo in losses for s in seeds]
    for i, (m, lo, s) in enumerate(jobs):
        if stop is not None and stop.is_set():
            break
        run = SandwichRun(m, lo, task, preset=preset, seed=s, device=device, track=False)
        if stop is not None:
            run.trainer.on("batch_end", lambda ev: ev.trainer.stop() if stop.is_set() else None)
        t0 = time.perf_counter()
        run.run()
        rec = {"model": m, "loss": lo, "seed": s, "seconds": time.perf_counter() - t0,
               "state": run.trainer.state, **run.results()}
        records.append(rec)
        if progress is not None:
            progress(i + 1, len(jobs), rec)
    return records


def summarise(records: list[dict], metrics=TABLE_METRICS) -> list[dict]:
    """Mean and standard deviation (``ddof=1``) over seeds, per (model, loss), in first-seen order.

    Returns ``{"model", "loss", "n_seeds", "<metric>", "<metric>_std", "claim"}`` rows;
    ``claim`` is the report's category accuracy for that row, or NaN.  Only runs that
    finished (``state == "done"``) count: a stopped or diverged run is not a Table-1 result.
    """
    groups: dict = {}
    for r in records:
        if r.get("state", "done") == "done":
            groups.setdefault((r["model"], r["loss"]), []).append(r)
    out = []
    for (model, loss), rs in groups.items():
        row = {"model": model, "loss": loss, "n_seeds": len(rs) if rs[0]["seed"] >= 0 else 0}
        for k in metrics:
            vals = np.array([r.get(k, math.nan) for r in rs], dtype=np.float64)
            row[k] = float(np.mean(vals)) if np.isfinite(vals).any() else math.nan
            row[k + "_std"] = float(np.std(vals, ddof=1)) if len(vals) > 1 and np.isfinite(vals).all() else math.nan
        row["claim"] = REPORT_CLAIMS.get((model, loss), math.nan)
        out.append(row)
    return out


def row_label(model: str, loss: str) -> str:
    """A row's name in Table 1, e.g. 'Baseline transfer + masked'."""
    if model in BASELINES:
        return BASELINES[model]
    return f"{MODELS[model].label} + {loss}"
