from __future__ import annotations

import torch

from generation.engine import precision


def test_autocast_uses_bf16_only_where_the_cpu_computes_it():
    layer = torch.nn.Linear(8, 8)
    x = torch.randn(2, 8)
    with precision.autocast("cpu"):
        y = layer(x)
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert y.dtype == (torch.bfloat16 if native else torch.float32)
    with precision.autocast("cpu", enabled=False):
        assert layer(x).dtype == torch.float32
    # A GPU always computes in bf16 under autocast when asked.
    assert precision.bf16_is_fast("cuda")
