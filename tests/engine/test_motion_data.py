from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from generation.engine.move_classifier import LABELS
from generation.engine.training import motion_data


def test_a_chunk_of_chosen_kinds_holds_only_those_moves(tmp_path, monkeypatch):
    monkeypatch.setattr(motion_data, "CHUNK", 3)  # three clips are enough to see the cycle
    path = motion_data.render_chunk(tmp_path, 4, kinds=("steadicam", "orbit"))
    data = np.load(path)
    assert data["video"].shape == (3, 16, 64, 64, 3)  # even chunks are 64x64
    kinds = [LABELS[i][0] for i in data["label"]]
    # Chunk 4 of 3-clip chunks holds clips 12, 13, 14; clip i takes kinds[i % 2].
    assert kinds == ["steadicam", "orbit", "steadicam"]


def test_an_unknown_kind_is_refused_before_anything_renders(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "generation.engine.training.motion_data",
            "--out",
            str(tmp_path),
            "--chunks",
            "0:1",
            "--kinds",
            "dolly,spin",
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],  # the repository root, where the module lives
    )
    assert run.returncode == 2
    assert "unknown move kinds ['spin']" in run.stderr
    assert not list(tmp_path.iterdir())
