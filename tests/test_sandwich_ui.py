"""The sandwich dashboard without a browser: diagrams, tables, a run start to finish, failures shown."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from sandwichlab.models import MODELS
from sandwichlab.ui.sandwich import SandwichDashboard, _block_means, architecture_svg, results_table


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setenv("SANDWICHLAB_FAST", "1")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_architecture_svg_names_every_part(name):
    svg = architecture_svg(name, width=128)
    assert svg.startswith("<svg") and svg.endswith("</svg>") and "128 ReLU" in svg
    if name.startswith("bidirectional"):
        assert "C12" in svg and "C21" in svg and svg.count(">hidden<") == 6
    with pytest.raises(ValueError, match="model must be one of"):
        architecture_svg("unet")


def test_results_table_formats_and_skips_absent_columns():
    html = results_table([("A", {"category_accuracy": 0.25, "precision@5": math.nan}), ("B <b>", {"precision@5": 0.5})],
                         "t")
    assert 'id="t"' in html and "0.250" in html and "0.500" in html and "–" in html
    assert "B &lt;b&gt;" in html and "Article" not in html


def test_block_means_keep_the_ends_and_skip_gaps():
    xs, ys = _block_means(list(range(1, 11)), max_points=4)  # blocks of 3: (1,2,3), (4,5,6), (7,8,9), (10)
    np.testing.assert_array_equal(xs, [3, 6, 9, 10])
    np.testing.assert_allclose(ys, [2, 5, 8, 10])
    xs, ys = _block_means([1.0, math.nan, 3.0])
    np.testing.assert_array_equal(xs, [1, 2, 3])
    np.testing.assert_allclose(ys, [1, math.nan, 3])


def wait_until(pred, timeout=120):
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("timed out")
        time.sleep(0.05)


def test_a_run_draws_curves_and_adds_its_row():
    d = SandwichDashboard(model="baseline", preset="fast")
    d.widget()
    d._on_start()
    assert d.stop_button.disabled is False and d.model.disabled
    assert d.run.trainer.wait(120)
    wait_until(lambda: not d.start_button.disabled)
    assert d.run.trainer.state == "done"
    n_steps = d.run.trainer.step_count
    assert len(d.loss_fig.data[0].x) == n_steps  # L1 trace: one point per step (NaN outside its stage)
    assert len(d.metric_fig.data[0].x) == sum(s.epochs for s in d.run.stages)  # one point per epoch
    assert len(d.loss_fig.layout.shapes) == 3 and d.progress.value == d.progress.max
    assert "Baseline transfer + mse" in d.table.value and "Done in" in d.status.value


def test_a_failing_run_shows_the_message():
    d = SandwichDashboard(model="direct", preset="fast")
    d.widget()
    original = d.attach

    def attach_and_break(run):
        original(run)

        def boom(batch):
            raise RuntimeError("exploded on purpose")

        run.stages[0].step = boom

    d.attach = attach_and_break
    d._on_start()
    d.run.trainer.wait(60)
    wait_until(lambda: not d.start_button.disabled)
    assert d.run.trainer.state == "failed"
    assert "exploded on purpose" in d.status.value and "fdecea" in d.status.value  # the error colour
    assert "No transfer" not in d.table.value


def test_stop_ends_a_run_quickly():
    d = SandwichDashboard(model="bidirectional", preset="paper")
    d.widget()
    d._on_start()
    wait_until(lambda: d.run.trainer.step_count > 2)
    d._on_stop()
    assert d.run.trainer.wait(5), "Stop should end training at the next batch"
    wait_until(lambda: not d.start_button.disabled)
    assert d.run.trainer.state == "stopped" and "Stopped after" in d.status.value
    assert "(stopped)" in d.table.value
