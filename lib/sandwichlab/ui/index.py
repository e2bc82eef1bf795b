"""The landing page's live preview: the two-circles toy and a linear classifier on it."""

from __future__ import annotations

import ipywidgets as widgets

from ..data import make_circles
from .common import CLASS_COLOURS, device_badge, figure, updating


def linear_accuracy(noise: float, factor: float, n: int = 400, seed: int = 0, data=None) -> float:
    """Training accuracy of logistic regression on the raw circles (about 50 %);
    ``data`` reuses circles already made with these settings."""
    from sklearn.linear_model import LogisticRegression

    ds = data if data is not None else make_circles(n=n, noise=noise, factor=factor, seed=seed)
    return float(LogisticRegression().fit(ds.X, ds.y).score(ds.X, ds.y))


class CirclesPreview:
    """Two sliders (noise, inner radius) driving a scatter plot and an accuracy readout."""

    def __init__(self, n: int = 400, seed: int = 0):
        self.n, self.seed = n, seed
        style = {"description_width": "110px"}
        self.noise = widgets.FloatSlider(value=0.05, min=0.0, max=0.3, step=0.01, description="noise",
                                         continuous_update=True, style=style)
        self.factor = widgets.FloatSlider(value=0.5, min=0.1, max=0.9, step=0.05, description="inner radius",
                                          continuous_update=True, style=style)
        self.readout = widgets.HTML()
        self.fig = figure(height=380, width=420, margin=dict(l=30, r=10, t=40, b=30),
                          title="Two circles: not linearly separable", xaxis=dict(scaleanchor="y", range=[-1.4, 1.4]),
                          yaxis=dict(range=[-1.4, 1.4]), legend=dict(orientation="h", y=-0.08))
        for label, name in ((1, "inner circle (+1)"), (-1, "outer circle (−1)")):
            self.fig.add_scatter(x=[], y=[], mode="markers", name=name,
                                 marker=dict(color=CLASS_COLOURS[label], size=5, opacity=0.8))
        self.noise.observe(self._update, names="value")
        self.factor.observe(self._update, names="value")
        self._update()

    def _update(self, _change=None) -> None:
        ds = make_circles(n=self.n, noise=self.noise.value, factor=self.factor.value, seed=self.seed)
        with updating(self.fig):
            for trace, label in zip(self.fig.data, (1, -1)):
                pts = ds.X[ds.y == label]
                trace.x, trace.y = pts[:, 0], pts[:, 1]
        acc = linear_accuracy(self.noise.value, self.factor.value, data=ds)
        self.readout.value = (f"<span id='linear-accuracy'>Logistic regression on the raw points: "
                              f"<b>{acc:.0%}</b> training accuracy</span> (a coin flip is 50 %).")

    def widget(self) -> widgets.Widget:
        controls = widgets.VBox([self.noise, self.factor, self.readout, device_badge()],
                                layout=widgets.Layout(width="360px", justify_content="center"))
        return widgets.HBox([controls, self.fig])


def landing() -> widgets.Widget:
    """The landing page preview widget."""
    return CirclesPreview().widget()
