"""Network building blocks and the transfer / sandwich / bi-directional models."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


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
