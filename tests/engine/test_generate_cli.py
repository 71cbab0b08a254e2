"""The command-line generator: a clip and its recipe from flags alone, every mode of input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from generation.engine import video_io
from generation.engine.generate import main


def _run(tmp_path, *flags: str) -> dict:
    out = tmp_path / "clip.mp4"
    assert (
        main(
            ["--untrained", "--resolution", "540p", "--quality", "flash", "--out", str(out), *flags]
        )
        == 0
    )
    return json.loads(out.with_suffix(".json").read_text())


def test_text_to_video_writes_the_mp4_and_the_recipe_with_camera_words(tmp_path):
    recipe = _run(
        tmp_path,
        "--prompt",
        "a red ball",
        "--camera-words",
        "slow push-in, 85mm",
        "--seconds",
        "1",
        "--fps",
        "12",
        "--aspect",
        "9:16",
    )
    frames, fps = video_io.decode_video(tmp_path / "clip.mp4")
    assert frames.shape == (12, 960, 540, 3) and fps == 12
    assert recipe["camera"]["focal_mm"] == 85.0
    assert recipe["camera"]["moves"][0]["kind"] == "dolly"
    assert recipe["camera"]["aspect"] == "9:16" and recipe["mode"] == "t2v"


def test_an_image_becomes_the_first_frame_and_a_clip_can_be_extended(tmp_path):
    image = tmp_path / "frame.png"
    Image.fromarray(np.full((90, 160, 3), (200, 40, 40), dtype=np.uint8)).save(image)
    first = _run(tmp_path, "--image", str(image), "--seconds", "1", "--fps", "12")
    assert first["mode"] == "i2v"
    source = tmp_path / "source.mp4"
    (tmp_path / "clip.mp4").rename(source)
    extended = _run(
        tmp_path, "--video", str(source), "--mode", "extend", "--seconds", "1", "--fps", "12"
    )
    frames, _ = video_io.decode_video(tmp_path / "clip.mp4")
    assert extended["mode"] == "extend" and frames.shape[0] == 24  # source + continuation


def test_a_camera_spec_from_a_recipe_is_taken_as_stored(tmp_path):
    spec = {"focal_mm": 50, "moves": [{"kind": "orbit", "direction": "left"}]}
    recipe = _run(tmp_path, "--camera", json.dumps(spec), "--seconds", "1", "--fps", "12")
    assert recipe["camera"]["moves"][0] == {
        "kind": "orbit",
        "direction": "left",
        "speed": 1.0,
        "easing": "linear",
        "seed": 0,
    }


def test_bad_flags_are_refused_before_any_work(tmp_path, capsys):
    out = str(tmp_path / "x.mp4")
    assert main(["--untrained", "--camera-words", "300mm", "--out", out]) == 2
    assert "focal length" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--untrained", "--video", out, "--out", out])  # no --mode
    with pytest.raises(SystemExit):
        main(["--untrained", "--end-image", out, "--out", out])
