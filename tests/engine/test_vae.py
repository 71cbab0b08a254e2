from __future__ import annotations

import pytest
import torch

from generation.engine.vae import PRESETS, CausalVAE


def _jitter(model: torch.nn.Module) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.02)
    return model


@pytest.fixture(scope="module")
def vae() -> CausalVAE:
    torch.manual_seed(0)
    return _jitter(CausalVAE(PRESETS["tiny"]).eval())


@pytest.mark.parametrize("frames,height,width", [(1, 16, 16), (5, 16, 28), (5, 28, 16), (9, 8, 24)])
def test_encode_decode_shapes_for_several_aspects(vae, frames, height, width):
    video = torch.rand(1, 3, frames, height, width) * 2 - 1
    z = vae.encode(video)
    r, s = vae.cfg.temporal_factor, vae.cfg.spatial_factor
    assert z.shape == (1, 4, 1 + (frames - 1) // r, height // s, width // s)
    assert vae.decode(z).shape == video.shape


def test_changing_a_later_frame_never_changes_an_earlier_latent(vae):
    video = torch.rand(1, 3, 9, 16, 16) * 2 - 1
    z = vae.encode(video)
    for changed in range(1, 9):
        edited = video.clone()
        edited[:, :, changed] = torch.rand(3, 16, 16)
        z2 = vae.encode(edited)
        # Latent frame j covers pixel frames 2j-1 and 2j (frame 0 alone).
        first_affected = (changed + 1) // 2
        assert torch.equal(z2[:, :, :first_affected], z[:, :, :first_affected]), changed
        assert not torch.equal(z2[:, :, first_affected], z[:, :, first_affected]), changed


def test_decoder_is_causal_too(vae):
    z = torch.randn(1, 4, 4, 4, 4)
    x = vae.decode(z)
    z2 = z.clone()
    z2[:, :, 2] += 1.0
    x2 = vae.decode(z2)
    # Latent frame 2 decodes to pixel frames 3 and 4; frames 0-2 must not move.
    assert torch.equal(x2[:, :, :3], x[:, :, :3])
    assert not torch.equal(x2[:, :, 3], x[:, :, 3])


def test_a_single_image_is_the_first_frame_of_a_video(vae):
    video = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    alone = vae.encode(video[:, :, :1])
    assert alone.shape[2] == 1
    # Same value; only the convolution's summation order differs with the clip length.
    torch.testing.assert_close(alone, vae.encode(video)[:, :, :1], rtol=0, atol=1e-6)


def test_sampling_the_posterior_is_seeded(vae):
    video = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    a = vae.encode(video, generator=torch.Generator().manual_seed(7))
    b = vae.encode(video, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    assert not torch.equal(a, vae.encode(video))


def test_misfit_video_is_a_clear_error(vae):
    with pytest.raises(ValueError, match="does not fit"):
        vae.encode(torch.zeros(1, 3, 4, 16, 16))


def test_small_preset_compresses_4x_time_8x_space():
    cfg = PRESETS["small"]
    assert cfg.latent_shape(17, 64, 112) == (5, 8, 14)
    assert cfg.video_frames(5) == 17
