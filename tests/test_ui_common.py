"""Shared dashboard pieces: figure state syncing, throttling, notes."""

import time

import pytest

from sandwichlab.ui.common import Throttle, figure, note, set_note, sync_figure, updating


def test_updates_reach_the_synced_state_until_a_view_draws_the_figure():
    fig = figure()
    fig.add_scatter(x=[], y=[])
    with updating(fig):
        fig.data[0].x, fig.data[0].y = [1, 2], [3, 4]
    assert list(fig._widget_data[0]["x"]) == [1, 2], "state fetched by a late browser must hold the edit"

    # plotly's view reports its first layout delta back once it has drawn the figure
    fig._js2py_layoutDelta = {"layout_delta": {}, "layout_edit_id": 0}
    with updating(fig):
        fig.data[0].x = [5, 6]
    assert list(fig.data[0].x) == [5, 6]
    assert list(fig._widget_data[0]["x"]) == [1, 2], "a live view gets edits as messages, no full re-sync"
    sync_figure(fig)
    assert list(fig._widget_data[0]["x"]) == [5, 6]


def test_throttle_lets_one_call_through_per_interval():
    th = Throttle(0.2)
    assert th.ready() and not th.ready()
    time.sleep(0.25)
    assert th.ready()
    with pytest.raises(ValueError, match="interval"):
        Throttle(-1)


def test_notes_escape_text_and_check_kind():
    w = note("<b>x</b> & y", "warning")
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in w.value
    set_note(w, "done", "error")
    assert "done" in w.value and "#c62828" in w.value
    with pytest.raises(ValueError, match="kind must be one of"):
        note("x", "fatal")
