from __future__ import annotations

import torch

from generation.engine.world.noise import fbm, hash2, value_noise


def test_value_noise_passes_through_the_lattice_hash_at_every_corner():
    """Each cell's four corners take the hash of their own lattice point, so textures stay
    continuous across cell edges and identical from render to render."""
    ix = torch.arange(-40, 40).repeat_interleave(80)
    iz = torch.arange(-40, 40).repeat(80)
    at_corners = value_noise(ix.double(), iz.double(), seed=7)
    assert torch.equal(at_corners.float(), hash2(ix, iz, seed=7))
    # Approaching a corner from inside a neighbouring cell (across x, z or both) lands on the
    # same value: that cell's other corners hash the same lattice point.
    for dx, dz in ((1e-9, 0.0), (0.0, 1e-9), (1e-9, 1e-9)):
        near = value_noise(ix.double() - dx, iz.double() - dz, seed=7)
        assert torch.allclose(near.float(), at_corners.float(), atol=1e-6)


def test_noise_is_uniform_in_the_unit_interval_and_depends_on_its_seed():
    g = torch.Generator().manual_seed(0)
    x, z = torch.rand(2, 20_000, generator=g) * 300 - 150
    a, b = value_noise(x, z, seed=1), value_noise(x, z, seed=2)
    assert float(a.min()) >= 0
    assert float(a.max()) <= 1
    assert abs(float(hash2(x.long(), z.long(), seed=1).mean()) - 0.5) < 0.02
    assert float((a - b).abs().mean()) > 0.1
    # Octaves finer than a pixel's footprint fade to the mean, so far texture goes flat.
    far = fbm(x, z, seed=1, octaves=4, footprint=torch.full_like(x, 2.0))
    assert torch.allclose(far, torch.full_like(far, 0.5))
