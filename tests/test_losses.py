"""sandwichlab.losses against independent computations, closed-form gradients and its failure modes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sandwichlab import losses as L
from sandwichlab.metrics import precision_at_k

SQUARED = ["mse", "masked", "reference_masked", "confidence", "sampled"]


def sparse_pair(n=6, m=9, density=0.3, seed=0, dtype=torch.float64):
    """A (pred, target) pair like L2 vectors: non-negative, mostly zero, every row with a non-zero."""
    rng = np.random.default_rng(seed)
    target = np.where(rng.random((n, m)) < density, rng.uniform(0.05, 0.6, (n, m)), 0.0)
    target[np.arange(n), rng.integers(0, m, n)] = rng.uniform(0.05, 0.6, n)
    pred = rng.normal(0.2, 0.3, (n, m))
    return torch.tensor(pred, dtype=dtype), torch.tensor(target, dtype=dtype)


# ----------------------------------------------------------------- values against loops in numpy

def loop_weighted(pred, target, weight_of):
    """sum_b sum_j w(b, j) (p_bj - t_bj)^2 with explicit Python loops, per row."""
    p, t = pred.numpy(), target.numpy()
    rows = []
    for b in range(p.shape[0]):
        rows.append(sum(weight_of(t, b, j) * (p[b, j] - t[b, j]) ** 2 for j in range(p.shape[1])))
    return np.array(rows)


WEIGHTS = {
    "mse": (L.mse_loss, {}, lambda t, b, j: 1.0),
    "masked": (L.masked_loss, {}, lambda t, b, j: t[b, j]),
    "reference_masked": (L.reference_masked_loss, {}, lambda t, b, j: t[b].sum()),
    "confidence": (L.confidence_weighted_loss, {"c": 7.5}, lambda t, b, j: 1 + 7.5 * t[b, j]),
}


@pytest.mark.parametrize("name", list(WEIGHTS))
def test_loss_values_match_loops_for_every_reduction(name):
    fn, kwargs, weight = WEIGHTS[name]
    pred, target = sparse_pair()
    rows = loop_weighted(pred, target, weight)
    np.testing.assert_allclose(fn(pred, target, reduction="none", **kwargs).numpy(), rows, rtol=1e-12)
    np.testing.assert_allclose(fn(pred, target, reduction="sum", **kwargs).item(), rows.sum(), rtol=1e-12)
    np.testing.assert_allclose(fn(pred, target, reduction="mean", **kwargs).item(), rows.sum() / 6, rtol=1e-12)
    assert fn(pred, target, **kwargs).item() == pytest.approx(rows.sum(), rel=1e-12), "default reduction is 'sum'"


def test_mse_mean_is_per_row_not_per_element():
    pred, target = sparse_pair(n=5, m=11)
    # torch's per-element mean times n_items is our per-row mean.
    assert L.mse_loss(pred, target, "mean").item() == pytest.approx(F.mse_loss(pred, target).item() * 11, rel=1e-12)


def test_confidence_with_c_zero_is_mse():
    pred, target = sparse_pair()
    assert L.confidence_weighted_loss(pred, target, c=0).item() == pytest.approx(L.mse_loss(pred, target).item())


def test_reference_masked_loss_is_row_sum_weighted_mse_not_elementwise():
    pred, target = sparse_pair(n=8, m=13, seed=3)
    p, t = pred.numpy(), target.numpy()
    # The reference code, written out: torch.mm(target.T, (pred - target) ** 2).sum().
    reference = (t.T @ (p - t) ** 2).sum()
    closed_form = (t.sum(axis=1) * ((p - t) ** 2).sum(axis=1)).sum()
    assert reference == pytest.approx(closed_form, rel=1e-12)
    assert L.reference_masked_loss(pred, target).item() == pytest.approx(closed_form, rel=1e-12)
    assert L.reference_masked_loss(pred, target, "none").sum().item() == pytest.approx(closed_form, rel=1e-12)
    elementwise = (t * (p - t) ** 2).sum()
    assert L.masked_loss(pred, target).item() == pytest.approx(elementwise, rel=1e-12)
    assert abs(closed_form - elementwise) > 0.1 * elementwise, "the two readings of the masked loss differ"


def test_reference_masked_loss_ignores_users_without_interest_but_sees_their_zeros_otherwise():
    target = torch.tensor([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0]], dtype=torch.float64)
    pred = torch.tensor([[9.0, 9.0, 9.0], [0.5, 2.0, 0.0]], dtype=torch.float64)
    # user 0: row sum 0 -> weight 0, whatever it predicts; user 1: 0.5 * (0 + 2^2 + 0) = 2.
    assert L.reference_masked_loss(pred, target, "none").tolist() == [0.0, 2.0]
    # the report's element-wise formula puts weight 0.5 only on the entry that is exactly right
    assert L.masked_loss(pred, target).item() == 0.0


# ----------------------------------------------------------------- gradients

def closed_form_weight(name, pred, target):
    t = target
    return {
        "mse": torch.ones_like(t),
        "masked": t,
        "reference_masked": t.sum(dim=1, keepdim=True).expand_as(t),
        "confidence": 1 + 7.5 * t,
    }[name]


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("name", list(WEIGHTS))
def test_gradient_matches_closed_form(name, reduction):
    fn, kwargs, _ = WEIGHTS[name]
    pred, target = sparse_pair(n=7, m=10, seed=1)
    pred.requires_grad_(True)
    fn(pred, target, reduction=reduction, **kwargs).backward()
    expected = 2 * closed_form_weight(name, pred, target) * (pred.detach() - target)
    if reduction == "mean":
        expected = expected / 7
    torch.testing.assert_close(pred.grad, expected, rtol=1e-12, atol=1e-14)


def test_masked_gradient_is_the_reports_2_target_times_error():
    pred, target = sparse_pair(seed=2)
    pred.requires_grad_(True)
    L.masked_loss(pred, target).backward()
    torch.testing.assert_close(pred.grad, 2 * target * (pred.detach() - target))
    assert bool((pred.grad[target == 0] == 0).all()), "no gradient at all where the target is zero"


@pytest.mark.parametrize("name", list(WEIGHTS))
def test_gradcheck_float64_wrt_pred_and_target(name):
    fn, kwargs, _ = WEIGHTS[name]
    pred, target = sparse_pair(n=3, m=4, seed=4)
    pred.requires_grad_(True)
    target.requires_grad_(True)
    # Finite differences nudge zero targets to -1e-6, so the non-negativity check is off here.
    for reduction in ("mean", "none"):
        assert torch.autograd.gradcheck(
            lambda p, t: fn(p, t, reduction=reduction, check_values=False, **kwargs), (pred, target))


def test_gradcheck_sampled_loss_with_a_fixed_draw():
    pred, target = sparse_pair(n=3, m=5, seed=5)
    pred.requires_grad_(True)
    for unbiased in (False, True):
        def f(p):
            return L.sampled_loss(p, target, 0.4, "mean", unbiased=unbiased,
                                  generator=torch.Generator().manual_seed(11))
        assert torch.autograd.gradcheck(f, (pred,))


# ----------------------------------------------------------------- the blind spot

def overconfident_model(target, value=10.0):
    """Exactly right on every non-zero target, a large value on every zero."""
    return torch.where(target > 0, target, torch.full_like(target, value))


def test_blind_spot_masked_loss_is_zero_for_a_model_predicting_large_values_on_zeros():
    _, target = sparse_pair(n=20, m=30, density=0.1, seed=6)
    pred = overconfident_model(target)
    assert L.masked_loss(pred, target).item() == 0.0
    n_zero = int((target == 0).sum())
    assert L.mse_loss(pred, target).item() == pytest.approx(100.0 * n_zero)
    # zeros have confidence weight 1, so each costs 10^2
    assert L.confidence_weighted_loss(pred, target, c=40).item() == pytest.approx(100.0 * n_zero)
    sampled = L.sampled_loss(pred, target, 0.2, generator=torch.Generator().manual_seed(0)).item()
    assert 0 < sampled < 100.0 * n_zero and sampled % 100.0 == pytest.approx(0.0, abs=1e-9)
    # ... and its rankings are worthless: the top 5 are all zeros.
    perfect = target
    assert precision_at_k(pred, target, k=5) == 0.0
    assert precision_at_k(perfect, target, k=5) > 0.3


# ----------------------------------------------------------------- sampled loss

def test_sampled_loss_uses_the_documented_mask():
    pred, target = sparse_pair(n=10, m=12, seed=7)
    got = L.sampled_loss(pred, target, 0.3, "none", generator=torch.Generator().manual_seed(5))
    draw = torch.rand(target.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float32)
    keep = (target != 0) | (draw < 0.3)
    expected = (keep * (pred - target) ** 2).sum(dim=1)
    torch.testing.assert_close(got, expected)
    got_u = L.sampled_loss(pred, target, 0.3, unbiased=True, generator=torch.Generator().manual_seed(5))
    weight = (target != 0).double() + ((target == 0) & (draw < 0.3)).double() / 0.3
    assert got_u.item() == pytest.approx((weight * (pred - target) ** 2).sum().item(), rel=1e-12)


def test_sampled_loss_is_reproducible_with_a_generator_and_varies_without_reseeding():
    pred, target = sparse_pair(n=30, m=40, density=0.1, seed=8)
    a = L.sampled_loss(pred, target, 0.3, generator=torch.Generator().manual_seed(1))
    b = L.sampled_loss(pred, target, 0.3, generator=torch.Generator().manual_seed(1))
    assert a.item() == b.item()
    g = torch.Generator().manual_seed(1)
    first, second = (L.sampled_loss(pred, target, 0.3, generator=g).item() for _ in range(2))
    assert first == a.item() and second != first, "a shared generator draws a fresh sample each call"


def test_sampled_loss_limits():
    pred, target = sparse_pair(seed=9)
    g = torch.Generator().manual_seed(0)
    assert L.sampled_loss(pred, target, 1.0, generator=g).item() == pytest.approx(L.mse_loss(pred, target).item())
    assert L.sampled_loss(pred, target, 1.0, unbiased=True, generator=g).item() == pytest.approx(
        L.mse_loss(pred, target).item())
    positives_only = (((pred - target) ** 2) * (target != 0)).sum().item()
    assert L.sampled_loss(pred, target, 0.0, generator=g).item() == pytest.approx(positives_only)


def test_sampled_loss_expectations_unbiased_and_biased():
    pred, target = sparse_pair(n=8, m=10, density=0.2, seed=10)
    g = torch.Generator().manual_seed(123)
    p, draws = 0.25, 4000
    unbiased = torch.stack([L.sampled_loss(pred, target, p, unbiased=True, generator=g) for _ in range(draws)])
    biased = torch.stack([L.sampled_loss(pred, target, p, generator=g) for _ in range(draws)])
    sq = (pred - target) ** 2
    zeros = target == 0
    mse = sq.sum().item()
    biased_mean = sq[~zeros].sum().item() + p * sq[zeros].sum().item()
    # Tolerance: 5 standard errors of the Monte Carlo mean (var of a Bernoulli-weighted sum).
    se_u = math.sqrt(((sq[zeros] / p) ** 2 * p * (1 - p)).sum().item() / draws)
    se_b = math.sqrt((sq[zeros] ** 2 * p * (1 - p)).sum().item() / draws)
    assert unbiased.mean().item() == pytest.approx(mse, abs=5 * se_u)
    assert biased.mean().item() == pytest.approx(biased_mean, abs=5 * se_b)
    assert biased.mean().item() < mse - 10 * se_b, "the default down-weights zeros"


# ----------------------------------------------------------------- numerically stable log loss

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_naive_log_loss_blows_up_at_large_logits(dtype):
    x = torch.tensor([50.0, -1000.0, 50.0], dtype=dtype, requires_grad=True)
    y = torch.tensor([0.0, 1.0, 1.0], dtype=dtype)
    loss = L.naive_log_loss(x, y, "none")
    assert torch.isinf(loss[0]) and torch.isinf(loss[1]), "confidently wrong: log(0) = -inf"
    assert torch.isnan(loss[2]), "confidently right: 0 * log(0) = nan"
    loss.sum().backward()
    assert bool(torch.isnan(x.grad).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_clamped_log_loss_is_finite_but_its_gradient_vanishes_where_clamped(dtype):
    x = torch.tensor([50.0, -50.0, 1000.0, -1000.0], dtype=dtype, requires_grad=True)
    y = torch.tensor([0.0, 1.0, 0.0, 1.0], dtype=dtype)  # every logit confidently wrong
    loss = L.clamped_log_loss(x, y, eps=1e-4, reduction="none")
    assert bool(torch.isfinite(loss).all())
    torch.testing.assert_close(loss, torch.full_like(loss, -math.log(1e-4)), rtol=1e-4, atol=0)
    loss.sum().backward()
    assert bool((x.grad == 0).all()), "true gradient is +-1 here; the clamp reports 0"
    # Below the clamp threshold log((1 - eps) / eps) = 9.21 it agrees with the exact loss.
    x_small = torch.tensor([-3.0, 0.5, 8.0], dtype=dtype)
    y_small = torch.tensor([1.0, 0.0, 1.0], dtype=dtype)
    torch.testing.assert_close(L.clamped_log_loss(x_small, y_small, reduction="none"),
                               L.stable_log_loss(x_small, y_small, reduction="none"))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stable_log_loss_value_and_gradient_sigmoid_minus_y_at_huge_logits(dtype):
    x = torch.tensor([50.0, -50.0, 1000.0, -1000.0, 50.0, -50.0, 1000.0, -1000.0], dtype=dtype, requires_grad=True)
    y = torch.tensor([0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0], dtype=dtype)
    loss = L.stable_log_loss(x, y, "none")
    # softplus: wrong side costs |x|, right side costs log(1 + e^-|x|) ~ e^-|x|
    expected = torch.tensor([50, 50, 1000, 1000, math.exp(-50), math.exp(-50), 0, 0], dtype=dtype)
    # torch computes (1 - y) x - logsigmoid(x), which rounds the 2e-22 of x = -50, y = 0 to 0:
    # an absolute error far below anything that matters, so compare absolutely there.
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-6, atol=1e-15)
    loss.sum().backward()
    exact = torch.tensor([1, -1, 1, -1, -math.exp(-50), math.exp(-50), 0, 0], dtype=torch.float64)
    assert bool(torch.isfinite(x.grad).all())
    torch.testing.assert_close(x.grad.double(), exact, rtol=0, atol=1e-20)
    torch.testing.assert_close(x.grad, torch.sigmoid(x.detach()) - y)


def test_stable_log_loss_agrees_with_logsigmoid_formula_and_naive_where_naive_is_fine():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200, generator=gen, dtype=torch.float64) * 4
    y = torch.rand(200, generator=gen, dtype=torch.float64)  # soft labels
    by_formula = -(y * F.logsigmoid(x) + (1 - y) * F.logsigmoid(-x))
    torch.testing.assert_close(L.stable_log_loss(x, y, "none"), by_formula)
    torch.testing.assert_close(L.naive_log_loss(x, y, "none"), by_formula)
    assert L.stable_log_loss(x, y).item() == pytest.approx(by_formula.mean().item())
    assert L.stable_log_loss(x, y, "sum").item() == pytest.approx(by_formula.sum().item())
    xg = x[:6].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda z: L.stable_log_loss(z, y[:6]), (xg,))


# ----------------------------------------------------------------- registry

def test_registry_names_labels_and_binding():
    assert set(L.LOSSES) == set(SQUARED) == set(L.LOSS_LABELS)
    assert set(L.LOG_LOSSES) == set(L.LOG_LOSS_LABELS) == {"naive", "clamped", "stable"}
    pred, target = sparse_pair()
    loss = L.get_loss("confidence", c=3.0, reduction="mean")
    assert loss.name == "confidence" and loss.label == L.LOSS_LABELS["confidence"]
    assert loss(pred, target).item() == pytest.approx(L.confidence_weighted_loss(pred, target, 3.0, "mean").item())
    for name in SQUARED:
        assert L.get_loss(name)(pred, target).dim() == 0


def test_registry_bound_generator_gives_a_reproducible_sequence():
    pred, target = sparse_pair(n=20, m=20, density=0.1)
    runs = []
    for _ in range(2):
        loss = L.get_loss("sampled", zero_fraction=0.2, generator=torch.Generator().manual_seed(3))
        runs.append([loss(pred, target).item() for _ in range(3)])
    assert runs[0] == runs[1] and len(set(runs[0])) == 3


def test_get_loss_does_not_touch_the_global_rng():
    torch.manual_seed(0)
    want = torch.rand(3)
    torch.manual_seed(0)
    L.get_loss("sampled", zero_fraction=0.5)
    torch.testing.assert_close(torch.rand(3), want)


def test_get_loss_errors():
    with pytest.raises(ValueError, match="valid names: mse, masked, reference_masked, confidence, sampled"):
        L.get_loss("huber")
    with pytest.raises(ValueError, match="takes no argument.*zero_fraction"):
        L.get_loss("masked", zero_fraction=0.5)
    with pytest.raises(ValueError, match="c must be >= 0"):
        L.get_loss("confidence", c=-1)
    with pytest.raises(ValueError, match="reduction"):
        L.get_loss("mse", reduction="average")
    with pytest.raises(ValueError, match="generator must be a torch.Generator"):
        L.get_loss("sampled", generator=0)


# ----------------------------------------------------------------- input checks

@pytest.mark.parametrize("name", SQUARED)
def test_shape_dims_type_and_reduction_errors_name_the_argument(name):
    fn = L.LOSSES[name]
    pred, target = sparse_pair(n=4, m=5)
    with pytest.raises(ValueError, match=r"pred and target must have the same shape.*\(4, 5\).*\(4, 6\)"):
        fn(pred, torch.zeros(4, 6, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"pred must be 2-D"):
        fn(pred[0], target[0])
    with pytest.raises(ValueError, match=r"target must be 2-D"):
        fn(pred, target[None])
    with pytest.raises(ValueError, match="target must be a torch.Tensor"):
        fn(pred, target.numpy())
    with pytest.raises(ValueError, match="pred must be a floating-point tensor"):
        fn(pred.long(), target)
    with pytest.raises(ValueError, match="reduction='avg'"):
        fn(pred, target, reduction="avg")
    with pytest.raises(ValueError, match="pred has no rows"):
        fn(pred[:0], target[:0])
    with pytest.raises(ValueError, match="same device"):
        fn(pred.to("meta"), target)


@pytest.mark.parametrize("name", ["masked", "reference_masked", "confidence", "sampled"])
def test_negative_target_is_rejected_on_cpu_and_checks_can_be_switched_off(name):
    fn = L.LOSSES[name]
    pred, target = sparse_pair(n=4, m=5)
    target[0, 0] = -0.5
    with pytest.raises(ValueError, match="target must be non-negative"):
        fn(pred, target)
    fn(pred, target, check_values=False)  # the caller vouches for the data: no check, no sync
    target[0, 0] = float("nan")
    with pytest.raises(ValueError, match="target contains NaN or inf"):
        fn(pred, target)


def test_value_checks_never_read_device_values_by_default():
    # Meta tensors have shapes but no values: reading one (as a device->host sync would) fails.
    # With the default check_values=None the loss only inspects metadata off the CPU.
    pred = torch.empty(4, 5, device="meta")
    target = torch.empty(4, 5, device="meta")
    for name in ["mse", "masked", "reference_masked", "confidence"]:
        assert L.LOSSES[name](pred, target, reduction="mean").device.type == "meta"
    with pytest.raises(Exception):
        L.masked_loss(pred, target, check_values=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_no_device_to_host_sync_on_cuda():
    # The training hot loop must not wait for the GPU: torch raises on any synchronising op here.
    pred, target = (x.cuda() for x in sparse_pair(n=64, m=164, dtype=torch.float32))
    pred.requires_grad_(True)
    generator = torch.Generator(device="cuda").manual_seed(0)
    torch.cuda.synchronize()
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for name in SQUARED:
            kwargs = {"generator": generator} if name == "sampled" else {}
            L.LOSSES[name](pred, target, reduction="mean", **kwargs).backward()
    finally:
        torch.cuda.set_sync_debug_mode(previous)
    assert bool(torch.isfinite(pred.grad).all())


def test_parameter_errors():
    pred, target = sparse_pair()
    with pytest.raises(ValueError, match=r"zero_fraction must be >= 0.0 and <= 1.0"):
        L.sampled_loss(pred, target, 1.5)
    with pytest.raises(ValueError, match=r"zero_fraction must be > 0.0"):
        L.sampled_loss(pred, target, 0.0, unbiased=True)
    with pytest.raises(ValueError, match="unbiased must be True or False"):
        L.sampled_loss(pred, target, 0.5, unbiased="yes")
    with pytest.raises(ValueError, match="c must be a number"):
        L.confidence_weighted_loss(pred, target, c="big")
    with pytest.raises(ValueError, match="eps must be"):
        L.clamped_log_loss(pred, target, eps=0.5)
    with pytest.raises(ValueError, match="check_values must be"):
        L.mse_loss(pred, target, check_values="sometimes")
    with pytest.raises(ValueError, match=r"y must lie in \[0, 1\]"):
        L.stable_log_loss(pred, target * 10)
    with pytest.raises(ValueError, match="logits and y must have the same shape"):
        L.naive_log_loss(pred, target[:, :3])
