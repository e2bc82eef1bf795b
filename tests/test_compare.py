"""The loss race: identical copies on identical batches, per-copy divergence guard, blind spot, log loss."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch

from sandwichlab.compare import (L2Task, LossRace, exact_log_loss, flood_zeros, l2_task, log_loss_curves,
                                 loss_weights, popularity_scores)
from sandwichlab.data import AppCategorySet, AppSplit, load_app_categories, make_app_categories
from sandwichlab.losses import LOSSES, get_loss
from sandwichlab.models import mlp


@pytest.fixture(scope="module")
def task():
    return l2_task(source="synthetic", n_users=300, seed=3)


def small_race(task, losses=("mse", "masked"), **kw):
    kw.setdefault("hidden", (16,))
    kw.setdefault("epochs", 2)
    kw.setdefault("batch_size", 32)
    kw.setdefault("device", "cpu")
    return LossRace(task, losses, **kw)


# --------------------------------------------------------------------------- task

def test_synthetic_task_trains_on_train_and_scores_on_val(task):
    data = make_app_categories(n_users=300, seed=3)
    assert task.train_split == "train" and task.eval_split == "val" and task.synthetic
    np.testing.assert_array_equal(task.x_train, data["train"].app)
    np.testing.assert_array_equal(task.y_eval, data["val"].l2)
    assert task.x_train.shape[1] == 52 and task.y_train.shape[1] == 164
    assert "synthetic" in task.summary()


def test_published_layout_trains_on_val_and_scores_on_test():
    """The published vectors have no training L2: train on val, evaluate on test."""
    rng = np.random.default_rng(0)
    split = lambda n, l2=True: AppSplit(rng.random((n, 52)), rng.random((n, 23)), rng.random((n, 164)) if l2 else None)
    data = AppCategorySet({"train": split(20, l2=False), "val": split(8), "test": split(6)}, "fake published")
    t = l2_task(data)
    assert (t.train_split, t.eval_split) == ("val", "test")
    assert t.x_train.shape == (8, 52) and t.y_eval.shape == (6, 164) and not t.synthetic
    assert "validation users" in t.summary()
    with pytest.raises(ValueError, match="two of the splits"):
        l2_task(AppCategorySet({"train": split(5, l2=False), "val": split(5)}, "one split"))


def test_real_vectors_train_on_val(real_transfer_dir):
    t = l2_task(load_app_categories(real_transfer_dir))
    assert (t.train_split, len(t.x_train), t.eval_split, len(t.x_eval)) == ("val", 1000, "test", 857)


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(source="web"), "source must be one of"),
    (dict(data="x"), "data must be an AppCategorySet"),
])
def test_task_bad_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        l2_task(**kwargs)


def test_popularity_scores_rank_by_mean_training_l2():
    y = np.array([[0.0, 1.0, 0.5], [0.0, 1.0, 0.0]])
    s = popularity_scores(y, 3)
    assert s.shape == (3, 3)
    np.testing.assert_allclose(s, [[0.0, 1.0, 0.25]] * 3)
    with pytest.raises(ValueError, match="n_users"):
        popularity_scores(y, 0)


# --------------------------------------------------------------------------- the race

def test_each_copy_matches_its_own_hand_written_training(task):
    """Same initial weights, same batches, own loss and Adam: the copies do not interfere."""
    race = small_race(task, ("mse", "masked", "confidence"), epochs=2, seed=5, lr=3e-3)
    race.run()
    x = torch.as_tensor(task.x_train, dtype=torch.float32)
    y = torch.as_tensor(task.y_train, dtype=torch.float32)
    for name in ("mse", "masked", "confidence"):
        torch.manual_seed(5)
        model = mlp([52, 16, 164])
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        loss_fn = get_loss(name, reduction="mean")
        gen = torch.Generator().manual_seed(5)  # the trainer's batch order
        for _ in range(2):
            order = torch.randperm(len(x), generator=gen)
            for b in range(0, len(x), 32):
                idx = order[b:b + 32]
                opt.zero_grad()
                loss_fn(model(x[idx]), y[idx]).backward()
                opt.step()
        for p, q in zip(model.parameters(), race.copies[name].parameters()):
            torch.testing.assert_close(p, q)


def test_copies_start_identical_and_curves_are_normalised(task):
    race = small_race(task, ("mse", "masked", "sampled"), epochs=3)
    first = [p.detach().clone() for p in race.copies["mse"].parameters()]
    for name in ("masked", "sampled"):
        for p, q in zip(first, race.copies[name].parameters()):
            assert torch.equal(p, q)
    assert len({round(race.initial[n]["precision"], 12) for n in race.names}) == 1  # same weights, same ranking
    race.run()
    c = race.curves()
    assert c["epoch"] == [0, 1, 2, 3]
    for name in race.names:
        assert c["normalised"][name][0] == 1.0
        np.testing.assert_allclose(c["normalised"][name], np.array(c["loss"][name]) / c["loss"][name][0])
        assert all(0.0 <= v <= 1.0 for v in c["precision"][name])
    # the recorded loss is the copy's own loss on the whole training set
    x = torch.as_tensor(task.x_train, dtype=torch.float32)
    y = torch.as_tensor(task.y_train, dtype=torch.float32)
    with torch.no_grad():
        mse_now = get_loss("mse", reduction="mean")(race.copies["mse"](x), y)
    assert c["loss"]["mse"][-1] == pytest.approx(float(mse_now), rel=1e-5)


def test_race_is_reproducible(task):
    a, b = small_race(task, ("mse", "sampled"), seed=2), small_race(task, ("mse", "sampled"), seed=2)
    a.run(), b.run()
    assert a.curves() == b.curves()
    c = small_race(task, ("mse", "sampled"), seed=3)
    c.run()
    assert c.curves()["loss"]["mse"] != a.curves()["loss"]["mse"]


def test_precision_and_diagnostics_against_numpy(task):
    race = small_race(task, ("mse",), epochs=1)
    race.run()
    with torch.no_grad():
        pred = race.copies["mse"](torch.as_tensor(task.x_eval, dtype=torch.float32)).double().numpy()
    y = task.y_eval
    rows = (y > 0).any(axis=1)
    top = np.argsort(-pred, axis=1, kind="stable")[:, :5]
    expected = (np.take_along_axis(y, top, axis=1) > 0).sum(axis=1)[rows].mean() / 5
    assert race.curves()["precision"]["mse"][-1] == pytest.approx(expected)
    d = race.diagnostics()["mse"]
    assert d["precision@5"] == pytest.approx(expected)
    assert d["mean_pred_zero"] == pytest.approx(pred[y == 0].mean(), rel=1e-5)
    assert d["mean_pred_nonzero"] == pytest.approx(pred[y > 0].mean(), rel=1e-5)
    assert race.popularity == pytest.approx(
        (np.take_along_axis(y, np.argsort(-task.y_train.mean(0), kind="stable")[None, :5].repeat(len(y), 0), axis=1) > 0)
        .sum(axis=1)[rows].mean() / 5)


def _blow_up_after(fn, steps):
    calls = {"n": 0}

    def loss(pred, target):
        value = fn(pred, target)
        if not pred.requires_grad:  # an evaluation, not a training step
            return value
        calls["n"] += 1
        return value * math.inf if calls["n"] > steps else value
    return loss


def test_one_diverging_loss_leaves_the_race_and_the_others_go_on(task):
    race = small_race(task, ("mse", "masked"), epochs=3, check_every=4)
    assert race.n_batches == 8  # 229 users, 32 a batch
    race.loss_fns["mse"] = _blow_up_after(race.loss_fns["mse"], 10)  # dies at step 11, in epoch 2
    diverged = []
    race.trainer.on("diverged", lambda ev: diverged.append(ev))
    race.run()
    assert race.trainer.state == "done" and not diverged
    assert race.status == {"mse": "diverged", "masked": "training"}
    assert len(race.notes) == 1 and race.notes[0].startswith("MSE: loss became NaN/inf at step 11 (epoch 2)")
    assert "weights restored from step 8, out of the race" in race.notes[0]
    assert all(torch.isfinite(p).all() for p in race.copies["mse"].parameters())
    c = race.curves()
    assert math.isfinite(c["normalised"]["mse"][1]) and all(math.isnan(v) for v in c["normalised"]["mse"][2:])
    assert all(math.isfinite(v) for v in c["normalised"]["masked"])
    assert race.trainer.step_count == 24


def test_exploding_weights_of_one_copy(task):
    race = small_race(task, ("mse", "masked"), epochs=1, check_every=2)

    opt = race.optimizers["masked"]
    real_step = opt.step

    def exploding_step():  # an update that multiplies every weight by 100
        real_step()
        with torch.no_grad():
            for p in race.copies["masked"].parameters():
                p.mul_(100.0)
    opt.step = exploding_step
    race.run()
    assert race.status == {"mse": "training", "masked": "diverged"}
    assert "weights exploded" in race.notes[0] and race.trainer.state == "done"
    norm = torch.linalg.vector_norm(torch.cat([p.flatten() for p in race.copies["masked"].parameters()]))
    assert norm <= race.max_weight_norm


def test_all_losses_diverging_ends_the_run(task):
    race = small_race(task, ("mse", "masked"), epochs=2)
    for name in race.names:
        race.loss_fns[name] = _blow_up_after(race.loss_fns[name], 3)
    race.run()
    assert race.trainer.state == "diverged" and "all 2 compared losses diverged" in race.trainer.message
    assert len(race.notes) == 2
    with pytest.raises(RuntimeError, match="already run"):
        race.run()


def test_stop_from_another_thread(task):
    race = small_race(task, ("mse", "masked"), epochs=200)
    seen = threading.Event()
    race.trainer.on("epoch_end", lambda ev: seen.set())
    race.start()
    assert seen.wait(60)
    race.stop()
    assert race.wait(60)
    assert race.trainer.state == "stopped"
    assert 2 <= len(race.curves()["epoch"]) < 201


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(losses=()), "losses is empty"),
    (dict(losses=("mse", "l1")), "unknown loss name"),
    (dict(losses=("mse", "mse")), "twice"),
    (dict(lr=0), "lr must be a finite number > 0"),
    (dict(lr=-1e-3), "lr must be"),
    (dict(lr=float("nan")), "lr must be"),
    (dict(epochs=0), "epochs must be an integer >= 1"),
    (dict(seed=-1), "seed must be"),
    (dict(optimizer="rmsprop"), "optimizer must be one of"),
    (dict(loss_options={"masked": {"reduction": "sum"}}), "reduction is fixed"),
    (dict(loss_options={"confidence": {"c": -1}}), "c must be"),
    (dict(loss_options={"huber": {}}), "unknown loss name"),
])
def test_race_bad_arguments(task, kwargs, pattern):
    losses = kwargs.pop("losses", ("mse", "masked", "confidence"))
    with pytest.raises(ValueError, match=pattern):
        small_race(task, losses, **kwargs)


def test_race_needs_a_task():
    with pytest.raises(ValueError, match="task must be an L2Task"):
        LossRace("data", ("mse",))


# --------------------------------------------------------------------------- blind spot and weights

def test_flood_zeros_closed_forms():
    t = make_app_categories(n_users=200, seed=1)["train"].l2
    levels = np.array([0.0, 0.1, 2.0])
    out = flood_zeros(t, levels)
    n = len(t)
    zeros = (t == 0).sum(axis=1)
    np.testing.assert_array_equal(out["loss"]["masked"], 0.0)  # blind: exactly zero at every level
    np.testing.assert_allclose(out["loss"]["mse"], levels ** 2 * zeros.sum() / n)
    np.testing.assert_allclose(out["loss"]["confidence"], levels ** 2 * zeros.sum() / n)
    np.testing.assert_allclose(out["loss"]["reference_masked"], levels ** 2 * (t.sum(axis=1) * zeros).sum() / n)
    assert out["loss"]["sampled"][0] == 0 and 0 < out["loss"]["sampled"][2] < out["loss"]["mse"][2]
    rows = (t > 0).any(axis=1)
    assert out["precision"][0] == pytest.approx((np.minimum((t > 0).sum(axis=1), 5) / 5)[rows].mean())
    assert out["precision"][2] == 0.0  # every zero now outranks every true category


def test_flood_zeros_on_another_base_keeps_masked_loss_constant():
    t = make_app_categories(n_users=100, seed=2)["train"].l2
    base = popularity_scores(t, len(t))
    out = flood_zeros(t, [0.0, 0.3, 1.0], base=base, losses=("masked", "mse"))
    np.testing.assert_allclose(out["loss"]["masked"], out["loss"]["masked"][0])
    assert out["loss"]["mse"][2] > out["loss"]["mse"][1] > out["loss"]["mse"][0]
    with pytest.raises(ValueError, match="base must be"):
        flood_zeros(t, base=base[:3])
    with pytest.raises(ValueError, match="target must be"):
        flood_zeros(-t)


@pytest.mark.parametrize("name, options", [
    ("mse", {}), ("masked", {}), ("reference_masked", {}), ("confidence", {}), ("confidence", {"c": 3.0}),
])
def test_loss_weights_reproduce_each_loss(name, options):
    rng = np.random.default_rng(4)
    t = make_app_categories(n_users=50, seed=4)["train"].l2
    p = t + rng.normal(0, 0.05, t.shape)
    w = loss_weights(t, name, **options)
    expected = float(LOSSES[name](torch.as_tensor(p), torch.as_tensor(t), reduction="sum", **options))
    assert (w * (p - t) ** 2).sum() == pytest.approx(expected, rel=1e-10)


def test_reference_weights_are_row_sums_not_entries():
    t = np.array([[0.5, 0.0, 0.25], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(loss_weights(t, "masked"), t)
    np.testing.assert_allclose(loss_weights(t, "reference_masked"), [[0.75] * 3, [0.0] * 3])


def test_sampled_weights_are_the_expectation():
    t = make_app_categories(n_users=40, seed=5)["train"].l2
    p = t + 0.1
    pt, tt = torch.as_tensor(p), torch.as_tensor(t)
    gen = torch.Generator().manual_seed(0)
    draws = [float(LOSSES["sampled"](pt, tt, zero_fraction=0.25, generator=gen)) for _ in range(400)]
    expected = (loss_weights(t, "sampled", zero_fraction=0.25) * (p - t) ** 2).sum()
    assert np.mean(draws) == pytest.approx(expected, rel=0.01)
    for f in (0.0, 1.0):
        exact = float(LOSSES["sampled"](pt, tt, zero_fraction=f))
        assert (loss_weights(t, "sampled", zero_fraction=f) * (p - t) ** 2).sum() == pytest.approx(exact)
    with pytest.raises(ValueError, match="takes no option"):
        loss_weights(t, "mse", c=1)
    with pytest.raises(ValueError, match="unknown loss name"):
        loss_weights(t, "huber")


# --------------------------------------------------------------------------- log loss at large logits

def test_exact_log_loss_against_float64_formula():
    x = np.array([-3.0, 0.0, 2.0])
    loss, grad = exact_log_loss(x, 1.0)
    np.testing.assert_allclose(loss, -np.log(1 / (1 + np.exp(-x))))
    np.testing.assert_allclose(grad, 1 / (1 + np.exp(-x)) - 1)
    with pytest.raises(ValueError, match="y must be"):
        exact_log_loss(x, 2.0)


@pytest.mark.parametrize("y", [0.0, 1.0])
def test_log_loss_curves(y):
    x = np.linspace(-50, 50, 201)
    c = log_loss_curves(x, y)
    np.testing.assert_allclose(c["stable"]["loss"], c["exact"]["loss"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c["stable"]["grad"], c["exact"]["grad"], rtol=1e-4, atol=1e-6)
    wrong = x > 20 if y == 0 else x < -20  # confidently wrong logits
    right = x < -20 if y == 0 else x > 20
    # the clamp keeps the loss finite but kills the gradient exactly where it is needed most
    assert np.isfinite(c["clamped"]["loss"]).all()
    assert (c["clamped"]["grad"][wrong] == 0).all() and (np.abs(c["exact"]["grad"][wrong]) > 0.99).all()
    # the naive loss: inf/NaN loss or NaN gradient at large logits
    if y == 0:
        assert np.isinf(c["naive"]["loss"][wrong]).all() and np.isnan(c["naive"]["grad"][wrong]).all()
    else:  # sigmoid(x) == 1 in float32 for x > 17, and (1 - y) * log(0) = 0 * -inf = NaN
        assert np.isnan(c["naive"]["loss"][right]).all()
    small = np.abs(x) < 5
    np.testing.assert_allclose(c["naive"]["grad"][small], c["exact"]["grad"][small], rtol=1e-4, atol=1e-6)


def test_log_loss_curves_bad_input():
    with pytest.raises(ValueError, match="logits must be"):
        log_loss_curves(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="dtype"):
        log_loss_curves(np.zeros(3), dtype=torch.int64)


def test_l2task_is_plain_data(task):
    assert isinstance(task, L2Task) and "L2Task(" in repr(task)
