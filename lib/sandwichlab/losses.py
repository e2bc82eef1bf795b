"""Losses for sparse targets: MSE, the report's masked loss and its relatives.

Shapes and conventions (all squared-error losses)
-------------------------------------------------
``pred`` and ``target`` are 2-D float tensors of the same shape
``(batch, n_items)`` on the same device, e.g. ``(256, 164)`` L2 vectors.
Every loss is ``sum_ij w_ij * (pred_ij - target_ij) ** 2`` for some weight
``w`` (the reference masked loss is the one exception, see below), and shares
one set of reductions:

``"sum"``   the sum over every entry (the report's formula, a scalar);
``"mean"``  that sum divided by the number of rows (``batch``): the average
            *per-user* loss.  This is deliberately NOT the per-element mean of
            ``torch.nn.functional.mse_loss``: dividing every loss by the same
            ``batch`` keeps their gradients on one scale, so one learning rate
            compares them fairly.  ``mse_loss(p, t, "mean") ==
            F.mse_loss(p, t) * n_items``;
``"none"``  the per-row sums, shape ``(batch,)``.

===================  =====================================  ============================
name                 weight ``w_ij``                        penalises pred where t == 0?
===================  =====================================  ============================
``mse``              1                                      yes
``masked``           ``t_ij`` (report, section 2)           **no** (the blind spot)
``reference_masked`` ``rowsum(t_i)`` (published code)       yes, if the user has any t > 0
``confidence``       ``1 + c * t_ij`` (Hu, Koren, Volinsky)  yes, with weight 1
``sampled``          1 on non-zeros, random on zeros        yes, on a random sample
===================  =====================================  ============================

Value checks and the GPU hot loop
---------------------------------
Shape, dimension, dtype and device checks are free (tensor metadata only) and
always run.  Checks that read tensor *values* ("target is finite and
non-negative") need the data on the host; on a GPU that forces a device->host
synchronisation every step.  ``check_values=None`` (the default) therefore runs
them only for CPU tensors, where they cost a few microseconds and no sync;
pass ``check_values=True`` to force them anywhere, ``False`` to skip them.

Numerical stability (the blog's "kludges" section)
--------------------------------------------------
``naive_log_loss``, ``clamped_log_loss`` and ``stable_log_loss`` compute the
same binary cross-entropy from logits three ways, to show why -log(sigmoid(x))
overflows at large ``|x|``, why clamping hides it at the cost of a zero
gradient, and that ``logsigmoid`` / BCE-with-logits gets loss and gradient
(``sigmoid(x) - y``) right.  They take any shape and reduce per *element*
(``"mean"`` as in torch's BCE).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

REDUCTIONS = ("sum", "mean", "none")

__all__ = [
    "REDUCTIONS", "LOSSES", "LOSS_LABELS", "LOG_LOSSES", "LOG_LOSS_LABELS", "Loss", "get_loss",
    "mse_loss", "masked_loss", "reference_masked_loss", "confidence_weighted_loss", "sampled_loss",
    "naive_log_loss", "clamped_log_loss", "stable_log_loss",
]


# --------------------------------------------------------------------------- checks

def _check_reduction(reduction) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction={reduction!r} is not supported; use one of {', '.join(map(repr, REDUCTIONS))}")
    return reduction


def _check_pair(pred, target, reduction, check_values, *, nonnegative: bool, at_most: float | None = None,
                names=("pred", "target"), ndim: int | None = 2) -> None:
    """Validate a (prediction, target) pair; value checks only where they are cheap (see module doc)."""
    pn, tn = names
    for name, x in ((pn, pred), (tn, target)):
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if ndim is not None:
        for name, x in ((pn, pred), (tn, target)):
            if x.dim() != ndim:
                raise ValueError(f"{name} must be {ndim}-D (batch, n_items), got shape {tuple(x.shape)}")
        if pred.shape[0] == 0:
            raise ValueError(f"{pn} has no rows (shape {tuple(pred.shape)}); a loss needs at least one example")
    if pred.shape != target.shape:
        raise ValueError(f"{pn} and {tn} must have the same shape, got {pn} {tuple(pred.shape)} "
                         f"and {tn} {tuple(target.shape)}")
    if pred.device != target.device:
        raise ValueError(f"{pn} and {tn} must be on the same device, got {pn} on {pred.device} "
                         f"and {tn} on {target.device}")
    _check_reduction(reduction)
    if check_values not in (None, True, False):
        raise ValueError(f"check_values must be None (check CPU tensors only), True or False, got {check_values!r}")
    if check_values is False or (check_values is None and target.device.type != "cpu"):
        return
    if target.numel() == 0:
        return
    # One pass over the data: NaN propagates into both extremes, +-inf shows in one of them.
    low, high = (float(v) for v in torch.aminmax(target.detach()))
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{tn} contains NaN or inf")
    if nonnegative and low < 0:
        raise ValueError(f"{tn} must be non-negative for this loss (its values are weights), min is {low!r}")
    if at_most is not None and high > at_most:
        raise ValueError(f"{tn} must lie in [0, {at_most:g}] (labels or probabilities), max is {high!r}")


def _reduce(per_entry: torch.Tensor, reduction: str) -> torch.Tensor:
    """Reduce a (batch, n_items) tensor of weighted squared errors by the module's convention."""
    if reduction == "sum":
        return per_entry.sum()
    if reduction == "mean":
        return per_entry.sum() / per_entry.shape[0]
    return per_entry.sum(dim=1)


def _check_number(value, name: str, *, low: float, high: float | None = None, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    too_low = v <= low if low_open else v < low
    if v != v or too_low or (high is not None and v > high):
        lo = f"> {low}" if low_open else f">= {low}"
        hi = f" and <= {high}" if high is not None else ""
        raise ValueError(f"{name} must be {lo}{hi}, got {value!r}")
    return v


# --------------------------------------------------------------------------- squared-error family

def mse_loss(pred: torch.Tensor, target: torch.Tensor, reduction: str = "sum", *,
             check_values: bool | None = None) -> torch.Tensor:
    """Plain squared error ``sum_ij (pred_ij - target_ij)^2``.

    pred, target: ``(batch, n_items)`` float tensors.  ``reduction``: ``"sum"``,
    ``"mean"`` (divided by ``batch``, i.e. per user, NOT per element: multiply
    ``F.mse_loss`` by ``n_items`` to get it) or ``"none"`` (per-row sums).
    Gradient: ``2 (pred - target)`` (divided by ``batch`` for ``"mean"``).
    """
    _check_pair(pred, target, reduction, check_values, nonnegative=False)
    return _reduce((pred - target) ** 2, reduction)


def masked_loss(pred: torch.Tensor, target: torch.Tensor, reduction: str = "sum", *,
                check_values: bool | None = None) -> torch.Tensor:
    """The report's masked loss ``sum_i target_i (pred_i - target_i)^2`` (section 2).

    Each squared error is weighted by its *own* target entry, so its gradient is
    ``2 target (pred - target)``: entries whose target is zero contribute nothing,
    whatever the prediction there (the blind spot; see ``confidence_weighted_loss``
    and ``sampled_loss`` for fixes).  ``target`` must be non-negative (negative
    weights would make the loss unbounded below).  Shapes and reductions as in
    ``mse_loss``.
    """
    _check_pair(pred, target, reduction, check_values, nonnegative=True)
    return _reduce(target * (pred - target) ** 2, reduction)


def reference_masked_loss(pred: torch.Tensor, target: torch.Tensor, reduction: str = "sum", *,
                          check_values: bool | None = None) -> torch.Tensor:
    """What the report's published code computes: ``torch.mm(target.T, (pred - target) ** 2).sum()``.

    ``target.T @ E`` is ``(n_items, n_items)`` with entry ``(i, j) = sum_b t_bi e_bj``;
    summing it gives ``sum_b rowsum(t_b) * ||pred_b - target_b||^2``.  So, unlike the
    element-wise formula the report writes (``masked_loss``), every squared error of
    user ``b`` -- including those where the target is zero -- is weighted by that
    user's *whole* target row sum.  It is MSE with per-user weights: users with more
    (or heavier) interests count more, and an all-zero user counts not at all.
    Gradient: ``2 rowsum(t_b) (pred_bj - target_bj)``.

    ``"sum"`` and ``"mean"`` (divided by ``batch``) use the reference ``torch.mm``
    form; ``"none"`` (per-row values, shape ``(batch,)``) uses the closed form above,
    since the matrix product mixes rows.
    """
    _check_pair(pred, target, reduction, check_values, nonnegative=True)
    if reduction == "none":
        return target.sum(dim=1) * ((pred - target) ** 2).sum(dim=1)
    total = torch.mm(target.T, (pred - target) ** 2).sum()
    return total if reduction == "sum" else total / pred.shape[0]


def confidence_weighted_loss(pred: torch.Tensor, target: torch.Tensor, c: float = 40.0,
                             reduction: str = "sum", *, check_values: bool | None = None) -> torch.Tensor:
    """Confidence-weighted squared error ``sum_ij (1 + c target_ij)(pred_ij - target_ij)^2``.

    The implicit-feedback weighting of Hu, Koren and Volinsky (2008): every entry,
    zeros included, is penalised with weight at least 1, and observed interest adds
    confidence ``c * target``.  (They regress on the binarised preference
    ``1[target > 0]``; here the regression target stays the graded ``target``.)
    ``c >= 0``; ``c = 0`` is ``mse_loss``.  Their suggested ``c = 40`` is for raw
    counts; our L2 entries are fractions around 0.1, so ``c = 40`` gives a non-zero
    entry a weight of about 5.  Gradient: ``2 (1 + c target)(pred - target)``.
    """
    c = _check_number(c, "c", low=0.0)
    _check_pair(pred, target, reduction, check_values, nonnegative=True)
    return _reduce((1.0 + c * target) * (pred - target) ** 2, reduction)


def _check_generator(generator, device: torch.device) -> None:
    if generator is None:
        return
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if generator.device.type != device.type:
        raise ValueError(f"generator is on {generator.device} but target is on {device}; "
                         f"make it with torch.Generator(device=target.device)")


def sampled_loss(pred: torch.Tensor, target: torch.Tensor, zero_fraction: float = 0.1,
                 reduction: str = "sum", *, unbiased: bool = False, generator: torch.Generator | None = None,
                 check_values: bool | None = None) -> torch.Tensor:
    """Squared error on every non-zero target plus a random sample of the zeros.

    The blog's "reconstruction sampling": recover all non-zeros, but only a sampled
    portion of zeros.  Each zero entry is kept independently with probability
    ``zero_fraction``; precisely, the mask is
    ``torch.rand(target.shape, generator=generator, device=target.device,
    dtype=torch.float32) < zero_fraction`` restricted to ``target == 0``, drawn
    afresh on every call (pass a ``torch.Generator`` on ``target``'s device for a
    reproducible sequence; ``None`` uses torch's global RNG).

    ``unbiased=False`` (default): kept zeros have weight 1.  In expectation this is
    ``sum_{t!=0} (p - t)^2 + zero_fraction * sum_{t==0} p^2``: a *deliberately*
    biased loss that down-weights the flood of zeros, which is the point of the
    sampling (rebalance a sparse target, and cost less for a sparse implementation).
    ``unbiased=True``: kept zeros have weight ``1 / zero_fraction``, so the
    expectation is exactly ``mse_loss`` (a Horvitz-Thompson estimate): useful to
    estimate MSE cheaply, but with more variance and no rebalancing.
    ``zero_fraction`` in ``[0, 1]`` (``(0, 1]`` when unbiased); 1 gives ``mse_loss``.
    Shapes and reductions as in ``mse_loss``; no host sync on any device.
    """
    zero_fraction = _check_number(zero_fraction, "zero_fraction", low=0.0, high=1.0, low_open=bool(unbiased))
    if not isinstance(unbiased, bool):
        raise ValueError(f"unbiased must be True or False, got {unbiased!r}")
    _check_pair(pred, target, reduction, check_values, nonnegative=True)
    _check_generator(generator, target.device)
    draw = torch.rand(target.shape, generator=generator, device=target.device, dtype=torch.float32)
    nonzero = target != 0
    kept_zero = (~nonzero) & (draw < zero_fraction)
    zero_weight = 1.0 / zero_fraction if unbiased else 1.0
    weight = nonzero.to(pred.dtype) + kept_zero.to(pred.dtype) * zero_weight
    return _reduce(weight * (pred - target) ** 2, reduction)


# --------------------------------------------------------------------------- registry for dashboards

LOSSES: dict[str, Callable] = {
    "mse": mse_loss,
    "masked": masked_loss,
    "reference_masked": reference_masked_loss,
    "confidence": confidence_weighted_loss,
    "sampled": sampled_loss,
}

LOSS_LABELS: dict[str, str] = {
    "mse": "MSE",
    "masked": "Masked loss (report)",
    "reference_masked": "Masked loss (reference code)",
    "confidence": "Confidence-weighted (1 + c·t)",
    "sampled": "Sampled zeros",
}


@dataclass(frozen=True, eq=False)  # eq=False: hashable by identity, usable as a dict key
class Loss:
    """A loss with its settings bound: ``loss(pred, target) -> tensor``.

    ``name`` is the registry key, ``label`` a human-readable name for plots,
    ``kwargs`` the bound settings (e.g. ``{"c": 40.0, "reduction": "mean"}``).
    """

    name: str
    label: str
    fn: Callable = field(repr=False)
    kwargs: Mapping = field(default_factory=dict)

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.fn(pred, target, **self.kwargs)


def get_loss(name: str, **kwargs) -> Loss:
    """The loss called ``name`` (a key of ``LOSSES``) with ``kwargs`` bound.

    >>> loss = get_loss("confidence", c=10, reduction="mean")
    >>> loss(pred, target)      # scalar tensor

    Raises ValueError for an unknown name (listing the valid ones), an argument
    the loss does not take, or an invalid setting (checked now, not at step 1).
    A bound ``generator`` is shared across calls, so a sampled loss made with
    ``generator=torch.Generator().manual_seed(0)`` draws a reproducible sequence.
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss name {name!r}; valid names: {', '.join(LOSSES)}")
    fn = LOSSES[name]
    accepted = list(inspect.signature(fn).parameters)[2:]  # everything after (pred, target)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"loss {name!r} takes no argument(s) {', '.join(unknown)}; it accepts: {', '.join(accepted)}")
    # Validate the settings now, on a tiny input, rather than on the first training step.
    # The probe draws from a throwaway generator: neither the bound one nor torch's global
    # RNG advances, so seeded runs stay reproducible.
    generator = kwargs.get("generator")
    _check_generator(generator, generator.device if isinstance(generator, torch.Generator) else torch.device("cpu"))
    probe_kwargs = dict(kwargs)
    if "generator" in accepted:
        probe_kwargs["generator"] = torch.Generator()
    probe = torch.zeros(1, 2)
    fn(probe, probe, **probe_kwargs)
    return Loss(name=name, label=LOSS_LABELS[name], fn=fn, kwargs=dict(kwargs))


# --------------------------------------------------------------------------- numerically stable log loss

def _check_log_pair(logits, y, reduction, check_values) -> None:
    _check_pair(logits, y, reduction, check_values, nonnegative=True, at_most=1.0, names=("logits", "y"), ndim=None)


def _reduce_elements(per_element: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "sum":
        return per_element.sum()
    if reduction == "mean":
        return per_element.mean()
    return per_element


def naive_log_loss(logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean", *,
                   check_values: bool | None = None) -> torch.Tensor:
    """Binary cross-entropy the textbook way: ``-(y log s + (1 - y) log(1 - s))``, ``s = sigmoid(x)``.

    Broken on purpose, for the notebook.  ``sigmoid`` rounds to exactly 1 for
    ``x`` above about 17 (float32) or 37 (float64), and to 0 below about -88
    (float32) or -745 (float64), so ``log`` returns ``-inf``: a confidently wrong logit gives an infinite
    loss and a NaN gradient (``inf * 0`` in the chain rule), and even a confidently
    *right* one gives NaN (``0 * log 0``).  logits, y: any equal shapes, y in
    [0, 1]; reductions per element (``"mean"``, ``"sum"``, ``"none"``).
    """
    _check_log_pair(logits, y, reduction, check_values)
    s = torch.sigmoid(logits)
    return _reduce_elements(-(y * torch.log(s) + (1 - y) * torch.log(1 - s)), reduction)


def clamped_log_loss(logits: torch.Tensor, y: torch.Tensor, eps: float = 1e-4, reduction: str = "mean", *,
                     check_values: bool | None = None) -> torch.Tensor:
    """The blog's kludge: clamp ``sigmoid(x)`` into ``[eps, 1 - eps]`` before the log.

    The loss is now finite (at most ``-log(eps)``, 9.2 for ``eps = 1e-4``), but
    ``clamp`` has zero gradient where it bites: once ``|x|`` exceeds
    ``log((1 - eps) / eps)`` (9.2) the gradient is exactly 0, so a confidently
    *wrong* logit stops being corrected, while the true gradient ``sigmoid(x) - y``
    is about +-1 there.  ``0 < eps < 0.5``.  Shapes and reductions as in
    ``naive_log_loss``.
    """
    eps = _check_number(eps, "eps", low=0.0, high=0.5, low_open=True)
    if eps == 0.5:
        raise ValueError("eps must be < 0.5 (the clamp interval [eps, 1 - eps] would be a point), got 0.5")
    _check_log_pair(logits, y, reduction, check_values)
    s = torch.clamp(torch.sigmoid(logits), min=eps, max=1 - eps)
    return _reduce_elements(-(y * torch.log(s) + (1 - y) * torch.log(1 - s)), reduction)


def stable_log_loss(logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean", *,
                    check_values: bool | None = None) -> torch.Tensor:
    """Binary cross-entropy computed from logits: ``F.binary_cross_entropy_with_logits``.

    Equal to ``-(y logsigmoid(x) + (1 - y) logsigmoid(-x))`` evaluated without
    forming ``sigmoid(x)``: finite for every finite logit, ``|x|``-sized for a
    confidently wrong one, and with the exact gradient ``sigmoid(x) - y``.
    Shapes and reductions as in ``naive_log_loss``.
    """
    _check_log_pair(logits, y, reduction, check_values)
    return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype), reduction=reduction)


LOG_LOSSES: dict[str, Callable] = {
    "naive": naive_log_loss,
    "clamped": clamped_log_loss,
    "stable": stable_log_loss,
}

LOG_LOSS_LABELS: dict[str, str] = {
    "naive": "-log sigmoid (naive)",
    "clamped": "clamped sigmoid (kludge)",
    "stable": "BCE with logits (stable)",
}
