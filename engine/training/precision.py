"""Which dtype the training matmuls run in: bf16 autocast where the hardware runs it natively and
faster, fp32 elsewhere. Master weights, optimizer state, softmax, losses and evaluation stay fp32.

Hosts differ (shared/PERF.md, docs/training.md): an AVX2 EPYC ran bf16 matmuls 25x *slower* than
fp32; a Xeon with AMX ran them 2-13x faster. So "auto" asks the CPU what it has and times one
matmul of a training step's shape before choosing.
"""

from __future__ import annotations

import time

import torch

CHOICES = ("auto", "fp32", "bf16")
MIN_SPEEDUP = 1.5  # bf16 must beat fp32 by this much on the timed matmul to be chosen


def native_bf16(device: torch.device) -> bool:
    """Whether the device has bf16 arithmetic units (CUDA: bf16 support; CPU: AMX or AVX512-BF16)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()


def matmul_rate(dtype: torch.dtype, device: torch.device, m: int = 2048, k: int = 256, n: int = 4096,
                seconds: float = 0.3) -> float:
    """(m, k) @ (k, n) matmuls per second in `dtype` (default: the shape of the tied output layer)."""
    x, y = torch.randn(m, k, device=device).to(dtype), torch.randn(k, n, device=device).to(dtype)
    x @ y
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        x @ y
        count += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return count / (time.perf_counter() - t0)


def matmul_speedup(device: torch.device) -> float:
    """fp32 time over bf16 time for a matmul of the tied output layer's shape."""
    return matmul_rate(torch.bfloat16, device) / matmul_rate(torch.float32, device)


def check(requested: str) -> None:
    """ValueError (bilingual) unless `requested` is one of CHOICES."""
    if requested not in CHOICES:
        raise ValueError(f"未知精度「{requested}」，可选：{'、'.join(CHOICES)} / "
                         f"Unknown precision {requested!r}; choose {', '.join(CHOICES)}.")


def choose(requested: str, device: torch.device) -> tuple[torch.dtype, dict]:
    """The autocast dtype (torch.float32: none) for `requested` (auto | fp32 | bf16) on `device`,
    and the figures behind the choice, for the training log."""
    check(requested)
    native = native_bf16(device)
    figures: dict = {"requested": requested, "native_bf16": native}
    if requested == "fp32" or (requested == "auto" and not native):
        return torch.float32, figures | {"dtype": "fp32"}
    if requested == "auto":
        figures["bf16_matmul_speedup"] = round(matmul_speedup(device), 2)
        if figures["bf16_matmul_speedup"] < MIN_SPEEDUP:
            return torch.float32, figures | {"dtype": "fp32"}
    return torch.bfloat16, figures | {"dtype": "bf16"}
