"""The sandwich-models dashboard: pick a model, loss, preset, data, device and seed; train live.

* :func:`architecture_svg` draws each architecture (inline SVG, no plot library).
* :class:`SandwichDashboard`: Start trains a :class:`sandwichlab.recommend.SandwichRun`
  in the trainer's background thread; the figures show the loss of every output
  per step (stages shaded) and the held-out metrics per epoch beside the
  popularity baseline; Stop ends training at the next batch; each finished run
  adds its Table-1 row.  Redraws are throttled to 5 a second and run on the kernel's
  event loop (on the training thread only where there is no kernel, e.g. a script).
* :class:`Table1Live`: a button that recomputes a small Table 1 in the background.

Training and evaluation live in :mod:`sandwichlab.recommend` and
:mod:`sandwichlab.models`; this module only draws.
"""

from __future__ import annotations

import html
import math
import threading
import time

import ipywidgets as widgets
import numpy as np
import torch

from ..config import fast_mode, pick
from ..data import app_categories, make_app_categories
from ..data.app_categories import published_dir
from ..device import pick_device
from ..losses import LOSS_LABELS
from ..models import MODELS, PRESETS, get_preset
from ..recommend import (SandwichRun, evaluate, make_task, popularity_predictions, ridge_predictions, row_label)
from .common import SERIES_COLOURS, Throttle, device_badge, figure, note, set_note, sync_figure, updating

LOSS_KEYS = ("l1", "l2", "l2_via_c12", "l1_via_c21")
LOSS_NAMES = {"l1": "L1 (E / trunk / encoder)", "l2": "L2", "l2_via_c12": "L2 via C12 (E → L2)",
              "l1_via_c21": "L1 via C21 (D → L1)"}
LOSS_COLOURS = dict(zip(LOSS_KEYS, SERIES_COLOURS))
METRIC_KEYS = ("eval_category_accuracy", "eval_precision@5", "eval_two_stage_precision@5", "eval_l1_accuracy")
METRIC_NAMES = {"eval_category_accuracy": "L2 category accuracy", "eval_precision@5": "L2 precision@5",
                "eval_two_stage_precision@5": "2-stage precision@5", "eval_l1_accuracy": "L1 accuracy"}
METRIC_COLOURS = dict(zip(METRIC_KEYS, SERIES_COLOURS[2:] + SERIES_COLOURS[:2]))
STAGE_FILLS = ("rgba(44,160,44,0.08)", "rgba(214,39,40,0.08)", "rgba(31,119,180,0.10)")
TABLE_COLUMNS = (("category_accuracy", "Category acc"), ("precision@5", "P@5"), ("map@5", "MAP@5"),
                 ("ndcg@5", "NDCG@5"), ("two_stage_precision@5", "2-stage P@5"), ("l1_accuracy", "L1 acc"),
                 ("article_precision@5", "Article P@5"))
MAX_POINTS = 600  # per loss trace; longer series are shown as block means

_TASKS: dict = {}
_TASK_LOCK = threading.Lock()


def _kernel_loop():
    """The event loop of the thread building the dashboard (the kernel's), or None outside one.

    Widget and figure updates are sent from that loop only: plotly's FigureWidget
    keeps per-figure edit bookkeeping that the kernel also touches when the browser
    answers, so updating it from the training thread loses redraws at random.
    """
    import asyncio

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


# --------------------------------------------------------------------------- data

def data_choices() -> list[tuple[str, str]]:
    """(label, key) pairs: synthetic users always; the published vectors when found."""
    choices = [("Synthetic users", "synthetic")]
    if published_dir() is not None:  # a broken $SANDWICHLAB_TRANSFER_DIR: synthetic only
        choices.append(("Published vectors", "published"))
    return choices


def get_task(data: str = "synthetic"):
    """The :class:`~sandwichlab.recommend.SandwichTask` for ``data`` and its baselines' metrics (cached).

    Synthetic: 7,857 users (1,500 in fast mode), seed 0.  Returns ``(task, baselines)``
    with ``baselines = {"popularity": metrics, "ridge": metrics}``.
    """
    if data not in ("synthetic", "published"):
        raise ValueError(f"data must be 'synthetic' or 'published', got {data!r}")
    key = (data, fast_mode())
    with _TASK_LOCK:
        if key not in _TASKS:
            if data == "synthetic":
                ds = make_app_categories(n_users=pick(7857, 1500), seed=0)
            else:
                ds = app_categories()
                if ds.synthetic:
                    raise ValueError("the published vectors were not found (see data/README.md)")
            task = make_task(ds, n_articles=pick(5000, 1000), article_keep=pick(2000, 400))
            base = {"popularity": evaluate(*popularity_predictions(task), task),
                    "ridge": evaluate(*ridge_predictions(task), task)}
            _TASKS[key] = (task, base)
        return _TASKS[key]


def device_choices() -> list[tuple[str, str]]:
    out = [("CPU", "cpu")]
    if torch.cuda.is_available():
        out.append((f"GPU: {torch.cuda.get_device_name(0)}", "cuda"))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append(("Apple GPU (MPS)", "mps"))
    return out


# --------------------------------------------------------------------------- diagrams

def _box(x, y, w, h, label, sub="", fill="#ffffff", stroke="#444", dash=False) -> str:
    d = ' stroke-dasharray="5,4"' if dash else ""
    s = (f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="7" fill="{fill}" stroke="{stroke}" stroke-width="1.6"{d}/>'
         f'<text x="{x + w / 2}" y="{y + h / 2 - (6 if sub else -4)}" text-anchor="middle" font-size="13" '
         f'font-weight="600" fill="#222">{html.escape(label)}</text>')
    if sub:
        s += (f'<text x="{x + w / 2}" y="{y + h / 2 + 12}" text-anchor="middle" font-size="11" '
              f'fill="#555">{html.escape(sub)}</text>')
    return s


def _arrow(x1, y1, x2, y2, colour="#444", dash=False) -> str:
    d = ' stroke-dasharray="5,4"' if dash else ""
    return (f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{colour}" stroke-width="1.6"{d} '
            f'marker-end="url(#arrow)"/>')


def _chain(items, y, x0=10, w=92, gap=26, h=46):
    """Boxes left to right joined by arrows; items are (label, sub, fill)."""
    parts, xs = [], []
    for i, (label, sub, fill) in enumerate(items):
        x = x0 + i * (w + gap)
        xs.append(x)
        parts.append(_box(x, y, w, h, label, sub, fill))
        if i:
            parts.append(_arrow(x - gap, y + h / 2, x - 2, y + h / 2))
    return "".join(parts), xs


def _legend(items, y) -> str:
    out, x = [], 12
    for fill, text in items:
        out.append(f'<rect x="{x}" y="{y}" width="14" height="14" rx="3" fill="{fill}" stroke="#666"/>'
                   f'<text x="{x + 20}" y="{y + 11}" font-size="11.5" fill="#333">{html.escape(text)}</text>')
        x += 30 + 6.1 * len(text)
    return "".join(out)


GREEN, RED, BLUE, GREY = "#dff0d8", "#f8dcdc", "#dbe8f6", "#f2f2f2"


def architecture_svg(model: str, width: int = 256) -> str:
    """An inline SVG of ``model`` (a key of MODELS) with ``width`` neurons per hidden layer."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {model!r}")
    hid = f"{width} ReLU"
    if model == "direct":
        body, _ = _chain([("App", "52", GREY), ("hidden", hid, RED), ("hidden", hid, RED), ("L2", "164", GREY)], 30)
        body += _legend([(RED, "trained App→L2 from scratch: no transfer")], 100)
        h = 125
    elif model == "baseline":
        body, xs = _chain([("App", "52", GREY), ("hidden", hid, GREEN), ("hidden", hid, GREEN), ("L1", "23", GREEN),
                           ("new layer", "23→164", RED), ("L2", "164", GREY)], 30)
        body += _legend([(GREEN, "1: trunk App→L1 (then frozen in 2)"), (RED, "2: new layer on L2"),
                         ("#ffffff", "3: all unfrozen, discriminative LRs (small → large)")], 100)
        h = 125
    elif model == "autoencoder":
        body, xs = _chain([("App", "52", GREY), ("hidden", hid, GREEN), ("hidden", hid, GREEN), ("L1", "23", GREEN),
                           ("sandwich", "23→23 ReLU", BLUE), ("decoder", "23→164", RED), ("L2", "164", GREY)], 30)
        body += _legend([(GREEN, "1: encoder App→L1"), (RED, "2: decoder L1→L2 (true L1 in)"),
                         (BLUE, "3: sandwich layer joins them (identity at start); fine-tune App→L2")], 100)
        h = 125
    else:
        w, gap, bh, y = 86, 22, 46, 88
        xa = 10 + 3 * (w + gap)  # App in the middle: E to the left, D to the right
        parts = [_box(xa, y, w, bh, "App", "52", GREY)]
        left = [("hidden", hid, GREEN), ("hidden", hid, GREEN), ("L1", "23", GREEN)]
        for i, (lab, sub, fill) in enumerate(left):
            x = xa - (i + 1) * (w + gap)
            parts.append(_box(x, y, w, bh, lab, sub, fill))
            parts.append(_arrow(x + w + gap, y + bh / 2, x + w + 2, y + bh / 2))
        right = [("hidden", hid, RED)] * 4 + [("L2", "164", RED)]
        for i, (lab, sub, fill) in enumerate(right):
            x = xa + (i + 1) * (w + gap)
            parts.append(_box(x, y, w, bh, lab, sub, fill))
            parts.append(_arrow(x - gap, y + bh / 2, x - 2, y + bh / 2))
        x_l1 = xa - 3 * (w + gap) + w / 2
        x_l2 = xa + 5 * (w + gap) + w / 2
        parts.append(f'<path d="M {x_l1} {y} C {x_l1} {y - 60}, {x_l2} {y - 60}, {x_l2} {y - 3}" fill="none" '
                     f'stroke="#1f77b4" stroke-width="1.8" stroke-dasharray="6,4" marker-end="url(#arrowb)"/>')
        parts.append(f'<path d="M {x_l2} {y + bh} C {x_l2} {y + bh + 60}, {x_l1} {y + bh + 60}, {x_l1} {y + bh + 3}" '
                     f'fill="none" stroke="#1f77b4" stroke-width="1.8" stroke-dasharray="6,4" marker-end="url(#arrowb)"/>')
        mid = (x_l1 + x_l2) / 2
        parts.append(f'<text x="{mid}" y="{y - 52}" text-anchor="middle" font-size="12" fill="#1f77b4">'
                     f'C12: L1 → L2 (training only; carries l_d back to E)</text>')
        parts.append(f'<text x="{mid}" y="{y + bh + 62}" text-anchor="middle" font-size="12" fill="#1f77b4">'
                     f'C21: L2 → L1 (training only; carries l_e back to D)</text>')
        parts.append(f'<text x="{xa - 2 * (w + gap) + w / 2}" y="{y + bh + 16}" text-anchor="middle" font-size="11" '
                     f'fill="#2c7a2c">E (2 hidden)</text>')
        parts.append(f'<text x="{xa + 3 * (w + gap) + w / 2}" y="{y + bh + 16}" text-anchor="middle" font-size="11" '
                     f'fill="#a12b2b">D (4 hidden)</text>')
        last = "Algorithm 1" if model == "bidirectional" else "joint l_e + l_d"
        parts.append(_legend([(GREEN, "1: E on L1"), (RED, "2: D on L2"),
                              ("#ffffff", f"3: with connectors, {last}; both outputs at inference")], y + bh + 78))
        body, h = "".join(parts), y + bh + 100
    total_w = 990
    defs = ('<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">'
            '<path d="M0,0 L8,4 L0,8 z" fill="#444"/></marker>'
            '<marker id="arrowb" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">'
            '<path d="M0,0 L8,4 L0,8 z" fill="#1f77b4"/></marker></defs>')
    title = f'<text x="10" y="16" font-size="13.5" font-weight="700" fill="#222">{html.escape(MODELS[model].label)}</text>'
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {total_w} {h}" width="100%" '
            f'style="max-width:{total_w}px;font-family:sans-serif" role="img" '
            f'aria-label="{html.escape(MODELS[model].label)} architecture">{defs}{title}{body}</svg>')


# --------------------------------------------------------------------------- tables

def _fmt(v) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.3f}"


def results_table(rows: list[tuple[str, dict]], table_id: str | None = None) -> str:
    """HTML table: one row per (label, metrics dict) with the Table-1 columns."""
    ident = f' id="{table_id}"' if table_id else ""
    cols = [c for c in TABLE_COLUMNS if any(c[0] in m for _, m in rows)]
    head = "".join(f"<th style='padding:3px 10px;text-align:right'>{html.escape(t)}</th>" for _, t in cols)
    body = []
    for label, m in rows:
        cells = "".join(f"<td style='padding:3px 10px;text-align:right'>{_fmt(m.get(k))}</td>" for k, _ in cols)
        body.append(f"<tr><td style='padding:3px 10px'>{html.escape(label)}</td>{cells}</tr>")
    return (f"<table{ident} style='border-collapse:collapse;font-size:13px'>"
            f"<tr style='border-bottom:1px solid #bbb'><th style='text-align:left;padding:3px 10px'>Model + loss</th>{head}</tr>"
            f"{''.join(body)}</table>")


def _block_means(values, max_points: int = MAX_POINTS):
    """(x, y) numpy arrays with at most ``max_points`` points: means of consecutive
    blocks (NaN-aware), x at each block's last step (1-based)."""
    y = np.asarray(values, dtype=np.float64)
    n = y.size
    if n <= max_points:
        return np.arange(1, n + 1), y
    size = math.ceil(n / max_points)
    m = n // size
    head = y[:m * size].reshape(m, size)
    ok = np.isfinite(head)
    with np.errstate(invalid="ignore"):
        means = np.where(ok, head, 0).sum(1) / ok.sum(1)
    xs = np.arange(1, m + 1) * size
    if m * size < n:
        tail = y[m * size:]
        tail = tail[np.isfinite(tail)]
        means = np.append(means, tail.mean() if tail.size else np.nan)
        xs = np.append(xs, n)
    return xs, means


# --------------------------------------------------------------------------- the dashboard

class SandwichDashboard:
    """Controls, architecture diagram, live loss / metric figures and a results table."""

    def __init__(self, model: str = "bidirectional", loss: str = "mse", preset: str | None = None,
                 data: str = "synthetic", seed: int = 0, device=None):
        preset = preset or pick("classroom", "fast")
        style = {"description_width": "70px"}
        wide = widgets.Layout(width="330px")
        self.model = widgets.Dropdown(options=[(i.label, k) for k, i in MODELS.items()], value=model,
                                      description="model", style=style, layout=wide)
        self.loss = widgets.Dropdown(options=[(LOSS_LABELS[k], k) for k in ("mse", "masked", "reference_masked", "confidence")],
                                     value=loss, description="loss", style=style, layout=wide)
        self.preset = widgets.Dropdown(options=[(f"{k} ({p.width} wide)", k) for k, p in PRESETS.items()],
                                       value=preset, description="preset", style=style, layout=wide)
        self.data = widgets.Dropdown(options=data_choices(), value=data, description="data", style=style, layout=wide)
        devs = device_choices()
        default_dev = pick_device(device).type
        self.device = widgets.Dropdown(options=devs, value=default_dev if default_dev in dict(devs).values() else "cpu",
                                       description="device", style=style, layout=wide)
        self.seed = widgets.BoundedIntText(value=seed, min=0, max=2**31 - 1, description="seed", style=style,
                                           layout=widgets.Layout(width="180px"))
        self.start_button = widgets.Button(description="Start", button_style="success", icon="play",
                                           layout=widgets.Layout(width="110px"))
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True,
                                          layout=widgets.Layout(width="110px"))
        self.start_button.add_class("sandwich-start")
        self.stop_button.add_class("sandwich-stop")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, layout=widgets.Layout(width="330px"))
        self.progress_label = widgets.HTML("<span id='sandwich-progress'>not started</span>")
        self.status = note("Pick a model and press Start.")
        self.badge = device_badge(self.device.value)
        self.data_note = widgets.HTML()
        self.diagram = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.table = widgets.HTML()

        self.loss_fig, self.metric_fig = self._make_figures()
        self.figs = widgets.HBox([self.loss_fig, self.metric_fig], layout=widgets.Layout(width="100%"))

        self.run: SandwichRun | None = None
        self._lock = threading.Lock()
        self._throttle = Throttle(0.2)  # 5 redraws a second: live enough, and under 5 % of a paper-size epoch
        self._losses: dict = {k: [] for k in LOSS_KEYS}
        self._pending: list = []
        self._hist_drawn = -1
        self._finished_rows: list = []
        self._t0 = 0.0
        self._total_steps = 1
        self._loop = _kernel_loop()
        self._scheduled = threading.Event()

        self.start_button.on_click(self._on_start)
        self.stop_button.on_click(self._on_stop)
        for w in (self.model, self.preset):
            w.observe(self._show_diagram, names="value")
        self.data.observe(self._show_data, names="value")
        self.device.observe(self._show_device, names="value")
        self._show_diagram()
        self._show_data()

    @staticmethod
    def _make_figures():
        """Fresh loss and metric FigureWidgets; every Start makes a new pair.

        Each run gets its own axes and stage bands.  (It also kept the curves live
        in Voila while ``ui.common.updating`` re-sent whole figures on every edit:
        then, a view drawn while later notebook cells were still running could
        stop applying updates.  ``updating`` no longer does that.)
        """
        common = dict(height=340, width=660, legend=dict(orientation="h", y=-0.25), margin=dict(l=60, r=10, t=40, b=40))
        loss_fig = figure(title="Training loss per step (per user, log scale)", xaxis_title="optimiser step",
                          yaxis=dict(type="log", title="loss"), **common)
        for k in LOSS_KEYS:
            loss_fig.add_scatter(x=[], y=[], mode="lines", name=LOSS_NAMES[k], line=dict(color=LOSS_COLOURS[k], width=1.5))
        metric_fig = figure(title="Held-out test users, after every epoch", xaxis_title="epoch (all stages)",
                            yaxis=dict(title="score", range=[0, 1]), **common)
        for k in METRIC_KEYS:
            metric_fig.add_scatter(x=[], y=[], mode="lines+markers", name=METRIC_NAMES[k],
                                   line=dict(color=METRIC_COLOURS[k]), marker=dict(size=4))
        for k, what in (("eval_category_accuracy", "L2 category accuracy"), ("eval_precision@5", "L2 precision@5")):
            metric_fig.add_scatter(x=[], y=[], mode="lines", name=f"popularity: {what}",
                                   line=dict(color=METRIC_COLOURS[k], dash="dot", width=1.2))
        return sync_figure(loss_fig), sync_figure(metric_fig)

    # -- static parts -----------------------------------------------------------
    def _show_diagram(self, _change=None) -> None:
        self.diagram.value = architecture_svg(self.model.value, get_preset(self.preset.value).width)

    def _show_device(self, _change=None) -> None:
        self.badge.value = device_badge(self.device.value).value

    def _baseline_rows(self):
        task, base = get_task(self.data.value)
        return task, [(row_label("popularity", "-"), base["popularity"]), (row_label("ridge", "-"), base["ridge"])]

    def _show_data(self, _change=None) -> None:
        try:
            task, rows = self._baseline_rows()
        except (OSError, ValueError) as exc:
            set_note(self.status, f"Cannot load {self.data.value} data: {exc}", "error")
            return
        src = "synthetic users (offline default)" if task.synthetic else "the published App/L1/L2 vectors"
        self.data_note.value = (f"<div style='font-size:12.5px;color:#444;max-width:330px'><b>Data:</b> {html.escape(src)}. "
                                f"{html.escape(task.roles)}. Two-stage parent map: {html.escape(task.parent_source)}.</div>")
        self._draw_table()

    def _draw_table(self) -> None:
        try:
            _, rows = self._baseline_rows()
        except (OSError, ValueError):
            rows = []
        mine = [(label, m) for data, label, m in self._finished_rows if data == self.data.value]
        self.table.value = ("<b>Held-out test users</b> (this session's runs below the two baselines)<br>"
                            + results_table(rows + mine, "sandwich-table"))

    # -- start / stop -----------------------------------------------------------
    def settings(self) -> dict:
        return {"model": self.model.value, "loss": self.loss.value, "preset": self.preset.value,
                "data": self.data.value, "device": self.device.value, "seed": int(self.seed.value)}

    def _set_running(self, running: bool) -> None:
        self.start_button.disabled = running
        self.stop_button.disabled = not running
        for w in (self.model, self.loss, self.preset, self.data, self.device, self.seed):
            w.disabled = running

    def _on_start(self, _button=None) -> None:
        if self.run is not None and self.run.trainer.running:
            return
        s = self.settings()
        try:
            task, _ = get_task(s["data"])
            run = SandwichRun(s["model"], s["loss"], task, preset=s["preset"], seed=s["seed"], device=s["device"])
        except (OSError, ValueError, RuntimeError) as exc:
            set_note(self.status, f"Cannot start: {exc}", "error")
            return
        self.attach(run)
        self._reset(run)
        self._set_running(True)
        set_note(self.status, f"Training {run.label} ({s['preset']} preset, seed {s['seed']}) on "
                              f"{run.trainer.device}…")
        self._t0 = time.monotonic()
        run.start()

    def _on_stop(self, _button=None) -> None:
        if self.run is not None:
            self.run.trainer.stop()
            set_note(self.status, "Stopping at the next batch…")

    def attach(self, run: SandwichRun) -> None:
        """Subscribe this dashboard's (throttled) callbacks to ``run``'s trainer."""
        self.run = run
        tr = run.trainer
        tr.on("batch_end", self._on_batch)
        tr.on("epoch_end", self._on_epoch)
        for kind in ("done", "stopped", "diverged", "failed"):
            tr.on(kind, self._on_finish)

    def _reset(self, run: SandwichRun) -> None:
        """Fresh figures with the whole run's layout drawn once: stage bands at the steps
        and epochs where each stage will start, axes spanning the run (redraws then
        only move data)."""
        with self._lock:
            self._losses = {k: [] for k in LOSS_KEYS}
            self._pending = []
            self._hist_drawn = -1
        tr = run.trainer
        sizes = [len(next(iter(s.data.values()))) if s.data is not None else tr.n_rows for s in run.stages]
        steps = [math.ceil(n / tr.batch_size) * s.epochs for s, n in zip(run.stages, sizes)]
        epochs = [s.epochs for s in run.stages]
        self._total_steps = max(1, sum(steps))
        self.progress.max, self.progress.value = self._total_steps, 0
        self.progress_label.value = "<span id='sandwich-progress'>starting</span>"
        _, base = get_task(self.data.value)
        pop = base["popularity"]
        self.loss_fig, self.metric_fig = self._make_figures()
        self.figs.children = [self.loss_fig, self.metric_fig]
        s0 = np.concatenate([[0], np.cumsum(steps)])
        e0 = np.concatenate([[0], np.cumsum(epochs)]) + 0.5

        def bands(edges):
            return [dict(type="rect", xref="x", yref="paper", x0=float(edges[i]), x1=float(edges[i + 1]), y0=0, y1=1,
                         fillcolor=STAGE_FILLS[i % 3], line=dict(width=0), layer="below") for i in range(len(run.stages))]

        notes = [dict(x=float(s0[i]), y=1, xref="x", yref="paper", text=f" {i + 1}: {st.name}", showarrow=False,
                      xanchor="left", yanchor="top", font=dict(size=10.5, color="#555"))
                 for i, st in enumerate(run.stages)]
        with updating(self.loss_fig):
            self.loss_fig.layout.shapes, self.loss_fig.layout.annotations = bands(s0), notes
            self.loss_fig.layout.xaxis.range = [0, self._total_steps]
        n_epochs = int(sum(epochs))
        with updating(self.metric_fig):
            self.metric_fig.data[-2].x, self.metric_fig.data[-2].y = [0.5, n_epochs + 0.5], [pop["category_accuracy"]] * 2
            self.metric_fig.data[-1].x, self.metric_fig.data[-1].y = [0.5, n_epochs + 0.5], [pop["precision@5"]] * 2
            self.metric_fig.layout.xaxis.range = [0.5, n_epochs + 0.5]
            self.metric_fig.layout.shapes = bands(e0)

    # -- trainer callbacks (training thread) ----------------------------------------
    def _on_batch(self, ev) -> None:
        with self._lock:
            self._pending.append(ev.losses)
        if self._throttle.ready():
            self._schedule(self.redraw)

    def _on_epoch(self, ev) -> None:
        if self._throttle.ready():
            self._schedule(self.redraw)

    def _on_finish(self, ev) -> None:
        self._schedule(lambda: self._finish(ev), always=True)

    def _schedule(self, fn, always: bool = False) -> None:
        """Run ``fn`` on the kernel's event loop (at most one redraw queued), or here without one."""
        if self._loop is None or self._loop.is_closed():
            fn()
            return
        if always:
            self._loop.call_soon_threadsafe(fn)
        elif not self._scheduled.is_set():
            self._scheduled.set()
            self._loop.call_soon_threadsafe(fn)

    def _finish(self, ev) -> None:
        try:
            self._report(ev)
        except Exception as exc:  # never leave Start and the settings locked
            set_note(self.status, f"Could not draw the results: {type(exc).__name__}: {exc}", "error")
        finally:
            self._set_running(False)

    def _report(self, ev) -> None:
        run = self.run
        self.redraw()
        elapsed = time.monotonic() - self._t0
        kind = "info"
        if ev.kind == "done":
            text = f"Done in {elapsed:.1f} s: {ev.message}. Its row is in the table below."
        elif ev.kind == "stopped":
            text = f"Stopped after {elapsed:.1f} s: {ev.message}. The table row shows the weights as they were."
            kind = "warning"
        else:
            text = f"{ev.message}" if ev.kind == "failed" else f"Diverged: {ev.message}"
            kind = "error"
        if run is not None and ev.kind != "failed":
            try:
                label = run.label + ("" if ev.kind == "done" else f" ({ev.kind})")
                self._finished_rows.append((self.data.value, label, run.results()))
                self._draw_table()
            except (ValueError, RuntimeError) as exc:
                text += f" (could not evaluate: {exc})"
                kind = "error"
        set_note(self.status, text, kind)

    # -- drawing ------------------------------------------------------------------
    def redraw(self) -> None:
        """Move pending per-step losses into the series and redraw the data that changed."""
        self._scheduled.clear()
        run = self.run
        if run is None:
            return
        with self._lock:
            pending, self._pending = self._pending, []
        if pending:
            # One device->host copy for everything pending (one sync per redraw, not per step).
            flat = torch.stack([p[k].float().reshape(()) for p in pending for k in LOSS_KEYS if k in p]).cpu().tolist()
            i = 0
            for p in pending:
                for k in LOSS_KEYS:
                    if k in p:
                        self._losses[k].append(flat[i])
                        i += 1
                    else:
                        self._losses[k].append(math.nan)
            with updating(self.loss_fig):
                for k, trace in zip(LOSS_KEYS, self.loss_fig.data):
                    xs, ys = _block_means(self._losses[k])
                    trace.x, trace.y = xs, np.where(ys > 0, ys, np.nan)  # log axis: no zeros
        hist = run.trainer.history
        if len(hist) != self._hist_drawn:
            self._hist_drawn = len(hist)
            epochs = np.arange(1, len(hist) + 1)
            with updating(self.metric_fig):
                for k, trace in zip(METRIC_KEYS, self.metric_fig.data):
                    trace.x, trace.y = epochs, np.asarray(hist.series(k), dtype=np.float64)
        step = run.trainer.step_count
        self.progress.value = min(step, self._total_steps)
        self.progress_label.value = (f"<span id='sandwich-progress'>step {step:,} / {self._total_steps:,} · "
                                     f"{len(hist)} epoch(s) · {time.monotonic() - self._t0:.1f} s</span>")

    def widget(self) -> widgets.Widget:
        buttons = widgets.HBox([self.start_button, self.stop_button])
        controls = widgets.VBox([self.model, self.loss, self.preset, self.data, self.device, self.seed, buttons,
                                 self.progress, self.progress_label, self.badge, self.data_note],
                                layout=widgets.Layout(width="350px", min_width="350px"))
        right = widgets.VBox([self.diagram, self.status], layout=widgets.Layout(flex="1 1 auto"))
        box = widgets.VBox([widgets.HBox([controls, right]), self.figs, self.table])
        box.add_class("sandwich-dashboard")
        return box


def sandwich_dashboard(**kw) -> widgets.Widget:
    """The dashboard widget (see :class:`SandwichDashboard` for the arguments)."""
    return SandwichDashboard(**kw).widget()


# --------------------------------------------------------------------------- a small Table 1, live

class Table1Live:
    """A button that recomputes a small Table 1 (one seed) in a background thread."""

    def __init__(self, data: str = "synthetic", losses=("mse", "masked"), seeds=(0,), preset: str | None = None):
        self.data, self.losses, self.seeds = data, tuple(losses), tuple(seeds)
        self.preset = preset or pick("classroom", "fast")
        self.button = widgets.Button(description="Recompute", icon="table", button_style="primary",
                                     layout=widgets.Layout(width="140px"))
        self.stop_button = widgets.Button(description="Stop", icon="stop", button_style="danger", disabled=True,
                                          layout=widgets.Layout(width="100px"))
        self.button.add_class("table1-start")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, layout=widgets.Layout(width="300px"))
        self.status = note(f"{len(MODELS) * len(self.losses) * len(self.seeds)} runs ({self.preset} preset, "
                           f"seed {', '.join(map(str, self.seeds))}, {data} data) plus the two baselines.")
        self.table = widgets.HTML()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.records: list = []
        self.button.on_click(self._on_start)
        self.stop_button.on_click(lambda _b: self._stop.set())

    def _on_start(self, _button=None) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self.button.disabled, self.stop_button.disabled = True, False
        self.progress.value, self.progress.max = 0, len(MODELS) * len(self.losses) * len(self.seeds)
        self._thread = threading.Thread(target=self._work, daemon=True, name="sandwichlab-table1")
        self._thread.start()

    def _work(self) -> None:
        from ..recommend import summarise, table1_runs

        def show(records):
            rows = [(row_label(r["model"], r["loss"]), r) for r in summarise(records)]
            self.table.value = results_table(rows, "table1-live")

        try:
            task, base = get_task(self.data)
            head = [{"model": k, "loss": "-", "seed": -1, "state": "done", **base[k]} for k in ("popularity", "ridge")]
            done: list = []
            show(head)

            def progress(i, n, rec):
                done.append(rec)
                self.progress.value = i
                set_note(self.status, f"{i} / {n} runs: last {row_label(rec['model'], rec['loss'])}, "
                                      f"{rec['seconds']:.1f} s ({rec['state']})")
                show(head + done)

            table1_runs(task, losses=self.losses, seeds=self.seeds, preset=self.preset, progress=progress,
                        stop=self._stop, baselines=False)
            self.records = head + done
            set_note(self.status, "Stopped." if self._stop.is_set() else f"Done: {len(done)} runs.",
                     "warning" if self._stop.is_set() else "info")
        except Exception as exc:  # shown in the page, never as a traceback
            set_note(self.status, f"Failed: {type(exc).__name__}: {exc}", "error")
        finally:
            self.button.disabled, self.stop_button.disabled = False, True

    def widget(self) -> widgets.Widget:
        return widgets.VBox([widgets.HBox([self.button, self.stop_button, self.progress]), self.status, self.table])


def table1_live(**kw) -> widgets.Widget:
    """The small live Table 1 (see :class:`Table1Live`)."""
    return Table1Live(**kw).widget()
