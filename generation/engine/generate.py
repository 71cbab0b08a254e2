"""Generate a clip from the command line, without the web stack, with the shipped weights.

    python -m generation.engine.generate --prompt "a red ball on a lawn at golden hour" \
        --camera-words "slow push-in, 85mm, f/1.4" --aspect 16:9 --seconds 5 --fps 24 \
        --resolution 720p --quality standard --seed 7 --out clip.mp4

Modes follow the inputs: `--image` animates a picture (add `--end-image` for start + end
keyframes), `--video` with `--mode extend|restyle|reframe` works from a clip. `--camera` takes the
camera spec a studio recipe stores (JSON text or a path to a .json file); `--camera-words` reads
camera language, as the composer does; the prompt's own camera language applies either way. The
MP4 is delivered and encoded as the studio does it (re-timed at the native size, upscaled,
H.264 with +faststart); the recipe JSON is written beside it (`clip.json`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from generation.engine import video_io
from generation.engine.camera import ASPECT_RATIOS, CameraSpec
from generation.engine.camera_language import parse_camera_language
from generation.engine.delivery import delivery_size, native_frames_needed, retime_and_size
from generation.engine.modes import Mode, Quality
from generation.engine.pipeline.request import GenerationRequest
from generation.engine.pipeline.video import build_pipeline

SHIPPED = Path(__file__).resolve().parents[2] / "weights" / "builtin"
RESOLUTIONS = {"540p": 540, "720p": 720, "1080p": 1080}


def _camera(args: argparse.Namespace) -> CameraSpec:
    spec = CameraSpec(aspect=args.aspect)
    if args.camera:
        text = args.camera
        if text.endswith(".json") and Path(text).is_file():
            text = Path(text).read_text()
        spec = CameraSpec.from_dict({**json.loads(text), "aspect": args.aspect})
    for words in (args.prompt, args.camera_words or ""):
        parsed = parse_camera_language(words)
        if parsed.errors:
            raise ValueError("; ".join(parsed.errors))
        spec = parsed.to_spec(spec)
    if spec.aspect != args.aspect:
        spec = CameraSpec.from_dict({**spec.to_dict(), "aspect": args.aspect})
    return spec


def _image(path: str) -> np.ndarray:
    with Image.open(path) as img:
        return np.array(img.convert("RGB"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompt", default="")
    ap.add_argument("--image", help="first frame (PNG/JPEG): image to video")
    ap.add_argument("--end-image", help="last frame: start + end keyframes (with --image)")
    ap.add_argument("--video", help="source clip (MP4) for --mode extend, restyle or reframe")
    ap.add_argument("--mode", choices=["extend", "restyle", "reframe"])
    ap.add_argument("--strength", type=float, default=0.6, help="restyle: 0 keeps, 1 repaints")
    ap.add_argument("--camera", help="camera spec JSON (text or a .json path)")
    ap.add_argument("--camera-words", help='camera language, e.g. "slow push-in, 85mm"')
    ap.add_argument("--aspect", default="16:9", choices=sorted(ASPECT_RATIOS))
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--fps", type=int, default=24)
    ap.add_argument("--resolution", default="720p", choices=sorted(RESOLUTIONS))
    ap.add_argument("--quality", default="standard", choices=[q.value for q in Quality])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--loop", action="store_true", help="the camera goes out and back")
    ap.add_argument("--weights", type=Path, default=SHIPPED)
    ap.add_argument("--untrained", action="store_true", help="tiny random networks (testing)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.video and not args.mode:
        ap.error("--video needs --mode extend, restyle or reframe")
    if args.mode and not args.video:
        ap.error(f"--mode {args.mode} needs --video")
    if args.end_image and not args.image:
        ap.error("--end-image needs --image (the start keyframe)")
    if not 1 <= args.seconds <= 30:
        ap.error("--seconds must be 1–30")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    try:
        camera = _camera(args)
    except ValueError as exc:
        print(f"camera: {exc}", file=sys.stderr)
        return 2
    native_fps = float(args.fps)
    frames = native_frames_needed(args.seconds, native_fps)
    inputs: dict = {}
    mode = Mode.TEXT
    source = None
    if args.image:
        mode = Mode.KEYFRAMES if args.end_image else Mode.IMAGE
        inputs["image"] = _image(args.image)
        if args.end_image:
            inputs["end_image"] = _image(args.end_image)
    if args.video:
        mode = {"extend": Mode.EXTEND, "restyle": Mode.RESTYLE, "reframe": Mode.REFRAME}[args.mode]
        video, src_fps = video_io.decode_video(args.video)
        source = video_io.resample_fps(torch.from_numpy(video), src_fps, native_fps)
        inputs["video"] = source
        inputs["video_fps"] = native_fps
        if mode is Mode.RESTYLE:
            inputs["strength"] = args.strength
            frames = min(frames, source.shape[0])
    pipe = build_pipeline(None, preset="tiny") if args.untrained else build_pipeline(args.weights)
    request = GenerationRequest(
        prompt=args.prompt,
        mode=mode,
        quality=Quality(args.quality),
        seed=args.seed,
        aspect=args.aspect,
        num_frames=frames,
        fps=native_fps,
        camera=camera,
        loop=args.loop,
        **inputs,
    )

    def progress(step: int, total: int) -> None:
        print(f"\r{step}/{total}", end="", file=sys.stderr, flush=True)

    result = pipe(request, progress=progress)
    print(file=sys.stderr)
    size = delivery_size(RESOLUTIONS[args.resolution], args.aspect)
    wanted = round(args.seconds * args.fps)
    if mode is Mode.REFRAME:
        wanted = min(wanted, round(result.frames.shape[0] / result.fps * args.fps))
    delivered = retime_and_size(
        result.frames, result.fps, args.fps, wanted, size, whole=mode is not Mode.EXTEND
    )
    if mode is Mode.EXTEND and source is not None:
        delivered = torch.cat([video_io.upscale(source, size), delivered])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    video_io.encode_mp4(delivered, args.out, fps=args.fps)
    recipe = {
        "prompt": args.prompt,
        "mode": mode.value,
        "quality": args.quality,
        "seed": args.seed,
        "camera": camera.to_dict(),
        "seconds": args.seconds,
        "fps": args.fps,
        "resolution": args.resolution,
        "loop": args.loop,
        "strength": args.strength if mode is Mode.RESTYLE else None,
        "engine": {k: v for k, v in result.metadata.items() if k != "stage_seconds"},
        "stage_seconds": result.metadata.get("stage_seconds"),
        "delivered": {"height": size[0], "width": size[1], "frames": int(delivered.shape[0])},
        "seconds_total": round(time.perf_counter() - started, 2),
    }
    args.out.with_suffix(".json").write_text(json.dumps(recipe, indent=2, default=str) + "\n")
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
