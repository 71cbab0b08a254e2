"""Video files and frames: H.264 MP4 with PyAV, poster JPEG, thumbnail strip, fast upscale and
frame-rate resampling for delivery.

Frames are uint8 RGB ``(T, H, W, 3)``, as numpy arrays or torch tensors (both accepted).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Literal

import av
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

Frames = np.ndarray | Tensor


def _numpy(frames: Frames) -> np.ndarray:
    arr = frames.detach().cpu().numpy() if isinstance(frames, Tensor) else np.asarray(frames)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {arr.dtype} {arr.shape}")
    return arr


ENCODER_THREADS = 2


class Mp4Writer:
    """H.264 (yuv420p) MP4 written a few frames at a time, with the index up front
    (``+faststart``: plays while loading), so a long film never sits in memory whole.

    Args:
        path: destination file; size: (height, width), both even (yuv420p halves chroma).
        fps: frames per second (> 0; fractional rates such as 23.976 are kept exactly enough).
        crf: x264 quality, 0 (lossless) to 51; 18 is visually transparent.
        preset: x264 speed preset (veryfast encodes ~120 fps at 720p on 2 cores, docs/runtime.md).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        size: tuple[int, int],
        fps: float,
        crf: int = 18,
        preset: str = "veryfast",
    ) -> None:
        h, w = size
        if h % 2 or w % 2:
            raise ValueError(f"H.264 yuv420p needs even width and height, got {w}x{h}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.size = (h, w)
        self.frames = 0
        rate = Fraction(fps).limit_denominator(1001)
        self._container = av.open(str(self.path), mode="w", options={"movflags": "+faststart"})
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width, self._stream.height = w, h
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(crf), "preset": preset}
        # x264's output depends on its thread count, which it would otherwise take from the
        # CPUs this process may use at the moment: fixed, the same frames give the same file.
        self._stream.thread_count = ENCODER_THREADS

    def write(self, frames: Frames) -> None:
        """Append uint8 (T, H, W, 3) frames of the writer's size."""
        arr = _numpy(frames)
        if tuple(arr.shape[1:3]) != self.size:
            raise ValueError(f"frames are {arr.shape[2]}x{arr.shape[1]}, the file is {self.size}")
        for i in range(arr.shape[0]):
            frame = av.VideoFrame.from_ndarray(arr[i], format="rgb24")
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        self.frames += arr.shape[0]

    def close(self) -> Path:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        return self.path

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:
            self._container.close()


def encode_mp4(
    frames: Frames,
    path: str | Path,
    *,
    fps: float,
    crf: int = 18,
    preset: str = "veryfast",
) -> Path:
    """Write ``frames`` (uint8 (T, H, W, 3), H and W even) as one H.264 MP4: see
    :class:`Mp4Writer`. Returns ``path``."""
    arr = _numpy(frames)
    with Mp4Writer(path, size=(arr.shape[1], arr.shape[2]), fps=fps, crf=crf, preset=preset) as out:
        out.write(arr)
    return Path(path)


def decode_video(path: str | Path) -> tuple[np.ndarray, float]:
    """Read every frame of a video file.

    Returns:
        frames: uint8 (T, H, W, 3) RGB; fps: the stream's average frame rate.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no video at {path}")
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    if not frames:
        raise ValueError(f"{path} has no video frames")
    return np.stack(frames), fps


def read_frame(source: str | Path | BinaryIO, which: Literal["first", "last"]) -> np.ndarray:
    """One frame of a video file (a path or an open binary file), decoding no further than
    it must: the first frame stops at once, the last keeps only the newest.

    Returns:
        uint8 (H, W, 3) RGB.
    """
    frame = None
    with av.open(source if not isinstance(source, Path) else str(source), "r") as container:
        for decoded in container.decode(container.streams.video[0]):
            frame = decoded
            if which == "first":
                break
        if frame is None:
            raise ValueError("the video has no frames")
        return frame.to_ndarray(format="rgb24")


def read_frame_at(source: str | Path | BinaryIO, index: int) -> tuple[np.ndarray, int]:
    """Frame ``index`` of a video (the last one when the video is shorter), decoding no
    further than it must.

    Returns:
        uint8 (H, W, 3) RGB and the index of the frame returned.
    """
    frame, at = None, -1
    with av.open(source if not isinstance(source, Path) else str(source), "r") as container:
        for decoded in container.decode(container.streams.video[0]):
            frame, at = decoded, at + 1
            if at >= index:
                break
        if frame is None:
            raise ValueError("the video has no frames")
        return frame.to_ndarray(format="rgb24"), at


def write_poster(frames: Frames, path: str | Path, *, index: int = 0, quality: int = 90) -> Path:
    """Save one frame as a JPEG poster (the player shows it before playback)."""
    arr = _numpy(frames)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr[index]).save(path, format="JPEG", quality=quality)
    return path


def thumbnail_strip(frames: Frames, *, count: int = 8, height: int = 72) -> Image.Image:
    """Evenly sampled frames side by side at ``height`` pixels (timeline scrubbing preview).

    Args:
        frames: uint8 (T, H, W, 3).
        count: thumbnails wanted (fewer when the clip has fewer frames).
        height: thumbnail height; width keeps the aspect ratio.

    Returns:
        an RGB image of ``count * round(height * W / H)`` by ``height`` pixels.
    """
    arr = _numpy(frames)
    t, h, w, _ = arr.shape
    count = min(count, t)
    width = max(1, round(height * w / h))
    picks = np.linspace(0, t - 1, count).round().astype(int)
    strip = Image.new("RGB", (width * count, height))
    for i, idx in enumerate(picks):
        thumb = Image.fromarray(arr[idx]).resize((width, height), Image.Resampling.BILINEAR)
        strip.paste(thumb, (i * width, 0))
    return strip


def upscale(frames: Frames, size: tuple[int, int], *, chunk: int = 32) -> Tensor:
    """Bicubic resize to a delivery resolution, on uint8 channels-last tensors.

    Measured ~12x faster than the float32 path (0.20 s against 2.5 s for 120 frames
    to 720p on 2 cores); the uint8 kernel also rounds and clamps, so there is no overshoot.

    Args:
        frames: uint8 (T, H, W, 3).
        size: (height, width) wanted.
        chunk: frames per call, bounding peak memory for long 4K clips.

    Returns:
        uint8 (T, height, width, 3) tensor.
    """
    x = torch.from_numpy(_numpy(frames)) if not isinstance(frames, Tensor) else frames
    if tuple(x.shape[1:3]) == tuple(size):
        return x.clone()
    out = torch.empty((x.shape[0], *size, 3), dtype=torch.uint8)  # (T, h, w, 3)
    for start in range(0, x.shape[0], chunk):
        # (t, 3, H, W) as a view of (t, H, W, 3): already channels-last, no copy.
        part = x[start : start + chunk].permute(0, 3, 1, 2)
        up = F.interpolate(part, size=size, mode="bicubic", align_corners=False, antialias=True)
        out[start : start + chunk] = up.permute(0, 2, 3, 1)  # channels-last back to (t, h, w, 3)
    return out


def resample_fps(frames: Frames, src_fps: float, dst_fps: float) -> Tensor:
    """Change the frame rate by linear blending of the two nearest source frames.

    Keeps the clip's duration: frame ``i`` of the output shows time ``i / dst_fps``. Not motion
    compensated, so fast motion ghosts; it is labelled as interpolation in the recipe.

    Args:
        frames: uint8 (T, H, W, 3) at ``src_fps``.

    Returns:
        uint8 (T2, H, W, 3) at ``dst_fps``, ``T2 = floor((T - 1) * dst / src) + 1``.
    """
    x = torch.from_numpy(_numpy(frames)) if not isinstance(frames, Tensor) else frames
    if src_fps == dst_fps:
        return x.clone()
    t = x.shape[0]
    n_out = int((t - 1) * dst_fps / src_fps + 1e-9) + 1
    pos = torch.arange(n_out, dtype=torch.float64) * (src_fps / dst_fps)  # (T2,) source index
    lo = pos.floor().long().clamp(max=t - 1)
    hi = (lo + 1).clamp(max=t - 1)
    w = (pos - lo.double()).float().view(-1, 1, 1, 1)  # (T2, 1, 1, 1)
    blend = x[lo].float() * (1 - w) + x[hi].float() * w
    return blend.round().clamp(0, 255).to(torch.uint8)
