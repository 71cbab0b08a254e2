"""Train the keyframe model on world keyframes (`keyframe_data`), in the background, resumably.

    nice -n 10 python -m generation.engine.training.keyframe --data var/keyframes \
        --out var/train/keyframe --minutes 120 [--resume]

Each step draws one aspect ratio (weighted by how many keyframes it has) and a batch of its
keyframes, flips half of them left-right (nothing in a keyframe caption says left or right), drops
the caption for 10 % (so classifier-free guidance has an unconditional model) and takes one
flow-matching step under bf16 autocast with channels_last convolutions, its error weighted up on
the pixels that show the caption's subject (`--subject-weight`). Every few minutes it
writes an atomic checkpoint (model, EMA, optimiser, step, clocks); `--export DIR` writes the EMA
weights as `keyframe.safetensors` + `keyframe.json`.

The loss keeps falling long after the caption's colour stops improving, so every
`--colour-minutes` the EMA paints held-out captions that name a colour and the log records how
often the keyframe shows it and how often it shows a colour the caption does not have; the
weights with the best difference so far are kept in `OUT/best-colour/` (int8, ready to ship).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import torch
import torch.nn.functional as F

from generation.engine import precision
from generation.engine.colour_probe import absent_colours, colour_probe, named_colours
from generation.engine.models.keyframe import (
    PRESETS,
    KeyframeModel,
    channels_to_rgb,
    depth_to_channel,
    rgb_to_channels,
)
from generation.engine.native import keyframe_size
from generation.engine.pipeline.keyframe import paint_keyframes
from generation.engine.schedules import logit_normal_t, noise_to, velocity_target
from generation.engine.text import TextBatch, load_text_encoder
from generation.engine.training.common import Run, RunLog, init_from, standard_arguments
from generation.engine.training.keyframe_data import HELD_OUT_SEED, read_shard, render_keyframe

CAPTION_DROP = 0.1


def subject_weighted_mse(
    v: torch.Tensor, target: torch.Tensor, subject: torch.Tensor, weight: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The velocity error with each pixel counted `1 + weight x subject coverage` times, scaled
    so that weight 0 is the plain mean squared error; and the error on the subject's pixels
    alone (for the log). v, target: (B, C, H, W); subject: (B, 1, H, W) in [0, 1].

    The subject is 0.5-5 % of a keyframe's pixels: unweighted, the loss is sky and ground,
    which the model learns first, and a run can lower it for hours without drawing the object
    the caption names."""
    err = (v.float() - target).square()
    w = 1 + weight * subject
    loss = (err * w).sum() / (w.sum() * err.shape[1])
    on_subject = (err * subject).sum() / (subject.sum() * err.shape[1]).clamp(min=1e-6)
    return loss, on_subject.detach()


def token_cache(shard: Path, captions: list[str]) -> dict:
    """MiniLM states of a shard's captions, computed once and kept beside the shard (fp16)."""
    path = shard.with_suffix(".tokens.pt")
    if path.is_file():
        return torch.load(path, weights_only=True)
    text = load_text_encoder().encode_many(captions)
    data = {"tokens": text.tokens.half(), "mask": text.mask, "pooled": text.pooled.half()}
    torch.save(data, path)
    return data


class KeyframeBank:
    """Every keyframe in memory, grouped by aspect (a batch shares one size). `refresh` takes
    in shards written since, so a run can start while the data is still being rendered."""

    def __init__(self, data_dir: Path, max_shards: int | None = None) -> None:
        self.data_dir, self.max_shards = data_dir, max_shards
        self.loaded: set[str] = set()
        self.aspects: list[str] = []
        self.rgb: dict[str, torch.Tensor] = {}  # (N, H, W, 3) uint8
        self.depth: dict[str, torch.Tensor] = {}  # (N, H, W) fp16
        self.subject: dict[str, torch.Tensor] = {}  # (N, H, W) uint8 coverage x 255
        self.tokens: dict[str, list[torch.Tensor]] = {}  # N x (L_i, 384)
        self.pooled: dict[str, torch.Tensor] = {}
        self.focal: dict[str, torch.Tensor] = {}
        if not self.refresh():
            raise FileNotFoundError(f"no keyframe shards in {data_dir}")

    def refresh(self) -> int:
        """Load the shards not loaded yet; returns how many keyframes were added."""
        shards = sorted(self.data_dir.glob("keyframes-*.pt"))
        shards = [s for s in shards if not s.name.endswith(".tokens.pt")][: self.max_shards]
        groups: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        added = 0
        for shard in shards:
            if shard.name in self.loaded:
                continue
            samples = read_shard(shard)
            text = token_cache(shard, [s["caption"] for s in samples])
            for j, s in enumerate(samples):
                g = groups[s["camera"]["aspect"]]
                g["rgb"].append(s["rgb"])
                g["depth"].append(s["depth"].half())
                g["subject"].append((s["subject"] * 255).round().to(torch.uint8))
                length = int(text["mask"][j].sum())
                g["tokens"].append(text["tokens"][j, :length])
                g["pooled"].append(text["pooled"][j])
                g["focal"].append(s["camera"]["focal_mm"])
            self.loaded.add(shard.name)
            added += len(samples)
        for a, g in groups.items():
            new = {
                "rgb": torch.stack(g["rgb"]),
                "depth": torch.stack(g["depth"]),
                "subject": torch.stack(g["subject"]),
                "pooled": torch.stack(g["pooled"]),
                "focal": torch.tensor(g["focal"]),
            }
            for name, values in new.items():
                table = getattr(self, name)
                table[a] = torch.cat([table[a], values]) if a in table else values
            self.tokens[a] = self.tokens.get(a, []) + g["tokens"]
        self.aspects = sorted(self.focal)
        self.counts = torch.tensor([len(self.focal[a]) for a in self.aspects], dtype=torch.float)
        return added

    def __len__(self) -> int:
        return int(self.counts.sum())

    def batch(self, size: int, null: TextBatch, g: torch.Generator) -> dict:
        aspect = self.aspects[int(torch.multinomial(self.counts, 1, generator=g))]
        idx = torch.randint(0, len(self.focal[aspect]), (size,), generator=g)
        x0 = torch.cat(
            [
                rgb_to_channels(self.rgb[aspect][idx]),
                depth_to_channel(self.depth[aspect][idx].float())[:, None],
            ],
            dim=1,
        )  # (B, 4, H, W)
        subject = self.subject[aspect][idx].float()[:, None] / 255  # (B, 1, H, W)
        flip = torch.rand(size, generator=g) < 0.5
        x0 = torch.where(flip[:, None, None, None], x0.flip(-1), x0)
        subject = torch.where(flip[:, None, None, None], subject.flip(-1), subject)
        drop = torch.rand(size, generator=g) < CAPTION_DROP
        rows = [
            null.tokens[0, : int(null.mask[0].sum())] if d else self.tokens[aspect][i].float()
            for i, d in zip(idx.tolist(), drop.tolist(), strict=True)
        ]
        length = max(r.shape[0] for r in rows)
        tokens = torch.stack([F.pad(r, (0, 0, 0, length - r.shape[0])) for r in rows])
        mask = torch.stack([torch.arange(length) < r.shape[0] for r in rows])  # (B, L)
        pooled = torch.where(drop[:, None], null.pooled[0], self.pooled[aspect][idx].float())
        return {
            "x0": x0,
            "subject": subject,
            "tokens": tokens,
            "mask": mask,
            "pooled": pooled,
            "focal": self.focal[aspect][idx],
        }


def held_out_prompts(count: int) -> list[dict]:
    return [render_keyframe(HELD_OUT_SEED, i) for i in range(count)]


def colour_prompts(count: int, first: int = 1000) -> list[dict]:
    """`count` held-out keyframes whose subject phrase names a colour (past the sheet's)."""
    found: list[dict] = []
    i = first
    while len(found) < count:
        s = render_keyframe(HELD_OUT_SEED, i)
        if named_colours(s["labels"]["subject_phrase"]):
            found.append(s)
        i += 1
    return found


@torch.no_grad()
def colour_check(model: KeyframeModel, held: list[dict], steps: int = 20) -> dict[str, float]:
    """How often a keyframe painted from each held-out caption shows the colour it names, and
    how often it shows a colour neither caption nor scene has (the bench's colour measure)."""
    enc = load_text_encoder()
    null = enc.encode([""])
    g = torch.Generator().manual_seed(0)
    by_aspect: dict[str, list[dict]] = defaultdict(list)
    for s in held:
        by_aspect[s["camera"]["aspect"]].append(s)
    found = false = 0
    for aspect, group in sorted(by_aspect.items()):
        painted = paint_keyframes(
            model,
            enc.encode([s["caption"] for s in group]),
            null,
            torch.tensor([s["camera"]["focal_mm"] for s in group]),
            keyframe_size(aspect),
            steps=steps,
            generator=g,
        )
        for s, x in zip(group, painted, strict=True):
            rgb = channels_to_rgb(x[:3])[None]
            found += colour_probe(rgb, named_colours(s["labels"]["subject_phrase"]))
            absent = absent_colours(s["labels"], s["caption"])
            false += bool(absent) and colour_probe(rgb, absent[:1])
    return {
        "colour_found": round(found / len(held), 3),
        "colour_false_positive": round(false / len(held), 3),
    }


def sample_sheet(model: KeyframeModel, held: list[dict], path: Path, steps: int = 20) -> None:
    """Ground truth | sample | sample depth for each held-out caption, as one PNG."""
    from PIL import Image

    enc = load_text_encoder()
    null = enc.encode([""])
    rows = []
    g = torch.Generator().manual_seed(0)
    for s in held:
        size = keyframe_size(s["camera"]["aspect"])
        x = paint_keyframes(
            model,
            enc.encode([s["caption"]]),
            null,
            torch.tensor([s["camera"]["focal_mm"]]),
            size,
            steps=steps,
            generator=g,
        )[0]
        rgb = channels_to_rgb(x[:3])
        depth = channels_to_rgb(x[3:4].expand(3, -1, -1))
        truth = s["rgb"]
        row = torch.cat([truth, rgb, depth], dim=1)  # (H, 3W, 3)
        rows.append(F.pad(row.permute(2, 0, 1), (0, 192 * 3 - row.shape[1], 0, 2)).permute(1, 2, 0))
    sheet = torch.cat(rows, dim=0).numpy()
    Image.fromarray(sheet).resize(
        (sheet.shape[1] * 2, sheet.shape[0] * 2), Image.Resampling.NEAREST
    ).save(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("var/keyframes"))
    parser.add_argument("--preset", default="base", choices=sorted(PRESETS))
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--sheet-minutes", type=float, default=30.0)
    parser.add_argument("--colour-minutes", type=float, default=10.0)
    parser.add_argument("--colour-prompts", type=int, default=48)
    parser.add_argument(
        "--subject-weight",
        type=float,
        default=20.0,
        help="extra weight of the subject's pixels in the loss (0: plain MSE)",
    )
    standard_arguments(parser, out="var/train/keyframe", minutes=60, lr=3e-4, batch=32)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    resume = bool(args.resume or args.export)
    run = Run(
        args.out,
        PRESETS[args.preset],
        KeyframeModel,
        lr=args.lr,
        resume=resume,
        init=init_from(args, "keyframe"),
    )
    if args.export is not None:
        run.export(args.export, "keyframe", args.export_dtype)
        return
    log = RunLog(args.out)
    bank = KeyframeBank(args.data, args.max_shards)
    params = sum(p.numel() for p in run.model.parameters())
    log.write(event="start", step=run.step, keyframes=len(bank), params=params)
    null = load_text_encoder().encode([""])
    held = held_out_prompts(8)
    coloured = colour_prompts(args.colour_prompts)
    best = -float("inf")
    g = torch.Generator().manual_seed(1000 + run.step)
    started = last_ckpt = last_sheet = last_colour = window = time.perf_counter()
    losses: list[float] = []
    subject_losses: list[float] = []
    while run.training(started, args):
        b = bank.batch(args.batch, null, g)
        x0 = b["x0"].contiguous(memory_format=torch.channels_last)
        noise = torch.randn(x0.shape, generator=g).contiguous(memory_format=torch.channels_last)
        t = logit_normal_t(x0.shape[0], generator=g)
        lr = args.lr * min(1.0, (run.step + 1) / args.warmup)
        run.set_lr(lr)
        with precision.autocast("cpu"):
            v = run.model(
                noise_to(x0, noise, t), t, b["tokens"], b["mask"], b["pooled"], b["focal"]
            )
        loss, on_subject = subject_weighted_mse(
            v, velocity_target(x0, noise), b["subject"], args.subject_weight
        )
        run.update(loss, x0.shape[0])
        losses.append(loss.item())
        subject_losses.append(on_subject.item())
        now = time.perf_counter()
        if run.step % 20 == 0:
            log.write(
                step=run.step,
                loss=round(sum(losses) / len(losses), 5),
                subject_loss=round(sum(subject_losses) / len(subject_losses), 5),
                images_per_s=round(len(losses) * args.batch / (now - window), 2),
                lr=lr,
                seen=run.seen,
            )
            losses, subject_losses, window = [], [], now
        if now - last_ckpt > args.checkpoint_minutes * 60:
            run.save()
            added = bank.refresh()
            if added:
                log.write(event="data", step=run.step, added=added, keyframes=len(bank))
            last_ckpt = time.perf_counter()
        if now - last_sheet > args.sheet_minutes * 60:
            sample_sheet(run.ema.model, held, args.out / f"sheet-{run.step:06d}.png")
            last_sheet = time.perf_counter()
        if coloured and now - last_colour > args.colour_minutes * 60:
            measured = colour_check(run.ema.model, coloured)
            score = measured["colour_found"] - measured["colour_false_positive"]
            log.write(event="colour", step=run.step, **measured)
            if score > best:
                best = score
                run.write_weights(args.out / "best-colour", "keyframe", "int8", **measured)
            last_colour = time.perf_counter()
    run.save()
    sample_sheet(run.ema.model, held, args.out / f"sheet-{run.step:06d}.png")
    log.write(
        event="stop", step=run.step, seen=run.seen, cpu_hours=round(run.clock.cpu_s / 3600, 3)
    )


if __name__ == "__main__":
    main()
