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
