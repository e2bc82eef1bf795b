import pytest
import torch

from sandwichlab.device import DEVICE_ENV, device_name, pick_device


def test_cpu_when_no_accelerator(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device() == torch.device("cpu")


def test_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device().type == "mps"


def test_argument_beats_environment(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    assert pick_device("cpu") == torch.device("cpu")


def test_environment_override(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert pick_device() == torch.device("cpu")


def test_unavailable_device_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='cuda'.*no cuda device"):
        pick_device("cuda")
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    with pytest.raises(ValueError, match=DEVICE_ENV):
        pick_device()


@pytest.mark.parametrize("bad", ["gpu0", "tpu", 3])
def test_bad_names_rejected(bad):
    with pytest.raises(ValueError, match="device"):
        pick_device(bad)


def test_human_names(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert device_name("cpu") == "CPU (2 threads)"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=None: "NVIDIA H100 80GB HBM3")
    assert device_name("cuda") == "NVIDIA H100 80GB HBM3"
