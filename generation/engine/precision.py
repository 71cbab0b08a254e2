"""bf16 autocast where the hardware computes in bf16, fp32 where it would only emulate it.

Every network of the engine runs under `autocast(device)`. A GPU and a CPU with bf16 units
(AVX512-BF16 or AMX) compute bf16 convolutions and matmuls several times faster than fp32;
a CPU without them converts every operand and runs scalar code: on an AVX2-only EPYC core a
1024² matmul ran at 0.9 GFLOP/s in bf16 against 80 GFLOP/s in fp32, and a keyframe training
step took minutes instead of seconds. So bf16 is asked for, and granted only where it is fast.
"""

from __future__ import annotations

import functools

import torch


@functools.cache
def cpu_has_bf16() -> bool:
    """The CPU computes bf16 natively (AVX512-BF16 or AMX tiles)."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def bf16_is_fast(device_type: str) -> bool:
    """bf16 autocast speeds up `device_type` ("cpu", "cuda", ...) rather than slowing it."""
    return device_type != "cpu" or cpu_has_bf16()


def autocast(device_type: str, enabled: bool = True) -> torch.autocast:
    """bf16 autocast on `device_type` when `enabled` and bf16 is fast there; otherwise a
    disabled autocast (fp32), so callers need no branch of their own."""
    return torch.autocast(
        device_type, dtype=torch.bfloat16, enabled=enabled and bf16_is_fast(device_type)
    )
