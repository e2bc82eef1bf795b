"""The trainer: batching, events, Stop, divergence guard, reproducibility, checkpoints."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from torch import nn

from sandwichlab.training import Stage, Trainer, load_checkpoint, save_checkpoint, supervised_step


def regression_data(n=100, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    w = torch.tensor([[1.5], [-2.0], [0.5]])
    return {"x": X, "y": X @ w + 0.01 * torch.randn(n, 1, generator=g)}


def linear(seed=0):
    torch.manual_seed(seed)
    return nn.Linear(3, 1)


def sgd_stage(model, epochs=3, lr=0.1, name="fit"):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    return Stage(name, epochs, supervised_step(model, nn.functional.mse_loss, opt, x="x", y="y"))


def test_matches_a_hand_written_loop():
    data = regression_data()
    model, ref = linear(), linear()
    Trainer(model, data, batch_size=32, shuffle=False).run([sgd_stage(model, epochs=4)])
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    for _ in range(4):
        for i in range(0, 100, 32):
            opt.zero_grad()
            nn.functional.mse_loss(ref(data["x"][i:i + 32]), data["y"][i:i + 32]).backward()
            opt.step()
    for a, b in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b)


def test_every_row_once_per_epoch_and_events_in_order():
    seen, events = [], []
    model = linear()

    def step(batch):
        seen.append(batch["i"].tolist())
        return {"loss": torch.zeros(())}

    tr = Trainer(model, {"i": torch.arange(10)}, batch_size=4, seed=1)
    for kind in ("stage_start", "epoch_end", "done"):
        tr.on(kind, lambda ev: events.append((ev.kind, ev.stage, ev.epoch)))
    tr.on("batch_end", lambda ev: events.append(("batch_end", ev.stage, ev.epoch)))
    tr.run([Stage("a", 2, step), Stage("b", 1, step)])
    assert [len(b) for b in seen] == [4, 4, 2] * 3
    for e in range(3):
        assert sorted(sum(seen[3 * e:3 * e + 3], [])) == list(range(10))
    assert seen[0:3] != seen[3:6], "rows should be reshuffled between epochs"
    kinds = [k for k, _, _ in events]
    assert kinds == (["stage_start"] + (["batch_end"] * 3 + ["epoch_end"]) * 2
                     + ["stage_start"] + ["batch_end"] * 3 + ["epoch_end"] + ["done"])
    assert tr.state == "done" and len(tr.history) == 3
    assert tr.history.series("stage") == ["a", "a", "b"]


def test_history_records_mean_loss_and_metrics():
    data = regression_data()
    model = linear()
    stage = sgd_stage(model, epochs=5)
    stage.evaluate = lambda: {"val_mse": nn.functional.mse_loss(model(data["x"]), data["y"])}
    tr = Trainer(model, data, batch_size=25)
    tr.run([stage])
    losses = tr.history.series("loss")
    assert len(losses) == 5 and losses[-1] < losses[0] / 10
    with torch.no_grad():
        final = float(nn.functional.mse_loss(model(data["x"]), data["y"]))
    assert tr.history.last("val_mse") == pytest.approx(final)
    assert not model.training


def test_reproducible_with_seed():
    def once(seed):
        data = regression_data()
        model = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.3), nn.Linear(8, 1))
        torch.manual_seed(123)
        for p in model.parameters():
            nn.init.normal_(p, std=0.3)
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        Trainer(model, data, batch_size=16, seed=seed).run(
            [Stage("s", 3, supervised_step(model, nn.functional.mse_loss, opt, x="x", y="y"))])
        return torch.cat([p.flatten() for p in model.parameters()])

    torch.testing.assert_close(once(5), once(5), rtol=0, atol=0)
    assert not torch.equal(once(5), once(6))


def test_stop_from_another_thread_ends_quickly():
    model = linear()
    started = threading.Event()

    def slow_step(batch):
        started.set()
        time.sleep(0.01)
        return {"loss": torch.ones(())}

    tr = Trainer(model, {"i": torch.arange(1000)}, batch_size=1)
    stopped = []
    tr.on("stopped", lambda ev: stopped.append(ev.message))
    tr.start([Stage("long", 100, slow_step)])
    assert started.wait(5)
    t0 = time.monotonic()
    tr.stop()
    assert tr.wait(timeout=1.0), "trainer should stop within a second"
    assert time.monotonic() - t0 < 1.0
    assert tr.state == "stopped" and stopped and "stopped by request" in tr.message


def test_nan_loss_restores_last_good_weights():
    model = linear()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    snapshots = {}

    def step(batch):
        tr_steps = trainer.step_count
        opt.zero_grad()
        loss = (model(batch["x"]) - batch["y"]).pow(2).mean()
        loss.backward()
        opt.step()
        if tr_steps + 1 == 4:  # the check after step 4 sees good weights
            snapshots["good"] = [p.detach().clone() for p in model.parameters()]
        if tr_steps + 1 >= 6:
            with torch.no_grad():
                model.weight.add_(1.0)  # weights change, loss reported NaN
            return {"loss": torch.tensor(float("nan"))}
        return {"loss": loss}

    trainer = Trainer(model, regression_data(), batch_size=10, check_every=2)
    diverged = []
    trainer.on("diverged", lambda ev: diverged.append(ev.message))
    trainer.run([Stage("s", 5, step)])
    assert trainer.state == "diverged" and diverged
    assert "NaN" in trainer.message and "restored the last good weights" in trainer.message
    for p, good in zip(model.parameters(), snapshots["good"]):
        torch.testing.assert_close(p, good, rtol=0, atol=0)


def test_exploding_weights_detected():
    model = linear()

    def step(batch):
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(100.0)
        return {"loss": torch.ones(())}

    tr = Trainer(model, {"i": torch.arange(8)}, batch_size=1, check_every=1, max_weight_norm=1e4)
    tr.run([Stage("s", 1, step)])
    assert tr.state == "diverged" and "weights exploded" in tr.message
    assert float(torch.cat([p.detach().flatten() for p in model.parameters()]).norm()) <= 1e4


def test_failure_is_reported_and_kept():
    def boom(batch):
        raise ZeroDivisionError("bad step")

    tr = Trainer(linear(), {"i": torch.arange(4)})
    failed = []
    tr.on("failed", lambda ev: failed.append(ev.message))
    tr.start([Stage("s", 1, boom)])
    assert tr.wait(5)
    assert tr.state == "failed" and isinstance(tr.error, ZeroDivisionError) and "bad step" in failed[0]
    with pytest.raises(ZeroDivisionError):
        tr.run([Stage("s", 1, boom)])


@pytest.mark.parametrize("kwargs,pattern", [
    ({"batch_size": 0}, "batch_size"),
    ({"data": {"a": torch.zeros(3), "b": torch.zeros(4)}}, r"data\['b'\] has 4 rows"),
    ({"data": {}}, "data must be"),
    ({"device": "tpu"}, "device"),
])
def test_bad_arguments(kwargs, pattern):
    args = {"model": linear(), "data": {"a": torch.zeros(3)}, **kwargs}
    with pytest.raises(ValueError, match=pattern):
        Trainer(args.pop("model"), args.pop("data"), **args)


def test_bad_stage_and_event():
    with pytest.raises(ValueError, match="epochs"):
        Stage("s", -1, lambda b: {})
    tr = Trainer(linear(), {"a": torch.zeros(3)})
    with pytest.raises(ValueError, match="event must be one of"):
        tr.on("epoch_finished", print)
    with pytest.raises(ValueError, match="list of Stage"):
        tr.run(Stage("s", 1, lambda b: {"loss": torch.zeros(())}))


def test_checkpoint_round_trip(tmp_path):
    model, other = linear(0), linear(1)
    path = save_checkpoint(tmp_path / "m.pt", model, meta={"epochs": 3, "loss": "masked"})
    payload = load_checkpoint(path, other)
    for a, b in zip(model.parameters(), other.parameters()):
        torch.testing.assert_close(a, b)
    assert payload["meta"] == {"epochs": 3, "loss": "masked"}
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"], "no temporary files left behind"


def test_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt: not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    save_checkpoint(tmp_path / "m.pt", linear())
    with pytest.raises(ValueError, match="do not fit this model"):
        load_checkpoint(tmp_path / "m.pt", nn.Linear(4, 1))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_checkpoint(tmp_path / "nodir" / "m.pt", linear())


def test_stage_data_replaces_the_trainer_data_for_that_stage():
    """Transfer learning: pre-train on one set of users, fine-tune on another."""
    seen = []

    def step(batch):
        seen.append(sorted(batch))
        return {"loss": batch[next(iter(batch))].float().sum()}

    tr = Trainer(linear(), {"a": torch.arange(10)}, batch_size=4)
    tr.run([Stage("pre", 1, step), Stage("fine", 2, step, data={"b": torch.arange(3), "c": torch.zeros(3, 2)}),
            Stage("again", 1, step)])
    assert seen == [["a"]] * 3 + [["b", "c"]] * 2 + [["a"]] * 3
    assert tr.history.series("loss", "fine") == [pytest.approx(3.0)] * 2  # (0 + 1 + 2) in one batch
    assert tr.history.series("loss", "pre") == [pytest.approx(45 / 3)]
    with pytest.raises(ValueError, match=r"stage 'bad' data\['y'\] has 2 rows"):
        tr.run([Stage("bad", 1, step, data={"x": torch.zeros(3), "y": torch.zeros(2)})])


@pytest.mark.parametrize("background", [False, True])
def test_denormals_flushed_where_the_stages_run(background):
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush denormals")
    seen = []

    def step(batch):
        seen.append(float(torch.tensor([1e-39], dtype=torch.float32)[0] * 1.0))  # a float32 denormal
        return {"loss": torch.zeros(())}

    def run(tr):
        if background:
            tr.start([Stage("s", 1, step)])
            assert tr.wait(10)
        else:
            tr.run([Stage("s", 1, step)])

    try:
        run(Trainer(linear(), {"i": torch.arange(2)}, batch_size=2, flush_denormal=False))
        run(Trainer(linear(), {"i": torch.arange(2)}, batch_size=2))
        assert seen[0] > 0 and seen[1] == 0.0
    finally:
        torch.set_flush_denormal(False)


def test_stop_right_after_start_is_not_lost(monkeypatch):
    """A stop() that lands before the training thread begins still stops the run."""
    tr = Trainer(linear(), {"i": torch.arange(100)}, batch_size=1)
    real_run = tr._run

    def late_run(stages):
        time.sleep(0.2)  # the thread starts late; stop() has already been called
        return real_run(stages)

    monkeypatch.setattr(tr, "_run", late_run)
    tr.start([Stage("s", 50, lambda b: {"loss": torch.zeros(())})])
    tr.stop()
    assert tr.wait(5)
    assert tr.state == "stopped" and tr.step_count == 0


def test_terminal_event_fires_once_and_a_bad_callback_keeps_the_state():
    seen = []
    tr = Trainer(linear(), {"i": torch.arange(4)}, batch_size=2)
    for kind in ("done", "failed"):
        tr.on(kind, lambda ev: seen.append(ev.kind))

    def broken(ev):
        raise KeyError("dashboard bug")

    tr.on("done", broken)
    with pytest.raises(KeyError):
        tr.run([Stage("s", 1, lambda b: {"loss": torch.zeros(())})])
    assert tr.state == "done" and seen == ["done"]


def test_stopped_event_says_where():
    tr = Trainer(linear(), {"i": torch.arange(10)}, batch_size=1)
    where = []
    tr.on("stopped", lambda ev: where.append((ev.stage, ev.epoch, ev.batch)))

    def step(batch):
        if tr.step_count == 3:
            tr.stop()
        return {"loss": torch.zeros(())}

    tr.run([Stage("s", 2, step)])
    assert tr.state == "stopped" and where == [("s", 0, 4)]


@pytest.mark.parametrize("kwargs,pattern", [({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"),
                                            ({"max_weight_norm": "big"}, "max_weight_norm")])
def test_bad_seed_and_norm(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        Trainer(linear(), {"a": torch.zeros(3)}, **kwargs)
