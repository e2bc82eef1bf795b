"""Network building blocks and the transfer / sandwich / bi-directional models.

Shapes (the published vectors' widths are the defaults): ``app`` is
``(n_users, 52)`` app-category fractions, ``l1`` ``(n_users, 23)`` coarse and
``l2`` ``(n_users, 164)`` fine article-category weights.

The models of the "Sandwiching Transferred Models" report (sections 3-6):

``direct``               App -> L2 MLP trained from scratch ("without transfer
                         learning" in Table 1).
``baseline``             App -> L1 MLP (2 hidden layers), a new layer L1 -> L2 on
                         top; the new layer is trained with the trunk frozen,
                         then everything is fine-tuned with discriminative
                         learning rates (one optimiser parameter group per layer).
``autoencoder``          encoder App -> L1 (2 hidden) and decoder L1 -> L2 (no
                         hidden layer) trained independently, joined by a
                         sandwich layer between them, fine-tuned App -> L2.
``bidirectional``        encoder E: App -> L1 (2 hidden) and decoder D: App -> L2
                         (4 hidden), both outputs used at inference; connectors
                         C12: L1 -> L2 and C21: L2 -> L1 exist only for training
                         and are updated by the report's Algorithm 1
                         (:class:`AlternatingUpdate`).
``bidirectional_joint``  the same network trained by plain joint optimisation of
                         ``l_e + l_d`` (:class:`JointUpdate`), the comparison the
                         report's conclusion asks for.

Every model has ``predict(app) -> (l1_hat or None, l2_hat)`` for evaluation.
:func:`build_model` makes one from a :class:`Preset`; :func:`make_stages` returns
the :class:`sandwichlab.training.Stage` list that trains it with the one trainer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from .training import Stage, supervised_step

N_APP, N_L1, N_L2 = 52, 23, 164
OPTIMIZERS = ("adam", "sgd")


def mlp(sizes: Sequence[int], dropout: float | Sequence[float] = 0.0, activation=nn.ReLU,
        final_activation: nn.Module | None = None) -> nn.Sequential:
    """Fully connected network ``sizes[0] -> ... -> sizes[-1]``.

    ``dropout`` is one rate for every hidden layer or one rate per linear
    layer's input (``len(sizes) - 1`` values, e.g. the report's 0.05, 0.1, 0.0);
    dropout is applied before each linear layer whose rate is > 0.
    ``activation`` follows every hidden linear layer, ``final_activation``
    (if given) the last one.
    """
    sizes = list(sizes)
    if len(sizes) < 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"sizes must list at least two positive integers, got {sizes!r}")
    n_linear = len(sizes) - 1
    rates = [float(dropout)] * n_linear if isinstance(dropout, (int, float)) else [float(r) for r in dropout]
    if len(rates) != n_linear:
        raise ValueError(f"dropout must be one rate or {n_linear} rates (one per linear layer), got {len(rates)}")
    if any(not 0.0 <= r < 1.0 for r in rates):
        raise ValueError(f"dropout rates must be in [0, 1), got {rates}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if rates[i] > 0:
            layers.append(nn.Dropout(rates[i]))
        layers.append(nn.Linear(a, b))
        if i < n_linear - 1:
            layers.append(activation())
        elif final_activation is not None:
            layers.append(final_activation)
    return nn.Sequential(*layers)


def linear_layers(module: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` layers of ``module`` in order (input side first)."""
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


# --------------------------------------------------------------------------- presets

STAGE_KINDS = ("l1", "l2", "finetune")


@dataclass(frozen=True)
class Preset:
    """Sizes and training settings shared by every model.

    ``width``: neurons per hidden layer.  ``epochs``: passes over the data per
    stage kind: ``"l1"`` (App -> L1 pre-training), ``"l2"`` (the L2 parts:
    new layer, decoder, App -> L2) and ``"finetune"`` (the joined model, or
    the bi-directional update); the same number of passes whatever the size
    of the stage's data (on the published vectors the L2 stages pass over
    1,000 users, the L1 stage over 6,000).  ``lr`` is Adam's learning rate (alpha_e = alpha_d for
    the bi-directional model), ``weight_decay`` the L2 regularisation (added
    to the gradient, as the report's "L2 regularization"), ``dropout`` the
    report's grid-searched rates for the 2-hidden-layer App -> L1 network.
    """

    name: str
    width: int
    epochs: Mapping[str, int]
    description: str
    lr: float = 1e-3
    batch_size: int = 64
    weight_decay: float = 1e-5
    dropout: tuple = (0.05, 0.1, 0.0)
    discriminative: tuple = (0.1, 1.0)  # fine-tuning LR of the first trunk layer, of the last one (x lr)

    def __post_init__(self):
        if isinstance(self.width, bool) or not isinstance(self.width, int) or self.width < 1:
            raise ValueError(f"width must be an integer >= 1, got {self.width!r}")
        if set(self.epochs) != set(STAGE_KINDS) or any(
                isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in self.epochs.values()):
            raise ValueError(f"epochs must map each of {STAGE_KINDS} to an integer >= 0, got {dict(self.epochs)!r}")
        if not self.lr > 0 or not self.weight_decay >= 0:
            raise ValueError(f"lr must be > 0 and weight_decay >= 0, got {self.lr!r}, {self.weight_decay!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {self.batch_size!r}")

    def replace(self, **changes) -> "Preset":
        from dataclasses import replace
        return replace(self, **changes)


PRESETS: dict[str, Preset] = {
    "paper": Preset(
        "paper", 1024, {"l1": 12, "l2": 12, "finetune": 12},
        description="report section 6: 1,024 neurons per hidden layer (minutes per model on a CPU)"),
    "classroom": Preset(
        "classroom", 256, {"l1": 12, "l2": 12, "finetune": 12},
        description="256 neurons per hidden layer: each model trains in about a minute on 2 CPU cores"),
    "fast": Preset(
        "fast", 32, {"l1": 2, "l2": 2, "finetune": 2}, batch_size=64,
        description="32 neurons, 2 epochs per stage: seconds, for tests and CI"),
}


def get_preset(preset: str | Preset) -> Preset:
    """A :class:`Preset` by name (``"paper"``, ``"classroom"``, ``"fast"``), or the preset itself."""
    if isinstance(preset, Preset):
        return preset
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)} or a Preset, got {preset!r}")
    return PRESETS[preset]


# --------------------------------------------------------------------------- models

def _check_widths(**widths) -> None:
    for name, v in widths.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")


class TransferMLP(nn.Module):
    """Baseline transfer (report section 3): ``trunk`` App -> L1, ``head`` L1 -> L2.

    ``trunk`` is an MLP with 2 hidden layers of ``width`` (ReLU, dropout per
    linear layer); ``head`` is the new linear layer put on top of it.
    ``forward(app) -> l2_hat`` ``(n, n_l2)``.  With ``transfer=False`` the same
    network is the "without transfer learning" model: it is trained App -> L2
    directly, so its trunk output is not an L1 prediction and ``predict``
    returns ``None`` for L1.
    """

    def __init__(self, n_app: int = N_APP, n_l1: int = N_L1, n_l2: int = N_L2, width: int = 256,
                 dropout: float | Sequence[float] = (0.05, 0.1, 0.0), transfer: bool = True):
        super().__init__()
        _check_widths(n_app=n_app, n_l1=n_l1, n_l2=n_l2, width=width)
        self.trunk = mlp([n_app, width, width, n_l1], dropout)
        self.head = nn.Linear(n_l1, n_l2)
        self.transfer = bool(transfer)

    def forward(self, app: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(app))

    def predict(self, app: torch.Tensor):
        """``(l1_hat or None, l2_hat)`` for ``app`` ``(n, n_app)``."""
        l1 = self.trunk(app)
        return (l1 if self.transfer else None), self.head(l1)


class AutoencoderSandwich(nn.Module):
    """Autoencoder sandwich (report sections 4 and 6.3).

    ``encoder`` App -> L1 (2 hidden layers), ``decoder`` L1 -> L2 (one linear
    layer, "no hidden layers"), trained independently; ``sandwich`` is the
    layer joined between them, ``Linear(n_l1, n_l1)`` + ReLU, initialised to
    the identity so that joining starts from ``decoder(relu(encoder(app)))``
    (the ReLU also keeps the decoder's input non-negative, like the true L1 it
    was trained on).  ``forward(app) -> l2_hat``.
    """

    def __init__(self, n_app: int = N_APP, n_l1: int = N_L1, n_l2: int = N_L2, width: int = 256,
                 dropout: float | Sequence[float] = (0.05, 0.1, 0.0)):
        super().__init__()
        _check_widths(n_app=n_app, n_l1=n_l1, n_l2=n_l2, width=width)
        self.encoder = mlp([n_app, width, width, n_l1], dropout)
        self.decoder = nn.Linear(n_l1, n_l2)
        self.sandwich = nn.Sequential(nn.Linear(n_l1, n_l1), nn.ReLU())
        with torch.no_grad():
            self.sandwich[0].weight.copy_(torch.eye(n_l1))
            self.sandwich[0].bias.zero_()

    def forward(self, app: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.sandwich(self.encoder(app)))

    def predict(self, app: torch.Tensor):
        l1 = self.encoder(app)
        return l1, self.decoder(self.sandwich(l1))


class BiDirectional(nn.Module):
    """Bi-directional autoencoder (report sections 5 and 6.4).

    ``encoder`` E: App -> L1 (2 hidden layers), ``decoder`` D: App -> L2
    (4 hidden layers); ``forward(app) -> (l1_hat, l2_hat)``, both used at
    inference.  The connectors ``c12`` (E's L1 output -> L2) and ``c21`` (D's
    L2 output -> L1) are linear layers used only in training, so that the L2
    losses reach E through C12 and the L1 losses reach D through C21.
    """

    def __init__(self, n_app: int = N_APP, n_l1: int = N_L1, n_l2: int = N_L2, width: int = 256,
                 dropout: float | Sequence[float] = (0.05, 0.1, 0.0)):
        super().__init__()
        _check_widths(n_app=n_app, n_l1=n_l1, n_l2=n_l2, width=width)
        rates = [float(dropout)] * 3 if isinstance(dropout, (int, float)) else list(dropout)
        self.encoder = mlp([n_app, width, width, n_l1], rates)
        # D has 5 linear layers: the report's first two rates, its middle rate for the extra layers, no dropout last.
        d_rates = [rates[0]] + [rates[1]] * 3 + [rates[-1]] if len(rates) == 3 else rates
        self.decoder = mlp([n_app, width, width, width, width, n_l2], d_rates)
        self.c12 = nn.Linear(n_l1, n_l2)
        self.c21 = nn.Linear(n_l2, n_l1)

    @classmethod
    def from_parts(cls, encoder: nn.Module, decoder: nn.Module, c12: nn.Module, c21: nn.Module) -> "BiDirectional":
        """Assemble from given modules (e.g. tiny linear ones in a test)."""
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self.encoder, self.decoder, self.c12, self.c21 = encoder, decoder, c12, c21
        return self

    def forward(self, app: torch.Tensor):
        return self.encoder(app), self.decoder(app)

    def predict(self, app: torch.Tensor):
        return self.forward(app)


# --------------------------------------------------------------------------- optimisers and updates

def make_optimizer(kind: str, params, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """``"adam"`` or ``"sgd"`` (plain gradient steps) over ``params`` (tensors or parameter groups).

    ``weight_decay`` is L2 regularisation: ``weight_decay * w`` is added to the
    gradient (for Adam that is torch's coupled ``Adam``, not ``AdamW``).
    """
    if kind not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {kind!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)


def discriminative_groups(layers: Sequence[nn.Module], lr_first: float, lr_last: float) -> list[dict]:
    """One parameter group per layer, learning rates spaced geometrically from
    ``lr_first`` (input side) to ``lr_last`` (output side): the lesson-5
    "discriminative learning rates" (general early layers move least)."""
    layers = list(layers)
    if not layers:
        raise ValueError("layers must not be empty")
    if not (lr_first > 0 and lr_last > 0):
        raise ValueError(f"learning rates must be > 0, got {lr_first!r}, {lr_last!r}")
    n = len(layers)
    ratio = (lr_last / lr_first) ** (1 / (n - 1)) if n > 1 else 1.0
    return [{"params": list(m.parameters()), "lr": lr_first * ratio ** i} for i, m in enumerate(layers)]


def set_trainable(module: nn.Module, trainable: bool) -> None:
    """Freeze (``False``) or unfreeze (``True``) every parameter of ``module``."""
    for p in module.parameters():
        p.requires_grad_(trainable)


def _check_alpha(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


class AlternatingUpdate:
    """The report's Algorithm 1 as a trainer step: ``step(batch) -> {loss name: tensor}``.

    With ``l_e = L(E(x), y1) + L(C21(D(x)), y1)`` (the L1 losses) and
    ``l_d = L(D(x), y2) + L(C12(E(x)), y2)`` (the L2 losses), every batch makes
    five updates, in this order::

        1. w_e <- w_e - alpha_e dl_e/dw_e          (E's own L1 loss)
        2. w_d <- w_d - alpha_d dl_d/dw_d          (D's own L2 loss)
        3. w_c <- w_c - alpha_d dl_d/dw_c - alpha_e dl_e/dw_c
                                                   (C12 from l_d, C21 from l_e)
        4. w_d <- w_d - alpha_e dl_e/dw_d          (L1 loss reaching D via C21)
        5. w_e <- w_e - alpha_d dl_d/dw_e          (L2 loss reaching E via C12)

    ``mode="sequential"`` (default; the natural reading of "alternating"):
    each sub-update takes its gradient at the weights left by the previous
    ones (Gauss-Seidel).  ``mode="simultaneous"``: all five gradients are taken
    at the weights the step started from (Jacobi).  With plain gradient steps
    the simultaneous reading adds up to exactly one gradient step on
    ``alpha_e l_e + alpha_d l_d`` (learning rate 1), i.e. joint optimisation;
    only the sequential reading makes Algorithm 1 a different method.

    ``optimizer="sgd"`` is the literal algorithm (the tested reference).
    ``optimizer="adam"`` (the report used Adam) gives each sub-update its own
    Adam optimiser, with the sub-update's learning rate, so each keeps moment
    estimates of its own gradient stream (E's L1 gradients and the L2
    gradients reaching E via C12 are never averaged together); the step
    direction of sub-update k is then Adam's rescaled gradient instead of the
    raw one.  ``weight_decay`` (L2 regularisation) is applied in sub-updates
    1-3 only, so each weight decays once per step.

    ``loss_fn(pred, target)`` returns a 0-d tensor (e.g. a
    :func:`sandwichlab.losses.get_loss` loss with ``reduction="mean"``).
    Returned losses: ``l1`` (E's own), ``l2`` (D's own), ``l2_via_c12`` and
    ``l1_via_c21``, each as measured when its sub-update used it.
    """

    SUBSTEPS = ("e_own", "d_own", "connectors", "d_cross", "e_cross")

    def __init__(self, model: BiDirectional, loss_fn: Callable, alpha_e: float, alpha_d: float, *,
                 optimizer: str = "adam", weight_decay: float = 0.0, mode: str = "sequential",
                 keys: tuple[str, str, str] = ("app", "l1", "l2"), on_substep: Callable[[str], None] | None = None):
        for part in ("encoder", "decoder", "c12", "c21"):
            if not isinstance(getattr(model, part, None), nn.Module):
                raise ValueError(f"model must have an nn.Module attribute {part!r} (a BiDirectional)")
        if not callable(loss_fn):
            raise ValueError("loss_fn must be callable: loss_fn(pred, target) -> 0-d tensor")
        if mode not in ("sequential", "simultaneous"):
            raise ValueError(f"mode must be 'sequential' or 'simultaneous', got {mode!r}")
        if not weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        self.model, self.loss_fn, self.mode, self.keys = model, loss_fn, mode, tuple(keys)
        self.on_substep = on_substep
        self.alpha_e, self.alpha_d = _check_alpha(alpha_e, "alpha_e"), _check_alpha(alpha_d, "alpha_d")
        E, D = model.encoder, model.decoder
        self.params = {
            "e_own": list(E.parameters()), "d_own": list(D.parameters()),
            "connectors": list(model.c12.parameters()) + list(model.c21.parameters()),
            "d_cross": list(D.parameters()), "e_cross": list(E.parameters()),
        }
        wd = weight_decay
        ae, ad = self.alpha_e, self.alpha_d
        self.optimizers = {
            "e_own": make_optimizer(optimizer, self.params["e_own"], ae, wd),
            "d_own": make_optimizer(optimizer, self.params["d_own"], ad, wd),
            "connectors": make_optimizer(optimizer, [{"params": list(model.c12.parameters()), "lr": ad},
                                                     {"params": list(model.c21.parameters()), "lr": ae}], ad, wd),
            "d_cross": make_optimizer(optimizer, self.params["d_cross"], ae, 0.0),
            "e_cross": make_optimizer(optimizer, self.params["e_cross"], ad, 0.0),
        }

    def _grads(self, key: str, loss: torch.Tensor, retain: bool = False) -> list:
        grads = torch.autograd.grad(loss, self.params[key], retain_graph=retain, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g for p, g in zip(self.params[key], grads)]

    def _apply(self, key: str, grads: list) -> None:
        for p, g in zip(self.params[key], grads):
            p.grad = g
        self.optimizers[key].step()
        for p in self.params[key]:
            p.grad = None
        if self.on_substep is not None:
            self.on_substep(key)

    def __call__(self, batch: dict) -> dict:
        m, L = self.model, self.loss_fn
        kx, k1, k2 = self.keys
        x, y1, y2 = batch[kx], batch[k1], batch[k2]
        if self.mode == "simultaneous":
            e, d = m.encoder(x), m.decoder(x)
            losses = {"l1": L(e, y1), "l2": L(d, y2),
                      "l2_via_c12": L(m.c12(e), y2), "l1_via_c21": L(m.c21(d), y1)}
            g = {"e_own": self._grads("e_own", losses["l1"], True),
                 "d_own": self._grads("d_own", losses["l2"], True),
                 "connectors": self._grads("connectors", losses["l2_via_c12"] + losses["l1_via_c21"], True),
                 "d_cross": self._grads("d_cross", losses["l1_via_c21"], True),
                 "e_cross": self._grads("e_cross", losses["l2_via_c12"])}
            for key in self.SUBSTEPS:
                self._apply(key, g[key])
            return losses
        # 1. E's own L1 loss.
        l1 = L(m.encoder(x), y1)
        self._apply("e_own", self._grads("e_own", l1))
        # 2. D's own L2 loss.
        l2 = L(m.decoder(x), y2)
        self._apply("d_own", self._grads("d_own", l2))
        # 3. Connectors, at the updated E and D (kept with their graphs for 4 and 5:
        #    neither E nor D changes before it is used there).
        e, d = m.encoder(x), m.decoder(x)
        l2c = L(m.c12(e.detach()), y2)
        l1c = L(m.c21(d.detach()), y1)
        self._apply("connectors", self._grads("connectors", l2c + l1c))
        # 4. The L1 loss reaches D through the updated C21.
        l1_via_c21 = L(m.c21(d), y1)
        self._apply("d_cross", self._grads("d_cross", l1_via_c21))
        # 5. The L2 loss reaches E through the updated C12.
        l2_via_c12 = L(m.c12(e), y2)
        self._apply("e_cross", self._grads("e_cross", l2_via_c12))
        return {"l1": l1, "l2": l2, "l2_via_c12": l2c, "l1_via_c21": l1c}


class JointUpdate:
    """Joint optimisation of ``l_e + l_d`` (same losses as :class:`AlternatingUpdate`).

    One optimiser, one backward pass per batch; parameter groups give E and
    C21 the rate ``alpha_e``, D and C12 ``alpha_d``.  With plain gradient
    steps and ``alpha_e == alpha_d`` this is exactly Algorithm 1's
    simultaneous reading.
    """

    def __init__(self, model: BiDirectional, loss_fn: Callable, alpha_e: float, alpha_d: float, *,
                 optimizer: str = "adam", weight_decay: float = 0.0, keys: tuple[str, str, str] = ("app", "l1", "l2")):
        if not callable(loss_fn):
            raise ValueError("loss_fn must be callable: loss_fn(pred, target) -> 0-d tensor")
        ae, ad = _check_alpha(alpha_e, "alpha_e"), _check_alpha(alpha_d, "alpha_d")
        self.model, self.loss_fn, self.keys = model, loss_fn, tuple(keys)
        groups = [{"params": list(model.encoder.parameters()) + list(model.c21.parameters()), "lr": ae},
                  {"params": list(model.decoder.parameters()) + list(model.c12.parameters()), "lr": ad}]
        self.optimizer = make_optimizer(optimizer, groups, ae, weight_decay)

    def __call__(self, batch: dict) -> dict:
        m, L = self.model, self.loss_fn
        kx, k1, k2 = self.keys
        x, y1, y2 = batch[kx], batch[k1], batch[k2]
        e, d = m.encoder(x), m.decoder(x)
        losses = {"l1": L(e, y1), "l2": L(d, y2), "l2_via_c12": L(m.c12(e), y2), "l1_via_c21": L(m.c21(d), y1)}
        self.optimizer.zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        self.optimizer.step()
        return losses


# --------------------------------------------------------------------------- recipes

@dataclass(frozen=True)
class ModelInfo:
    name: str
    label: str
    summary: str
    stages: tuple = field(default_factory=tuple)


MODELS: dict[str, ModelInfo] = {
    "direct": ModelInfo("direct", "No transfer (App→L2 MLP)",
                        "the baseline's network trained App→L2 from scratch", ("App→L2",)),
    "baseline": ModelInfo("baseline", "Baseline transfer",
                          "App→L1 MLP, a new L1→L2 layer trained with the trunk frozen, then fine-tuned with "
                          "discriminative learning rates",
                          ("App→L1", "new layer (trunk frozen)", "fine-tune (discriminative LRs)")),
    "autoencoder": ModelInfo("autoencoder", "Autoencoder sandwich",
                             "encoder App→L1 and decoder L1→L2 trained apart, joined by a sandwich layer, "
                             "fine-tuned App→L2",
                             ("encoder App→L1", "decoder L1→L2", "sandwiched App→L2")),
    "bidirectional": ModelInfo("bidirectional", "Bi-directional (Algorithm 1)",
                               "E: App→L1 and D: App→L2 pre-trained, then the alternating update through the "
                               "connectors C12, C21",
                               ("E: App→L1", "D: App→L2", "alternating (Algorithm 1)")),
    "bidirectional_joint": ModelInfo("bidirectional_joint", "Bi-directional (joint l_e + l_d)",
                                     "the same network; the last stage minimises l_e + l_d jointly",
                                     ("E: App→L1", "D: App→L2", "joint (l_e + l_d)")),
}


def build_model(name: str, preset: str | Preset = "classroom", *, n_app: int = N_APP, n_l1: int = N_L1,
                n_l2: int = N_L2) -> nn.Module:
    """A fresh, untrained model ``name`` (a key of :data:`MODELS`) at the preset's width.

    Seed torch (``torch.manual_seed``) first for reproducible initial weights.
    """
    if name not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {name!r}")
    p = get_preset(preset)
    kw = dict(n_app=n_app, n_l1=n_l1, n_l2=n_l2, width=p.width, dropout=p.dropout)
    if name in ("direct", "baseline"):
        return TransferMLP(transfer=name == "baseline", **kw)
    if name == "autoencoder":
        return AutoencoderSandwich(**kw)
    return BiDirectional(**kw)


def _named(step: Callable, name: str) -> Callable:
    def renamed(batch):
        return {name: step(batch)["loss"]}
    return renamed


def _check_stage_data(data, keys: tuple, name: str) -> dict:
    if not isinstance(data, Mapping) or not all(k in data for k in keys):
        raise ValueError(f"{name} must be a dict with keys {keys}, got {sorted(data) if isinstance(data, Mapping) else type(data).__name__}")
    return {k: data[k] for k in keys}


def make_stages(name: str, model: nn.Module, loss_fn: Callable, preset: str | Preset = "classroom", *,
                l1_data: Mapping, l2_data: Mapping, evaluate: Callable[[], dict] | None = None,
                optimizer: str = "adam") -> list[Stage]:
    """The training stages of model ``name`` (built by :func:`build_model`).

    ``l1_data``: ``{"app", "l1"}`` tensors of the users used to learn App -> L1;
    ``l2_data``: ``{"app", "l1", "l2"}`` tensors of the users with L2 targets
    (on the published vectors the training users have no L2, so the L2 parts
    are trained on the validation users).  ``loss_fn(pred, target)``: one loss
    for every output.  ``evaluate`` (optional) runs after every epoch of every
    stage (see :class:`sandwichlab.training.Stage`).  Returns a list of
    stages whose names are ``MODELS[name].stages``; step functions report
    losses named ``l1`` / ``l2`` (and, for the bi-directional models,
    ``l2_via_c12`` / ``l1_via_c21``).
    """
    if name not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {name!r}")
    if not callable(loss_fn):
        raise ValueError("loss_fn must be callable: loss_fn(pred, target) -> 0-d tensor")
    p = get_preset(preset)
    d1 = _check_stage_data(l1_data, ("app", "l1"), "l1_data")
    d2 = _check_stage_data(l2_data, ("app", "l1", "l2"), "l2_data")
    names = MODELS[name].stages
    lr, wd = p.lr, p.weight_decay

    def sgd_or_adam(params):
        return make_optimizer(optimizer, params, lr, wd)

    def stage(i, kind, step, data, setup=None):
        return Stage(names[i], p.epochs[kind], step, setup=setup, evaluate=evaluate, data=data)

    if name == "direct":
        step = supervised_step(model, loss_fn, sgd_or_adam(model.parameters()), x="app", y="l2")
        return [stage(0, "l2", _named(step, "l2"), d2)]

    if name == "baseline":
        trunk, head = model.trunk, model.head
        pre = supervised_step(trunk, loss_fn, sgd_or_adam(trunk.parameters()), x="app", y="l1")
        frozen = supervised_step(model, loss_fn, sgd_or_adam(head.parameters()), x="app", y="l2")
        lo, hi = p.discriminative
        groups = discriminative_groups(linear_layers(trunk) + [head], lr * lo, lr * hi)
        fine = supervised_step(model, loss_fn, make_optimizer(optimizer, groups, lr, wd), x="app", y="l2")
        return [stage(0, "l1", _named(pre, "l1"), d1),
                stage(1, "l2", _named(frozen, "l2"), d2, setup=lambda: set_trainable(trunk, False)),
                stage(2, "finetune", _named(fine, "l2"), d2, setup=lambda: set_trainable(trunk, True))]

    if name == "autoencoder":
        enc, dec, mid = model.encoder, model.decoder, model.sandwich
        pre_e = supervised_step(enc, loss_fn, sgd_or_adam(enc.parameters()), x="app", y="l1")
        pre_d = supervised_step(dec, loss_fn, sgd_or_adam(dec.parameters()), x="l1", y="l2")
        lo, hi = p.discriminative
        groups = discriminative_groups(linear_layers(enc), lr * lo, lr * hi * 0.5)
        groups += [{"params": list(mid.parameters()), "lr": lr * hi}, {"params": list(dec.parameters()), "lr": lr * hi * 0.5}]
        fine = supervised_step(model, loss_fn, make_optimizer(optimizer, groups, lr, wd), x="app", y="l2")
        return [stage(0, "l1", _named(pre_e, "l1"), d1),
                stage(1, "l2", _named(pre_d, "l2"), d2),
                stage(2, "finetune", _named(fine, "l2"), d2)]

    # bi-directional: E and D pre-trained on their own targets, then Algorithm 1 (or joint).
    E, D = model.encoder, model.decoder
    pre_e = supervised_step(E, loss_fn, sgd_or_adam(E.parameters()), x="app", y="l1")
    pre_d = supervised_step(D, loss_fn, sgd_or_adam(D.parameters()), x="app", y="l2")
    if name == "bidirectional":
        last = AlternatingUpdate(model, loss_fn, lr, lr, optimizer=optimizer, weight_decay=wd)
    else:
        last = JointUpdate(model, loss_fn, lr, lr, optimizer=optimizer, weight_decay=wd)
    return [stage(0, "l1", _named(pre_e, "l1"), d1),
            stage(1, "l2", _named(pre_d, "l2"), d2),
            stage(2, "finetune", last, d2)]


# --------------------------------------------------------------------------- Algorithm 1, step by step (for teaching)

def algorithm1_trace(a=0.75, b=1.0, c=2.0, g=0.25, x=2.0, y1=1.0, y2=3.0, alpha_e=0.1, alpha_d=0.05,
                     mode: str = "sequential") -> list[dict]:
    """Algorithm 1 on E(x) = a x, D(x) = b x, C12(u) = c u, C21(v) = g v (float64, plain gradient steps).

    Returns one record per sub-update ``{"step", "update", "a", "b", "c", "g"}``,
    starting with the initial weights.
    """
    mods = []
    for w in (a, b, c, g):
        lin = nn.Linear(1, 1, bias=False).double()
        with torch.no_grad():
            lin.weight.fill_(float(w))
        mods.append(lin)
    m = BiDirectional.from_parts(*mods)

    def now():
        return dict(zip("abcg", (float(mod.weight.detach()) for mod in mods)))

    formulas = {"e_own": "w_e ← w_e − α_e ∂l_e/∂w_e", "d_own": "w_d ← w_d − α_d ∂l_d/∂w_d",
                "connectors": "w_c ← w_c − α_d ∂l_d/∂w_c − α_e ∂l_e/∂w_c",
                "d_cross": "w_d ← w_d − α_e ∂l_e/∂w_d", "e_cross": "w_e ← w_e − α_d ∂l_d/∂w_e"}
    rows = [{"step": 0, "update": "start", **now()}]
    order = list(AlternatingUpdate.SUBSTEPS)
    step = AlternatingUpdate(m, lambda p, t: ((p - t) ** 2).sum(), alpha_e, alpha_d, optimizer="sgd", mode=mode,
                             on_substep=lambda k: rows.append({"step": order.index(k) + 1, "update": formulas[k], **now()}))
    t = lambda v: torch.tensor([[float(v)]], dtype=torch.float64)  # noqa: E731
    step({"app": t(x), "l1": t(y1), "l2": t(y2)})
    return rows
