"""Quality of the built-in model on held-out world shots, beside ground truth and the untrained floor.

    python bench/quality.py [--weights weights/builtin] [--per-cell 2] [--quality standard]

Held-out shots: every camera move kind at 16:9, 9:16 and 1:1, `--per-cell` shots each, drawn
from world seeds no trainer uses (`SEED_BASE + i`). Each shot is a 16-frame clip at 24 fps (the
move classifier's own clip length) at the pipeline's native render size. Rows:

* ``ground truth``: the world renders itself (depth of field, motion blur, moving objects);
* ``cache``: the shot's true keyframe and depth through the 3D cache alone (holes left black) —
  the test of the cache renderer and the ceiling the camera can reach without learning. The
  keyframe is the world through the lens the pipeline paints its keyframe through, widened
  beyond the first frame by as much as the path looks past it (`ShotPath.painted_lens`);
* ``trained``: the pipeline with the weights, text to video from the shot's caption;
* ``floor``: the same pipeline with untrained networks.

Probes: the shipped move classifier (kind and direction), a colour probe for the colour named
in the caption's subject (with a negative control: a chromatic colour the scene does not have),
and the subject probe (`generation.engine.subject_probe`, figure / ball / box / cylinder) on the
first frame. The first `--modes` shots also run image to video (first frame vs the given image),
start + end keyframes (last frame vs the given end frame), extend (seam vs the continuation's
own frame-to-frame change), loop (last-to-first vs the clip's own) and reframe to 1:1 (the
source's area inside the new gate vs the source).

Writes bench/results/quality.{md,json}, docs/model/contact-sheet.png and docs/model/keyframes.png.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generation.engine.cache import render_along
from generation.engine.camera import MOVE_KINDS, BasePose, focal_length_px
from generation.engine.colour_probe import absent_colours, colour_probe, named_colours
from generation.engine.metrics import detect_move
from generation.engine.modes import Mode, Quality
from generation.engine.native import keyframe_size, render_size
from generation.engine.pipeline.path import ShotPath
from generation.engine.pipeline.request import GenerationRequest
from generation.engine.pipeline.video import VideoPipeline, build_pipeline
from generation.engine.subject_probe import load_probe, read_subject, subject_kind
from generation.engine.training.keyframe_data import KEYFRAME_RENDER
from generation.engine.world.captions import caption_for
from generation.engine.world.renderer import render_clip
from generation.engine.world.scene import sample_scene
from generation.engine.world.specs import random_camera_spec

ROOT = Path(__file__).resolve().parents[1]
SEED_BASE = 9_700_000
ASPECTS = ("16:9", "9:16", "1:1")
FRAMES, FPS = 16, 24.0


# -- probes ----------------------------------------------------------------------------------


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = F.mse_loss(a.float() / 255.0, b.float() / 255.0).item()
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def frame_diff(video: torch.Tensor) -> float:
    x = video.float() / 255.0
    return float((x[1:] - x[:-1]).abs().mean())


# -- shots -----------------------------------------------------------------------------------


def held_out(per_cell: int, aspects: tuple[str, ...] = ASPECTS) -> list[dict]:
    shots = []
    i = 0
    for aspect in aspects:
        for kind in MOVE_KINDS:
            for _ in range(per_cell):
                g = torch.Generator().manual_seed(SEED_BASE + i)
                spec = random_camera_spec(g, move=kind, compose_probability=0.0, aspect=aspect)
                scene = sample_scene(g, focal_mm=spec.focal_mm)
                shots.append(
                    {
                        "index": i,
                        "spec": spec,
                        "scene": scene,
                        "caption": caption_for(scene, spec, g),
                        "labels": scene.labels(),
                    }
                )
                i += 1
    return shots


def render_truth(shot: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """(clip (T, H, W, 3), keyframe rgb (h, w, 3), keyframe depth (h, w), the keyframe's lens).
    The keyframe is the world seen from the first frame's pose through the lens the pipeline
    paints its keyframe through (`ShotPath.painted_lens`)."""
    spec, scene = shot["spec"], shot["scene"]
    h, w = render_size(spec.aspect)
    clip = render_clip(scene, spec, num_frames=FRAMES, fps=FPS, height=h, width=w)
    kh, kw = keyframe_size(spec.aspect)
    lens = ShotPath(spec, BasePose(), FRAMES, FPS).painted_lens()
    key = render_clip(
        scene,
        replace(spec, focal_mm=lens),
        num_frames=FRAMES,
        fps=FPS,
        height=kh,
        width=kw,
        config=KEYFRAME_RENDER,
        frames=[0],
    )
    return clip.video, key.video[0], key.depth[0], lens


def reframe_expected(source: torch.Tensor, src_aspect: str, dst_aspect: str, focal: float):
    """The source frames seen through the destination gate from the same pose, and the mask of
    the destination pixels the source covers (pure intrinsics: a scale and a crop)."""
    sh, sw = source.shape[1:3]
    dh, dw = render_size(dst_aspect)
    f_s = focal_length_px(focal, sw, sh)
    f_d = focal_length_px(focal, dw, dh)
    ys = (torch.arange(dh) + 0.5 - dh / 2) * (f_s / f_d) + sh / 2
    xs = (torch.arange(dw) + 0.5 - dw / 2) * (f_s / f_d) + sw / 2
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    inside = (gx >= 1) & (gx <= sw - 1) & (gy >= 1) & (gy <= sh - 1)
    grid = torch.stack([gx / sw * 2 - 1, gy / sh * 2 - 1], -1)[None].expand(len(source), -1, -1, -1)
    x = source.permute(0, 3, 1, 2).float()
    out = F.grid_sample(x, grid, mode="bilinear", align_corners=False)
    return out.permute(0, 2, 3, 1).round().clamp(0, 255).to(torch.uint8), inside


def score_clip(video: torch.Tensor, shot: dict, probe) -> dict:
    spec = shot["spec"]
    guess = detect_move(video)
    want = spec.primary_move
    colours = named_colours(shot["labels"]["subject_phrase"])
    absent = absent_colours(shot["labels"], shot["caption"])
    return {
        "requested": want.label,
        "detected": guess.label,
        "move_match": guess.kind == want.kind,
        "move_and_direction": guess.kind == want.kind and guess.direction == want.direction,
        "colour_found": colour_probe(video, colours) if colours else None,
        "absent_colour_found": colour_probe(video, absent[:1]) if absent else None,
        "subject_right": read_subject(probe, video[:1])[0] == subject_kind(shot["labels"]),
        "frame_diff": frame_diff(video),
    }


def run_modes(pipe: VideoPipeline, shot: dict, truth: torch.Tensor, quality: Quality) -> dict:
    spec = shot["spec"]
    common = {
        "prompt": shot["caption"],
        "camera": spec,
        "aspect": spec.aspect,
        "fps": FPS,
        "quality": quality,
        "seed": shot["index"],
    }
    out: dict = {}
    i2v = pipe(GenerationRequest(mode=Mode.IMAGE, image=truth[0], num_frames=FRAMES, **common))
    out["i2v_first_psnr"] = psnr(i2v.frames[0], truth[0])
    out["i2v_move_and_direction"] = detect_move(i2v.frames).label == spec.primary_move.label
    kf = pipe(
        GenerationRequest(
            mode=Mode.KEYFRAMES, image=truth[0], end_image=truth[-1], num_frames=FRAMES, **common
        )
    )
    out["keyframes_last_psnr"] = psnr(kf.frames[-1], truth[-1])
    ext = pipe(GenerationRequest(mode=Mode.EXTEND, video=truth, num_frames=FRAMES, **common))
    seam = float((ext.frames[0].float() - truth[-1].float()).abs().mean() / 255.0)
    out["extend_seam_ratio"] = seam / max(frame_diff(ext.frames), 1e-6)
    loop = pipe(
        GenerationRequest(mode=Mode.IMAGE, image=truth[0], num_frames=FRAMES, loop=True, **common)
    )
    wrap = float((loop.frames[0].float() - loop.frames[-1].float()).abs().mean() / 255.0)
    out["loop_wrap_ratio"] = wrap / max(frame_diff(loop.frames), 1e-6)
    target = "1:1" if spec.aspect != "1:1" else "16:9"
    reframe_common = {**common, "aspect": target}
    ref = pipe(GenerationRequest(mode=Mode.REFRAME, video=truth, **reframe_common))
    expected, inside = reframe_expected(truth, spec.aspect, target, spec.focal_mm)
    # Compare away from the gate's edge, where the resampling of either side is exact.
    inner = (-F.max_pool2d(-inside[None, None].float(), 5, stride=1, padding=2))[0, 0] > 0.5
    a = ref.frames[:, inner].float()
    b = expected[:, inner].float()
    out["reframe_area_psnr"] = 10 * math.log10(1 / max(F.mse_loss(a / 255, b / 255).item(), 1e-12))
    return out


def mean(rows: list[dict], key: str) -> float | None:
    vals = [float(r[key]) for r in rows if r.get(key) is not None]
    return float(np.mean(vals)) if vals else None


# -- sheets ----------------------------------------------------------------------------------


def _tile(img: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """uint8 (H, W, 3) letterboxed into (h, w, 3)."""
    x = img.permute(2, 0, 1)[None].float()
    scale = min(h / x.shape[2], w / x.shape[3])
    size = (max(1, round(x.shape[2] * scale)), max(1, round(x.shape[3] * scale)))
    x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    out = torch.full((3, h, w), 20.0)
    top, left = (h - size[0]) // 2, (w - size[1]) // 2
    out[:, top : top + size[0], left : left + size[1]] = x[0]
    return out.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0)


def contact_sheet(rows: list[tuple[torch.Tensor, ...]], path: Path, tile: int = 112) -> None:
    """One row per shot: first, middle and last frame of each clip given, side by side."""
    lines = []
    for clips in rows:
        cells = [_tile(c[i], tile, tile) for c in clips for i in (0, len(c) // 2, len(c) - 1)]
        lines.append(torch.cat(cells, dim=1))
    Image.fromarray(torch.cat(lines, dim=0).numpy()).save(path)


def keyframe_sheet(
    pipe: VideoPipeline,
    shots: list[dict],
    truths: dict[int, torch.Tensor],
    path: Path,
    quality: Quality,
) -> None:
    """Ground truth | painted keyframe | its depth, for 16 held-out captions, 4 per row.
    `truths` holds each shot's true keyframe by index, as the main loop rendered it."""
    cells = []
    for shot in shots[:16]:
        spec = shot["spec"]
        truth = truths[shot["index"]]
        out = pipe(
            GenerationRequest(
                prompt=shot["caption"],
                camera=spec,
                aspect=spec.aspect,
                num_frames=1,
                quality=quality,
                seed=shot["index"],
            )
        )
        inv = (1.0 / out.keyframe_depth.clamp(min=1.0)).clamp(0, 1)
        depth = (inv * 255).round().to(torch.uint8)[..., None].expand(-1, -1, 3)
        cells.append(
            torch.cat(
                [_tile(truth, 96, 128), _tile(out.keyframe, 96, 128), _tile(depth, 96, 128)], dim=1
            )
        )
    blank = torch.full_like(cells[0], 20)
    cells += [blank] * (-len(cells) % 4)  # the last row as wide as the others
    rows = [torch.cat(cells[i : i + 4], dim=1) for i in range(0, len(cells), 4)]
    Image.fromarray(torch.cat(rows, dim=0).numpy()).save(path)


# -- main ------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default="weights/builtin")
    ap.add_argument("--per-cell", type=int, default=2)
    ap.add_argument("--modes", type=int, default=12, help="shots that also run the other modes")
    ap.add_argument("--quality", default="standard", choices=[q.value for q in Quality])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--guidance", type=float, default=None, help="keyframe guidance (default: the studio's)"
    )
    ap.add_argument("--out", default="bench/results/quality")
    ap.add_argument(
        "--aspects", default=",".join(ASPECTS), help="comma-separated; a shorter run takes fewer"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    started = time.perf_counter()
    quality = Quality(args.quality)
    guidance = {} if args.guidance is None else {"guidance_scale": args.guidance}
    trained = build_pipeline(ROOT / args.weights)
    floor = build_pipeline(None, preset="base", text_encoder=trained.text_encoder)
    probe = load_probe()
    aspects = tuple(a for a in args.aspects.split(",") if a)
    shots = held_out(args.per_cell, aspects)
    rows: dict[str, list[dict]] = {"ground_truth": [], "cache": [], "trained": [], "floor": []}
    modes: dict[str, list[dict]] = {"trained": [], "floor": []}
    sheet_rows = []
    true_keys: dict[int, torch.Tensor] = {}
    for shot in shots:
        spec = shot["spec"]
        truth, key_rgb, key_depth, key_lens = render_truth(shot)
        true_keys[shot["index"]] = key_rgb
        cached = render_along(
            spec,
            key_rgb,
            key_depth,
            num_frames=FRAMES,
            fps=FPS,
            size=render_size(spec.aspect),
            base=shot["scene"].camera,
            keyframe_focal_mm=key_lens,
        ).render.frames_u8()
        rows["ground_truth"].append(score_clip(truth, shot, probe))
        rows["cache"].append(score_clip(cached, shot, probe))
        made = {}
        for name, pipe in (("trained", trained), ("floor", floor)):
            t0 = time.perf_counter()
            res = pipe(
                GenerationRequest(
                    prompt=shot["caption"],
                    camera=spec,
                    aspect=spec.aspect,
                    num_frames=FRAMES,
                    fps=FPS,
                    quality=quality,
                    seed=shot["index"],
                    **guidance,
                )
            )
            row = score_clip(res.frames, shot, probe)
            row["seconds"] = time.perf_counter() - t0
            rows[name].append(row)
            made[name] = res.frames
            if shot["index"] < args.modes:
                modes[name].append(run_modes(pipe, shot, truth, quality))
        if len(sheet_rows) < 10 and shot["index"] % 2 == 0:
            sheet_rows.append((truth, cached, made["trained"], made["floor"]))
        print(
            f"{shot['index']:3d} {spec.aspect:5s} {spec.primary_move.label:18s} "
            + " ".join(f"{n}={rows[n][-1]['detected']}" for n in rows),
            flush=True,
        )
    contact_sheet(sheet_rows, ROOT / "docs/model/contact-sheet.png")
    keyframe_sheet(
        trained,
        shots[:: max(1, len(shots) // 16)],
        true_keys,
        ROOT / "docs/model/keyframes.png",
        quality,
    )
    summary = {
        name: {
            key: mean(rs, key)
            for key in (
                "move_and_direction",
                "move_match",
                "colour_found",
                "absent_colour_found",
                "subject_right",
                "frame_diff",
                "seconds",
            )
        }
        for name, rs in rows.items()
    }
    for name, ms in modes.items():
        for key in (
            "i2v_first_psnr",
            "i2v_move_and_direction",
            "keyframes_last_psnr",
            "extend_seam_ratio",
            "loop_wrap_ratio",
            "reframe_area_psnr",
        ):
            summary[name][key] = mean(ms, key)
    trained_meta = trained.info.get("trained", {})
    doc = {
        "weights": args.weights,
        "trained": trained_meta,
        "shots": len(shots),
        "aspects": aspects,
        "frames": FRAMES,
        "fps": FPS,
        "quality": quality.value,
        "summary": summary,
        "rows": rows,
        "modes": modes,
        "seconds": round(time.perf_counter() - started, 1),
    }
    out = ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    out.with_suffix(".md").write_text(markdown(doc) + "\n")
    print(markdown(doc))


def markdown(doc: dict) -> str:
    s = doc["summary"]

    def fmt(v: float | None, kind: str) -> str:
        if v is None:
            return "–"
        return {
            "pct": f"{100 * v:.0f} %",
            "db": f"{v:.1f} dB",
            "x": f"{v:.2f}x",
            "num": f"{v:.3f}",
            "s": f"{v:.1f} s",
        }[kind]

    table = [
        (
            "camera move and direction identified",
            "≥ 85 % (cache ≥ 95 %)",
            "move_and_direction",
            "pct",
        ),
        ("camera move kind identified", "", "move_match", "pct"),
        ("named subject colour found", "≥ 50 % (truth 57 %)", "colour_found", "pct"),
        ("colour probe false positive", "≤ 10 %", "absent_colour_found", "pct"),
        ("subject kind right (probe)", "≥ 60 %", "subject_right", "pct"),
        ("frame-to-frame difference", "≈ truth", "frame_diff", "num"),
        ("seconds per clip", "", "seconds", "s"),
        ("i2v first frame vs given image", "≥ 35 dB", "i2v_first_psnr", "db"),
        ("i2v move and direction identified", "", "i2v_move_and_direction", "pct"),
        ("keyframes: last frame vs given end", "≥ 30 dB", "keyframes_last_psnr", "db"),
        ("extension seam / clip's own change", "≤ 1.5x", "extend_seam_ratio", "x"),
        ("loop last→first / clip's own change", "≤ 1.5x", "loop_wrap_ratio", "x"),
        ("reframe: original area vs source", "≥ 30 dB", "reframe_area_psnr", "db"),
    ]
    names = ("ground_truth", "cache", "trained", "floor")
    trained = doc["trained"]
    steps = {k: v.get("step") for k, v in trained.items()} if trained else "untrained"
    lines = [
        "# Built-in model quality (bench/quality.py)",
        "",
        f"{doc['shots']} held-out world shots (seeds from {SEED_BASE}): every move kind at "
        f"{', '.join(doc['aspects'])}, {doc['frames']} frames at {doc['fps']:g} fps at the native "
        f"render size, quality {doc['quality']}. Weights `{doc['weights']}` (training steps "
        f"{steps}). Floor: the same pipeline with untrained networks. Cache: the true keyframe "
        f"(seen through the lens the pipeline paints) and depth through the 3D cache alone. "
        f"Other modes on the first shots. Run time {doc['seconds'] / 60:.1f} min.",
        "",
        "| metric | target | ground truth | cache | trained | floor |",
        "|---|---|---|---|---|---|",
    ]
    for label, target, key, kind in table:
        cells = [fmt(s[n].get(key), kind) if n in s else "–" for n in names]
        lines.append(f"| {label} | {target} | " + " | ".join(cells) + " |")
    misses = [
        f"{r['requested']} → {r['detected']}"
        for r in doc["rows"]["trained"]
        if not r["move_and_direction"]
    ]
    lines += ["", f"Trained misses ({len(misses)}): " + ("; ".join(misses) or "none")]
    lines += [
        "",
        "Sheets: `docs/model/contact-sheet.png` (per shot: truth, cache, trained, floor; first, "
        "middle and last frame) and `docs/model/keyframes.png` (truth | keyframe | its depth).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
