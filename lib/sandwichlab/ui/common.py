"""Pieces every dashboard shares: device badge, notes, throttled redraws, errors."""

from __future__ import annotations

import html
import threading
import time
from contextlib import contextmanager
from copy import deepcopy

import ipywidgets as widgets
import plotly.graph_objects as go

# One look for every figure.
PLOT_TEMPLATE = "plotly_white"
CLASS_COLOURS = {1: "#d62728", -1: "#1f77b4"}  # +1 red, -1 blue
SERIES_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
REDRAW_INTERVAL_S = 0.1  # at most ~10 redraws a second


def device_badge(device=None) -> widgets.HTML:
    """'Training on: NVIDIA H100 80GB HBM3' / 'Training on: CPU (2 threads)'."""
    from ..device import device_name, pick_device

    dev = pick_device(device)
    return widgets.HTML(f"<b>Device:</b> {html.escape(device_name(dev))} <code>{dev}</code>")


def note(text: str, kind: str = "info") -> widgets.HTML:
    """A coloured note box; ``kind`` is 'info', 'warning' or 'error'."""
    colours = {"info": ("#e8f1fb", "#1f77b4"), "warning": ("#fff4e0", "#e08a00"), "error": ("#fdecea", "#c62828")}
    if kind not in colours:
        raise ValueError(f"kind must be one of {sorted(colours)}, got {kind!r}")
    bg, border = colours[kind]
    return widgets.HTML(
        f'<div style="background:{bg};border-left:4px solid {border};padding:6px 10px;margin:4px 0;'
        f'line-height:1.4">{html.escape(text)}</div>'
    )


def set_note(widget: widgets.HTML, text: str, kind: str = "info") -> None:
    """Replace the text of a note made by :func:`note`."""
    widget.value = note(text, kind).value


class Throttle:
    """Let at most one call through every ``interval`` seconds (thread-safe).

    ``ready()`` answers whether a redraw may happen now; the caller redraws
    once more when work finishes so the last state is always shown.
    """

    def __init__(self, interval: float = REDRAW_INTERVAL_S):
        if not interval >= 0:
            raise ValueError(f"interval must be >= 0 seconds, got {interval!r}")
        self.interval = interval
        self._last = float("-inf")
        self._lock = threading.Lock()

    def ready(self) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._last >= self.interval:
                self._last = now
                return True
            return False


def _mark_viewed(change) -> None:
    change["owner"]._sandwichlab_viewed = True


def figure(**layout) -> go.FigureWidget:
    """An empty FigureWidget in the suite's style; add traces, then update them in place.

    The figure notes when a browser view has drawn it (plotly's view reports
    its first layout and trace deltas back), so :func:`updating` stops
    re-syncing the whole figure once edits reach a live view.
    """
    layout.setdefault("template", PLOT_TEMPLATE)
    layout.setdefault("margin", dict(l=50, r=10, t=40, b=40))
    fig = go.FigureWidget(layout=layout)
    fig._sandwichlab_viewed = False
    fig.observe(_mark_viewed, names=["_js2py_layoutDelta", "_js2py_traceDeltas"])
    return fig


def sync_figure(fig: go.FigureWidget) -> go.FigureWidget:
    """Make the state a browser fetches on connect match the figure's current traces.

    plotly sends trace edits as messages that only reach views already open; a
    FigureWidget nested in a Box (not displayed on its own) would otherwise be
    drawn from its construction-time state, often empty.  Dashboards call this
    before showing a figure, and :func:`updating` calls it until a view has
    drawn the figure.
    """
    fig._widget_data = deepcopy(fig._data)
    fig._widget_layout = deepcopy(fig._layout_obj._props)
    return fig


@contextmanager
def updating(fig: go.FigureWidget):
    """``fig.batch_update()`` that also keeps the not-yet-viewed state complete.

    Until a browser view has drawn ``fig`` (see :func:`figure`; plotly never
    updates ``_view_count``), edits are copied into the state a browser fetches
    on connect, so a dashboard opened later shows them.  Afterwards edits
    travel as plotly's incremental messages only.
    """
    with fig.batch_update():
        yield fig
    if not getattr(fig, "_sandwichlab_viewed", False):
        sync_figure(fig)
