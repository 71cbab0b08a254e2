"""A causal 3D video autoencoder (VAE): compresses time and space, first frame encoded alone.

Causality comes from three choices: every temporal convolution pads only on the past side,
normalisation is per position over channels (a GroupNorm over (C, T, H, W) would let later frames
move earlier statistics), and there is no attention across time. With strided causal temporal
downsampling the first latent frame sees only pixel frame 0, so a single image is a valid
one-frame video: image-to-video and extension encode their conditioning frames this way.

A video of ``T = 1 + r k`` frames (``r`` the temporal factor) encodes to ``T' = 1 + k`` latent
frames; ``H`` and ``W`` shrink by the spatial factor.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class VAEConfig:
    """Architecture of a :class:`CausalVAE`.

    Args:
        in_channels: pixel channels (3, RGB in [-1, 1]).
        latent_channels: channels of the latent the transformer denoises.
        channels: width per resolution level; one 2x spatial downsample between levels, so the
            spatial factor is ``2 ** (len(channels) - 1)``.
        temporal_downsample: per level transition, whether it also halves time (causally).
        blocks_per_level: residual blocks per level.
        scale, shift: latent normalisation ``(z - shift) * scale`` so the transformer sees
            roughly unit variance; measured on data after training (1, 0 until then).
    """

    in_channels: int = 3
    latent_channels: int = 4
    channels: tuple[int, ...] = (16, 32, 32)
    temporal_downsample: tuple[bool, ...] = (True, False)
    blocks_per_level: int = 1
    scale: float = 1.0
    shift: float = 0.0

    @property
    def spatial_factor(self) -> int:
        return 2 ** (len(self.channels) - 1)

    @property
    def temporal_factor(self) -> int:
        return 2 ** sum(self.temporal_downsample)

    def latent_shape(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """(T', H', W') for a video of ``frames x height x width``; raises on a misfit."""
        r, s = self.temporal_factor, self.spatial_factor
        if (frames - 1) % r or height % s or width % s or frames < 1:
            raise ValueError(
                f"video {frames}x{height}x{width} does not fit the VAE: frames must be 1 + {r}k "
                f"and height/width multiples of {s}"
            )
        return 1 + (frames - 1) // r, height // s, width // s

    def video_frames(self, latent_frames: int) -> int:
        """Pixel frames decoded from ``latent_frames`` latent frames."""
        return 1 + (latent_frames - 1) * self.temporal_factor


PRESETS: dict[str, VAEConfig] = {
    # 2x time, 4x space: milliseconds on a CPU, for tests and the studio's tests.
    "tiny": VAEConfig(latent_channels=4, channels=(16, 32, 32), temporal_downsample=(True, False)),
    # 4x time, 8x space (Wan/LTX ratios at a CPU-trainable width).
    "small": VAEConfig(
        latent_channels=8, channels=(32, 64, 96, 96), temporal_downsample=(True, True, False)
    ),
    "base": VAEConfig(
        latent_channels=16,
        channels=(64, 128, 192, 256),
        temporal_downsample=(True, True, False),
        blocks_per_level=2,
    ),
}


class ChannelRMSNorm(nn.Module):
    """RMS norm over channels at each (t, h, w) position: per-position, hence causal."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels, 1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:  # x: (B, C, T, H, W)
        rms = x.float().pow(2).mean(dim=1, keepdim=True).add(self.eps).rsqrt()  # (B, 1, T, H, W)
        return (x.float() * rms).to(x.dtype) * self.weight


class CausalConv3d(nn.Module):
    """3D convolution padded only on the past side in time (zeros), symmetric in space."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: tuple[int, int, int] = (3, 3, 3),
        stride: tuple[int, int, int] = (1, 1, 1),
    ) -> None:
        super().__init__()
        kt, kh, kw = kernel
        self.time_pad = kt - 1
        self.space_pad = (kw // 2, kw // 2, kh // 2, kh // 2)
        self.conv = nn.Conv3d(c_in, c_out, kernel, stride=stride)

    def forward(self, x: Tensor) -> Tensor:  # (B, C, T, H, W)
        x = F.pad(x, (*self.space_pad, self.time_pad, 0))  # (B, C, T + kt - 1, H + 2p, W + 2p)
        return self.conv(x)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.norm1 = ChannelRMSNorm(c_in)
        self.conv1 = CausalConv3d(c_in, c_out)
        self.norm2 = ChannelRMSNorm(c_out)
        self.conv2 = CausalConv3d(c_out, c_out)
        self.skip = nn.Conv3d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Downsample(nn.Module):
    """2x in space, and 2x in time when ``temporal``: output frame j sees input frames <= 2j."""

    def __init__(self, c_in: int, c_out: int, temporal: bool) -> None:
        super().__init__()
        # Kernel 3 stride 2 with 2 frames of past padding: frame 0 maps alone to latent frame 0,
        # then pairs follow, so T = 1 + 2k becomes 1 + k.
        self.conv = CausalConv3d(c_in, c_out, (3, 3, 3), stride=(2 if temporal else 1, 2, 2))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Inverse of :class:`Downsample`: 2x in space; in time each latent frame after the first
    becomes two frames (the first stays one), so 1 + k frames become 1 + 2k."""

    def __init__(self, c_in: int, c_out: int, temporal: bool) -> None:
        super().__init__()
        self.temporal = temporal
        self.conv = CausalConv3d(c_in, c_out * (2 if temporal else 1))

    def forward(self, x: Tensor) -> Tensor:
        b, _, t, h, w = x.shape
        x = F.interpolate(x, size=(t, 2 * h, 2 * w), mode="nearest")  # (B, C, T, 2H, 2W)
        x = self.conv(x)  # (B, C_out * r, T, 2H, 2W)
        if not self.temporal:
            return x
        x = x.view(b, 2, -1, t, 2 * h, 2 * w).permute(0, 2, 3, 1, 4, 5)  # (B, C, T, 2, 2H, 2W)
        x = x.reshape(b, x.shape[1], 2 * t, 2 * h, 2 * w)  # (B, C, 2T, 2H, 2W)
        return x[:, :, 1:]  # (B, C, 2T - 1, 2H, 2W): the first latent frame is one frame


class Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        ch = cfg.channels
        self.conv_in = CausalConv3d(cfg.in_channels, ch[0])
        self.levels = nn.ModuleList()
        for i, c in enumerate(ch):
            blocks: list[nn.Module] = [ResBlock(c, c) for _ in range(cfg.blocks_per_level)]
            if i < len(ch) - 1:
                blocks.append(Downsample(c, ch[i + 1], cfg.temporal_downsample[i]))
            self.levels.append(nn.Sequential(*blocks))
        self.mid = ResBlock(ch[-1], ch[-1])
        self.norm_out = ChannelRMSNorm(ch[-1])
        self.conv_out = CausalConv3d(ch[-1], 2 * cfg.latent_channels)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv_in(x)
        for level in self.levels:
            h = level(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, 2 Cz, T', H', W')


class Decoder(nn.Module):
    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        ch = cfg.channels[::-1]
        temporal = cfg.temporal_downsample[::-1]
        self.conv_in = CausalConv3d(cfg.latent_channels, ch[0])
        self.mid = ResBlock(ch[0], ch[0])
        self.levels = nn.ModuleList()
        for i, c in enumerate(ch):
            blocks: list[nn.Module] = [ResBlock(c, c) for _ in range(cfg.blocks_per_level)]
            if i < len(ch) - 1:
                blocks.append(Upsample(c, ch[i + 1], temporal[i]))
            self.levels.append(nn.Sequential(*blocks))
        self.norm_out = ChannelRMSNorm(ch[-1])
        self.conv_out = CausalConv3d(ch[-1], cfg.in_channels)

    def forward(self, z: Tensor) -> Tensor:
        h = self.mid(self.conv_in(z))
        for level in self.levels:
            h = level(h)
        return self.conv_out(F.silu(self.norm_out(h)))  # (B, 3, T, H, W)


class CausalVAE(nn.Module):
    """Causal 3D VAE. Pixels in [-1, 1], latents normalised by ``cfg.scale`` / ``cfg.shift``."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        if len(cfg.temporal_downsample) != len(cfg.channels) - 1:
            raise ValueError("temporal_downsample needs one entry per level transition")
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)

    def encode_dist(self, video: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean and log-variance (unnormalised), for training.

        Args:
            video: (B, 3, T, H, W) in [-1, 1], ``T = 1 + r k``, H and W multiples of the
                spatial factor.

        Returns:
            mean, logvar: (B, Cz, T', H', W') each; logvar clamped to [-30, 20].
        """
        self.cfg.latent_shape(*video.shape[-3:])
        mean, logvar = self.encoder(video).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def encode(self, video: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Normalised latent of ``video``: the posterior mean, or a sample when a generator is
        given (noise drawn on the CPU, so a seed means the same latent on every device).

        Args:
            video: (B, 3, T, H, W) in [-1, 1].

        Returns:
            (B, Cz, T', H', W') latents.
        """
        mean, logvar = self.encode_dist(video)
        z = mean
        if generator is not None:
            eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype).to(mean.device)
            z = mean + (0.5 * logvar).exp() * eps
        return (z - self.cfg.shift) * self.cfg.scale

    def decode(self, z: Tensor) -> Tensor:
        """Pixels of normalised latents ``z`` (B, Cz, T', H', W') -> (B, 3, T, H, W), unclamped."""
        return self.decoder(z / self.cfg.scale + self.cfg.shift)

    def forward(self, video: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Reconstruction (B, 3, T, H, W) of ``video`` (for training and PSNR checks)."""
        return self.decode(self.encode(video, generator=generator))
