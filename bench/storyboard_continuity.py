"""Continuity at a storyboard's "continue" boundary, measured on the built-in pipeline.

    OMP_NUM_THREADS=1 .venv/bin/python bench/storyboard_continuity.py [--pairs 12] [--preset tiny]
        [--weights DIR]

Each pair is a shot (text to video) and the shot that continues it, rendered as the studio
renders a continuation: an extension whose cache starts from the first shot's last frame at its
place on the camera path. Reported:

- seam roughness: the mean absolute change from the first shot's last frame to the
  continuation's first, over the shots' own mean frame-to-frame change (target <= 1.5x); a
  straight cut between two independent renders is measured the same way, for scale;
- camera conformance (``metrics.camera_conformance``) of the continuation's own frames against
  the same shot rendered standalone (same prompt, camera and seed): it should not drop.

Without ``--weights`` the pipeline runs the ``--preset`` with random weights (what a checkout
without trained weights ships), so the numbers measure the geometry, not the painting.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from generation.engine.camera import CameraMove, CameraSpec
from generation.engine.metrics import camera_conformance
from generation.engine.modes import Mode, Quality
from generation.engine.pipeline.request import GenerationRequest
from generation.engine.pipeline.video import VideoPipeline, build_pipeline

RESULTS = Path(__file__).parent / "results"
FPS = 24
FRAMES = 25  # one second and its last frame
MOVES = [
    ("dolly", "in"), ("pan", "left"), ("truck", "right"), ("orbit", "left"),
    ("crane", "up"), ("zoom", "in"),
]  # fmt: skip
PROMPTS = [
    ("a lighthouse on a cliff at dusk", "the lighthouse on the cliff as the lamp turns"),
    ("a red ball on a checker floor", "the red ball rolls across the checker floor"),
]


def _step(frames: torch.Tensor) -> float:
    """Mean absolute change between consecutive frames, uint8 (T, H, W, 3)."""
    f = frames.float()
    return (f[1:] - f[:-1]).abs().mean().item()


def _seam(before: torch.Tensor, after: torch.Tensor) -> float:
    within = (_step(before) + _step(after)) / 2
    jump = (after[0].float() - before[-1].float()).abs().mean().item()
    return jump / max(within, 1e-6)


def _render(
    pipe: VideoPipeline,
    prompt: str,
    camera: CameraSpec,
    seed: int,
    video: torch.Tensor | None = None,
) -> torch.Tensor:
    """One shot (an extension of ``video`` when given): uint8 (T, h, w, 3)."""
    req = GenerationRequest(
        prompt=prompt, mode=Mode.TEXT if video is None else Mode.EXTEND, quality=Quality.FLASH,
        seed=seed, num_frames=FRAMES, fps=FPS, camera=camera, video=video,
        video_fps=FPS if video is not None else None,
    )  # fmt: skip
    return pipe(req).frames


def run(pairs: int, preset: str, weights: str | None) -> dict:
    torch.set_num_threads(1)
    pipe = build_pipeline(weights, preset=preset, autocast=False)
    records = []
    started = time.perf_counter()
    for i in range(pairs):
        kind, direction = MOVES[i % len(MOVES)]
        first_prompt, next_prompt = PROMPTS[(i // len(MOVES)) % len(PROMPTS)]
        camera = CameraSpec(focal_mm=35, moves=(CameraMove.make(kind, direction),))
        seed = 1000 + i

        first = _render(pipe, first_prompt, camera, seed)
        continued = _render(pipe, next_prompt, camera, seed + 1, video=first)
        standalone = _render(pipe, next_prompt, camera, seed + 1)
        cut = _render(pipe, next_prompt, camera, seed + 7)
        records.append(
            {
                "move": f"{kind} {direction}",
                "seam_continue": round(_seam(first, continued), 3),
                "seam_cut": round(_seam(first, cut), 3),
                "conformance_continued": round(camera_conformance(continued, camera, FPS).score, 3),
                "conformance_standalone": round(
                    camera_conformance(standalone, camera, FPS).score, 3
                ),
            }
        )
        print(json.dumps(records[-1]), flush=True)
    seams = [r["seam_continue"] for r in records]
    cuts = [r["seam_cut"] for r in records]
    cont = [r["conformance_continued"] for r in records]
    alone = [r["conformance_standalone"] for r in records]
    return {
        "pairs": pairs,
        "preset": preset,
        "weights": weights or "random (no trained weights installed)",
        "frames_per_shot": FRAMES,
        "fps": FPS,
        "seam_continue_median": round(statistics.median(seams), 3),
        "seam_continue_max": round(max(seams), 3),
        "seam_cut_median": round(statistics.median(cuts), 3),
        "within_target": sum(s <= 1.5 for s in seams),
        "conformance_continued_mean": round(statistics.mean(cont), 3),
        "conformance_standalone_mean": round(statistics.mean(alone), 3),
        "seconds": round(time.perf_counter() - started, 1),
        "machine": f"{platform.machine()}, 1 thread, torch {torch.__version__}",
        "records": records,
    }


def write(result: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "storyboard_continuity.json").write_text(json.dumps(result, indent=2) + "\n")
    differ = sorted(
        {
            r["move"]
            for r in result["records"]
            if abs(r["conformance_continued"] - r["conformance_standalone"]) > 0.1
        }
    )
    rows = "\n".join(
        f"| {r['move']} | {r['seam_continue']:.2f} | {r['seam_cut']:.2f} | "
        f"{r['conformance_continued']:.2f} | {r['conformance_standalone']:.2f} |"
        for r in result["records"]
    )
    (RESULTS / "storyboard_continuity.md").write_text(
        f"""# Continuity at "continue" boundaries

{result["pairs"]} shot pairs on the built-in pipeline, preset **{result["preset"]}**, weights:
{result["weights"]}; {result["frames_per_shot"]} frames per shot at {result["fps"]} fps;
{result["machine"]}; {result["seconds"]} s in all.

- seam roughness at a continue boundary (jump at the seam / the shots' own frame-to-frame
  change): median **{result["seam_continue_median"]}x**, worst {result["seam_continue_max"]}x;
  {result["within_target"]} of {result["pairs"]} within the 1.5x target
- the same measure at a straight cut between independent renders: median
  {result["seam_cut_median"]}x
- camera conformance of the continued shot: mean **{result["conformance_continued_mean"]}**,
  standalone {result["conformance_standalone_mean"]}; moves where the two differ by more than
  0.1: {", ".join(differ) or "none"}

| move | seam, continue | seam, cut | conformance, continued | conformance, standalone |
|---|---|---|---|---|
{rows}
"""
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=12)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    result = run(args.pairs, args.preset, args.weights)
    print(json.dumps({k: v for k, v in result.items() if k != "records"}, indent=2))
    if not args.no_write:
        write(result)


if __name__ == "__main__":
    main()
