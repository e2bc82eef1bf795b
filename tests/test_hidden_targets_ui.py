"""The hidden-targets dashboard's logic without a browser: state, traces, sliders, data switches, errors."""

from __future__ import annotations

import html
import time

import numpy as np
import pytest

from sandwichlab.targets import HiddenTargets
from sandwichlab.ui.hidden_targets import (CIRCLES, MNIST, USER_FILE, HiddenTargetsExplorer, circles_data, file_data,
                                           format_alpha, logit10)


@pytest.fixture()
def explorer(monkeypatch):
    monkeypatch.setenv("SANDWICHLAB_FAST", "1")
    ex = HiddenTargetsExplorer(CIRCLES, alpha=0.05, background=False, n_lr=7, n_ed=15)
    yield ex
    ex.close()  # gives BLAS its threads back for the tests that follow


def _class_points(ex):
    return [np.column_stack([t.x, t.y, t.z]).astype(float) for t in ex.fig.data[ex.CLOUD:-1]]


def _y(trace):
    return np.array(trace.y, dtype=float)  # None (a gap) -> NaN


def test_initial_state_matches_the_compute_module(explorer):
    ex = explorer
    ht = HiddenTargets(circles_data(400, 0.05, 20.0).X, circles_data(400, 0.05, 20.0).y)
    np.testing.assert_allclose(_y(ex.fig.data[ex.SPEC]), ht.spectrum(0.05))
    assert [t.name for t in ex.fig.data[ex.CLOUD:]] == ["outer circle (−1)", "inner circle (+1)", "digits A-F"]
    assert sum(len(p) for p in _class_points(ex)) == 400
    # background=False: the curves are complete, α = 0 is the first LR point (circles: a coin flip)
    ed, lr = _y(ex.fig.data[ex.ED]), _y(ex.fig.data[ex.LR])
    assert not np.isnan(ed).any() and not np.isnan(lr).any()
    assert ed.tolist() == ht.effective_dimension_curve(ex.ed_grid).tolist()
    assert lr[0] == pytest.approx(0.5, abs=0.05) and lr[-1] == 0.0
    assert "data-alpha='0.05'" in ex.readout.value and "LR training error" in ex.readout.value
    assert "id='ht-data'" in ex.data_note.value and "Rank of X: 2" in ex.data_note.value
    assert ex.progress.bar_style == "success"


def test_exact_ends_and_jumps(explorer):
    ex = explorer
    ex.set_alpha(0.0)
    assert len(ex.fig.data[ex.SPEC].y) == 2 and "0 (exact)" in ex.readout.value
    assert np.all(np.array(ex.fig.data[ex.CLOUD].z) == 0), "at α = 0 the circles have only two coordinates"
    ex.set_alpha(1.0)
    assert len(ex.fig.data[ex.SPEC].y) == 1 and "1 (exact)" in ex.readout.value
    ex._on_enter()
    enter, takeover = ex.ht.critical_zone()
    assert ex.alpha == enter and ex.fig.data[ex.ED + 1].x[0] == pytest.approx(float(logit10(enter)))
    ex._on_takeover()
    assert ex.alpha == takeover
    ex.set_alpha(1.5)
    assert "must lie in [0, 1]" in ex.message.value and ex.alpha == takeover


def test_sliders_stay_linked_and_ignore_their_own_snapping(explorer):
    ex = explorer
    ex.alpha_slider.value = 10 ** -1.3  # the browser snapping 0.05 to the slider grid: not a move
    assert ex.alpha == 0.05
    ex.alpha_slider.value = 10 ** -1.0  # a real move
    time.sleep(0.25)  # a throttled redraw lands at most REDRAW_INTERVAL_S later
    assert ex.alpha == pytest.approx(0.1)
    assert ex.one_minus.value == pytest.approx(0.9)
    assert "data-alpha='0.1" in ex.readout.value
    ex.one_minus.value = 1e-3
    time.sleep(0.25)
    assert ex.alpha == pytest.approx(0.999)
    assert ex.alpha_slider.value == pytest.approx(0.999)


def test_points_do_not_flip_between_nearby_alphas(explorer):
    ex = explorer
    before = np.vstack(_class_points(ex))
    for a in np.linspace(0.05, 0.3, 6)[1:]:
        ex.set_alpha(a)
        after = np.vstack(_class_points(ex))
        assert np.abs(after - before).max() < 0.25 * np.abs(before).max(), a
        before = after


def test_mnist_shows_digits_and_patterns(explorer):
    ex = explorer
    ex.background = True  # the MNIST curves are not under test here: let them run off-thread, then stop them
    ex.load(MNIST)
    ex.stop_sweep()
    assert ex.ht.n_samples <= 1000 and ex.data.images
    assert all(ex.fig.data[ex.DIGITS + j].visible for j in range(9)) and ex.digits_note.layout.display == ""
    assert [a.text for a in ex.fig.layout.annotations[4:10]] == [f"{c}: {n}" for c, n in zip("ABCDEF", ["threes"] * 3 + ["eights"] * 3)]
    np.testing.assert_array_equal(np.array(ex.fig.data[ex.DIGITS].z).ravel(), ex.data.X[ex._marked[0]])
    pattern = np.array(ex.fig.data[ex.DIGITS + 6].z)
    np.testing.assert_allclose(pattern.ravel(), ex.ht.pixel_patterns(ex.alpha, 3)[:, 0])
    ex._on_enter()
    assert ex.alpha < 1e-6 and f"coordinate {ex.ht.dim} of {ex.ht.dim}" in ex.readout.value
    ex.wait(60)
    ex.load(CIRCLES)
    ex.stop_sweep()
    assert not any(ex.fig.data[ex.DIGITS + j].visible for j in range(9)) and ex.digits_note.layout.display == "none"


def test_upload_errors_are_shown_and_good_files_load(explorer):
    ex = explorer
    ex.load(USER_FILE)
    assert "Choose a CSV or NPZ file" in ex.message.value and ex.data.X.shape[1] == 2
    ex.load(USER_FILE, b"a,b,label\n1,oops,x\n2,3,y\n", "bad.csv")
    assert "Could not use that file" in ex.message.value and "'oops'" in html.unescape(ex.message.value)
    assert ex.data.X.shape == (400, 2), "a bad file leaves the previous data on screen"
    rows = "\n".join(f"{i % 5},{(i * 7) % 11},{'abc'[i % 3]}" for i in range(60))
    ex.load(USER_FILE, f"x1,x2,kind\n{rows}\n".encode(), "three.csv")
    assert ex.message.value == ""
    assert [t.name for t in ex.fig.data[ex.CLOUD:-1]] == ["a", "b", "c"]
    assert ex.ht.n_classes == 3 and "three.csv" in ex.data_note.value
    with pytest.raises(ValueError, match="more than this dashboard handles"):
        file_data(b"y,x\n" + b"".join(f"{i % 2},{i}\n".encode() for i in range(20_001)), "big.csv")


def test_lr_settings_restart_the_curve(explorer):
    ex = explorer
    ex.drop.value = ex.drop.options[1]  # drop the most correlated coordinate (report, Fig. 10)
    lr = _y(ex.fig.data[ex.LR])
    assert lr[ex.lr_grid.tolist().index(1.0)] == pytest.approx(0.5, abs=0.05), "at α = 1 nothing is left but noise"
    assert ex.ht.cached_lr_error(ex.lr_grid[3], drop="correlated") == lr[3]


def test_callback_failures_become_messages(explorer, monkeypatch):
    ex = explorer

    def boom(*_a, **_k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ex.ht, "spectrum", boom)
    ex.set_alpha(0.2)
    assert "RuntimeError: disk on fire" in ex.message.value


def test_background_sweep_runs_off_the_main_thread(monkeypatch):
    monkeypatch.setenv("SANDWICHLAB_FAST", "1")
    ex = HiddenTargetsExplorer(CIRCLES, alpha=0.05, background=True, n_lr=7, n_ed=15)
    ex.set_alpha(0.3)  # the slider path works while the sweep runs
    assert "data-alpha='0.3'" in ex.readout.value
    ex.wait(120)
    assert ex.progress.bar_style == "success" and not np.isnan(_y(ex.fig.data[ex.LR])).any()
    ex.start_sweep()
    ex.stop_sweep()
    ex.wait(60)
    assert "stopped" in ex.progress_text.value or ex.progress.bar_style == "success"
    ex.close()


def test_dashboard_runs_blas_single_threaded_and_close_restores(explorer):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    blas = lambda: {i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}  # noqa: E731
    assert blas() == {1}
    explorer.close()
    assert 1 not in blas() or __import__("os").cpu_count() == 1


def test_a_new_explorer_closes_the_previous_one(monkeypatch):
    """Re-running the notebook cell must not leave the old sweep running or BLAS limited twice."""
    monkeypatch.setenv("SANDWICHLAB_FAST", "1")
    first = HiddenTargetsExplorer(CIRCLES, alpha=0.05, background=True, n_lr=7, n_ed=15)
    second = HiddenTargetsExplorer(CIRCLES, alpha=0.05, background=False, n_lr=7, n_ed=15)
    assert first._blas_hold is None and first._stop.is_set()
    assert first._sweep_thread is None or not first._sweep_thread.is_alive()
    assert second._blas_hold is not None
    second.close()
    assert second._blas_hold is None


def test_format_alpha_and_logit_axis():
    assert format_alpha(0.0) == "0 (exact)" and format_alpha(1.0) == "1 (exact)"
    assert format_alpha(0.992) == "1 − 0.008" and format_alpha(3e-9) == "3e-09"
    assert logit10(0.5) == 0 and logit10(0.0) == -13 and logit10(1.0) == 13
    assert float(logit10(1 - 1e-6)) == pytest.approx(6, abs=1e-6)
