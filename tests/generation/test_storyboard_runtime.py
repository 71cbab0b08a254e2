"""What the runtime gives a storyboard export: shots conformed to the film, dissolves."""

from __future__ import annotations

import numpy as np
import torch

from generation import runtime
from generation.engine import video_io


def test_conform_takes_the_shots_own_seconds_at_the_films_rate_and_frame(tmp_path) -> None:
    # 3 s at 12 fps, 9:16 (a tall frame); each second a flat grey of its own.
    frames = np.concatenate([np.full((12, 64, 36, 3), v, np.uint8) for v in (40, 120, 200)])
    path = video_io.encode_mp4(frames, tmp_path / "tall.mp4", fps=12, crf=0)
    out = runtime.conform(path, start_s=1.0, duration_s=2.0, fps=24, size=(36, 64))
    assert out.shape == (48, 36, 64, 3) and out.dtype == torch.uint8
    # It starts at the in-point (the second second) and covers what follows.
    assert abs(out[0].float().mean().item() - 120) < 3
    assert abs(out[-1].float().mean().item() - 200) < 3
    # A clip that ends early holds its last frame.
    held = runtime.conform(path, start_s=2.5, duration_s=2.0, fps=12, size=(36, 64))
    assert held.shape[0] == 24 and abs(held[-1].float().mean().item() - 200) < 3


def test_a_crossfade_runs_from_one_shot_to_the_next() -> None:
    tail = torch.zeros(4, 2, 2, 3, dtype=torch.uint8)
    head = torch.full((4, 2, 2, 3), 250, dtype=torch.uint8)
    mixed = runtime.crossfade(tail, head)
    assert mixed[:, 0, 0, 0].tolist() == [50, 100, 150, 200]
