"""The masked-loss lab: a live loss race, the blind spot, report vs reference code, log loss.

* :class:`LossRaceDashboard`: choose losses, learning rate, epochs, seed; Start
  trains identical copies of one App->L2 model (one per loss) in the trainer's
  background thread and draws each loss normalised by its starting value and
  precision@5 on held-out users, beside the popularity reference.
* :func:`weights_figure`: the weight each loss puts on each squared error, for
  a few real users (report formula vs reference code).
* :func:`flood_figure`: what the masked loss does *not* see.
* :class:`LogLossView`: -log(sigmoid) at large logits, naive / clamped / stable.

The experiments live in :mod:`sandwichlab.compare`; this module only draws.
"""

from __future__ import annotations

import html
import math
import threading
import time

import ipywidgets as widgets
import numpy as np

from ..compare import OPTIMIZERS, LossRace, flood_zeros, l2_task, log_loss_curves, loss_weights, published_l2_dir
from ..config import pick
from ..losses import LOG_LOSS_LABELS, LOSS_LABELS, LOSSES
from .common import SERIES_COLOURS, Throttle, device_badge, figure, note, set_note, sync_figure, updating

K = 5
COLOURS = {name: SERIES_COLOURS[i % len(SERIES_COLOURS)] for i, name in enumerate(LOSSES)}
GREY = "#7f7f7f"
_TASKS: dict = {}
_TASK_LOCK = threading.Lock()


def default_n_users() -> int:
    """Synthetic users to make: the published size, or a small set in fast mode."""
    return pick(7857, 1500)


def get_task(source: str = "auto", n_users: int | None = None, seed: int = 0):
    """The App->L2 task for ``source`` (cached: the synthetic users take seconds to make)."""
    n_users = default_n_users() if n_users is None else n_users
    key = (source, n_users, seed)
    with _TASK_LOCK:
        if key not in _TASKS:
            _TASKS[key] = l2_task(source=source, n_users=n_users, seed=seed)
        return _TASKS[key]


def _fmt(v, digits=3) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}f}"


def _table(header, rows, table_id=None) -> str:
    ident = f" id='{table_id}'" if table_id else ""
    head = "".join(f"<th style='padding:2px 10px;text-align:left'>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td style='padding:2px 10px'>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table{ident} style='border-collapse:collapse;font-size:13px'><tr style='border-bottom:1px solid #ccc'>{head}</tr>{body}</table>"


# --------------------------------------------------------------------------- the live race

class LossRaceDashboard:
    """Controls + two live figures + a results table for :class:`~sandwichlab.compare.LossRace`."""

    def __init__(self, losses=("mse", "masked"), *, lr: float = 1e-3, epochs: int | None = None, seed: int = 0,
                 hidden=None, batch_size: int = 64, device=None):
        self.hidden = tuple(hidden) if hidden is not None else pick((256, 256), (64,))
        self.batch_size = batch_size
        self.device = device
        self.race: LossRace | None = None
        self._t0 = 0.0
        self._throttle = Throttle()
        self._progress_throttle = Throttle()
        self._finish_lock = threading.Lock()

        self.loss_boxes = {n: widgets.Checkbox(value=n in losses, description=LOSS_LABELS[n], indent=False,
                                               layout=widgets.Layout(width="auto"))
                           for n in LOSSES}
        for n, box in self.loss_boxes.items():
            box.add_class(f"loss-{n}")
        sources = [("synthetic users", "synthetic")]
        if published_l2_dir() is not None:
            sources.insert(0, ("published vectors (train on val, score on test)", "published"))
        style = {"description_width": "95px"}
        small = widgets.Layout(width="210px")
        self.source = widgets.Dropdown(options=sources, value=sources[0][1], description="data", style=style,
                                       layout=widgets.Layout(width="435px"))
        self.optimizer = widgets.Dropdown(options=[("Adam", "adam"), ("SGD", "sgd")], value="adam",
                                          description="optimiser", style=style, layout=small)
        self.lr = widgets.FloatText(value=lr, description="learning rate", style=style, layout=small)
        self.epochs = widgets.IntText(value=epochs if epochs is not None else pick(20, 6), description="epochs",
                                      style=style, layout=small)
        self.seed = widgets.IntText(value=seed, description="seed", style=style, layout=small)
        self.start_button = widgets.Button(description="Start", button_style="success", icon="play")
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        for w, cls in ((self.lr, "race-lr"), (self.epochs, "race-epochs"), (self.seed, "race-seed"),
                       (self.optimizer, "race-optimizer"), (self.source, "race-source")):
            w.add_class(cls)
        self.start_button.add_class("race-start")
        self.stop_button.add_class("race-stop")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="progress", style=style,
                                            layout=widgets.Layout(width="390px"))
        self.status = note("Choose the losses to compare and press Start.")
        self.status.add_class("race-status")
        self.data_note = widgets.HTML()
        self.results = widgets.HTML()
        self.results.add_class("race-results")

        # One figure, two panels (one FigureWidget model fewer for the page to load).
        self.fig = figure(height=430, width=1150, legend=dict(orientation="h", y=-0.2),
                          xaxis=dict(domain=[0, 0.45], title="epoch", range=[0, self.epochs.value]),
                          yaxis=dict(title="loss / initial loss (log scale)", type="log", range=[-1, 0.03]),
                          xaxis2=dict(domain=[0.55, 1], anchor="y2", title="epoch", range=[0, self.epochs.value]),
                          yaxis2=dict(anchor="x2", title=f"precision@{K}", rangemode="tozero", range=[0, 0.5]),
                          annotations=[
                              dict(text="<b>Each loss divided by its value at the start</b>", x=0, y=1.02,
                                   xref="paper", yref="paper", xanchor="left", yanchor="bottom", showarrow=False),
                              dict(text=f"<b>precision@{K} on held-out users</b>", x=0.55, y=1.02,
                                   xref="paper", yref="paper", xanchor="left", yanchor="bottom", showarrow=False)],
                          margin=dict(l=60, r=10, t=40, b=40))
        self.fig.add_class("race-fig")
        for axes in (("x", "y"), ("x2", "y2")):  # empty until Start, so that both panels show their axes
            self.fig.add_scatter(x=[], y=[], xaxis=axes[0], yaxis=axes[1], showlegend=False, hoverinfo="skip")
        self.start_button.on_click(self._on_start)
        self.stop_button.on_click(self._on_stop)
        self.source.observe(self._show_data, names="value")
        self._show_data()

    # -- settings --------------------------------------------------------------------
    def selected(self) -> list[str]:
        return [n for n, box in self.loss_boxes.items() if box.value]

    def settings(self) -> dict:
        """The controls' values, validated; ValueError with a reader-facing message."""
        names = self.selected()
        if not names:
            raise ValueError("Choose at least one loss (two or more to compare them).")
        lr = self.lr.value
        if lr is None or not math.isfinite(lr) or lr <= 0:
            raise ValueError(f"The learning rate must be a number > 0 (got {lr}); try 0.001 for Adam, 0.05 for SGD.")
        if lr > 10:
            raise ValueError(f"A learning rate of {lr} is far too large for these models; use at most 10.")
        epochs = self.epochs.value
        if epochs is None or not 1 <= epochs <= 500:
            raise ValueError(f"Epochs must be between 1 and 500 (got {epochs}).")
        seed = self.seed.value
        if seed is None or seed < 0:
            raise ValueError(f"The seed must be an integer >= 0 (got {seed}).")
        if self.optimizer.value not in OPTIMIZERS:
            raise ValueError(f"Unknown optimiser {self.optimizer.value!r}.")
        return dict(losses=names, lr=float(lr), epochs=int(epochs), seed=int(seed), optimizer=self.optimizer.value)

    def _show_data(self, _change=None) -> None:
        try:
            task = get_task(self.source.value)
        except (FileNotFoundError, ValueError) as exc:
            self.data_note.value = note(f"Data: {exc}", "error").value
            return
        arch = " → ".join(str(s) for s in (52, *self.hidden, 164))
        self.data_note.value = (
            f"<div style='font-size:13px;line-height:1.4'><b>Data:</b> {html.escape(task.summary())}<br>"
            f"<b>Model:</b> MLP {arch} (ReLU, linear output), batch {self.batch_size}; every loss "
            f"averaged per user, the same initial weights and the same batches for every copy.</div>")

    # -- control ---------------------------------------------------------------------
    def _on_start(self, _button=None) -> None:
        if self.race is not None and self.race.trainer.running:
            return
        try:
            s = self.settings()
            task = get_task(self.source.value)
            self.race = LossRace(task, s["losses"], hidden=self.hidden, lr=s["lr"], epochs=s["epochs"],
                                 batch_size=self.batch_size, seed=s["seed"], optimizer=s["optimizer"],
                                 k=K, device=self.device)
        except (ValueError, FileNotFoundError) as exc:
            set_note(self.status, str(exc), "error")
            return
        race = self.race
        self._reset_traces(race)
        self.progress.max = race.n_batches * race.epochs
        self.progress.value = 0
        self.progress.bar_style = ""
        race.trainer.on("batch_end", self._on_batch)
        race.trainer.on("epoch_end", self._on_epoch)
        for kind in ("done", "stopped", "diverged", "failed"):
            race.trainer.on(kind, self._on_finish)
        self.start_button.disabled, self.stop_button.disabled = True, False
        n = len(s["losses"])
        extra = " (one loss: nothing to compare it with, but it trains)" if n == 1 else ""
        set_note(self.status, f"Training {n} copies for {s['epochs']} epochs on {race.device}…{extra}")
        self._t0 = time.perf_counter()
        race.start()

    def _on_stop(self, _button=None) -> None:
        if self.race is not None:
            self.race.stop()
            self.stop_button.disabled = True

    # -- drawing ---------------------------------------------------------------------
    def _reset_traces(self, race: LossRace) -> None:
        """One loss trace (left panel) and one precision trace (right) per loss, then popularity."""
        with updating(self.fig):
            self.fig.data = []
            for n in race.names:
                self.fig.add_scatter(x=[], y=[], mode="lines+markers", name=LOSS_LABELS[n], legendgroup=n,
                                     line=dict(color=COLOURS[n], width=2), marker=dict(size=5))
            for n in race.names:
                self.fig.add_scatter(x=[], y=[], mode="lines+markers", name=LOSS_LABELS[n], legendgroup=n,
                                     showlegend=False, xaxis="x2", yaxis="y2",
                                     line=dict(color=COLOURS[n], width=2), marker=dict(size=5))
            self.fig.add_scatter(x=[0, race.epochs], y=[race.popularity] * 2, mode="lines", xaxis="x2", yaxis="y2",
                                 name=f"popularity: everyone gets the mean training L2 (p@{K} {race.popularity:.3f})",
                                 line=dict(color=GREY, dash="dash", width=2))
            self.fig.layout.xaxis.range = [0, race.epochs]
            self.fig.layout.xaxis2.range = [0, race.epochs]
            self.fig.layout.yaxis2.range = None  # autorange from here on
            self.fig.layout.yaxis2.autorange = True
        self._redraw()

    def _redraw(self) -> None:
        race = self.race
        c = race.curves()
        n_losses = len(race.names)
        with updating(self.fig):
            for i, n in enumerate(race.names):
                gone = " (diverged)" if race.status[n] != "training" else ""
                loss, prec = self.fig.data[i], self.fig.data[n_losses + i]
                loss.x, loss.y = c["epoch"], c["normalised"][n]
                prec.x, prec.y = c["epoch"], c["precision"][n]
                loss.name = LOSS_LABELS[n] + gone
            finite = [v for n in race.names for v in c["normalised"][n] if math.isfinite(v) and v > 0]
            if finite:  # log axis: from just below the lowest curve to just above the start (1.0)
                self.fig.layout.yaxis.range = [math.log10(min(finite)) - 0.05, math.log10(max(finite)) + 0.03]
        self.results.value = self._results_html(c)

    def _fit_x(self) -> None:
        """After a run ends early, zoom the epoch axes to the epochs that ran."""
        last = max(1, len(self.race.curves()["epoch"]) - 1)
        with updating(self.fig):
            self.fig.layout.xaxis.range = [0, last]
            self.fig.layout.xaxis2.range = [0, last]

    def _results_html(self, c: dict, diagnostics: dict | None = None) -> str:
        race = self.race
        header = ["loss", "status", "loss / initial", f"p@{K} now", f"best p@{K}"]
        if diagnostics:
            header += ["category acc.", "mean pred. where target = 0", "where target > 0"]
        rows = []
        for n in race.names:
            norm = [v for v in c["normalised"][n] if math.isfinite(v)]
            prec = [v for v in c["precision"][n] if math.isfinite(v)]
            colour = f"<span style='color:{COLOURS[n]}'>■</span> {html.escape(LOSS_LABELS[n])}"
            row = [colour, race.status[n], _fmt(norm[-1]), _fmt(prec[-1]), _fmt(max(prec))]
            if diagnostics:
                d = diagnostics[n]
                row += [_fmt(d["category_accuracy"]), _fmt(d["mean_pred_zero"]), _fmt(d["mean_pred_nonzero"])]
            rows.append(row)
        pop = ["<span style='color:#7f7f7f'>■</span> popularity (mean training L2)", "reference", "", _fmt(race.popularity), ""]
        rows.append(pop + ([""] * 3 if diagnostics else []))
        return _table(header, rows, "race-table")

    def _on_batch(self, ev) -> None:
        if self._progress_throttle.ready():
            self.progress.value = ev.step

    def _on_epoch(self, ev) -> None:
        race = self.race
        if race.notes:
            set_note(self.status, f"Training; diverged and left the race (the others go on): {' '.join(race.notes)}",
                     "warning")
        if self._throttle.ready():
            self.progress.value = ev.step
            self._redraw()

    def _on_finish(self, ev) -> None:
        race = self.race
        with self._finish_lock:
            try:
                self.progress.value = race.trainer.step_count
                self._redraw()
                self._fit_x()
                c = race.curves()
                self.results.value = self._results_html(c, race.diagnostics())
            except Exception as exc:  # never leave the buttons locked
                set_note(self.status, f"Could not draw the results: {type(exc).__name__}: {exc}", "error")
            finally:
                self.start_button.disabled, self.stop_button.disabled = False, True
        secs = time.perf_counter() - self._t0
        notes = " ".join(race.notes)
        if ev.kind == "done":
            self.progress.bar_style = "success"
            kind = "warning" if race.notes else "info"
            left = f" Diverged and left the race (the others went on): {notes}" if notes else ""
            set_note(self.status, f"Finished {race.epochs} epochs in {secs:.1f} s.{left}", kind)
        elif ev.kind == "stopped":
            self.progress.bar_style = "warning"
            set_note(self.status, f"Stopped by request during epoch {ev.epoch + 1} (after {ev.step} steps); the "
                                  f"curves show the finished epochs. {notes}".strip(), "warning")
        elif ev.kind == "diverged":
            self.progress.bar_style = "danger"
            set_note(self.status, f"Every loss diverged, so training ended: {notes} Try a smaller learning rate.", "error")
        else:
            self.progress.bar_style = "danger"
            set_note(self.status, ev.message, "error")

    # -- layout ----------------------------------------------------------------------
    def widget(self) -> widgets.Widget:
        sync_figure(self.fig)
        boxes = widgets.VBox([widgets.HTML("<b>Losses to compare</b>"), *self.loss_boxes.values()],
                             layout=widgets.Layout(width="300px"))
        settings = widgets.VBox([self.source, widgets.HBox([self.lr, self.optimizer]),
                                 widgets.HBox([self.epochs, self.seed]),
                                 widgets.HBox([self.start_button, self.stop_button]), self.progress,
                                 device_badge(self.device)],
                                layout=widgets.Layout(width="440px"))
        top = widgets.HBox([boxes, settings], layout=widgets.Layout(flex_flow="row wrap"))
        return widgets.VBox([top, self.data_note, self.status, self.fig, self.results])


def race_dashboard(**kw) -> widgets.Widget:
    """The live loss race (see :class:`LossRaceDashboard`)."""
    return LossRaceDashboard(**kw).widget()


# --------------------------------------------------------------------------- weights and blind spot

def weights_figure(task=None, n_users: int = 12):
    """Heatmaps of the weight on each squared error: report formula vs reference code.

    Rows are ``n_users`` held-out users, columns the 164 L2 categories.
    """
    task = get_task() if task is None else task
    t = task.y_eval[:n_users]
    report, reference = loss_weights(t, "masked"), loss_weights(t, "reference_masked")
    zmax = float(max(report.max(), reference.max()))
    fig = figure(height=430, width=1100, title="Weight on each squared error (pred − target)², one row per user",
                 xaxis=dict(domain=[0, 1], anchor="y"),
                 yaxis=dict(domain=[0.56, 0.94], title="user", autorange="reversed"),
                 xaxis2=dict(domain=[0, 1], anchor="y2", title="L2 category"),
                 yaxis2=dict(domain=[0.0, 0.38], title="user", autorange="reversed"),
                 margin=dict(l=60, r=20, t=50, b=40))
    fig.add_heatmap(z=report, xaxis="x", yaxis="y", coloraxis="coloraxis", name="report")
    fig.add_heatmap(z=reference, xaxis="x2", yaxis="y2", coloraxis="coloraxis", name="reference")
    fig.update_layout(coloraxis=dict(colorscale="Blues", cmin=0, cmax=zmax, colorbar=dict(title="weight")),
                      annotations=[
                          dict(text="report's formula: weight = target entry (zero where the target is zero)",
                               x=0, y=0.955, xref="paper", yref="paper", xanchor="left", yanchor="bottom", showarrow=False),
                          dict(text="reference code (torch.mm): weight = the user's whole target row sum, on every entry",
                               x=0, y=0.395, xref="paper", yref="paper", xanchor="left", yanchor="bottom", showarrow=False)])
    return fig


def flood_figure(task=None, levels=None):
    """Raise every prediction where the target is 0 by v: each loss (left) and precision@5 (right)."""
    task = get_task() if task is None else task
    levels = np.linspace(0, 0.5, 26) if levels is None else levels
    out = flood_zeros(task.y_eval, levels, k=K)
    fig = figure(height=400, width=1100,
                 title="A prediction that is perfect on the non-zeros and v on every zero",
                 xaxis=dict(domain=[0, 0.46], title="v (prediction on every zero-target entry)"),
                 yaxis=dict(title="loss per user"),
                 xaxis2=dict(domain=[0.56, 1], anchor="y2", title="v"),
                 yaxis2=dict(anchor="x2", title=f"precision@{K}", range=[0, 1.02]),
                 legend=dict(orientation="h", y=-0.22))
    for n, values in out["loss"].items():
        fig.add_scatter(x=out["level"], y=values, mode="lines", name=LOSS_LABELS[n],
                        line=dict(color=COLOURS[n], width=3 if n == "masked" else 2))
    fig.add_scatter(x=out["level"], y=out["precision"], mode="lines+markers", name=f"precision@{K}",
                    xaxis="x2", yaxis="y2", line=dict(color="black", width=2))
    return fig


def flood_table(task=None, levels=(0.0, 0.05, 0.1, 0.2, 0.5)) -> widgets.HTML:
    """The same experiment as numbers."""
    task = get_task() if task is None else task
    out = flood_zeros(task.y_eval, np.asarray(levels, dtype=float), k=K)
    header = ["v", *(LOSS_LABELS[n] for n in out["loss"]), f"precision@{K}"]
    rows = [[f"{v:g}", *(_fmt(out['loss'][n][i], 3) for n in out["loss"]), _fmt(out["precision"][i])]
            for i, v in enumerate(out["level"])]
    return widgets.HTML(_table(header, rows))


# --------------------------------------------------------------------------- log loss

class LogLossView:
    """Loss and gradient of -log(sigmoid) three ways over logits -50..50; label and float type selectable."""

    TABLE_AT = (-50.0, -20.0, -10.0, 0.0, 10.0, 20.0, 50.0)

    def __init__(self, lo: float = -50.0, hi: float = 50.0, n: int = 401, eps: float = 1e-4):
        self.x = np.linspace(lo, hi, n)
        self.eps = eps
        self.label = widgets.ToggleButtons(options=[("label y = 0", 0.0), ("label y = 1", 1.0)], value=0.0,
                                           style={"button_width": "110px"})
        self.dtype = widgets.ToggleButtons(options=[("float32", "float32"), ("float64", "float64")], value="float32",
                                           style={"button_width": "90px"})
        self.table = widgets.HTML()
        self.fig = figure(height=400, width=1100, title="",
                          xaxis=dict(domain=[0, 0.46], title="logit x"), yaxis=dict(title="loss"),
                          xaxis2=dict(domain=[0.56, 1], anchor="y2", title="logit x"),
                          yaxis2=dict(anchor="x2", title="d loss / d x", range=[-1.15, 1.15]),
                          legend=dict(orientation="h", y=-0.22))
        styles = {"exact": dict(color="#bbbbbb", width=7), "naive": dict(color=COLOURS["masked"], width=2),
                  "clamped": dict(color=COLOURS["confidence"], width=2),
                  "stable": dict(color=COLOURS["mse"], width=2, dash="dash")}
        names = {"exact": "exact (float64 closed form)", **LOG_LOSS_LABELS}
        for axis in ("", "2"):
            for key, line in styles.items():
                self.fig.add_scatter(x=self.x, y=[], mode="lines", name=names[key], line=line, legendgroup=key,
                                     showlegend=axis == "", xaxis=f"x{axis}", yaxis=f"y{axis}")
            self.fig.add_scatter(x=[], y=[], mode="markers", name="naive gives inf / NaN here", legendgroup="bad",
                                 marker=dict(symbol="x", color=COLOURS["masked"], size=7),
                                 showlegend=axis == "", xaxis=f"x{axis}", yaxis=f"y{axis}")
        self.label.observe(self._update, names="value")
        self.dtype.observe(self._update, names="value")
        self._update()

    def _update(self, _change=None) -> None:
        import torch

        y, dtype = self.label.value, getattr(torch, self.dtype.value)
        curves = log_loss_curves(self.x, y, dtype=dtype, eps=self.eps)
        keys = ("exact", "naive", "clamped", "stable")
        with updating(self.fig):
            for offset, what in ((0, "loss"), (5, "grad")):
                for i, key in enumerate(keys):
                    v = curves[key][what]
                    self.fig.data[offset + i].y = np.where(np.isfinite(v), v, np.nan)
                bad = ~np.isfinite(curves["naive"][what])
                self.fig.data[offset + 4].x = self.x[bad]
                self.fig.data[offset + 4].y = np.zeros(int(bad.sum()))
            self.fig.layout.title = (f"y = {y:g}, {self.dtype.value}: loss (left) and gradient (right); "
                                     f"the clamp uses eps = {self.eps:g}")
        at = np.array(self.TABLE_AT)
        c = log_loss_curves(at, y, dtype=dtype, eps=self.eps)

        def cell(v):
            if np.isnan(v):
                return "<b style='color:#c62828'>NaN</b>"
            if np.isinf(v):
                return "<b style='color:#c62828'>inf</b>"
            return f"{v + 0.0:.4g}"  # + 0.0 turns -0.0 into 0
        header = ["logit x", *(f"loss: {k}" for k in keys), *(f"gradient: {k}" for k in keys)]
        rows = [[f"{x:g}", *(cell(c[k]["loss"][i]) for k in keys), *(cell(c[k]["grad"][i]) for k in keys)]
                for i, x in enumerate(at)]
        self.table.value = _table(header, rows, "logloss-table")

    def widget(self) -> widgets.Widget:
        sync_figure(self.fig)
        return widgets.VBox([widgets.HBox([self.label, self.dtype]), self.fig, self.table])


def log_loss_view(**kw) -> widgets.Widget:
    return LogLossView(**kw).widget()
