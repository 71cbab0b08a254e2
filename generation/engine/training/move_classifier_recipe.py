"""The shipped move classifier's whole recipe as one command: render, train, resume, export.

    python -m generation.engine.training.move_classifier_recipe --work var/move-recipe \
        --out weights/move_classifier.safetensors

`weights/move_classifier.safetensors` came from these rounds, each network going on from its own
weights of the round before on fresh world clips (chunk ranges of `motion_data`, seed base
2,000,000; round eleven's clips went to a round that did not ship, so its chunks are skipped).
The rounds run in order and each writes `<work>/round<N>.safetensors`; a rerun skips rendered
chunks and finished rounds, so the command resumes where it stopped. It takes many CPU-hours
(rendering is 0.4–1 s a clip with its features on one core); the result is a classifier of the
same recipe, not the same bits (training order follows the process pool's timing).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from generation.engine.training import motion_data
from generation.engine.training import move_classifier as training

CONFUSED = "static,pan,tilt,dolly,truck,crane,orbit,steadicam"


@dataclass(frozen=True)
class Round:
    """Chunk ranges (first, last, kinds or None for every kind) and how the networks train."""

    number: int
    chunks: tuple[tuple[int, int, str | None], ...]
    epochs: int = 24
    flags: tuple[str, ...] = ("--lr", "1e-3")


ROUNDS = (
    Round(2, ((195, 257, None),), epochs=12),
    Round(3, ((257, 420, None),)),
    Round(4, ((420, 538, None),)),
    Round(5, ((538, 657, None),)),
    Round(6, ((657, 777, None),)),
    Round(7, ((777, 897, None),)),
    Round(8, ((897, 1017, None),)),
    Round(9, ((1017, 1117, None),)),
    Round(10, ((1117, 1207, CONFUSED), (1207, 1227, "zoom,handheld"))),
    Round(
        12,
        tuple(
            part
            for s in range(1327, 1427, 10)
            for part in ((s, s + 8, CONFUSED), (s + 8, s + 10, "zoom,handheld"))
        ),
    ),
)


def _render(folder: Path, chunks: tuple[tuple[int, int, str | None], ...], workers: int) -> None:
    for first, last, kinds in chunks:
        argv = ["--out", str(folder), "--chunks", f"{first}:{last}", "--workers", str(workers)]
        motion_data.main(argv + (["--kinds", kinds] if kinds else []))


def _train(folder: Path, epochs: int, extra: list[str], out: Path, workers: int) -> None:
    argv = ["--data", str(folder), "--epochs", str(epochs), "--all", "--workers", str(workers)]
    training.main(argv + extra + ["--export", str(out)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("var/move-recipe"))
    parser.add_argument("--out", type=Path, default=Path("weights/move_classifier.safetensors"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    work, workers = args.work, args.workers
    work.mkdir(parents=True, exist_ok=True)
    # Round one: two networks on chunks 0-104 learning with mirrored clips only, two on chunks
    # 0-84 with clips played backwards too, all four reading the first 60 feature channels.
    round1 = work / "round1.safetensors"
    if not round1.exists():
        folder = work / "round1"
        _render(folder, ((0, 105, None),), workers)
        mirror = work / "round1-mirror.safetensors"
        two = ["--ensemble", "2", "--channels", "60"]
        _train(folder, 20, [*two, "--no-reverse"], mirror, workers)
        subset = work / "round1-85"
        subset.mkdir(exist_ok=True)
        for chunk in range(85):
            link = subset / f"chunk-{chunk:04d}.npz"
            if not link.exists():
                link.symlink_to((folder / link.name).resolve())
        _train(subset, 20, [*two, "--extend", str(mirror)], round1, workers)
    previous = round1
    for r in ROUNDS:
        out = work / f"round{r.number}.safetensors"
        if not out.exists():
            folder = work / f"round{r.number}"
            _render(folder, r.chunks, workers)
            resume = ["--ensemble", "4", *r.flags, "--resume", str(previous)]
            _train(folder, r.epochs, resume, out, workers)
        previous = out
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(previous.read_bytes())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
