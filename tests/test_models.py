import numpy as np
import pytest
import torch
from torch import nn

from sandwichlab.models import mlp


def test_mlp_layout_and_forward():
    net = mlp([52, 16, 16, 23], dropout=[0.05, 0.1, 0.0])
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Dropout", "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Linear"]
    assert [m.p for m in net if isinstance(m, nn.Dropout)] == [0.05, 0.1]
    net.eval()
    x = torch.randn(4, 52)
    lin = [m for m in net if isinstance(m, nn.Linear)]
    expected = lin[2](torch.relu(lin[1](torch.relu(lin[0](x)))))
    torch.testing.assert_close(net(x), expected)


@pytest.mark.parametrize("kwargs,pattern", [
    ({"sizes": [3]}, "sizes"), ({"sizes": [3, 0]}, "sizes"),
    ({"sizes": [3, 4, 5], "dropout": [0.1]}, "dropout must be one rate or 2"),
    ({"sizes": [3, 4], "dropout": 1.0}, r"dropout rates must be in \[0, 1\)"),
])
def test_mlp_bad_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        mlp(**kwargs)


# -- the report's models -----------------------------------------------------------------

from sandwichlab.models import (MODELS, PRESETS, AutoencoderSandwich, BiDirectional, TransferMLP,  # noqa: E402
                                build_model, discriminative_groups, get_preset, linear_layers, make_stages)
from sandwichlab.training import Trainer  # noqa: E402


def toy_data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    app = torch.rand(n, 52, generator=g)
    l1 = torch.relu(app @ torch.randn(52, 23, generator=g) * 0.2)
    l2 = torch.relu(l1 @ torch.randn(23, 164, generator=g) * 0.3)
    return {"app": app, "l1": l1, "l2": l2}


def mse(p, t):
    return ((p - t) ** 2).sum() / p.shape[0]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_predicts_both_shapes(name):
    torch.manual_seed(0)
    m = build_model(name, "fast").eval()
    x = torch.rand(5, 52)
    l1, l2 = m.predict(x)
    assert l2.shape == (5, 164)
    if name == "direct":
        assert l1 is None, "the no-transfer model has no L1 output"
    else:
        assert l1.shape == (5, 23)
    assert m.training is False


def test_layer_counts_follow_the_report():
    b = build_model("bidirectional", "paper")
    assert [lin.out_features for lin in linear_layers(b.encoder)] == [1024, 1024, 23]  # E: 2 hidden
    assert [lin.out_features for lin in linear_layers(b.decoder)] == [1024] * 4 + [164]  # D: 4 hidden
    assert (b.c12.in_features, b.c12.out_features, b.c21.in_features, b.c21.out_features) == (23, 164, 164, 23)
    a = build_model("autoencoder", "classroom")
    assert isinstance(a.decoder, nn.Linear) and (a.decoder.in_features, a.decoder.out_features) == (23, 164)
    t = build_model("baseline", "classroom")
    assert [m.p for m in t.trunk if isinstance(m, nn.Dropout)] == [0.05, 0.1]  # report's 0.05 / 0.1 / 0.0


def test_sandwich_layer_starts_as_the_identity():
    torch.manual_seed(1)
    m = AutoencoderSandwich(width=16).eval()
    x = torch.rand(7, 52)
    torch.testing.assert_close(m(x), m.decoder(torch.relu(m.encoder(x))))


def test_baseline_trunk_frozen_then_fine_tuned_with_discriminative_rates():
    torch.manual_seed(0)
    data = toy_data()
    m = build_model("baseline", "fast")
    stages = make_stages("baseline", m, mse, "fast", l1_data=data, l2_data=data)
    assert [s.name for s in stages] == list(MODELS["baseline"].stages)
    snap = {}
    tr = Trainer(m, data, batch_size=32)
    tr.on("stage_start", lambda ev: snap.__setitem__(ev.stage, [p.detach().clone() for p in m.trunk.parameters()]))
    head_before = m.head.weight.detach().clone()
    tr.run(stages)
    frozen, fine = stages[1].name, stages[2].name
    after_frozen = snap[fine]  # trunk weights when fine-tuning starts
    for a, b in zip(snap[frozen], after_frozen):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # frozen stage left the trunk alone
    assert not torch.equal(m.head.weight.detach(), head_before)
    assert any(not torch.equal(a, b.detach()) for a, b in zip(after_frozen, m.trunk.parameters()))
    assert all(p.requires_grad for p in m.parameters())


def test_discriminative_groups_are_geometric():
    layers = [nn.Linear(2, 2) for _ in range(4)]
    groups = discriminative_groups(layers, 1e-4, 1e-1)
    np.testing.assert_allclose([g["lr"] for g in groups], [1e-4, 1e-3, 1e-2, 1e-1])
    assert groups[2]["params"][0] is layers[2].weight
    with pytest.raises(ValueError, match="empty"):
        discriminative_groups([], 1, 1)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_recipe_lowers_its_training_loss(name):
    torch.manual_seed(0)
    data = toy_data(128)
    m = build_model(name, "fast")
    stages = make_stages(name, m, mse, PRESETS["fast"].replace(epochs={"l1": 4, "l2": 4, "finetune": 4}),
                         l1_data=data, l2_data=data)
    tr = Trainer(m, data, batch_size=32)
    tr.run(stages)
    assert tr.state == "done"
    for s in stages:
        key = "l1" if s is stages[0] and name != "direct" else "l2"
        series = tr.history.series(key, s.name)
        assert series[-1] < series[0], (s.name, series)


def test_presets():
    p = get_preset("classroom")
    assert p.width == 256 and PRESETS["paper"].width == 1024 and get_preset(p) is p
    assert PRESETS["fast"].width < p.width and all(v <= 2 for v in PRESETS["fast"].epochs.values())
    with pytest.raises(ValueError, match="preset must be one of"):
        get_preset("huge")
    with pytest.raises(ValueError, match="epochs must map"):
        p.replace(epochs={"l1": 1})


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="model must be one of"):
        build_model("resnet")
    with pytest.raises(ValueError, match="width"):
        TransferMLP(width=0)
    with pytest.raises(ValueError, match="l2_data"):
        make_stages("baseline", build_model("baseline", "fast"), mse, "fast",
                    l1_data=toy_data(), l2_data={"app": torch.zeros(2, 52)})
    assert isinstance(build_model("bidirectional_joint", "fast"), BiDirectional)
