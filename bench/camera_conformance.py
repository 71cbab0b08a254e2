"""Validate the camera-conformance metric on rendered ground truth and write its confusion matrix.

    .venv/bin/python bench/camera_conformance.py [--per-move 10] [--split held-out|tuning]
        [--weights FILE]

Every move kind, random scenes, lenses, apertures, shutters and aspect framings; 16 frames at
24 fps, alternating 64x64 and 128x72 frames. The move classifier trains on clips of its own seeds
(`generation/engine/motion_data.py`); the tuning split (seed base 500000) is for looking at
errors while developing; the held-out split (seed base 900000) is only ever reported.
`--weights` measures a candidate ensemble instead of the shipped one (tuning split only, and
nothing is written), so candidates are compared before one replaces the shipped file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from generation.engine.camera import MOVE_KINDS
from generation.engine.metrics import detect_move
from generation.engine.move_classifier import WEIGHTS, load_move_nets
from generation.engine.training.motion_data import SIZES, render_move_clip

RESULTS = Path(__file__).parent / "results"
SEEDS = {"tuning": 500_000, "held-out": 900_000}


def evaluate(per_move: int, split: str, weights: Path = WEIGHTS) -> dict:
    base = SEEDS[split]
    nets = load_move_nets(weights)
    confusion: Counter = Counter()
    by_size: Counter = Counter()
    n_size: Counter = Counter()
    dir_ok = dir_n = 0
    render_s = est_s = 0.0
    records = []
    for i in range(per_move):
        h, w = SIZES[i % 2]
        for kind in MOVE_KINDS:
            t0 = time.perf_counter()
            spec, scene, clip = render_move_clip(
                base + 1000 * MOVE_KINDS.index(kind) + i, kind, h, w
            )
            t1 = time.perf_counter()
            guess = detect_move(clip.video, nets)
            est_s += time.perf_counter() - t1
            render_s += t1 - t0
            want = spec.primary_move
            confusion[(want.kind, guess.kind)] += 1
            n_size[f"{w}x{h}"] += 1
            by_size[f"{w}x{h}"] += guess.kind == want.kind
            if guess.kind == want.kind and want.direction != "none":
                dir_n += 1
                dir_ok += guess.direction == want.direction
            records.append(
                {
                    "want": want.label,
                    "got": guess.label,
                    "focal_mm": spec.focal_mm,
                    "aperture": spec.aperture,
                    "shutter_deg": spec.shutter_deg,
                    "size": f"{w}x{h}",
                    "speed": want.speed,
                    "subject": scene.subject_kind,
                }
            )
    total = sum(confusion.values())
    correct = sum(v for (a, b), v in confusion.items() if a == b)
    return {
        "split": split,
        "clips": total,
        "move_accuracy": correct / total,
        "direction_accuracy_given_move": dir_ok / max(dir_n, 1),
        "accuracy_by_size": {k: by_size[k] / n_size[k] for k in n_size},
        "confusion": {a: {b: confusion[(a, b)] for b in MOVE_KINDS} for a in MOVE_KINDS},
        "render_s_per_clip": render_s / total,
        "estimate_s_per_clip": est_s / total,
        "records": records,
    }


def _accuracy_by(records: list[dict], key) -> dict[str, str]:
    groups: dict[str, list[bool]] = {}
    for r in records:
        groups.setdefault(key(r), []).append(r["want"].split()[0] == r["got"].split()[0])
    return {k: f"{sum(v) / len(v):.0%} of {len(v)}" for k, v in sorted(groups.items())}


def _lens(r: dict) -> str:
    f = r["focal_mm"]
    return "14–35 mm" if f <= 35 else ("50–85 mm" if f <= 85 else "100–200 mm")


def write(result: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "camera_conformance.json").write_text(json.dumps(result, indent=2) + "\n")
    short = [k[:6] for k in MOVE_KINDS]
    lines = [
        "# Camera-conformance metric on rendered ground truth",
        "",
        f"Split **{result['split']}**, {result['clips']} clips (every move, random scenes, lenses "
        "14–200 mm, f/1.2–f/16, shutters 45–360°), 16 frames at 24 fps, 64x64 and 128x72. "
        "Moves are read by `metrics.detect_move` (the flow-field classifier shipped in "
        "`weights/move_classifier.safetensors`, trained on other seeds of the same world).",
        "",
        f"- move type accuracy: **{result['move_accuracy']:.1%}** (target ≥ 95 %)",
        f"- direction accuracy where the type is right: "
        f"**{result['direction_accuracy_given_move']:.1%}** (target ≥ 98 %)",
        "- by frame size: "
        + ", ".join(f"{k} {v:.1%}" for k, v in result["accuracy_by_size"].items()),
        "- by speed: "
        + ", ".join(
            f"{k} {v}"
            for k, v in _accuracy_by(result["records"], lambda r: f"×{r['speed']:g}").items()
        ),
        "- by lens: "
        + ", ".join(f"{k} {v}" for k, v in _accuracy_by(result["records"], _lens).items()),
        "- by subject: "
        + ", ".join(
            f"{k} {v}" for k, v in _accuracy_by(result["records"], lambda r: r["subject"]).items()
        ),
        "- pan and truck clips, accuracy by lens: "
        + ", ".join(
            f"{k} {v}"
            for k, v in _accuracy_by(
                [r for r in result["records"] if r["want"].split()[0] in ("pan", "truck")], _lens
            ).items()
        ),
        f"- time per clip: render {result['render_s_per_clip']:.2f} s, "
        f"detect {result['estimate_s_per_clip']:.2f} s (one thread)",
        "",
        "Confusion matrix (rows: requested move, columns: detected):",
        "",
        "| requested | " + " | ".join(short) + " |",
        "|---|" + "---|" * len(short),
    ]
    for a in MOVE_KINDS:
        lines.append(
            f"| {a} | " + " | ".join(str(result["confusion"][a][b]) for b in MOVE_KINDS) + " |"
        )
    lines.append("")
    (RESULTS / "camera_conformance.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-move", type=int, default=10)
    parser.add_argument("--split", choices=tuple(SEEDS), default="held-out")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--weights", type=Path, default=WEIGHTS, help="a candidate ensemble (tuning split only)"
    )
    parser.add_argument(
        "--rewrite", action="store_true", help="rewrite the .md from the committed .json only"
    )
    args = parser.parse_args()
    if args.rewrite:
        write(json.loads((RESULTS / "camera_conformance.json").read_text()))
        return
    candidate = args.weights.resolve() != WEIGHTS
    if candidate and args.split == "held-out":
        parser.error("a candidate is measured on the tuning split; held-out reports what ships")
    torch.set_num_threads(args.threads)
    result = evaluate(args.per_move, args.split, args.weights)
    print(
        f"{result['split']}: move {result['move_accuracy']:.1%}, "
        f"direction {result['direction_accuracy_given_move']:.1%} over {result['clips']} clips"
    )
    if args.split == "held-out" and not candidate:
        write(result)


if __name__ == "__main__":
    main()
