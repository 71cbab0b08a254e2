"""The spatio-temporal video transformer (SVT): a flow-matching velocity model over video latents.

``SVT.forward(x, t, cond) -> velocity`` with ``x`` (B, C, T, H, W) latents. Design, in order of
the data flow:

* 3D patchify (``pt x ph x pw``) into tokens on a (T', H', W') grid; every aspect ratio gets its
  own grid, and 3D rotary embeddings (Wan / Su et al.) give positions without a learned table.
* Conditioning vector per *latent frame* for adaLN-Zero (DiT): flow time, pooled text, per-clip
  camera parameters, per-frame camera path features and pooled identity. Per-frame (not per-clip)
  time lets conditioning frames sit at ``t = 0`` (clean) while the rest is being denoised, which
  is how image-to-video, extension and keyframes are expressed (LTX-Video style).
* Cross-attention to text tokens (and identity tokens, for character lock).
* Learned null embeddings for text, camera and identity so classifier-free guidance and training
  condition dropout use the same code path (``SVTCondition.drop_*``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

CAMERA_DIM = 16
"""Per-clip camera parameter features (focal, aperture, focus, shutter, move...); see pipeline."""
CAMERA_PATH_DIM = 13
"""Per-frame camera path features: pose relative to frame 0 (3x3 + 3) and log zoom."""


@dataclass(frozen=True)
class SVTConfig:
    """Architecture of an :class:`SVT`. Frozen: the same config always builds the same shapes.

    Args:
        in_channels: latent channels C of the VAE it denoises.
        patch_size: (pt, ph, pw) latent voxels per token.
        dim: token width D; must be divisible by ``heads``.
        depth: number of transformer blocks.
        heads: attention heads; the head width ``hd = dim // heads`` must be even and >= 6: the
            rotary split gives ``2 * (hd // 6)`` channels to each spatial axis, the rest to time.
        mlp_ratio: MLP hidden width / D.
        text_dim: width of the text encoder's token states (MiniLM: 384).
        camera_dim: per-clip camera feature width.
        camera_path_dim: per-frame camera path feature width.
        identity_dim: width of identity embeddings (character lock); 0 disables identity.
        rope_theta: rotary base frequency.
    """

    in_channels: int = 4
    patch_size: tuple[int, int, int] = (1, 2, 2)
    dim: int = 64
    depth: int = 2
    heads: int = 4
    mlp_ratio: float = 4.0
    text_dim: int = 384
    camera_dim: int = CAMERA_DIM
    camera_path_dim: int = CAMERA_PATH_DIM
    identity_dim: int = 384
    rope_theta: float = 10000.0

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    @property
    def patch_volume(self) -> int:
        pt, ph, pw = self.patch_size
        return self.in_channels * pt * ph * pw


PRESETS: dict[str, SVTConfig] = {
    # Unit tests and the studio's end-to-end tests: a forward takes milliseconds on a CPU.
    "tiny": SVTConfig(in_channels=4, dim=64, depth=2, heads=4),
    # CPU training runs (~12M parameters).
    "small": SVTConfig(in_channels=8, dim=256, depth=8, heads=4),
    # The GPU-trained shipped size (~41M parameters), see RUNTIME.md's H100 estimate.
    "base": SVTConfig(in_channels=16, dim=384, depth=12, heads=6),
}


@dataclass
class SVTCondition:
    """Everything the SVT is conditioned on besides ``x`` and ``t``. Batch size B throughout.

    Args:
        text_tokens: (B, L, text_dim) token states of the prompt.
        text_mask: (B, L) bool, True for real tokens (padding is False).
        text_pooled: (B, text_dim) pooled prompt embedding.
        camera: (B, camera_dim) per-clip camera parameters, or None for "unspecified".
        camera_path: (B, T', camera_path_dim) camera path features per latent frame, or None.
        identity: (B, N, identity_dim) identity embeddings (character lock), or None.
        drop_text: (B,) bool: replace text by the learned null (CFG unconditional / dropout).
        drop_camera: (B,) bool: replace camera and camera path by their learned nulls.
        drop_identity: (B,) bool: replace identity by the learned null.
    """

    text_tokens: Tensor
    text_mask: Tensor
    text_pooled: Tensor
    camera: Tensor | None = None
    camera_path: Tensor | None = None
    identity: Tensor | None = None
    drop_text: Tensor | None = None
    drop_camera: Tensor | None = None
    drop_identity: Tensor | None = None

    @property
    def batch(self) -> int:
        return self.text_tokens.shape[0]

    def with_dropout(
        self,
        *,
        p_text: float = 0.1,
        p_camera: float = 0.1,
        p_identity: float = 0.1,
        generator: torch.Generator | None = None,
    ) -> SVTCondition:
        """Independent per-sample condition dropout for training classifier-free guidance.

        Args:
            p_text, p_camera, p_identity: drop probabilities in [0, 1].
            generator: CPU generator, so a training run is reproducible.
        """
        u = torch.rand(3, self.batch, generator=generator).to(self.text_tokens.device)  # (3, B)
        return replace(
            self,
            drop_text=u[0] < p_text,
            drop_camera=u[1] < p_camera,
            drop_identity=u[2] < p_identity,
        )

    def unconditional(self, *, drop: tuple[str, ...] = ("text",)) -> SVTCondition:
        """The same condition with the named parts (text, camera, identity) set to their nulls."""
        on = torch.ones(self.batch, dtype=torch.bool, device=self.text_tokens.device)
        return replace(self, **{f"drop_{name}": on for name in drop})

    @staticmethod
    def cat(conds: list[SVTCondition]) -> SVTCondition:
        """Concatenate along the batch (e.g. conditional + unconditional for CFG in one pass).

        Text tokens are right-padded to the longest; optional parts must be all set or all None.
        """
        length = max(c.text_tokens.shape[1] for c in conds)

        def pad(tokens: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
            extra = length - tokens.shape[1]
            return F.pad(tokens, (0, 0, 0, extra)), F.pad(mask, (0, extra), value=False)

        padded = [pad(c.text_tokens, c.text_mask) for c in conds]

        def opt(name: str) -> Tensor | None:
            parts = [getattr(c, name) for c in conds]
            if all(p is None for p in parts):
                return None
            if any(p is None for p in parts):
                if name.startswith("drop_"):
                    parts = [
                        torch.zeros(c.batch, dtype=torch.bool, device=c.text_tokens.device)
                        if p is None
                        else p
                        for c, p in zip(conds, parts, strict=True)
                    ]
                else:
                    raise ValueError(f"cannot concatenate conditions where only some set {name}")
            return torch.cat(parts)

        return SVTCondition(
            text_tokens=torch.cat([p[0] for p in padded]),
            text_mask=torch.cat([p[1] for p in padded]),
            text_pooled=torch.cat([c.text_pooled for c in conds]),
            camera=opt("camera"),
            camera_path=opt("camera_path"),
            identity=opt("identity"),
            drop_text=opt("drop_text"),
            drop_camera=opt("drop_camera"),
            drop_identity=opt("drop_identity"),
        )


def timestep_embedding(t: Tensor, dim: int, *, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal features of flow time (DiT), scaled by 1000 so [0, 1] spans many periods.

    Args:
        t: (...) times in [0, 1].
        dim: even feature width.

    Returns:
        (..., dim) float32 features.
    """
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )  # (half,)
    args = 1000.0 * t.float()[..., None] * freqs  # (..., half)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # (..., dim)


def rope_3d(
    grid: tuple[int, int, int], head_dim: int, theta: float, device: torch.device
) -> tuple[Tensor, Tensor]:
    """Cos/sin tables of 3D rotary embeddings for a (T', H', W') token grid.

    The head width is split into a time part and two equal spatial parts (each even); token
    ``(f, h, w)`` rotates each part by its own index, so relative offsets along every axis are
    visible to attention and any grid size works without retraining a position table.

    Returns:
        cos, sin: (N, head_dim // 2) float32 with N = T' * H' * W'.
    """
    d_space = 2 * (head_dim // 6)
    d_time = head_dim - 2 * d_space
    tables = []
    for size, d in zip(grid, (d_time, d_space, d_space), strict=True):
        inv = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float32, device=device) / d)
        tables.append(torch.outer(torch.arange(size, dtype=torch.float32, device=device), inv))
    f, h, w = grid
    ang = torch.cat(
        [
            tables[0][:, None, None, :].expand(f, h, w, -1),
            tables[1][None, :, None, :].expand(f, h, w, -1),
            tables[2][None, None, :, :].expand(f, h, w, -1),
        ],
        dim=-1,
    ).reshape(f * h * w, head_dim // 2)  # (N, hd/2)
    return ang.cos(), ang.sin()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate channel pairs of ``x`` (B, heads, N, hd) by the angles behind ``cos``/``sin``."""
    x1, x2 = x.float().unflatten(-1, (-1, 2)).unbind(-1)  # (B, h, N, hd/2) each
    out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)
    return out.to(x.dtype)  # (B, h, N, hd)


class RMSNorm(nn.Module):
    """RMS normalisation with a learned gain (for q/k: keeps attention logits bounded)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight.to(x.dtype), self.eps)


class _Attention(nn.Module):
    """Projections shared by self- and cross-attention (q/k/v/out, per-head q/k norms).

    The attribute names are the weight keys and the LoRA targets: keep them.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.q_norm = RMSNorm(dim // heads)
        self.k_norm = RMSNorm(dim // heads)


class SelfAttention(_Attention):
    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        b, n, d = x.shape  # (B, N, D)
        q = self.q_norm(self.q(x).view(b, n, self.heads, -1)).transpose(1, 2)  # (B, h, N, hd)
        k = self.k_norm(self.k(x).view(b, n, self.heads, -1)).transpose(1, 2)  # (B, h, N, hd)
        v = self.v(x).view(b, n, self.heads, -1).transpose(1, 2)  # (B, h, N, hd)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        o = F.scaled_dot_product_attention(q, k, v)  # (B, h, N, hd)
        return self.out(o.transpose(1, 2).reshape(b, n, d))  # (B, N, D)


class CrossAttention(_Attention):
    def forward(self, x: Tensor, ctx: Tensor, ctx_mask: Tensor) -> Tensor:
        b, n, d = x.shape  # (B, N, D)
        m = ctx.shape[1]  # ctx: (B, M, D)
        q = self.q_norm(self.q(x).view(b, n, self.heads, -1)).transpose(1, 2)  # (B, h, N, hd)
        k = self.k_norm(self.k(ctx).view(b, m, self.heads, -1)).transpose(1, 2)  # (B, h, M, hd)
        v = self.v(ctx).view(b, m, self.heads, -1).transpose(1, 2)  # (B, h, M, hd)
        mask = ctx_mask[:, None, None, :]  # (B, 1, 1, M), True = attend
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, h, N, hd)
        return self.out(o.transpose(1, 2).reshape(b, n, d))  # (B, N, D)


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


def _modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    # x: (B, T', S, D); shift/scale: (B, T', 1, D) -- one modulation per latent frame.
    return x * (1.0 + scale) + shift


class SVTBlock(nn.Module):
    """adaLN-Zero block: modulated self-attention, cross-attention, modulated MLP.

    The modulation projection starts at zero, so every block starts as the identity and the
    network's initial output is decided by the final layer alone (DiT's adaLN-Zero).
    """

    def __init__(self, cfg: SVTConfig) -> None:
        super().__init__()
        d = cfg.dim
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(d, cfg.heads)
        self.norm2 = nn.LayerNorm(d, eps=1e-6)
        self.cross = CrossAttention(d, cfg.heads)
        self.norm3 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mlp = MLP(d, int(d * cfg.mlp_ratio))
        self.ada = nn.Linear(d, 6 * d)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(
        self,
        x: Tensor,
        c: Tensor,
        grid: tuple[int, int, int],
        cos: Tensor,
        sin: Tensor,
        ctx: Tensor,
        ctx_mask: Tensor,
    ) -> Tensor:
        b, n, d = x.shape  # (B, N, D), N = T' * S
        f = grid[0]
        mod = self.ada(F.silu(c)).unsqueeze(2)  # (B, T', 1, 6D)
        sh1, sc1, g1, sh2, sc2, g2 = mod.chunk(6, dim=-1)  # (B, T', 1, D) each
        h = _modulate(self.norm1(x).view(b, f, -1, d), sh1, sc1).view(b, n, d)  # (B, N, D)
        x = x + (g1 * self.attn(h, cos, sin).view(b, f, -1, d)).view(b, n, d)
        x = x + self.cross(self.norm2(x), ctx, ctx_mask)
        h = _modulate(self.norm3(x).view(b, f, -1, d), sh2, sc2).view(b, n, d)  # (B, N, D)
        x = x + (g2 * self.mlp(h).view(b, f, -1, d)).view(b, n, d)
        return x


class SVT(nn.Module):
    """Spatio-temporal video transformer predicting flow-matching velocity."""

    def __init__(self, cfg: SVTConfig) -> None:
        super().__init__()
        if cfg.dim % cfg.heads or cfg.head_dim % 2 or cfg.head_dim < 6:
            raise ValueError(f"dim {cfg.dim} / heads {cfg.heads} gives an unusable head width")
        self.cfg = cfg
        d = cfg.dim
        self.patch_in = nn.Linear(cfg.patch_volume, d)
        self.time_mlp = nn.Sequential(nn.Linear(256, d), nn.SiLU(), nn.Linear(d, d))
        self.text_pool_mlp = nn.Sequential(nn.Linear(cfg.text_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.text_proj = nn.Sequential(nn.Linear(cfg.text_dim, d), nn.GELU(approximate="tanh"))
        self.camera_mlp = nn.Sequential(nn.Linear(cfg.camera_dim, d), nn.SiLU(), nn.Linear(d, d))
        self.path_mlp = nn.Sequential(nn.Linear(cfg.camera_path_dim, d), nn.SiLU(), nn.Linear(d, d))
        # Learned "nothing given" embeddings: CFG's unconditional branch and dropout use them.
        self.null_text_token = nn.Parameter(torch.randn(cfg.text_dim) * 0.02)
        self.null_text_pooled = nn.Parameter(torch.randn(cfg.text_dim) * 0.02)
        self.null_camera = nn.Parameter(torch.zeros(d))
        self.null_camera_path = nn.Parameter(torch.zeros(d))
        if cfg.identity_dim:
            self.identity_proj = nn.Linear(cfg.identity_dim, d)
            self.identity_pool = nn.Linear(cfg.identity_dim, d)
            self.null_identity = nn.Parameter(torch.randn(d) * 0.02)
        self.blocks = nn.ModuleList(SVTBlock(cfg) for _ in range(cfg.depth))
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Linear(d, 2 * d)
        self.proj_out = nn.Linear(d, cfg.patch_volume)
        # Zero output at init: the untrained model predicts zero velocity (DiT's final layer).
        for lin in (self.ada_out, self.proj_out):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def grid_for(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        """Token grid (T', H', W') for a latent of shape (..., T, H, W)."""
        t, h, w = shape[-3:]
        pt, ph, pw = self.cfg.patch_size
        if t % pt or h % ph or w % pw:
            raise ValueError(f"latent (T, H, W) = {(t, h, w)} is not divisible by {(pt, ph, pw)}")
        return t // pt, h // ph, w // pw

    def patchify(self, x: Tensor) -> Tensor:
        """(B, C, T, H, W) -> (B, T'*H'*W', C*pt*ph*pw), tokens in (frame, row, column) order."""
        b, c = x.shape[:2]
        f, h, w = self.grid_for(x.shape)
        pt, ph, pw = self.cfg.patch_size
        x = x.reshape(b, c, f, pt, h, ph, w, pw)
        x = x.permute(0, 2, 4, 6, 1, 3, 5, 7)  # (B, T', H', W', C, pt, ph, pw)
        return x.reshape(b, f * h * w, -1)  # (B, N, P)

    def unpatchify(self, tokens: Tensor, grid: tuple[int, int, int]) -> Tensor:
        """Inverse of :meth:`patchify`: (B, N, P) -> (B, C, T, H, W)."""
        b = tokens.shape[0]
        f, h, w = grid
        pt, ph, pw = self.cfg.patch_size
        x = tokens.reshape(b, f, h, w, self.cfg.in_channels, pt, ph, pw)
        x = x.permute(0, 4, 1, 5, 2, 6, 3, 7)  # (B, C, T', pt, H', ph, W', pw)
        return x.reshape(b, self.cfg.in_channels, f * pt, h * ph, w * pw)

    def _context(self, cond: SVTCondition, f: int) -> tuple[Tensor, Tensor, Tensor]:
        """Cross-attention context, its mask, and the per-frame adaLN vector (without time)."""
        b = cond.batch
        tokens, mask, pooled = cond.text_tokens, cond.text_mask, cond.text_pooled
        if cond.drop_text is not None:
            drop = cond.drop_text.view(b, 1, 1)
            tokens = torch.where(drop, self.null_text_token.to(tokens.dtype), tokens)
            # A dropped prompt is one null token: no padding or length information leaks.
            first = torch.zeros_like(mask)
            first[:, 0] = True
            mask = torch.where(drop.view(b, 1), first, mask)
            pooled = torch.where(
                cond.drop_text.view(b, 1), self.null_text_pooled.to(pooled.dtype), pooled
            )
        ctx = self.text_proj(tokens)  # (B, L, D)
        c = self.text_pool_mlp(pooled)  # (B, D)

        d = self.cfg.dim
        drop_cam = cond.drop_camera.view(b, 1) if cond.drop_camera is not None else None
        if cond.camera is None:
            cam = self.null_camera.expand(b, d)
        else:
            cam = self.camera_mlp(cond.camera)  # (B, D)
            if drop_cam is not None:
                cam = torch.where(drop_cam, self.null_camera, cam)
        if cond.camera_path is None:
            path = self.null_camera_path.expand(b, f, d)  # (B, T', D)
        else:
            if cond.camera_path.shape[1] != f:
                raise ValueError(
                    f"camera_path has {cond.camera_path.shape[1]} frames, the latent grid {f}"
                )
            path = self.path_mlp(cond.camera_path)  # (B, T', D)
            if drop_cam is not None:
                path = torch.where(drop_cam.view(b, 1, 1), self.null_camera_path, path)
        c = c[:, None, :] + cam[:, None, :] + path  # (B, T', D)

        if self.cfg.identity_dim:
            if cond.identity is None:
                ident_pool = self.null_identity.expand(b, d)  # (B, D)
            else:
                ident_tokens = self.identity_proj(cond.identity)  # (B, K, D)
                ident_mask = torch.ones(
                    ident_tokens.shape[:2], dtype=torch.bool, device=mask.device
                )
                ident_pool = self.identity_pool(cond.identity.mean(dim=1))  # (B, D)
                if cond.drop_identity is not None:
                    ident_mask = ident_mask & ~cond.drop_identity.view(b, 1)
                    ident_pool = torch.where(
                        cond.drop_identity.view(b, 1), self.null_identity, ident_pool
                    )
                ctx = torch.cat([ctx, ident_tokens], dim=1)  # (B, L + K, D)
                mask = torch.cat([mask, ident_mask], dim=1)  # (B, L + K)
            c = c + ident_pool[:, None, :]
        return ctx, mask, c

    def forward(self, x: Tensor, t: Tensor, cond: SVTCondition) -> Tensor:
        """Predict the flow velocity ``noise - x0`` at ``x``.

        Args:
            x: (B, C, T, H, W) latents at time ``t``.
            t: (B,) times in [0, 1], or (B, T) one time per latent frame (0 marks a clean
                conditioning frame).
            cond: see :class:`SVTCondition`; ``camera_path`` has one row per latent frame group
                of ``patch_size[0]`` frames (T' rows).

        Returns:
            (B, C, T, H, W) velocity, same dtype as ``x``.
        """
        b = x.shape[0]
        grid = self.grid_for(x.shape)
        f = grid[0]
        pt = self.cfg.patch_size[0]
        # (B, T'); with per-frame times a token takes the time of its first frame.
        t_frames = t[:, None].expand(b, f) if t.ndim == 1 else t[:, ::pt]
        temb = self.time_mlp(timestep_embedding(t_frames, 256).to(x.dtype))  # (B, T', D)
        ctx, ctx_mask, c = self._context(cond, f)
        c = c + temb  # (B, T', D)

        cos, sin = rope_3d(grid, self.cfg.head_dim, self.cfg.rope_theta, x.device)  # (N, hd/2)
        h = self.patch_in(self.patchify(x))  # (B, N, D)
        for block in self.blocks:
            h = block(h, c, grid, cos, sin, ctx, ctx_mask)
        shift, scale = self.ada_out(F.silu(c)).unsqueeze(2).chunk(2, dim=-1)  # (B, T', 1, D)
        d = self.cfg.dim
        h = _modulate(self.norm_out(h).view(b, f, -1, d), shift, scale).view(b, -1, d)
        return self.unpatchify(self.proj_out(h), grid).to(x.dtype)  # (B, C, T, H, W)
