"""The masked-loss lab's experiments: one App->L2 model trained with several losses at once.

* :func:`l2_task` picks the App->L2 training and held-out users (synthetic by
  default; the published vectors have L2 only for the validation and test
  users, so there the model trains on the 1,000 validation users and is
  evaluated on the 857 test users).
* :class:`LossRace` builds identical copies of one MLP (same initial weights),
  gives each its own loss and optimiser, and trains them all through the one
  :class:`~sandwichlab.training.Trainer` in a single stage whose step updates
  every copy on the *same* batch.  After every epoch it evaluates each copy's
  own loss on the whole training set (so curves can be normalised by their
  value at initialisation and compared by shape) and precision@k on the
  held-out users.
* Each copy has its own divergence guard: a copy whose loss turns NaN/inf or
  whose weights explode gets its last good weights back and leaves the race,
  while the others go on (the trainer's guard would otherwise stop and rewind
  *every* copy).  Only when every copy has left does the run end as
  ``diverged``.
* :func:`flood_zeros` shows the masked loss's blind spot, :func:`loss_weights`
  the per-entry weight each loss puts on a squared error (report vs reference
  code), :func:`log_loss_curves` the three ways to compute log loss from logits.

No widget or plotting code here: the dashboard lives in ``sandwichlab.ui.masked_loss``.
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .data import AppCategorySet, app_categories, load_app_categories, make_app_categories
from .data.app_categories import N_APP, N_L2, TRANSFER_ENV
from .data.app_categories import published_dir as published_l2_dir
from .losses import LOG_LOSSES, LOSS_LABELS, LOSSES, get_loss
from .metrics import popularity_scores, precision_at_k, ranking_metrics
from .models import OPTIMIZERS, make_optimizer, mlp
from .training import Diverged, Stage, Trainer, _state_copy

__all__ = [
    "SOURCES", "OPTIMIZERS", "L2Task", "LossRace", "l2_task", "published_l2_dir", "popularity_scores",
    "flood_zeros", "loss_weights", "log_loss_curves", "exact_log_loss",
]

SOURCES = ("auto", "synthetic", "published")


# --------------------------------------------------------------------------- the task

@dataclass(frozen=True)
class L2Task:
    """App -> L2 regression: inputs ``x_*`` (n x 52), targets ``y_*`` (n x 164), float64.

    ``train_split`` / ``eval_split`` name the splits of the data set used for
    training and for held-out evaluation; ``source`` says where the data came from.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray
    train_split: str
    eval_split: str
    source: str
    synthetic: bool

    def summary(self) -> str:
        kind = "synthetic users" if self.synthetic else "published vectors"
        text = (f"App -> L2 on {kind}: train on the {len(self.x_train):,} '{self.train_split}' users, "
                f"evaluate on {len(self.x_eval):,} held-out '{self.eval_split}' users.")
        if self.train_split == "val":
            text += (" (The published vectors carry L2 only for the validation and test users, so the "
                     "model trains on the validation users and is scored on the test users.)")
        return f"{text} Source: {self.source}"

    def __repr__(self) -> str:
        return f"L2Task({self.summary()})"


def l2_task(data: AppCategorySet | None = None, *, source: str = "auto", n_users: int = 7857,
            seed: int = 0) -> L2Task:
    """The App->L2 task: which users train, which are held out.

    ``data`` (an :class:`~sandwichlab.data.AppCategorySet`) wins when given;
    else ``source`` picks ``"synthetic"`` (``make_app_categories(n_users, seed)``),
    ``"published"`` (the published vectors; FileNotFoundError when absent) or
    ``"auto"`` (published when found, else synthetic).  Training uses the
    ``train`` split when it has L2, else ``val``; evaluation uses the next
    split with L2 (``val`` after ``train``, ``test`` after ``val``).
    """
    if data is None:
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        if source == "synthetic":
            data = make_app_categories(n_users=n_users, seed=seed)
        elif source == "published":
            root = published_l2_dir()
            if root is None:
                raise FileNotFoundError(f"source='published': the published App/L1/L2 vectors were not found "
                                        f"(put them in data/transfer or set {TRANSFER_ENV})")
            data = load_app_categories(root)
        else:
            data = app_categories(n_users=n_users, seed=seed)
    elif not isinstance(data, AppCategorySet):
        raise ValueError(f"data must be an AppCategorySet (from sandwichlab.data), got {type(data).__name__}")
    with_l2 = [s for s in ("train", "val", "test") if s in data and data[s].l2 is not None]
    if len(with_l2) < 2:
        raise ValueError(f"data needs L2 targets for two of the splits train/val/test (one to train on, one to "
                         f"evaluate on); it has them for {with_l2 or 'none'}")
    tr, ev = data[with_l2[0]], data[with_l2[1]]
    return L2Task(tr.app, tr.l2, ev.app, ev.l2, with_l2[0], with_l2[1], data.source, bool(data.synthetic))


# --------------------------------------------------------------------------- checks

def _check_int(value, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low or (high is not None and value > high):
        rng = f">= {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{name} must be an integer {rng}, got {value!r}")
    return int(value)


def _check_positive(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _check_losses(losses) -> list[str]:
    if isinstance(losses, str):
        losses = [losses]
    try:
        names = list(losses)
    except TypeError:
        raise ValueError(f"losses must be a list of loss names, got {type(losses).__name__}") from None
    if not names:
        raise ValueError(f"losses is empty: choose at least one of {', '.join(LOSSES)}")
    unknown = [n for n in names if n not in LOSSES]
    if unknown:
        raise ValueError(f"unknown loss name(s) {', '.join(map(repr, unknown))}; valid names: {', '.join(LOSSES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"losses lists a name twice: {names}")
    return names


def _bound_losses(names, loss_options, device, seed):
    """get_loss(name, reduction='mean', **options) per name; a seeded generator for 'sampled'."""
    loss_options = dict(loss_options or {})
    extra = sorted(set(loss_options) - set(LOSSES))
    if extra:
        raise ValueError(f"loss_options has unknown loss name(s) {extra}; valid names: {', '.join(LOSSES)}")
    fns = {}
    for name in names:
        kw = dict(loss_options.get(name, {}))
        if "reduction" in kw:
            raise ValueError(f"loss_options[{name!r}]: reduction is fixed to 'mean' (per user) so the losses compare")
        if name == "sampled" and "generator" not in kw:
            kw["generator"] = torch.Generator(device=device).manual_seed(seed)
        fns[name] = get_loss(name, reduction="mean", **kw)
    return fns


# --------------------------------------------------------------------------- the race

class LossRace:
    """Identical copies of one App->L2 MLP, one per loss, trained on the same batches.

    Parameters
    ----------
    task : an :class:`L2Task` (see :func:`l2_task`).
    losses : names from :data:`sandwichlab.losses.LOSSES`, e.g. ``("mse", "masked")``.
    hidden : hidden layer widths of ``mlp([52, *hidden, 164])`` (ReLU, linear output).
    lr : learning rate of every copy's optimiser.
    epochs, batch_size, seed : training length, rows per step, and the seed of the
        initial weights, the batch order and the sampled loss's zeros.
    optimizer : ``"adam"`` (the report's; insensitive to a loss's overall scale) or ``"sgd"``.
    loss_options : per-loss settings, e.g. ``{"confidence": {"c": 40}}``; every loss
        uses ``reduction="mean"``: the average per-user loss.
    k : precision@k on the held-out users.
    check_every : steps between the per-copy weight-norm checks (loss values are
        checked every step: one device sync per step for all copies together).
    max_weight_norm : a copy whose weights' L2 norm exceeds this has exploded.

    Every copy starts from the same weights and sees the same batches in the
    same order, so the losses are the only difference.  :meth:`start` trains in
    a background thread; subscribe to ``race.trainer.on(...)`` for live updates
    and read :meth:`curves`, :attr:`status` and :attr:`notes`.
    """

    def __init__(self, task: L2Task, losses: Sequence[str] = ("mse", "masked"), *, hidden: Sequence[int] = (256, 256),
                 lr: float = 1e-3, epochs: int = 20, batch_size: int = 64, seed: int = 0, optimizer: str = "adam",
                 loss_options: Mapping | None = None, k: int = 5, device=None, check_every: int = 20,
                 max_weight_norm: float = 1e4):
        if not isinstance(task, L2Task):
            raise ValueError(f"task must be an L2Task (from l2_task), got {type(task).__name__}")
        self.names = _check_losses(losses)
        self.lr = _check_positive(lr, "lr")
        self.epochs = _check_int(epochs, "epochs", 1)
        batch_size = _check_int(batch_size, "batch_size", 1)
        self.seed = _check_int(seed, "seed", 0)
        self.k = _check_int(k, "k", 1, N_L2)
        check_every = _check_int(check_every, "check_every", 1)
        self.max_weight_norm = _check_positive(max_weight_norm, "max_weight_norm")
        if optimizer not in OPTIMIZERS:  # checked before any work; make_optimizer builds them
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
        hidden = list(hidden)
        self.task = task
        self.labels = {n: LOSS_LABELS[n] for n in self.names}

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            base = mlp([N_APP, *hidden, N_L2])
        self.copies = nn.ModuleDict({n: copy.deepcopy(base) for n in self.names})
        # The trainer's own guard is the backstop; the per-copy guard below fires first
        # (it checks at the same steps, and every copy it lets through is below the limit).
        self.trainer = Trainer(self.copies, {"x": task.x_train, "y": task.y_train}, batch_size=batch_size,
                               device=device, seed=self.seed, check_every=check_every,
                               max_weight_norm=self.max_weight_norm * math.sqrt(len(self.names)) * 1.01)
        dev = self.trainer.device
        self.device = dev
        self.loss_fns = _bound_losses(self.names, loss_options, dev, self.seed)
        self.optimizer = optimizer
        self.optimizers = {n: make_optimizer(optimizer, self.copies[n].parameters(), self.lr) for n in self.names}
        self.x_eval = torch.as_tensor(task.x_eval, dtype=torch.float32, device=dev)
        self.y_eval = torch.as_tensor(task.y_eval, dtype=torch.float32, device=dev)
        self.check_every = check_every
        self.n_batches = math.ceil(self.trainer.n_rows / batch_size)
        self.status = {n: "training" for n in self.names}  # training -> diverged
        self.notes: list[str] = []
        self._steps = 0
        self._good = {n: _state_copy(self.copies[n]) for n in self.names}
        self._good_step = {n: 0 for n in self.names}
        self._eval_seed = self.seed + 1
        self.popularity = precision_at_k(popularity_scores(task.y_train, len(task.y_eval)), task.y_eval, self.k)
        self.initial = self._evaluate_all()
        self.stage = Stage("race", self.epochs, self._step, evaluate=self._evaluate)

    # -- per-copy guard ----------------------------------------------------------
    def _retire(self, name: str, why: str) -> None:
        self.copies[name].load_state_dict(self._good[name])
        self.status[name] = "diverged"
        self.notes.append(f"{self.labels[name]}: {why} at step {self._steps} (epoch "
                          f"{(self._steps - 1) // self.n_batches + 1}); weights restored from step "
                          f"{self._good_step[name]}, out of the race.")

    def _check_weights(self, active) -> None:
        norms = torch.stack([torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.detach().float())
                                                                    for p in self.copies[n].parameters()]))
                             for n in active]).tolist()  # one sync for all copies
        for name, norm in zip(active, norms):
            if not math.isfinite(norm) or norm > self.max_weight_norm:
                self._retire(name, f"weights exploded (norm {norm:.3g} > {self.max_weight_norm:.3g})")
            else:
                self._good[name] = _state_copy(self.copies[name])
                self._good_step[name] = self._steps

    def _step(self, batch: dict) -> dict:
        x, y = batch["x"], batch["y"]
        active = [n for n in self.names if self.status[n] == "training"]
        self._steps += 1
        losses = {}
        for name in active:
            self.optimizers[name].zero_grad(set_to_none=True)
            losses[name] = self.loss_fns[name](self.copies[name](x), y)
        finite = torch.isfinite(torch.stack([v.detach() for v in losses.values()])).tolist()
        for (name, loss), ok in zip(list(losses.items()), finite):
            if ok:
                loss.backward()
                self.optimizers[name].step()
            else:
                del losses[name]
                self._retire(name, "loss became NaN/inf")
        active = [n for n in active if self.status[n] == "training"]
        if active and (self._steps % self.check_every == 0 or self._steps % self.n_batches == 0):
            self._check_weights(active)
        if not any(s == "training" for s in self.status.values()):
            raise Diverged(f"all {len(self.names)} compared losses diverged (see race.notes)" if len(self.names) > 1
                           else "the only loss diverged (see race.notes)")
        return {n: v for n, v in losses.items() if self.status[n] == "training"}

    # -- evaluation ----------------------------------------------------------------
    def _own_loss(self, name: str, pred: torch.Tensor, target: torch.Tensor) -> float:
        fn = self.loss_fns[name]
        if name == "sampled":  # the same sample of zeros at every evaluation
            gen = torch.Generator(device=self.device).manual_seed(self._eval_seed)
            return float(fn.fn(pred, target, **{**fn.kwargs, "generator": gen}))
        return float(fn(pred, target))

    @torch.no_grad()
    def _evaluate_all(self) -> dict:
        """``{name: {"loss", "precision"}}`` for every copy (eval mode, whole sets)."""
        x_train, y_train = self.trainer.data["x"], self.trainer.data["y"]
        out = {}
        for name in self.names:
            model = self.copies[name]
            was_training = model.training
            model.train(False)
            loss = self._own_loss(name, model(x_train), y_train)
            prec = precision_at_k(model(self.x_eval), self.task.y_eval, self.k)
            model.train(was_training)
            out[name] = {"loss": loss, "precision": prec}
        return out

    def _evaluate(self) -> dict:
        metrics = {}
        for name, m in self._evaluate_all().items():
            gone = self.status[name] != "training"
            start = self.initial[name]["loss"]
            metrics[f"loss/{name}"] = math.nan if gone else m["loss"]
            metrics[f"normalised/{name}"] = math.nan if gone else (m["loss"] / start if start > 0 else math.nan)
            metrics[f"precision/{name}"] = math.nan if gone else m["precision"]
        return metrics

    # -- control -------------------------------------------------------------------
    def _check_fresh(self) -> None:
        if self.trainer.state != "idle":
            raise RuntimeError("this race has already run; make a new LossRace to train again")

    def start(self):
        """Train in a background thread (see :meth:`Trainer.start`); a race runs once."""
        self._check_fresh()
        return self.trainer.start([self.stage])

    def run(self):
        """Train in this thread; returns the trainer's history.  A race runs once."""
        self._check_fresh()
        return self.trainer.run([self.stage])

    def stop(self) -> None:
        self.trainer.stop()

    def wait(self, timeout: float | None = None) -> bool:
        return self.trainer.wait(timeout)

    # -- results -------------------------------------------------------------------
    def curves(self) -> dict:
        """Per-epoch curves, epoch 0 being the initial weights.

        ``{"epoch": [0, 1, ...], "loss": {name: [...]}, "normalised": {name: [...]},
        "precision": {name: [...]}}``; ``normalised`` is each loss divided by its
        value at initialisation (1.0 at epoch 0); NaN after a copy left the race.
        """
        recs = list(self.trainer.history.records)
        out = {"epoch": [0] + [r["epoch"] for r in recs], "loss": {}, "normalised": {}, "precision": {}}
        for name in self.names:
            out["loss"][name] = [self.initial[name]["loss"]] + [r.get(f"loss/{name}", math.nan) for r in recs]
            out["normalised"][name] = [1.0] + [r.get(f"normalised/{name}", math.nan) for r in recs]
            out["precision"][name] = [self.initial[name]["precision"]] + [r.get(f"precision/{name}", math.nan) for r in recs]
        return out

    @torch.no_grad()
    def diagnostics(self) -> dict:
        """Per copy, on the held-out users: ranking metrics and where its predictions sit.

        ``{name: {"status", "precision@k", "ndcg@k", "category_accuracy",
        "mean_pred_zero", "mean_pred_nonzero"}}``: the mean predicted value over
        entries whose target is 0, and over those where it is > 0 (a model blind
        to zeros predicts high values on both).
        """
        zero = self.y_eval == 0
        out = {}
        for name in self.names:
            model = self.copies[name]
            model.train(False)
            pred = model(self.x_eval)
            rm = ranking_metrics(pred, self.task.y_eval, self.k)
            out[name] = {"status": self.status[name], f"precision@{self.k}": rm[f"precision@{self.k}"],
                         f"ndcg@{self.k}": rm[f"ndcg@{self.k}"], "category_accuracy": rm["category_accuracy"],
                         "mean_pred_zero": float(pred[zero].mean()), "mean_pred_nonzero": float(pred[~zero].mean())}
        return out


# --------------------------------------------------------------------------- the blind spot

def _as_target(target, name="target") -> np.ndarray:
    t = np.asarray(target, dtype=np.float64)
    if t.ndim != 2 or t.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (users x items), got shape {t.shape}")
    if not np.isfinite(t).all() or (t < 0).any():
        raise ValueError(f"{name} must be finite and non-negative")
    return t


def flood_zeros(target, levels=None, *, base=None, losses: Sequence[str] = tuple(LOSSES), k: int = 5,
                loss_options: Mapping | None = None, seed: int = 0) -> dict:
    """The masked loss's blind spot: raise every prediction where the target is 0.

    For each ``v`` in ``levels`` the prediction is ``base + v * (target == 0)``
    (``base`` defaults to ``target`` itself: perfect on the non-zeros).  The
    masked loss weights each squared error by its own target, so it cannot see
    any of these changes; precision@k collapses once ``v`` passes the true
    values; every other loss grows.

    target, base : ``(n_users, n_items)``; levels : 1-D, default ``0 .. 0.5``.
    Returns ``{"level": (L,), "loss": {name: (L,)}, "precision": (L,)}``; losses
    are per user (``reduction="mean"``); the sampled loss uses a seeded draw.
    """
    t = _as_target(target)
    b = t if base is None else np.asarray(base, dtype=np.float64)
    if b.shape != t.shape or not np.isfinite(b).all():
        raise ValueError(f"base must be finite with the target's shape {t.shape}, got {b.shape}")
    lv = np.linspace(0.0, 0.5, 11) if levels is None else np.asarray(levels, dtype=np.float64)
    if lv.ndim != 1 or lv.size == 0 or not np.isfinite(lv).all():
        raise ValueError("levels must be a non-empty 1-D array of finite numbers")
    names = _check_losses(losses)
    fns = _bound_losses(names, loss_options, torch.device("cpu"), seed)
    tt = torch.as_tensor(t)
    zero = torch.as_tensor(t == 0, dtype=torch.float64)
    out = {"level": lv, "loss": {n: np.empty(lv.size) for n in names}, "precision": np.empty(lv.size)}
    for i, v in enumerate(lv):
        pred = torch.as_tensor(b) + float(v) * zero
        for n in names:
            if n == "sampled":  # the same zeros at every level
                fn = fns[n]
                out["loss"][n][i] = float(fn.fn(pred, tt, **{**fn.kwargs, "generator": torch.Generator().manual_seed(seed)}))
            else:
                out["loss"][n][i] = float(fns[n](pred, tt))
        out["precision"][i] = precision_at_k(pred.numpy(), t, k)
    return out


def loss_weights(target, name: str, **options) -> np.ndarray:
    """The weight each loss puts on each squared error ``(pred - target)^2``.

    Every loss of :data:`sandwichlab.losses.LOSSES` is ``sum w * (pred - target)^2``
    (summed over users and items) with ``w``:

    * ``mse``: 1;
    * ``masked`` (the report's formula): the target entry itself, 0 on zeros;
    * ``reference_masked`` (the published ``torch.mm`` code): the user's whole
      target row sum, the same for every entry of that user, zeros included;
    * ``confidence``: ``1 + c * target`` (``c`` default 40);
    * ``sampled``: the *expected* weight, 1 on non-zeros and ``zero_fraction``
      (default 0.1) on zeros (``1`` with ``unbiased=True``).

    target : ``(n_users, n_items)``; returns the float64 weights, same shape.
    """
    t = _as_target(target)
    if name not in LOSSES:
        raise ValueError(f"unknown loss name {name!r}; valid names: {', '.join(LOSSES)}")
    allowed = {"confidence": {"c"}, "sampled": {"zero_fraction", "unbiased"}}.get(name, set())
    extra = sorted(set(options) - allowed)
    if extra:
        raise ValueError(f"loss_weights({name!r}) takes no option(s) {extra}; it accepts {sorted(allowed) or 'none'}")
    if name == "mse":
        return np.ones_like(t)
    if name == "masked":
        return t.copy()
    if name == "reference_masked":
        return np.broadcast_to(t.sum(axis=1, keepdims=True), t.shape).copy()
    if name == "confidence":
        c = options.get("c", 40.0)
        if isinstance(c, bool) or not isinstance(c, numbers.Real) or not c >= 0:
            raise ValueError(f"c must be a number >= 0, got {c!r}")
        return 1.0 + float(c) * t
    f = options.get("zero_fraction", 0.1)
    if isinstance(f, bool) or not isinstance(f, numbers.Real) or not 0 <= f <= 1:
        raise ValueError(f"zero_fraction must be a number in [0, 1], got {f!r}")
    zero_weight = 1.0 if options.get("unbiased", False) else float(f)
    return np.where(t != 0, 1.0, zero_weight)


# --------------------------------------------------------------------------- log loss at large logits

def exact_log_loss(logits, y: float) -> tuple[np.ndarray, np.ndarray]:
    """Binary cross-entropy of a sigmoid and its gradient, in float64 closed form.

    ``loss = y softplus(-x) + (1 - y) softplus(x)`` (``np.logaddexp``, no overflow),
    ``d loss / dx = sigmoid(x) - y``.  logits: 1-D; y in [0, 1].  The independent
    reference for :func:`log_loss_curves`.
    """
    from scipy.special import expit

    x = np.asarray(logits, dtype=np.float64)
    if isinstance(y, bool) or not isinstance(y, numbers.Real) or not 0 <= y <= 1:
        raise ValueError(f"y must be a number in [0, 1], got {y!r}")
    loss = y * np.logaddexp(0.0, -x) + (1 - y) * np.logaddexp(0.0, x)
    return loss, expit(x) - y


def log_loss_curves(logits, y: float = 0.0, *, dtype: torch.dtype = torch.float32, eps: float = 1e-4) -> dict:
    """Loss and gradient at each logit for the naive, clamped and stable log losses.

    logits : 1-D array (e.g. ``np.linspace(-50, 50, 401)``); y : the label (0 or 1,
    or a probability).  Each logit is evaluated on its own (``reduction="none"``)
    in ``dtype``; gradients by autograd.  Returns ``{name: {"loss", "grad"}}`` for
    the names of :data:`sandwichlab.losses.LOG_LOSSES` plus ``"exact"``
    (float64 closed form), each a float64 array that may hold inf/NaN where the
    method breaks.
    """
    x = np.asarray(logits, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"logits must be a non-empty 1-D array, got shape {x.shape}")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    loss, grad = exact_log_loss(x, y)
    out = {}
    for name, fn in LOG_LOSSES.items():
        xt = torch.tensor(x, dtype=dtype, requires_grad=True)
        yt = torch.full_like(xt, float(y)).detach()
        kw = {"eps": eps} if name == "clamped" else {}
        val = fn(xt, yt, reduction="none", **kw)
        val.sum().backward()
        out[name] = {"loss": val.detach().double().numpy(), "grad": xt.grad.double().numpy()}
    out["exact"] = {"loss": loss, "grad": grad}
    return out
