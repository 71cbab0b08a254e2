from __future__ import annotations

import av
import numpy as np
import pytest
import torch
from PIL import Image

from generation.engine import video_io


def _gradient_clip(frames: int = 12, height: int = 48, width: int = 64) -> np.ndarray:
    """A smooth moving gradient: compresses well, so decode error is small and measurable."""
    t = np.arange(frames)[:, None, None]
    y = np.arange(height)[None, :, None]
    x = np.arange(width)[None, None, :]
    r = (x * 4 + t * 6) % 256
    g = (y * 5) % 256
    b = np.broadcast_to(128 + 0 * x, r.shape)
    return np.stack(np.broadcast_arrays(r, g, b), axis=-1).astype(np.uint8)


def test_mp4_is_h264_yuv420p_faststart_at_the_given_fps(tmp_path):
    clip = _gradient_clip()
    path = video_io.encode_mp4(clip, tmp_path / "c.mp4", fps=24)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert float(stream.average_rate) == 24
    head = path.read_bytes()[:4096]
    # +faststart: the index (moov) comes before the media data (mdat).
    assert head.find(b"moov") != -1 and (
        head.find(b"mdat") == -1 or head.find(b"moov") < head.find(b"mdat")
    )


def test_decode_returns_what_was_encoded(tmp_path):
    clip = _gradient_clip()
    path = video_io.encode_mp4(torch.from_numpy(clip), tmp_path / "c.mp4", fps=12, crf=10)
    frames, fps = video_io.decode_video(path)
    assert frames.shape == clip.shape and frames.dtype == np.uint8
    assert fps == 12
    assert np.abs(frames.astype(int) - clip.astype(int)).mean() < 3


def test_odd_sizes_and_wrong_dtype_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="even"):
        video_io.encode_mp4(np.zeros((2, 15, 16, 3), np.uint8), tmp_path / "x.mp4", fps=8)
    with pytest.raises(ValueError, match="uint8"):
        video_io.encode_mp4(np.zeros((2, 16, 16, 3), np.float32), tmp_path / "x.mp4", fps=8)


def test_poster_and_thumbnail_strip(tmp_path):
    clip = _gradient_clip(frames=10)
    poster = video_io.write_poster(clip, tmp_path / "p.jpg", index=3)
    img = Image.open(poster)
    assert img.format == "JPEG" and img.size == (64, 48)
    strip = video_io.thumbnail_strip(clip, count=4, height=24)
    assert strip.size == (4 * 32, 24)
    # The last thumbnail is the last frame.
    last = np.asarray(strip)[:, 96:]
    expected = np.asarray(Image.fromarray(clip[-1]).resize((32, 24), Image.Resampling.BILINEAR))
    assert np.array_equal(last, expected)


def test_upscale_is_uint8_and_matches_the_float_path():
    clip = torch.from_numpy(_gradient_clip(frames=3, height=36, width=64))
    up = video_io.upscale(clip, (72, 128), chunk=2)
    assert up.shape == (3, 72, 128, 3) and up.dtype == torch.uint8
    ref = torch.nn.functional.interpolate(
        clip.permute(0, 3, 1, 2).float(), size=(72, 128), mode="bicubic", antialias=True
    )
    ref = ref.round().clamp(0, 255).permute(0, 2, 3, 1)
    assert (up.float() - ref).abs().max() <= 2
    assert torch.equal(video_io.upscale(clip, (36, 64)), clip)


def test_resample_fps_keeps_endpoints_and_blends_between():
    clip = torch.zeros(3, 2, 2, 3, dtype=torch.uint8)
    clip[1] = 100
    clip[2] = 200
    out = video_io.resample_fps(clip, 8, 16)
    assert out.shape[0] == 5
    assert [int(v) for v in out[:, 0, 0, 0]] == [0, 50, 100, 150, 200]


def test_a_file_written_in_parts_holds_the_frames_written_at_once(tmp_path):
    clip = _gradient_clip(frames=10)
    whole = video_io.encode_mp4(clip, tmp_path / "whole.mp4", fps=24, crf=0)
    with video_io.Mp4Writer(tmp_path / "parts.mp4", size=(48, 64), fps=24, crf=0) as out:
        out.write(clip[:3])
        out.write(torch.from_numpy(clip[3:]))
    assert out.frames == 10
    parts, fps = video_io.decode_video(tmp_path / "parts.mp4")
    assert fps == 24 and np.array_equal(parts, video_io.decode_video(whole)[0])
    head = (tmp_path / "parts.mp4").read_bytes()[:4096]
    assert head.find(b"moov") != -1  # +faststart
    writer = video_io.Mp4Writer(tmp_path / "bad.mp4", size=(48, 64), fps=24)
    with pytest.raises(ValueError, match="the file is"), writer:
        writer.write(clip[:, :32])
