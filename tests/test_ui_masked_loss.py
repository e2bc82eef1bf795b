"""The masked-loss dashboard without a browser: validation messages, a full run, per-copy divergence."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from sandwichlab.compare import l2_task
from sandwichlab.ui import masked_loss as ui


@pytest.fixture()
def dash(monkeypatch):
    """A small dashboard on synthetic users (never the published vectors, so the test is the same everywhere)."""
    task = l2_task(source="synthetic", n_users=300, seed=1)
    monkeypatch.setattr(ui, "get_task", lambda source="auto", n_users=None, seed=0: task)
    d = ui.LossRaceDashboard(epochs=3, hidden=(8,), device="cpu")
    d.widget()
    return d


def finish(d):
    assert d.race.wait(120)
    deadline = time.monotonic() + 10
    while d.start_button.disabled and time.monotonic() < deadline:  # the finish callback runs on the trainer thread
        time.sleep(0.02)


@pytest.mark.parametrize("change, message", [
    (dict(lr=0.0), "learning rate must be a number &gt; 0"),
    (dict(lr=-1.0), "learning rate must be"),
    (dict(lr=100.0), "far too large"),
    (dict(epochs=0), "Epochs must be between 1 and 500"),
    (dict(seed=-3), "seed must be an integer"),
    (dict(losses=()), "Choose at least one loss"),
])
def test_bad_settings_give_a_message_not_a_run(dash, change, message):
    for key in ("lr", "epochs", "seed"):
        if key in change:
            getattr(dash, key).value = change[key]
    if "losses" in change:
        for box in dash.loss_boxes.values():
            box.value = False
    dash._on_start()
    assert dash.race is None
    assert message in dash.status.value and "#c62828" in dash.status.value  # the error colour


def test_a_run_draws_every_epoch_and_reports(dash):
    dash.loss_boxes["confidence"].value = True
    dash._on_start()
    finish(dash)
    race = dash.race
    assert race.trainer.state == "done" and "Finished 3 epochs" in dash.status.value
    # three loss traces (left panel), three precision traces and popularity (right panel)
    assert len(dash.fig.data) == 7
    c = race.curves()
    for i, name in enumerate(race.names):
        assert list(dash.fig.data[i].x) == [0, 1, 2, 3]
        np.testing.assert_allclose(dash.fig.data[i].y, c["normalised"][name])
        np.testing.assert_allclose(dash.fig.data[3 + i].y, c["precision"][name])
    assert dash.fig.data[6].y == (race.popularity, race.popularity)
    assert "mean pred. where target = 0" in dash.results.value
    assert not dash.start_button.disabled and dash.stop_button.disabled
    assert dash.progress.value == dash.progress.max


def test_one_copy_diverging_is_reported_and_the_others_finish(dash):
    for name in ("mse", "masked", "confidence"):
        dash.loss_boxes[name].value = True
    dash.optimizer.value = "sgd"
    dash.lr.value = 3.0
    dash._on_start()
    finish(dash)
    race = dash.race
    gone = [n for n, s in race.status.items() if s == "diverged"]
    assert race.trainer.state == "done" and gone and len(gone) < 3, race.status
    assert "Diverged and left the race (the others went on)" in dash.status.value
    for i, name in enumerate(race.names):
        assert dash.fig.data[i].name.endswith("(diverged)") == (name in gone)
        assert math.isnan(dash.fig.data[i].y[-1]) == (name in gone)


def test_log_loss_view_updates_in_place():
    view = ui.LogLossView(n=41)
    fig = view.fig

    def broken():  # table cells where the naive loss gives inf or NaN
        return view.table.value.count(">NaN<") + view.table.value.count(">inf<")
    before = list(fig.data[1].y)
    assert broken() == 4  # y = 0, float32: loss inf and gradient NaN at x = 20 and 50
    view.dtype.value = "float64"
    assert broken() == 2  # float64 breaks later (x > 37): only x = 50
    view.label.value = 1.0
    assert list(fig.data[1].y) != before


def test_static_figures_build(dash):
    task = l2_task(source="synthetic", n_users=300, seed=1)
    w = ui.weights_figure(task, n_users=5)
    assert np.asarray(w.data[0].z).shape == (5, 164)
    f = ui.flood_figure(task, levels=np.array([0.0, 0.5]))
    assert len(f.data) == 6
    assert "precision@5" in ui.flood_table(task).value
