"""Which torch device to train on, and what to call it on screen.

Order of preference: CUDA, then Apple MPS, then CPU.  Override with the
``device`` argument or the ``SANDWICHLAB_DEVICE`` environment variable
(``cpu``, ``cuda``, ``cuda:1``, ``mps``); the argument wins.
"""

from __future__ import annotations

import os

import torch

DEVICE_ENV = "SANDWICHLAB_DEVICE"


def _available(kind: str) -> bool:
    if kind == "cpu":
        return True
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    return False


def _parse(spec, where: str) -> torch.device:
    if isinstance(spec, torch.device):
        dev = spec
    elif isinstance(spec, str):
        try:
            dev = torch.device(spec.strip().lower())
        except RuntimeError as exc:
            raise ValueError(f"{where}={spec!r} is not a device name; use 'cpu', 'cuda', 'cuda:N' or 'mps'") from exc
    else:
        raise ValueError(f"{where} must be a string or torch.device, got {type(spec).__name__}")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{where}={spec!r}: device type {dev.type!r} is not supported; use cpu, cuda or mps")
    if not _available(dev.type):
        raise ValueError(f"{where}={spec!r} asks for {dev.type}, but no {dev.type} device is available here")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"{where}={spec!r}: only {torch.cuda.device_count()} CUDA device(s) present")
    return dev


def pick_device(device=None) -> torch.device:
    """The device to use: the argument, else ``$SANDWICHLAB_DEVICE``, else cuda > mps > cpu."""
    if device is not None and device != "auto":
        return _parse(device, "device")
    env = os.environ.get(DEVICE_ENV, "").strip()
    if env and env.lower() != "auto":
        return _parse(env, f"environment variable {DEVICE_ENV}")
    for kind in ("cuda", "mps"):
        if _available(kind):
            return torch.device(kind)
    return torch.device("cpu")


def device_name(device=None) -> str:
    """A human name for the device, e.g. 'NVIDIA H100 80GB HBM3' or 'CPU (2 threads)'."""
    dev = pick_device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev.index if dev.index is not None else torch.cuda.current_device())
    if dev.type == "mps":
        return "Apple GPU (MPS)"
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'s' if threads != 1 else ''})"
