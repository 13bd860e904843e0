"""Choosing the torch device: CUDA when present (`auto`), CPU otherwise."""

from __future__ import annotations

import torch


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"未找到 CUDA 设备 / CUDA device {name!r} requested but none is available")
    return dev
