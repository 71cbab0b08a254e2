"""Contact sheet of the world: one row per camera move, frames across, labelled.

python -m generation.engine.world.contact_sheet --out docs/world/contact-sheet.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from generation.engine.camera import MOVE_DIRECTIONS, MOVE_KINDS, CameraMove, CameraSpec
from generation.engine.world.renderer import render_clip
from generation.engine.world.scene import SUBJECT_KINDS, sample_scene

_LENSES = (24.0, 35.0, 50.0, 85.0, 28.0, 35.0, 50.0, 35.0, 50.0, 24.0)
_APERTURES = (2.8, 1.4, 5.6, 2.0, 8.0, 2.8, 4.0, 2.0, 1.4, 5.6)


def contact_sheet(
    *, seed: int = 7, height: int = 72, width: int = 128, num_frames: int = 16, columns: int = 6
) -> Image.Image:
    """One row per move (first direction, medium speed), `columns` frames spread over the clip."""
    label_w = 190
    rows = []
    for i, kind in enumerate(MOVE_KINDS):
        g = torch.Generator().manual_seed(seed * 100 + i)
        move = CameraMove(kind, MOVE_DIRECTIONS[kind][0], 2.0 if kind != "static" else 1.0, seed=i)
        spec = CameraSpec(
            focal_mm=_LENSES[i], aperture=_APERTURES[i], shutter_deg=180, moves=(move,)
        )
        scene = sample_scene(
            g, subject_kind=SUBJECT_KINDS[i % len(SUBJECT_KINDS)], focal_mm=spec.focal_mm
        )
        clip = render_clip(scene, spec, num_frames=num_frames, fps=24, height=height, width=width)
        picks = torch.linspace(0, num_frames - 1, columns).round().long()
        strip = torch.cat([clip.video[j] for j in picks], dim=1).numpy()
        row = Image.new("RGB", (label_w + strip.shape[1], height), (20, 20, 22))
        row.paste(Image.fromarray(strip), (label_w, 0))
        draw = ImageDraw.Draw(row)
        draw.text(
            (6, 6), move.label + (" (fast)" if kind != "static" else ""), fill=(255, 255, 255)
        )
        draw.text((6, 24), f"{spec.focal_mm:g}mm f/{spec.aperture:g} 180°", fill=(200, 200, 200))
        draw.text((6, 42), f"{scene.subject_kind}, {scene.lighting.mood}", fill=(170, 170, 170))
        draw.text((6, 56), f"{scene.ground.kind} ground", fill=(170, 170, 170))
        rows.append(row)
    return stack_rows(rows)


def stack_rows(rows: list[Image.Image], gap: int = 2) -> Image.Image:
    """Rows of equal width one under another on black, `gap` pixels apart."""
    sheet = Image.new("RGB", (rows[0].width, sum(r.height + gap for r in rows)), (0, 0, 0))
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height + gap
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description="Render the world's contact sheet.")
    parser.add_argument("--out", type=Path, default=Path("docs/world/contact-sheet.png"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(seed=args.seed).save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
