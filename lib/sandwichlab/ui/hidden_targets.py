"""Hidden-targets explorer: slide α and watch the targets, the spectrum and the effective dimension.

A state (the data set, its :class:`~sandwichlab.targets.HiddenTargets`, the
current α), controls that change it, and FigureWidgets updated in place:

* a 3-D scatter of the top three target coordinates, one trace per class,
  signs aligned with the previous α so points do not jump to their mirror image;
* for MNIST, six fixed digits (marked A-F in the 3-D view) and the pixel
  pattern each of the top three coordinates follows at the current α;
* the eigenvalue spectrum on a log axis, the label's own direction marked;
* the effective dimension and the logistic-regression training error against α,
  the current α marked; both curves are computed in a background thread with a
  progress bar, so the α slider stays responsive.

The α axis of the curves is ``log10(α / (1 − α))``: logarithmic near 0 *and*
near 1, where the circles' transformation happens (α ≈ 0.99).
"""

from __future__ import annotations

import html
import threading
import time
from dataclasses import dataclass
from functools import wraps

import ipywidgets as widgets
import numpy as np
import plotly.colors

from ..config import fast_mode, pick
from ..data import load_mnist_3v8, make_circles, parse_user_file
from ..targets import HiddenTargets, check_alpha, class_index, default_alpha_grid, one_blas_thread
from .common import (CLASS_COLOURS, REDRAW_INTERVAL_S, SERIES_COLOURS, Throttle, figure, set_note,
                     sync_figure, updating)

CIRCLES, MNIST, USER_FILE = "Two circles", "MNIST 3 vs 8", "Your file (CSV / NPZ)"
MAX_FILE_SAMPLES, MAX_FILE_FEATURES = 20_000, 1_000
LOGIT_END = 13.0  # where α = 0 and α = 1 sit on the log10(α/(1−α)) axis (the grid stops at ±12)
FLOAT32_EPS = float(np.finfo(np.float32).eps)
DROP_LABELS = {
    None: "nothing (every coordinate)",
    "correlated": "the coordinate most correlated with the labels (report, Fig. 10)",
    "label direction": "the label's own new direction",
}
C_CHOICES = {"1 (scikit-learn's default)": 1.0, "100 (weaker regularisation)": 100.0}


def logit10(alpha) -> np.ndarray:
    """x = log10(α / (1 − α)), with α = 0 and 1 pinned at ∓LOGIT_END so they stay on the axis."""
    a = np.asarray(alpha, dtype=np.float64)
    with np.errstate(divide="ignore"):
        x = np.log10(a) - np.log10(1.0 - a)
    return np.clip(np.where(a <= 0, -LOGIT_END, np.where(a >= 1, LOGIT_END, x)), -LOGIT_END, LOGIT_END)


def alpha_axis(title: str = "α (log scale near 0 and near 1)") -> dict:
    ticks = [-LOGIT_END, -9, -6, -3, 0, 3, 6, 9, LOGIT_END]
    text = ["0", "1e-9", "1e-6", "0.001", "0.5", "1−1e-3", "1−1e-6", "1−1e-9", "1"]
    return dict(title=title, tickvals=ticks, ticktext=text, range=[-LOGIT_END - 0.5, LOGIT_END + 0.5], zeroline=False)


def format_alpha(a: float) -> str:
    """α as a reader wants it: exact 0 / 1, '1 − 8e-03' near 1, 3 significant digits otherwise."""
    if a == 0.0:
        return "0 (exact)"
    if a == 1.0:
        return "1 (exact)"
    if a > 0.9:
        return f"1 − {1.0 - a:.3g}"
    return f"{a:.3g}"


# --------------------------------------------------------------------------- data sets

@dataclass(frozen=True)
class StudyData:
    """What the explorer shows: features (N x d), labels (±1 or one-hot), class names, where from."""

    X: np.ndarray
    y: np.ndarray
    class_names: tuple
    source: str
    images: bool = False  # rows are 28 x 28 images
    is_sample: bool = False

    @property
    def classes(self) -> np.ndarray:
        return class_index(self.y)

    def summary(self) -> str:
        counts = np.bincount(self.classes, minlength=len(self.class_names))
        parts = ", ".join(f"{n:,} {name}" for name, n in zip(self.class_names, counts))
        return f"{len(self.X):,} samples x {self.X.shape[1]} features ({parts}). Source: {self.source}"


def circles_data(n: int = 400, noise: float = 0.05, radius: float = 20.0, seed: int = 0) -> StudyData:
    """The report's two circles, scaled by ``radius`` (the outer circle's radius; noise scales with it)."""
    if not (np.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be a positive number, got {radius!r}")
    ds = make_circles(n=n, noise=noise, seed=seed)
    src = f"{ds.source}, scaled to outer radius {radius:g}"
    # make_circles labels the inner circle +1; class index 1 is +1
    return StudyData(ds.X * radius, ds.y, ("outer circle (−1)", "inner circle (+1)"), src)


def mnist_data(max_samples: int | None = None, seed: int = 0) -> StudyData:
    """MNIST 3 (+1) vs 8 (−1) training images: the full set when present, else the offline sample.

    ``max_samples`` keeps a fixed random subset (fast mode uses 1,000), and says so.
    """
    m = load_mnist_3v8()
    X, y = m.train.X, m.train.y
    src = m.summary()
    if max_samples is not None and len(y) > max_samples:
        keep = np.sort(np.random.default_rng(seed).choice(len(y), max_samples, replace=False))
        X, y = X[keep], y[keep]
        src = f"a random {max_samples:,} of the {len(m.train):,} training images (fast mode) of " + src
    return StudyData(X, y, ("eights (−1)", "threes (+1)"), src, images=True, is_sample=m.is_sample)


def file_data(content: bytes, filename: str) -> StudyData:
    """An uploaded CSV / NPZ (see :mod:`sandwichlab.data.user_file`), with the explorer's size limits."""
    ud = parse_user_file(content, filename)
    n, d = ud.X.shape
    if n > MAX_FILE_SAMPLES or d > MAX_FILE_FEATURES:
        raise ValueError(f"{filename}: {n:,} samples x {d:,} features is more than this dashboard handles "
                         f"(at most {MAX_FILE_SAMPLES:,} x {MAX_FILE_FEATURES:,}); use sandwichlab.targets in code instead")
    if ud.y.ndim == 1:
        names = (f"{ud.classes[0]} (−1)", f"{ud.classes[1]} (+1)")
    else:
        names = tuple(str(c) for c in ud.classes)
    return StudyData(ud.X, ud.y, names, ud.source, images=d == 784)


def _js(values) -> list:
    """Numbers as a plain list for plotly (NaN -> None, a gap): safe for every FigureWidget message."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    return [float(v) if np.isfinite(v) else None for v in arr]


def class_colours(n_classes: int) -> list[str]:
    if n_classes == 2:
        return [CLASS_COLOURS[-1], CLASS_COLOURS[1]]  # class index 0 is −1 (blue), 1 is +1 (red)
    return [plotly.colors.qualitative.Dark24[i % 24] for i in range(n_classes)]


def _safely(method):
    """Run a widget callback; show any failure as an error note in the dashboard, never a traceback."""
    @wraps(method)
    def run(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # a dashboard must say what went wrong, not crash
            set_note(self.message, f"{type(exc).__name__}: {exc}", "error")
            return None
    return run


# --------------------------------------------------------------------------- the dashboard

_LIVE: list = []  # the explorer currently holding the BLAS limit and running sweeps (one per kernel)
_LIVE_LOCK = threading.Lock()


class HiddenTargetsExplorer:
    """The dashboard.  ``widget()`` returns it; ``set_alpha`` / ``load`` drive it from code.

    One explorer is live per kernel: making a new one (re-running the notebook
    cell) closes the previous one, so its sweep stops and its BLAS limit is released.
    """

    def __init__(self, data: str = CIRCLES, alpha: float = 0.05, *, background: bool = True,
                 max_points: int | None = None, n_lr: int | None = None, n_ed: int | None = None):
        self.background = background
        self.max_points = max_points or pick(2000, 600)
        self.lr_grid = np.concatenate([[0.0], default_alpha_grid(n_lr or pick(23, 13)), [1.0]])
        self.ed_grid = np.concatenate([[0.0], default_alpha_grid(n_ed or pick(99, 41)), [1.0]])
        self.alpha = check_alpha(alpha)
        self.data: StudyData | None = None
        self.ht: HiddenTargets | None = None
        self._prev3: np.ndarray | None = None
        self._ui_lock = threading.RLock()  # every figure/widget update, from any thread
        self._throttle = Throttle(REDRAW_INTERVAL_S)
        self._timer: threading.Timer | None = None
        self._timer_lock = threading.Lock()
        self._syncing = False
        self._sweep_gen = 0
        self._sweep_thread: threading.Thread | None = None
        self._stop = threading.Event()
        # BLAS single-threaded for as long as the dashboard lives (process-wide), set here on the main thread:
        # a limit set from the sweep thread does not reach OpenBLAS (measured), and a two-thread eigensolve
        # next to the sweep's work takes seconds instead of ~50 ms.
        with _LIVE_LOCK:
            previous = _LIVE[:]
            _LIVE[:] = [self]
        for old in previous:
            old.close()
        self._blas_hold = one_blas_thread().__enter__()
        self._build_widgets(data)
        self._build_figures()
        self.load(data)

    # ------------------------------------------------------------------ widgets

    def _build_widgets(self, data: str) -> None:
        style = {"description_width": "72px"}
        wide = widgets.Layout(width="320px")
        self.source = widgets.Dropdown(options=[CIRCLES, MNIST, USER_FILE], value=data, description="data",
                                       style=style, layout=wide)
        self.n_points = widgets.IntSlider(value=400, min=50, max=2000, step=50, description="points",
                                          continuous_update=False, style=style, layout=wide)
        self.noise = widgets.FloatSlider(value=0.05, min=0.0, max=0.3, step=0.01, description="noise",
                                         continuous_update=False, style=style, layout=wide)
        self.radius = widgets.FloatLogSlider(value=20.0, base=10, min=-1, max=2, step=0.05, description="radius",
                                             readout_format=".3g", continuous_update=False, style=style, layout=wide)
        self.upload = widgets.FileUpload(accept=".csv,.npz", multiple=False, description="Upload CSV / NPZ",
                                         layout=widgets.Layout(width="200px"))
        self.file_help = widgets.HTML(
            "<small>CSV: numeric feature columns plus a label column (headed <code>label</code>, <code>y</code>, "
            "<code>class</code> or <code>target</code>, else the last one). NPZ: arrays <code>X</code> and "
            f"<code>y</code>. Up to {MAX_FILE_SAMPLES:,} rows and {MAX_FILE_FEATURES:,} features.</small>",
            layout=wide)
        self.circle_box = widgets.VBox([self.n_points, self.noise, self.radius])
        self.file_box = widgets.VBox([self.upload, self.file_help])
        self.data_note = widgets.HTML()
        self.message = widgets.HTML()

        self.alpha_slider = widgets.FloatLogSlider(value=max(self.alpha, 1e-12), base=10, min=-12, max=0, step=0.02,
                                                   description="α", readout_format=".3g", continuous_update=True,
                                                   style=style, layout=wide)
        self.one_minus = widgets.FloatLogSlider(value=max(1.0 - self.alpha, 1e-12), base=10, min=-12, max=0, step=0.02,
                                                description="1 − α", readout_format=".3g", continuous_update=True,
                                                style=style, layout=wide)
        small = widgets.Layout(width="76px")
        self.zero_button = widgets.Button(description="α = 0", layout=small, tooltip="exactly 0: the inputs alone")
        self.one_button = widgets.Button(description="α = 1", layout=small, tooltip="exactly 1: the labels alone")
        self.enter_button = widgets.Button(description="→ critical zone", button_style="warning",
                                           layout=widgets.Layout(width="150px"),
                                           tooltip="jump to where the label's eigenvalue climbs out of the bottom of the spectrum")
        self.takeover_button = widgets.Button(description="→ label on top", layout=widgets.Layout(width="150px"),
                                              tooltip="jump to where the label becomes the top coordinate")
        self.readout = widgets.HTML()

        self.drop = widgets.Dropdown(options=list(DROP_LABELS.values()), value=DROP_LABELS[None],
                                     description="LR drops", style=style, layout=wide)
        self.reg = widgets.Dropdown(options=list(C_CHOICES), value=list(C_CHOICES)[0], description="LR C",
                                    style=style, layout=wide)
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="curves", style=style, layout=wide)
        self.progress_text = widgets.HTML()
        self.stop_button = widgets.Button(description="Stop sweep", layout=widgets.Layout(width="110px"))

        self.source.observe(self._on_source, names="value")
        for w in (self.n_points, self.noise, self.radius):
            w.observe(self._on_circles, names="value")
        self.upload.observe(self._on_upload, names="value")
        self.alpha_slider.observe(self._on_alpha_slider, names="value")
        self.one_minus.observe(self._on_one_minus_slider, names="value")
        self.zero_button.on_click(lambda _b: self.set_alpha(0.0))
        self.one_button.on_click(lambda _b: self.set_alpha(1.0))
        self.enter_button.on_click(self._on_enter)
        self.takeover_button.on_click(self._on_takeover)
        self.drop.observe(self._on_lr_settings, names="value")
        self.reg.observe(self._on_lr_settings, names="value")
        self.stop_button.on_click(lambda _b: self.stop_sweep())

    # One FigureWidget holds every plot: each FigureWidget ships its own copy of plotly.js (5 MB) to the
    # page, and anywidget gives up on a model that is not ready within 2 s, after which it silently drops
    # every update; one figure per page stays well inside that on a busy machine.
    # Trace order (fixed): 0-2 spectrum (eigenvalues, label star, float32 line); 3-6 effective dimension
    # (curve, current α, label enters, label on top); 7-10 the same for LR; 11-19 digit heatmaps (six
    # digits, three pixel patterns); 20 onwards one Scatter3d per class plus the marked digits.
    SPEC, ED, LR, DIGITS, CLOUD = 0, 3, 7, 11, 20

    def _build_figures(self) -> None:
        fig = figure(width=950, margin=dict(l=60, r=10, t=40, b=20), uirevision="keep")
        self.fig = fig
        lay = fig.layout
        lay.scene = dict(xaxis_title="h1", yaxis_title="h2", zaxis_title="h3", aspectmode="cube")
        lay.xaxis = dict(title="index (1 = largest)", anchor="y")
        lay.yaxis = dict(title="eigenvalue", type="log", exponentformat="power", anchor="x")
        lay.xaxis2 = dict(alpha_axis(), anchor="y2")
        lay.yaxis2 = dict(title="components", rangemode="tozero", anchor="x2")
        lay.xaxis3 = dict(alpha_axis(), anchor="y3")
        lay.yaxis3 = dict(title="training error", tickformat=".0%", range=[-0.02, 0.6], anchor="x3")
        # y4 / y5: hidden [0, 1] axes over the two curve panels, so vertical markers span a panel whatever its range
        lay.yaxis4 = dict(overlaying="y2", range=[0, 1], visible=False, fixedrange=True)
        lay.yaxis5 = dict(overlaying="y3", range=[0, 1], visible=False, fixedrange=True)
        for j in range(9):  # x4..x12 / y6..y14: the digit images
            lay[f"xaxis{4 + j}"] = dict(visible=False, anchor=f"y{6 + j}")
            lay[f"yaxis{6 + j}"] = dict(visible=False, anchor=f"x{4 + j}", autorange="reversed", scaleanchor=f"x{4 + j}")
        lay.legend = dict(orientation="h", x=0, xanchor="left", font=dict(size=11))
        lay.legend2 = dict(orientation="h", x=0, xanchor="left", font=dict(size=11))
        titles = ["Top three target coordinates", "Eigenvalues of G_α", "Effective dimension (95 % of the variance)",
                  "Logistic regression training error on H_α"] + list("ABCDEF") + [f"pattern of h{j}" for j in (1, 2, 3)]
        lay.annotations = [dict(text=t, xref="paper", yref="paper", showarrow=False, xanchor="center", yanchor="bottom",
                                font=dict(size=14 if i < 4 else 12)) for i, t in enumerate(titles)]

        fig.add_scatter(x=[], y=[], mode="markers+lines", name="eigenvalues", xaxis="x", yaxis="y",
                        marker=dict(size=4, color="#555"), line=dict(width=1, color="#bbb"))
        fig.add_scatter(x=[], y=[], mode="markers", name="the label's own direction", xaxis="x", yaxis="y",
                        marker=dict(size=12, color=CLASS_COLOURS[1], symbol="star"))
        fig.add_scatter(x=[], y=[], mode="lines", name="float32 resolution (λ1 × 1.2e-7)", xaxis="x", yaxis="y",
                        line=dict(dash="dot", color="#e08a00"))
        markers = (("current α", dict(color="#d62728", width=2)), ("label enters", dict(color="#e08a00", dash="dot")),
                   ("label on top", dict(color="#2ca02c", dash="dot")))
        for panel, (name, xa, ya, ya_lines) in enumerate((("effective dimension", "x2", "y2", "y4"),
                                                          ("LR training error", "x3", "y3", "y5"))):
            fig.add_scatter(x=[], y=[], mode="lines+markers", name=name, xaxis=xa, yaxis=ya, legend="legend2",
                            marker=dict(size=4, color=SERIES_COLOURS[panel * 2]), line=dict(color=SERIES_COLOURS[panel * 2]))
            for mname, line in markers:
                fig.add_scatter(x=[], y=[], mode="lines", name=mname, xaxis=xa, yaxis=ya_lines, line=line,
                                legend="legend2", legendgroup=mname, showlegend=panel == 0)
        for j in range(9):
            style = dict(colorscale="Greys", zmin=0, zmax=1) if j < 6 else dict(colorscale="RdBu_r", zmid=0)
            fig.add_heatmap(z=[[0.0]], xaxis=f"x{4 + j}", yaxis=f"y{6 + j}", hoverinfo="skip", showscale=False,
                            visible=False, **style)
        self._arrange(images=False)
        self.digits_note = widgets.HTML(
            "<small>Bottom row: six fixed training digits, marked A-F in the 3-D view so you can follow them as α "
            "moves (the images are inputs and never change), and the pixel pattern each of the top three coordinates "
            "follows at this α, Xᵀu<sub>j</sub> (the average of all digits weighted by their coordinate; red positive, "
            "blue negative). The part of a coordinate that only the label explains has no pixel pattern.</small>",
            layout=widgets.Layout(display="none"))

    def _arrange(self, images: bool) -> None:
        """Place the panels: views on top, the curves below, the digit strip (image data only) at the bottom."""
        px = {"top": 440, "gap1": 120, "curves": 250, "gap2": 110 if images else 60, "digits": 105 if images else 0}
        height = sum(px.values()) + 60
        y = lambda pixels: 1.0 - pixels / (height - 60)  # noqa: E731  paper y of a distance from the top
        top_lo = y(px["top"])
        cur_hi, cur_lo = y(px["top"] + px["gap1"]), y(px["top"] + px["gap1"] + px["curves"])
        dig_hi = y(px["top"] + px["gap1"] + px["curves"] + px["gap2"])
        lay = self.fig.layout
        lay.height = height
        lay.scene.domain = dict(x=[0.03, 0.53], y=[top_lo, 1])
        lay.xaxis.domain, lay.yaxis.domain = [0.62, 1], [top_lo, 1]
        lay.xaxis2.domain, lay.xaxis3.domain = [0, 0.45], [0.55, 1]
        lay.yaxis2.domain = lay.yaxis3.domain = [cur_lo, cur_hi]
        lay.yaxis4.domain = lay.yaxis5.domain = [cur_lo, cur_hi]
        width = 0.1
        for j in range(9):
            x0 = j * (width + 0.008) + (0.02 if j >= 6 else 0)
            lay[f"xaxis{4 + j}"].domain = [x0, x0 + width]
            lay[f"yaxis{6 + j}"].domain = [0, dig_hi] if images else [0, 0.001]
        lay.legend.y, lay.legend.yanchor = top_lo - 0.1 * 500 / height, "top"
        lay.legend2.y, lay.legend2.yanchor = cur_lo - 0.1 * 500 / height, "top"
        notes = lay.annotations
        centres = [(0.26, 1.0), (0.81, 1.0), (0.225, cur_hi), (0.775, cur_hi)]
        for j in range(9):
            centres.append((j * (width + 0.008) + (0.02 if j >= 6 else 0) + width / 2, dig_hi))
        for i, (cx, cy) in enumerate(centres):
            notes[i].x, notes[i].y = cx, cy
            notes[i].visible = images or i < 4
        for j in range(9):
            self.fig.data[self.DIGITS + j].visible = images

    # ------------------------------------------------------------------ layout

    def widget(self) -> widgets.Widget:
        sync_figure(self.fig)
        alpha_box = widgets.VBox([
            widgets.HTML("<b>α: from inputs (0) to labels (1)</b>"),
            self.alpha_slider, self.one_minus,
            widgets.HBox([self.zero_button, self.one_button]),
            widgets.HBox([self.enter_button, self.takeover_button]),
            self.readout,
        ])
        lr_box = widgets.VBox([widgets.HTML("<b>Curves (computed in the background)</b>"), self.drop, self.reg,
                               self.progress, widgets.HBox([self.stop_button]), self.progress_text])
        controls = widgets.VBox([widgets.HTML("<b>Data</b>"), self.source, self.circle_box, self.file_box,
                                 self.data_note, alpha_box, lr_box, self.message],
                                layout=widgets.Layout(width="335px", padding="0 8px 0 0"))
        plots = widgets.VBox([self.fig, self.digits_note], layout=widgets.Layout(width="955px"))
        return widgets.HBox([controls, plots], layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"))

    # ------------------------------------------------------------------ data

    @_safely
    def load(self, what: str = CIRCLES, content: bytes | None = None, filename: str | None = None) -> None:
        """Switch data set: ``CIRCLES`` (with the circle controls), ``MNIST`` or ``USER_FILE`` (bytes + name)."""
        self.circle_box.layout.display = "" if what == CIRCLES else "none"
        self.file_box.layout.display = "" if what == USER_FILE else "none"
        if what == CIRCLES:
            data = circles_data(self.n_points.value, self.noise.value, self.radius.value)
        elif what == MNIST:
            data = mnist_data(max_samples=1000 if fast_mode() else None)
        elif what == USER_FILE:
            if content is None:
                set_note(self.message, "Choose a CSV or NPZ file with the upload button; until then the "
                         "previous data stays on screen.", "info")
                return
            try:
                data = file_data(content, filename or "upload")
            except ValueError as exc:
                set_note(self.message, f"Could not use that file: {exc}", "error")
                return
        else:
            raise ValueError(f"unknown data source {what!r}; choose {CIRCLES!r}, {MNIST!r} or {USER_FILE!r}")
        t0 = time.perf_counter()
        ht = HiddenTargets(data.X, data.y)
        setup_s = time.perf_counter() - t0
        self.stop_sweep()
        with self._ui_lock:
            self.data, self.ht, self._prev3 = data, ht, None
            rng = np.random.default_rng(0)
            n = len(data.X)
            self._shown = np.sort(rng.choice(n, self.max_points, replace=False)) if n > self.max_points else np.arange(n)
            self._marked = self._pick_marked() if data.images else np.array([], dtype=int)
            self._reset_traces()
            self.message.value = ""
        kind = "warning" if data.is_sample else "info"
        summary = data.summary()
        extra = (" This is a SAMPLE: put the four MNIST IDX files in data/mnist (or set SANDWICHLAB_MNIST_DIR) "
                 "for the full 11,982 training images.") if data.is_sample and "For the full set" not in summary else ""
        set_note(self.data_note, f"{summary}.{extra} Rank of X: {ht.rank_x}; G_α has {ht.dim} non-trivial "
                 f"eigenvalues for 0 < α < 1. Set-up (one SVD): {setup_s:.2f} s.", kind)
        self.data_note.value = f"<div id='ht-data' data-n='{ht.n_samples}' data-dim='{ht.dim}'>{self.data_note.value}</div>"
        enter, takeover = ht.critical_zone()
        self.enter_button.disabled = enter is None
        self._draw(self.alpha)
        self.start_sweep()

    def _pick_marked(self) -> np.ndarray:
        cls = self.data.classes[self._shown]
        picks = [self._shown[cls == c][:3] for c in (1, 0)]  # three threes, then three eights
        return np.concatenate(picks)

    def _reset_traces(self) -> None:
        data, fig = self.data, self.fig
        names, colours = data.class_names, class_colours(len(data.class_names))
        marker_size = 3 if len(self._shown) > 800 else 4
        enter, takeover = self.ht.critical_zone()
        none = [None, None]  # "no line"
        with updating(fig):
            fig.data = fig.data[: self.CLOUD]
            for c in range(len(names)):
                fig.add_scatter3d(x=[], y=[], z=[], mode="markers", name=names[c], scene="scene",
                                  marker=dict(size=marker_size, color=colours[c], opacity=0.75))
            fig.add_scatter3d(x=[], y=[], z=[], mode="markers+text", name="digits A-F", scene="scene",
                              text=list("ABCDEF")[: len(self._marked)], textfont=dict(size=14, color="black"),
                              marker=dict(size=7, color="rgba(0,0,0,0)", line=dict(color="black", width=2)),
                              visible=bool(len(self._marked)))
            tr = fig.data
            for first, grid in ((self.ED, self.ed_grid), (self.LR, self.lr_grid)):
                tr[first].x, tr[first].y = _js(logit10(grid)), [None] * grid.size
                tr[first + 2].x, tr[first + 2].y = (_js([logit10(enter)] * 2), [0, 1]) if enter is not None else (none, none)
                tr[first + 3].x, tr[first + 3].y = _js([logit10(takeover)] * 2), [0, 1]
            fig.layout.yaxis3.range = [-0.02, 0.6]
            fig.layout.yaxis2.dtick = 1 if self.ht.rank_x < 10 else None  # whole components
            self._arrange(images=data.images)
            if data.images:
                for j in range(6):
                    if j < len(self._marked):
                        i = self._marked[j]
                        tr[self.DIGITS + j].z = data.X[i].reshape(28, 28).tolist()
                        name = data.class_names[data.classes[i]].split(" (")[0]
                        fig.layout.annotations[4 + j].text = f"{'ABCDEF'[j]}: {name}"
                    else:  # a class with fewer than three examples on show
                        tr[self.DIGITS + j].z = np.zeros((28, 28)).tolist()
                        fig.layout.annotations[4 + j].text = ""
        self.digits_note.layout.display = "" if data.images else "none"

    # ------------------------------------------------------------------ α

    def set_alpha(self, alpha: float) -> None:
        """Move to ``alpha`` (0 and 1 exactly allowed) and redraw at once."""
        try:
            a = check_alpha(alpha)
        except ValueError as exc:
            set_note(self.message, str(exc).replace("alpha", "α"), "error")
            return
        self.alpha = a
        self._sync_sliders()
        self._draw(a)

    def _sync_sliders(self) -> None:
        self._syncing = True
        try:
            self.alpha_slider.value = min(max(self.alpha, 1e-12), 1.0)
            self.one_minus.value = min(max(1.0 - self.alpha, 1e-12), 1.0)
        finally:
            self._syncing = False

    def _is_echo(self, slider, new: float, target: float) -> bool:
        """True when ``new`` is the browser snapping ``target`` to the slider's grid, not a move by the reader.

        A log slider shows 10^(min + k·step); set to a value between grid points, the
        browser sends back the nearest one.  A real move lands at least half a step away.
        """
        return abs(np.log10(new) - np.log10(max(target, 10.0**slider.min))) <= slider.step / 2 + 1e-9

    def _on_alpha_slider(self, change) -> None:
        if self._syncing or self._is_echo(self.alpha_slider, change["new"], self.alpha):
            return
        self.alpha = float(change["new"])
        self._syncing = True
        try:
            self.one_minus.value = min(max(1.0 - self.alpha, 1e-12), 1.0)
        finally:
            self._syncing = False
        self._request_draw()

    def _on_one_minus_slider(self, change) -> None:
        if self._syncing or self._is_echo(self.one_minus, change["new"], 1.0 - self.alpha):
            return
        self.alpha = 1.0 - float(change["new"])
        self._syncing = True
        try:
            self.alpha_slider.value = min(max(self.alpha, 1e-12), 1.0)
        finally:
            self._syncing = False
        self._request_draw()

    def _request_draw(self) -> None:
        """At most ~10 redraws a second while a slider moves; the last position is always drawn."""
        with self._timer_lock:
            if self._timer is not None:
                return  # a trailing redraw is scheduled; it will draw the latest α
            if not self._throttle.ready():
                self._timer = threading.Timer(REDRAW_INTERVAL_S, self._trailing_draw)
                self._timer.daemon = True
                self._timer.start()
                return
        self._draw(self.alpha)

    def _trailing_draw(self) -> None:
        with self._timer_lock:
            self._timer = None
        self._throttle.ready()
        self._draw(self.alpha)

    @_safely
    def _on_enter(self, _b=None) -> None:
        enter, _ = self.ht.critical_zone()
        if enter is not None:
            self.set_alpha(enter)

    @_safely
    def _on_takeover(self, _b=None) -> None:
        self.set_alpha(self.ht.critical_zone()[1])

    @_safely
    def _draw(self, a: float) -> None:
        with self._ui_lock:
            ht, data = self.ht, self.data
            if ht is None:
                return
            lam = ht.spectrum(a)
            rank = lam.size
            k = min(3, rank)
            ed = ht.effective_dimension(a)
            ref = self._prev3[:, :k] if self._prev3 is not None else None
            H = ht.targets(a, k, reference=ref)
            H3 = np.zeros((H.shape[0], 3))
            H3[:, :k] = H
            self._prev3 = H3
            overlap = ht.label_overlap(a)
            label_j = int(np.argmax(overlap)) if overlap.size and overlap.max() > 0.5 else None
            cls = data.classes
            pts = H3[self._shown]
            shown_cls = cls[self._shown]
            shown = f"{len(self._shown):,} of {len(cls):,} points" if len(self._shown) < len(cls) else f"{len(cls):,} points"
            flat = f"; only {k} non-zero coordinate{'s' if k > 1 else ''}" if k < 3 else ""
            x = float(logit10(a))
            with updating(self.fig):
                tr = self.fig.data
                for c in range(len(data.class_names)):
                    sel = pts[shown_cls == c]
                    t = tr[self.CLOUD + c]
                    t.x, t.y, t.z = _js(sel[:, 0]), _js(sel[:, 1]), _js(sel[:, 2])
                marks = H3[self._marked]
                tr[-1].x, tr[-1].y, tr[-1].z = _js(marks[:, 0]), _js(marks[:, 1]), _js(marks[:, 2])
                tr[self.SPEC].x, tr[self.SPEC].y = list(range(1, rank + 1)), _js(lam)
                if label_j is not None:
                    tr[self.SPEC + 1].x, tr[self.SPEC + 1].y = [label_j + 1], [float(lam[label_j])]
                else:
                    tr[self.SPEC + 1].x, tr[self.SPEC + 1].y = [None], [None]
                tr[self.SPEC + 2].x, tr[self.SPEC + 2].y = [1, max(rank, 2)], [float(lam[0] * FLOAT32_EPS)] * 2
                notes = self.fig.layout.annotations
                notes[0].text = f"Top three target coordinates<br><sub>α = {format_alpha(a)}; {shown}{flat}</sub>"
                notes[1].text = f"Eigenvalues of G_α<br><sub>α = {format_alpha(a)}; {rank} non-trivial</sub>"
                self.fig.layout.xaxis.dtick = 1 if rank <= 12 else None
                for first in (self.ED, self.LR):
                    tr[first + 1].x, tr[first + 1].y = [x, x], [0, 1]
                tr[self.ED + 1].name = f"current α (effective dimension {ed})"
                if data.images:
                    pats = ht.pixel_patterns(a, k)
                    for j in range(3):
                        z = pats[:, j].reshape(28, 28) if j < k else np.zeros((28, 28))
                        lim = float(np.abs(z).max()) or 1.0
                        t = tr[self.DIGITS + 6 + j]
                        t.z, t.zmin, t.zmax = z.tolist(), -lim, lim
            self._update_readout(a, lam, ed, label_j)

    def _update_readout(self, a, lam, ed, label_j) -> None:
        ht = self.ht
        enter, takeover = ht.critical_zone()
        rows = [("α", format_alpha(a)), ("eigenvalues ≠ 0", f"{lam.size}"),
                ("effective dim. (95 %)", f"{ed}")]
        if label_j is not None:
            rows.append(("label's direction", f"coordinate {label_j + 1} of {lam.size}"))
            rows.append(("its eigenvalue", f"{lam[label_j]:.3g} = {lam[label_j] / lam[0]:.2g} × λ1"))
        else:
            rows.append(("label's direction", "not a single coordinate" if ht.dim > ht.rank_x else
                         "none: y lies in the span of X"))
        err = ht.cached_lr_error(a, drop=self._drop_rule(), C=C_CHOICES[self.reg.value])
        rows.append(("LR training error", f"{err:.1%}" if err is not None else "not computed at this α"))
        if enter is not None:
            rows.append(("critical zone", f"α ≈ {format_alpha(enter)} (label enters)"))
        rows.append(("label on top", f"α ≈ {format_alpha(takeover)}"))
        body = "".join(f"<tr><td style='padding:1px 8px 1px 0;color:#555;vertical-align:top;white-space:nowrap'>"
                       f"{html.escape(k)}</td><td style='padding:1px 0'><b>{html.escape(v)}</b></td></tr>" for k, v in rows)
        self.readout.value = (f"<table id='ht-readout' data-alpha='{a!r}' data-ed='{ed}' "
                              f"style='font-size:12.5px;line-height:1.35;width:100%'>{body}</table>")

    # ------------------------------------------------------------------ background curves

    def start_sweep(self) -> None:
        """(Re)compute the effective-dimension and LR curves for the current data and LR settings."""
        self.stop_sweep()
        self._sweep_gen += 1
        self._stop = threading.Event()
        job = (self._sweep_gen, self.ht, self._drop_rule(), C_CHOICES[self.reg.value], self._stop)
        self.progress.max = len(self.ed_grid) + len(self.lr_grid)
        self.progress.value = 0
        self.progress.bar_style = ""
        self.stop_button.disabled = False
        if self.background:
            self._sweep_thread = threading.Thread(target=self._sweep, args=job, daemon=True, name="hidden-targets-sweep")
            self._sweep_thread.start()
        else:
            self._sweep(*job)

    def _drop_rule(self) -> str | None:
        return next(k for k, v in DROP_LABELS.items() if v == self.drop.value)

    def close(self) -> None:
        """Stop the background sweep and give BLAS its threads back (the dashboard stays on screen, inert)."""
        self.stop_sweep()
        self.wait(30)
        if self._blas_hold is not None:
            self._blas_hold.__exit__(None, None, None)
            self._blas_hold = None
        with _LIVE_LOCK:
            if self in _LIVE:
                _LIVE.remove(self)

    def stop_sweep(self) -> None:
        self._stop.set()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the background sweep finishes (for scripts and tests)."""
        if self._sweep_thread is not None:
            self._sweep_thread.join(timeout)

    @_safely
    def _on_lr_settings(self, _change=None) -> None:
        self.start_sweep()
        self._draw(self.alpha)

    def _current(self, gen) -> bool:
        return gen == self._sweep_gen

    def _sweep(self, gen, ht, drop, C, stop) -> None:
        try:
            self._run_sweep(gen, ht, drop, C, stop)
        except Exception as exc:  # shown in the dashboard, never a traceback
            with self._ui_lock:
                if self._current(gen):
                    self.progress.bar_style = "danger"
                    set_note(self.message, f"Background sweep failed: {type(exc).__name__}: {exc}", "error")

    def _stopped(self, gen, text: str) -> None:
        with self._ui_lock:
            if self._current(gen):
                self.progress_text.value = f"<small>{text}</small>"
                self.progress.bar_style = "warning"

    def _run_sweep(self, gen, ht, drop, C, stop) -> None:
        t0 = time.perf_counter()
        ed = np.full(self.ed_grid.size, np.nan)
        chunk = max(1, self.ed_grid.size // 10)
        for i in range(0, self.ed_grid.size, chunk):
            if stop.is_set() or not self._current(gen):
                return self._stopped(gen, f"stopped after the effective dimension at {i} of {self.ed_grid.size} α")
            ed[i:i + chunk] = ht.effective_dimension_curve(self.ed_grid[i:i + chunk])
            with self._ui_lock:
                if not self._current(gen):
                    return
                with updating(self.fig):
                    self.fig.data[self.ED].y = _js(ed)
                self.progress.value = min(i + chunk, self.ed_grid.size)
                self.progress_text.value = (f"<small>effective dimension: {min(i + chunk, self.ed_grid.size)} of "
                                            f"{self.ed_grid.size} α</small>")
        ed_s = time.perf_counter() - t0
        grid = self.lr_grid
        err = np.full(grid.size, np.nan)
        fit_shape = f"{ht.n_samples:,} samples"
        for i, a in enumerate(grid):
            if stop.is_set() or not self._current(gen):
                return self._stopped(gen, f"stopped after {i} of {grid.size} LR fits")
            err[i] = ht.lr_error(a, drop=drop, C=C)
            with self._ui_lock:
                if not self._current(gen):
                    return
                with updating(self.fig):
                    self.fig.data[self.LR].y = _js(err)
                    self.fig.layout.yaxis3.range = [-0.02, max(0.6, float(np.nanmax(err)) * 1.1)]
                self.progress.value = self.ed_grid.size + i + 1
                self.progress_text.value = (f"<small>LR training error: {i + 1} of {grid.size} α "
                                            f"(fit on {fit_shape}), {time.perf_counter() - t0 - ed_s:.0f} s</small>")
        with self._ui_lock:
            if self._current(gen):
                self.progress.bar_style = "success"
                self.stop_button.disabled = True
                self.progress_text.value = (f"<small>done: effective dimension at {self.ed_grid.size} α in {ed_s:.1f} s, "
                                            f"LR at {grid.size} α in {time.perf_counter() - t0 - ed_s:.1f} s "
                                            f"(fit on {fit_shape})</small>")
        self._draw(self.alpha)  # the current-α readout now has its LR error

    # ------------------------------------------------------------------ controls

    @_safely
    def _on_source(self, change) -> None:
        self.load(change["new"])

    @_safely
    def _on_circles(self, _change) -> None:
        if self.source.value == CIRCLES:
            self.load(CIRCLES)

    @_safely
    def _on_upload(self, change) -> None:
        files = change["new"]
        if not files:
            return
        f = files[0]
        try:
            self.load(USER_FILE, bytes(f["content"]), f["name"])
        finally:
            self.upload.value = ()  # so that choosing the same file again (after editing it) loads it again


def explorer(data: str = CIRCLES, alpha: float = 0.05) -> widgets.Widget:
    """The dashboard widget (what the notebook displays)."""
    return HiddenTargetsExplorer(data=data, alpha=alpha).widget()


__all__ = ["CIRCLES", "MNIST", "USER_FILE", "HiddenTargetsExplorer", "StudyData", "circles_data", "explorer",
           "file_data", "format_alpha", "logit10", "mnist_data"]
