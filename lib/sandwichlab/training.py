"""One trainer for every study: device, index-sliced batches, events, Stop, NaN guard.

The trainer knows nothing about models' internals, losses or plots (after
minGPT's ``Trainer``).  A run is a list of :class:`Stage` objects; each stage
supplies a ``step(batch) -> {name: loss}`` function that does the forward pass,
backward pass and parameter update for one batch (so a plain supervised step,
a frozen-trunk fine-tuning stage and the bi-directional autoencoder's
alternating update are all just steps).  The trainer

* keeps the data on the device and batches by slicing a per-epoch permutation
  (one host-to-device copy per epoch, none per step);
* fires events that dashboards subscribe to with :meth:`Trainer.on`:
  ``stage_start``, ``batch_end``, ``epoch_end``, ``done``, ``stopped``,
  ``diverged`` and ``failed``;
* keeps a :class:`History` of per-epoch losses and metrics;
* can run in a background thread (:meth:`Trainer.start`); :meth:`Trainer.stop`
  ends it at the next batch boundary;
* checks every ``check_every`` batches and at each epoch end that the losses
  and weights are finite and not exploding; if not, it restores the last good
  weights, says so in ``trainer.message`` and fires ``diverged``;
* is reproducible on the CPU for a given ``seed``;
* flushes denormal floats to zero on the CPU (``flush_denormal``, on by
  default): small gradients and Adam's moment estimates drift into the
  denormal range, where x86 arithmetic is several times slower (5x for a
  float32 multiply here; some steps of the paper-size bi-directional model
  were 20-30x slower).  The flag is per thread and OpenMP worker threads
  copy it when they are created, so it is set in the thread that runs the
  stages, before its first operation: fully effective for :meth:`start`,
  partly for :meth:`run` in a thread whose workers already exist.

Callbacks run on the training thread: keep them short, and throttle redraws.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .device import pick_device

EVENTS = ("stage_start", "batch_end", "epoch_end", "done", "stopped", "diverged", "failed")
StepFn = Callable[[dict], dict]


@dataclass
class Stage:
    """One phase of training.

    ``step(batch)`` receives a dict of device tensors (one mini-batch, keyed
    like the trainer's data) and returns a dict of 0-d loss tensors; it must do
    its own ``backward()`` and optimiser updates.  ``setup()`` runs when the
    stage starts (e.g. freeze a trunk); ``evaluate()`` runs after every epoch
    under ``torch.no_grad()`` with the model in eval mode and returns metrics
    (floats) for the history, e.g. validation loss or precision@5.

    ``data`` (optional) replaces the trainer's data for this stage only: a dict
    name -> tensor like the trainer's ``data``, moved to the device once when
    the run starts.  Transfer learning needs it: a network is pre-trained on
    the users that have L1 targets, then fine-tuned on those that have L2.
    """

    name: str
    epochs: int
    step: StepFn
    setup: Callable[[], None] | None = None
    evaluate: Callable[[], dict] | None = None
    data: dict | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 0:
            raise ValueError(f"epochs must be an integer >= 0, got {self.epochs!r} (stage {self.name!r})")
        if not callable(self.step):
            raise ValueError(f"step must be callable (stage {self.name!r})")


@dataclass
class Event:
    """What a callback receives.  ``losses`` holds 0-d tensors for ``batch_end``
    (call :meth:`loss_values` to get floats; that waits for the device) and
    floats for ``epoch_end``."""

    kind: str
    trainer: "Trainer"
    stage: str | None = None
    epoch: int | None = None
    batch: int | None = None
    step: int = 0
    losses: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    message: str = ""

    def loss_values(self) -> dict:
        return {k: float(v) for k, v in self.losses.items()}


class History:
    """Per-epoch records: ``{"stage", "epoch", "seconds", <loss names>, <metric names>}``."""

    def __init__(self):
        self.records: list[dict] = []

    def append(self, record: dict) -> None:
        self.records.append(record)

    def series(self, key: str, stage: str | None = None) -> list:
        """Values of ``key`` over epochs (of one stage, if given); NaN where absent."""
        return [r.get(key, math.nan) for r in self.records if stage is None or r["stage"] == stage]

    def last(self, key: str, default=math.nan):
        for r in reversed(self.records):
            if key in r:
                return r[key]
        return default

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return f"History({len(self.records)} epochs)"


class Diverged(RuntimeError):
    pass


def _state_copy(model: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class Trainer:
    """Runs :class:`Stage` lists over tensors kept on one device.

    Parameters
    ----------
    model : the nn.Module whose weights are guarded (snapshotted and restored)
        and switched between train/eval mode; moved to ``device``.
    data : dict name -> tensor (or array) with the same number of rows; moved
        to ``device`` once.  Each batch is ``{name: tensor[rows]}``.
    batch_size : rows per step.
    device : passed to :func:`sandwichlab.device.pick_device` (GPU when present).
    seed : seeds torch's RNG (weights' dropout) and the shuffling generator.
    check_every : batches between divergence checks (each costs one device sync).
    max_weight_norm : weights whose total L2 norm exceeds this count as exploding.
    progress : show a tqdm.auto progress bar.
    flush_denormal : call ``torch.set_flush_denormal(True)`` in the thread that
        runs the stages (values below ~1e-38 in float32 become 0).
    """

    def __init__(self, model: nn.Module, data: dict, *, batch_size: int = 64, device=None, seed: int = 0,
                 shuffle: bool = True, check_every: int = 50, max_weight_norm: float = 1e6,
                 progress: bool = False, flush_denormal: bool = True):
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(data, dict) or not data:
            raise ValueError("data must be a non-empty dict of name -> tensor")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if isinstance(check_every, bool) or not isinstance(check_every, int) or check_every < 1:
            raise ValueError(f"check_every must be an integer >= 1, got {check_every!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        if isinstance(max_weight_norm, bool) or not isinstance(max_weight_norm, (int, float)) or not max_weight_norm > 0:
            raise ValueError(f"max_weight_norm must be a number > 0, got {max_weight_norm!r}")
        self.device = pick_device(device)
        self.model = model.to(self.device)
        self.data, self.n_rows = self._to_device(data, "data")
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.check_every = check_every
        self.max_weight_norm = float(max_weight_norm)
        self.progress = progress
        self.flush_denormal = bool(flush_denormal)
        self.history = History()
        self.state = "idle"  # running, done, stopped, diverged, failed
        self.message = ""
        self.error: BaseException | None = None
        self.step_count = 0
        self._callbacks = {e: [] for e in EVENTS}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_good: dict | None = None
        self._good_step = 0

    def _to_device(self, data: dict, where: str) -> tuple[dict, int]:
        """Validate a dict of row-aligned tensors; float64 -> float32; move to the device."""
        if not isinstance(data, dict) or not data:
            raise ValueError(f"{where} must be a non-empty dict of name -> tensor")
        out, rows = {}, None
        for name, value in data.items():
            t = torch.as_tensor(value)
            if t.ndim == 0:
                raise ValueError(f"{where}[{name!r}] must have a row dimension, got a scalar")
            if rows is None:
                rows = t.shape[0]
            elif t.shape[0] != rows:
                raise ValueError(f"{where}[{name!r}] has {t.shape[0]} rows, but the other tensors have {rows}")
            if t.is_floating_point() and t.dtype == torch.float64:
                t = t.float()
            out[name] = t.to(self.device)
        if rows == 0:
            raise ValueError(f"{where} has no rows")
        return out, int(rows)

    # -- events ---------------------------------------------------------------
    def on(self, event: str, fn: Callable[[Event], None] | None = None):
        """Subscribe ``fn(event)`` to ``event``; usable as a decorator."""
        if event not in self._callbacks:
            raise ValueError(f"event must be one of {EVENTS}, got {event!r}")
        if fn is None:
            return lambda f: self.on(event, f)
        self._callbacks[event].append(fn)
        return fn

    def _fire(self, kind: str, **kw) -> None:
        if self._callbacks[kind]:
            ev = Event(kind, self, step=self.step_count, **kw)
            for fn in self._callbacks[kind]:
                fn(ev)

    # -- control --------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.state == "running"

    def stop(self) -> None:
        """Ask a run to end at the next batch boundary (thread-safe)."""
        self._stop.set()

    def start(self, stages: list[Stage]) -> threading.Thread:
        """Run ``stages`` in a background thread; returns the thread."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("this trainer is already running; stop() it or wait() first")
        self._validate(stages)
        self._stop.clear()  # here, not in the thread: a stop() right after start() must count
        self._thread = threading.Thread(target=self._run_quietly, args=(stages,), name="sandwichlab-trainer", daemon=True)
        self.state = "running"
        self._thread.start()
        return self._thread

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background run; True when it has finished."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run_quietly(self, stages):
        try:
            self._run(stages)
        except BaseException:  # recorded in self.error / self.state, reported through "failed"
            pass

    # -- the loop -------------------------------------------------------------
    @staticmethod
    def _validate(stages) -> None:
        if isinstance(stages, Stage):
            raise ValueError("stages must be a list of Stage objects, got a single Stage (wrap it in a list)")
        if not stages or not all(isinstance(s, Stage) for s in stages):
            raise ValueError("stages must be a non-empty list of Stage objects")

    def run(self, stages: list[Stage]) -> History:
        """Run ``stages`` in this thread; returns the history.  Ends in state
        ``done``, ``stopped``, ``diverged`` (last good weights restored) or
        ``failed`` (the exception is re-raised and kept in ``self.error``).
        The matching event fires once, after the state is final; an exception
        raised by one of its callbacks propagates but does not change the state."""
        self._validate(stages)
        self._stop.clear()
        return self._run(stages)

    def _run(self, stages: list[Stage]) -> History:
        self.state, self.message, self.error = "running", "", None
        if self.flush_denormal:
            torch.set_flush_denormal(True)  # per thread: here, where the stages run
        torch.manual_seed(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        bar = None
        self._snapshot()
        end: dict = {}
        try:
            stage_data = [(self.data, self.n_rows) if s.data is None else self._to_device(s.data, f"stage {s.name!r} data")
                          for s in stages]
            if self.progress:
                from tqdm.auto import tqdm
                bar = tqdm(total=sum(math.ceil(n / self.batch_size) * s.epochs for s, (_, n) in zip(stages, stage_data)),
                           desc="training", leave=False)
            for stage, (data, n_rows) in zip(stages, stage_data):
                if stage.setup is not None:
                    stage.setup()
                self._fire("stage_start", stage=stage.name)
                for epoch in range(stage.epochs):
                    end = self._run_epoch(stage, epoch, gen, data, n_rows, bar)
                    if end:
                        break
                if end:
                    break
            else:
                self.state = "done"
                self.message = f"finished {sum(s.epochs for s in stages)} epoch(s) in {len(stages)} stage(s)"
                end = {}
        except Diverged as exc:
            self.model.load_state_dict(self._last_good)
            self.state = "diverged"
            self.message = f"{exc}; stopped and restored the last good weights (step {self._good_step})"
            end = {}
        except BaseException as exc:
            self.state, self.error = "failed", exc
            self.message = f"training failed: {type(exc).__name__}: {exc}"
            try:
                self._fire("failed", message=self.message)
            except BaseException:  # a failing callback must not hide the run's own error
                pass
            raise
        finally:
            self.model.train(False)
            if bar is not None:
                bar.close()
        self._fire(self.state, message=self.message, **end)
        return self.history

    def _run_epoch(self, stage: Stage, epoch: int, gen, data: dict, n_rows: int, bar) -> dict:
        """One epoch over ``data`` (``n_rows`` rows); where it was stopped (empty if not)."""
        t0 = time.perf_counter()
        self.model.train(True)
        n_batches = math.ceil(n_rows / self.batch_size)
        order = torch.randperm(n_rows, generator=gen) if self.shuffle else torch.arange(n_rows)
        order = order.to(self.device)
        sums: dict = {}
        for b in range(n_batches):
            if self._stop.is_set():
                self.state = "stopped"
                self.message = f"stopped by request in stage {stage.name!r}, epoch {epoch + 1}, after {self.step_count} steps"
                return {"stage": stage.name, "epoch": epoch, "batch": b}
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            batch = {k: v.index_select(0, idx) for k, v in data.items()}
            losses = stage.step(batch)
            if not isinstance(losses, dict) or not losses:
                raise ValueError(f"stage {stage.name!r}: step must return a non-empty dict of loss tensors")
            losses = {k: v.detach() for k, v in losses.items()}
            for k, v in losses.items():
                sums[k] = sums[k] + v if k in sums else v.clone()
            self.step_count += 1
            if bar is not None:
                bar.update(1)
            self._fire("batch_end", stage=stage.name, epoch=epoch, batch=b, losses=losses)
            if self.step_count % self.check_every == 0:
                self._check(losses, stage.name, epoch)
        means = {k: float(v) / n_batches for k, v in sums.items()}
        self._check({k: torch.tensor(v) for k, v in means.items()}, stage.name, epoch)
        metrics = {}
        if stage.evaluate is not None:
            self.model.train(False)
            with torch.no_grad():
                metrics = {k: float(v) for k, v in stage.evaluate().items()}
            self.model.train(True)
        record = {"stage": stage.name, "epoch": epoch + 1, "step": self.step_count,
                  "seconds": time.perf_counter() - t0, **means, **metrics}
        self.history.append(record)
        self._fire("epoch_end", stage=stage.name, epoch=epoch, losses=means, metrics=metrics)
        return {}

    def _check(self, losses: dict, stage: str, epoch: int) -> None:
        """Raise Diverged on non-finite losses or weights; else snapshot the weights."""
        vals = torch.stack([v.reshape(()).float().to(self.device) for v in losses.values()])
        params = [p.detach() for p in self.model.parameters()]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.float()) for p in params])) if params else torch.zeros((), device=self.device)
        ok_loss, ok_norm, norm_val = bool(torch.isfinite(vals).all()), bool(torch.isfinite(norm)), float(norm)
        where = f"stage {stage!r}, epoch {epoch + 1}, step {self.step_count}"
        if not ok_loss:
            bad = [k for k, v in losses.items() if not torch.isfinite(v).all()]
            raise Diverged(f"loss became NaN/inf ({', '.join(bad)}) at {where}")
        if not ok_norm or norm_val > self.max_weight_norm:
            raise Diverged(f"weights exploded (norm {norm_val:.3g} > {self.max_weight_norm:.3g}) at {where}")
        self._snapshot()

    def _snapshot(self) -> None:
        """Remember the current weights as the last good ones (into reused buffers)."""
        state = self.model.state_dict()
        good = self._last_good
        if good is None or good.keys() != state.keys() or any(good[k].shape != v.shape for k, v in state.items()):
            self._last_good = _state_copy(self.model)
        else:
            for k, v in state.items():
                good[k].copy_(v)
        self._good_step = self.step_count


def supervised_step(model: nn.Module, loss_fn, optimizer: torch.optim.Optimizer, *, x: str, y: str,
                    forward: Callable | None = None, scheduler=None, clip_norm: float | None = None) -> StepFn:
    """A plain step: ``loss_fn(forward(batch[x]), batch[y])``, backward, optimiser step.

    ``forward`` defaults to ``model``; ``scheduler`` (if any) is stepped after
    every batch (e.g. ``torch.optim.lr_scheduler.OneCycleLR``).
    """
    fwd = forward or model

    def step(batch):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(fwd(batch[x]), batch[y])
        loss.backward()
        if clip_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        return {"loss": loss}

    return step


# -- checkpoints -------------------------------------------------------------

def save_checkpoint(path, model: nn.Module, **extra) -> Path:
    """Write ``{"model": state_dict, **extra}`` atomically (temp file + rename).

    ``extra`` values must be state_dicts or plain data (numbers, strings, lists,
    dicts, tensors) so :func:`load_checkpoint` can read them with
    ``weights_only=True``.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"path={str(path)!r}: directory {path.parent} does not exist")
    payload = {"model": model.state_dict(), **extra}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path, model: nn.Module | None = None, map_location="cpu") -> dict:
    """Read a checkpoint with ``weights_only=True``; load its weights into ``model`` if given."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or "model" not in payload:
        raise ValueError(f"{path}: not a sandwichlab checkpoint (no 'model' state_dict)")
    if model is not None:
        try:
            model.load_state_dict(payload["model"])
        except RuntimeError as exc:
            raise ValueError(f"{path}: weights do not fit this model ({exc})") from exc
    return payload
