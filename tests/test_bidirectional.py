"""Algorithm 1 (the alternating update of the bi-directional autoencoder) against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sandwichlab.models import AlternatingUpdate, BiDirectional, JointUpdate, build_model, make_stages
from sandwichlab.training import Trainer


def sq(pred, target):
    """Plain squared error, summed (the test's own MSE)."""
    return ((pred - target) ** 2).sum()


def masked(pred, target):
    """The report's masked loss, written out inline: sum t (p - t)^2."""
    return (target * (pred - target) ** 2).sum()


def scalar_model(a, b, c, g):
    """E(x) = a x, D(x) = b x, C12(u) = c u, C21(v) = g v (no biases), float64."""
    mods = []
    for w in (a, b, c, g):
        lin = nn.Linear(1, 1, bias=False).double()
        with torch.no_grad():
            lin.weight.fill_(w)
        mods.append(lin)
    return BiDirectional.from_parts(*mods)


def weights(m):
    return [float(mod.weight.detach()) for mod in (m.encoder, m.decoder, m.c12, m.c21)]


BATCH = {"app": torch.tensor([[2.0]], dtype=torch.float64), "l1": torch.tensor([[1.0]], dtype=torch.float64),
         "l2": torch.tensor([[3.0]], dtype=torch.float64)}


def test_sequential_sgd_matches_hand_computed_steps():
    # x = 2, y1 = 1, y2 = 3; a = 0.75 (E), b = 1 (D), c = 2 (C12), g = 0.25 (C21);
    # alpha_e = 0.1, alpha_d = 0.05; loss (p - y)^2, so d/dw of (w u - y)^2 is 2 (w u - y) u.
    # 1. a: 2 (1.5 - 1) 2 = 2               -> a = 0.75 - 0.1 * 2          = 0.55
    # 2. b: 2 (2 - 3) 2 = -4                -> b = 1 + 0.05 * 4            = 1.2
    # 3. c: 2 (2 * 1.1 - 3) 1.1 = -1.76     -> c = 2 + 0.05 * 1.76         = 2.088
    #    g: 2 (0.25 * 2.4 - 1) 2.4 = -1.92  -> g = 0.25 + 0.1 * 1.92       = 0.442
    # 4. b: 2 (0.442 * 2.4 - 1) 0.442 * 2 = 0.1074944
    #                                       -> b = 1.2 - 0.1 * 0.1074944   = 1.18925056
    # 5. a: 2 (2.088 * 1.1 - 3) 2.088 * 2 = -5.8731264
    #                                       -> a = 0.55 + 0.05 * 5.8731264 = 0.84365632
    m = scalar_model(0.75, 1.0, 2.0, 0.25)
    step = AlternatingUpdate(m, sq, alpha_e=0.1, alpha_d=0.05, optimizer="sgd")
    losses = step(BATCH)
    np.testing.assert_allclose(weights(m), [0.84365632, 1.18925056, 2.088, 0.442], rtol=0, atol=1e-12)
    # Each loss as its sub-update saw it: (1.5-1)^2, (2-3)^2, (2.2-3)^2, (0.6-1)^2.
    np.testing.assert_allclose([float(losses[k].detach()) for k in ("l1", "l2", "l2_via_c12", "l1_via_c21")],
                               [0.25, 1.0, 0.64, 0.16], atol=1e-12)


def test_simultaneous_reading_is_a_joint_gradient_step():
    # All five gradients at the starting weights:
    # a: -0.1 * 2 - 0.05 * [2 (2*1.5 - 3) 2*2 = 0]  = 0.55
    # b: +0.05 * 4 - 0.1 * [2 (0.25*2 - 1) 0.25*2 = -0.5] = 1.25
    # c: 2 - 0.05 * [2 (3 - 3) 1.5 = 0] = 2 ; g: 0.25 - 0.1 * [2 (0.5 - 1) 2 = -2] = 0.45
    m = scalar_model(0.75, 1.0, 2.0, 0.25)
    AlternatingUpdate(m, sq, alpha_e=0.1, alpha_d=0.05, optimizer="sgd", mode="simultaneous")(BATCH)
    np.testing.assert_allclose(weights(m), [0.55, 1.25, 2.0, 0.45], rtol=0, atol=1e-12)
    # ... which is one gradient step (lr 1) on alpha_e l_e + alpha_d l_d.
    ref = scalar_model(0.75, 1.0, 2.0, 0.25)
    x, y1, y2 = BATCH["app"], BATCH["l1"], BATCH["l2"]
    l_e = sq(ref.encoder(x), y1) + sq(ref.c21(ref.decoder(x)), y1)
    l_d = sq(ref.decoder(x), y2) + sq(ref.c12(ref.encoder(x)), y2)
    (0.1 * l_e + 0.05 * l_d).backward()
    with torch.no_grad():
        for p in ref.parameters():
            p -= p.grad
    np.testing.assert_allclose(weights(m), weights(ref), rtol=0, atol=1e-12)


def test_joint_update_with_equal_rates_is_the_simultaneous_reading():
    torch.manual_seed(0)
    a = tiny_linear_model()
    b = tiny_linear_model()
    batch = tiny_batch()
    AlternatingUpdate(a, sq, 0.03, 0.03, optimizer="sgd", mode="simultaneous")(batch)
    JointUpdate(b, sq, 0.03, 0.03, optimizer="sgd")(batch)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-12)


# -- a tiny multi-dimensional model against explicit (non-autograd) gradient formulas --------

def tiny_linear_model():
    """E: 3 -> 2, D: 3 -> 4, C12: 2 -> 4, C21: 4 -> 2; linear with biases, float64."""
    g = torch.Generator().manual_seed(7)

    def lin(i, o):
        m = nn.Linear(i, o).double()
        with torch.no_grad():
            m.weight.copy_(torch.randn(o, i, generator=g, dtype=torch.float64) * 0.5)
            m.bias.copy_(torch.randn(o, generator=g, dtype=torch.float64) * 0.1)
        return m

    return BiDirectional.from_parts(lin(3, 2), lin(3, 4), lin(2, 4), lin(4, 2))


def tiny_batch():
    g = torch.Generator().manual_seed(3)
    return {"app": torch.rand(5, 3, generator=g, dtype=torch.float64),
            "l1": torch.rand(5, 2, generator=g, dtype=torch.float64) * (torch.rand(5, 2, generator=g) > 0.3),
            "l2": torch.rand(5, 4, generator=g, dtype=torch.float64) * (torch.rand(5, 4, generator=g) > 0.5)}


def _np(m):
    return {k: [mod.weight.detach().numpy().copy(), mod.bias.detach().numpy().copy()]
            for k, mod in (("e", m.encoder), ("d", m.decoder), ("c12", m.c12), ("c21", m.c21))}


def _fwd(p, x):
    W, b = p
    return x @ W.T + b


def _reference_step(P, x, y1, y2, ae, ad, weight_of):
    """Algorithm 1, sequential, with hand-derived gradients.

    For f(u) = u W^T + b and loss sum w (f - y)^2: dL/df = 2 w (f - y),
    dL/dW = (dL/df)^T u, dL/db = column sums, dL/du = dL/df W.
    ``weight_of(y)`` is w: 1 for squared error, y for the masked loss.
    """
    def grad_out(f, y):
        return 2 * weight_of(y) * (f - y)

    def step(p, g_out, u, lr):
        p[0] = p[0] - lr * g_out.T @ u
        p[1] = p[1] - lr * g_out.sum(0)

    step(P["e"], grad_out(_fwd(P["e"], x), y1), x, ae)                  # 1
    step(P["d"], grad_out(_fwd(P["d"], x), y2), x, ad)                  # 2
    e, d = _fwd(P["e"], x), _fwd(P["d"], x)
    g12, g21 = grad_out(_fwd(P["c12"], e), y2), grad_out(_fwd(P["c21"], d), y1)
    step(P["c12"], g12, e, ad)                                          # 3 (C12 from l_d)
    step(P["c21"], g21, d, ae)                                          #   (C21 from l_e)
    g_d = grad_out(_fwd(P["c21"], d), y1) @ P["c21"][0]                 # 4: dl_e/d(D out) via new C21
    step(P["d"], g_d, x, ae)
    g_e = grad_out(_fwd(P["c12"], e), y2) @ P["c12"][0]                 # 5: dl_d/d(E out) via new C12
    step(P["e"], g_e, x, ad)
    return P


@pytest.mark.parametrize("loss,weight_of", [(sq, lambda y: 1.0), (masked, lambda y: y)], ids=["mse", "masked"])
def test_sequential_matches_explicit_gradients_over_several_steps(loss, weight_of):
    m = tiny_linear_model()
    P = _np(m)
    upd = AlternatingUpdate(m, loss, alpha_e=0.05, alpha_d=0.02, optimizer="sgd")
    for _ in range(3):
        batch = tiny_batch()
        upd(batch)
        P = _reference_step(P, *(batch[k].numpy() for k in ("app", "l1", "l2")), 0.05, 0.02, weight_of)
    got = _np(m)
    for k in P:
        for a, b in zip(got[k], P[k]):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_order_matters_sequential_differs_from_simultaneous():
    a, b = tiny_linear_model(), tiny_linear_model()
    batch = tiny_batch()
    AlternatingUpdate(a, sq, 0.05, 0.02, optimizer="sgd")(batch)
    AlternatingUpdate(b, sq, 0.05, 0.02, optimizer="sgd", mode="simultaneous")(batch)
    diff = max(float((p - q).detach().abs().max()) for p, q in zip(a.parameters(), b.parameters()))
    assert diff > 1e-4


def test_adam_gives_each_sub_update_its_own_moments():
    """Adam's first step moves every weight with a non-zero gradient by exactly its
    learning rate, against the gradient's sign; with one Adam per sub-update, E's
    weight therefore moves by alpha_e (sub-update 1) and then alpha_d (sub-update 5)."""
    m = scalar_model(0.75, 1.0, 2.0, 0.25)
    AlternatingUpdate(m, sq, alpha_e=0.1, alpha_d=0.05, optimizer="adam")(BATCH)
    a, b, c, g = weights(m)
    # Signs of the gradients (sub-updates 1-5 as in the SGD test, at Adam's weights):
    # 1: a grad > 0 -> a = 0.65.  2: b grad < 0 -> b = 1.05.
    # 3: c: 2 (2*0.65*2 - 3) < 0 -> c = 2.05; g: 2 (0.25*2.1 - 1) < 0 -> g = 0.35.
    # 4: b: 2 (0.35*1.05*2 - 1)*0.35*2 < 0 (0.735 < 1) -> b = 1.05 + 0.1 = 1.15.
    # 5: a: 2 (2.05*0.65*2 - 3) < 0 (2.665 < 3) -> a = 0.65 + 0.05 = 0.70.
    np.testing.assert_allclose([a, b, c, g], [0.70, 1.15, 2.05, 0.35], atol=1e-7)


def test_weight_decay_applies_once_per_step():
    m = scalar_model(0.75, 1.0, 2.0, 0.25)
    zero = lambda p, t: (p * 0).sum()  # noqa: E731 - no loss gradient: only the decay moves weights
    AlternatingUpdate(m, zero, alpha_e=0.1, alpha_d=0.05, optimizer="sgd", weight_decay=0.5)(BATCH)
    np.testing.assert_allclose(weights(m), [0.75 * (1 - 0.1 * 0.5), 1.0 * (1 - 0.05 * 0.5),
                                            2.0 * (1 - 0.05 * 0.5), 0.25 * (1 - 0.1 * 0.5)], atol=1e-12)


def test_bad_arguments():
    m = scalar_model(1, 1, 1, 1)
    with pytest.raises(ValueError, match="alpha_e"):
        AlternatingUpdate(m, sq, 0.0, 0.1)
    with pytest.raises(ValueError, match="mode"):
        AlternatingUpdate(m, sq, 0.1, 0.1, mode="jacobi")
    with pytest.raises(ValueError, match="optimizer"):
        AlternatingUpdate(m, sq, 0.1, 0.1, optimizer="rmsprop")
    with pytest.raises(ValueError, match="encoder"):
        AlternatingUpdate(nn.Linear(1, 1), sq, 0.1, 0.1)


@pytest.mark.parametrize("name", ["bidirectional", "bidirectional_joint"])
def test_trains_through_the_trainer_and_lowers_both_losses(name):
    g = torch.Generator().manual_seed(0)
    n = 256
    app = torch.rand(n, 52, generator=g)
    l1 = torch.relu(app @ torch.randn(52, 23, generator=g) * 0.2)
    l2 = torch.relu(l1 @ torch.randn(23, 164, generator=g) * 0.3)
    data = {"app": app, "l1": l1, "l2": l2}
    torch.manual_seed(0)
    model = build_model(name, "fast")
    loss = lambda p, t: ((p - t) ** 2).sum() / p.shape[0]  # noqa: E731
    stages = make_stages(name, model, loss, "fast", l1_data=data, l2_data=data)
    stages[-1].epochs = 6
    tr = Trainer(model, data, batch_size=32, seed=0)
    tr.run(stages)
    assert tr.state == "done"
    last = stages[-1].name
    for key in ("l1", "l2", "l2_via_c12", "l1_via_c21"):
        series = tr.history.series(key, last)
        assert series[-1] < series[0], (key, series)


def test_on_substep_reports_the_order():
    m = scalar_model(0.75, 1.0, 2.0, 0.25)
    seen = []
    AlternatingUpdate(m, sq, 0.1, 0.05, optimizer="sgd", on_substep=lambda k: seen.append((k, weights(m))))(BATCH)
    assert [k for k, _ in seen] == list(AlternatingUpdate.SUBSTEPS)
    np.testing.assert_allclose(seen[0][1], [0.55, 1.0, 2.0, 0.25])  # after 1, only E moved
    np.testing.assert_allclose(seen[2][1], [0.55, 1.2, 2.088, 0.442])  # after 3
