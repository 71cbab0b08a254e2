"""Backends: the capability matrix and the backend wrapper's overhead.

    .venv/bin/python bench/backends.py --tiny [--reps 15] [--threads 1]

Prints every backend's capabilities (modes, longest clip, largest size, camera by geometry,
loops, LoRA, negative prompt, GPU memory of the weights) and, per backend and mode, the
overhead of ``backend.generate`` over the bare pipeline call it makes (a diffusers pipeline,
or the built-in model's ``VideoPipeline``):

- wrapped: ``backend.generate(request, progress=..., is_cancelled=...)``, as a worker calls it:
  planning, fitting the inputs to the clip's size, building VACE's control video or LTX's
  conditions, the progress and cancel callback on every step, uint8 frames and the recipe;
- bare: the same pipeline object called with the same arguments, inputs already as PIL images
  at the clip's size (the built-in model: its own request), no callback. The frames of both
  are compared (they must be identical).

The two alternate (A-B, B-A); each is timed in CPU seconds of this process (one torch thread,
so all of the work), which other processes on a shared machine do not inflate as they do wall
time (also recorded). The overhead is the median of the per-repetition ratios, target <= 1.10. ``--tiny`` runs tiny random-weight
configurations of the real classes (tests/backends/tiny.py), where the model's own work is
smallest and the wrapper's share largest: the ratio is an upper bound for real sizes.

Writes bench/results/backends.{md,json}. Absolute seconds are context only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from generation.backends.base import Backend, BackendRequest, BackendSettings  # noqa: E402
from generation.backends.builtin import BuiltinBackend  # noqa: E402
from generation.backends.catalog import BACKENDS, capability_matrix  # noqa: E402
from generation.backends.diffusion import DiffusersBackend  # noqa: E402
from generation.backends.ltx import LTXBackend  # noqa: E402
from generation.backends.stages import fit, frames_to_uint8, to_pil, to_pil_mask  # noqa: E402
from generation.backends.wan import WanBackend  # noqa: E402
from generation.engine.camera import CameraMove, CameraSpec  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TARGET = 1.10
_DOLLY = CameraSpec(moves=(CameraMove.make("dolly", "in"),))


def _image(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (72, 120, 3), generator=g, dtype=torch.uint8)


def _bare_builtin(
    backend: BuiltinBackend, request: BackendRequest
) -> tuple[Callable[[], torch.Tensor], str]:
    """The built-in pipeline called with the request `backend.generate(request)` builds."""
    pipe, engine_request = backend.pipeline(), backend.engine_request(request)
    return lambda: pipe(engine_request).frames, "VideoPipeline"


def _bare_call(backend: Backend, request: BackendRequest) -> tuple[Callable[[], torch.Tensor], str]:
    """The pipeline call `backend.generate(request)` makes, with its inputs prepared; the
    callable returns uint8 (T, H, W, 3) frames."""
    if isinstance(backend, BuiltinBackend):
        return _bare_builtin(backend, request)
    assert isinstance(backend, DiffusersBackend)
    plan = backend.plan(request)
    (stage,) = plan.stages
    pipe = backend.pipe(stage.role, stage.pipeline)
    h, w = plan.size
    kwargs: dict[str, Any] = {
        "prompt": plan.prompt,
        "negative_prompt": plan.negative,
        "height": h,
        "width": w,
        "num_frames": plan.num_frames,
        "num_inference_steps": plan.steps,
        "guidance_scale": plan.guidance,
    }
    if isinstance(backend, LTXBackend):
        from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

        kwargs.update(frame_rate=25, decode_timestep=0.05, decode_noise_scale=0.025)
        conditions = []
        if request.image is not None:
            conditions.append(LTXVideoCondition(image=to_pil(fit(request.image, plan.size))))
        if request.end_image is not None:
            conditions.append(
                LTXVideoCondition(
                    image=to_pil(fit(request.end_image, plan.size)), frame_index=plan.num_frames - 1
                )
            )
        kwargs["conditions"] = conditions or None
    elif stage.name == "vace":
        video, generate = backend.control(request, plan, {}, None, {})
        kwargs["video"] = [to_pil(f) for f in video]
        kwargs["mask"] = [to_pil_mask(m) for m in generate]
        kwargs["conditioning_scale"] = 1.0
    elif request.image is not None:
        kwargs["image"] = to_pil(fit(request.image, plan.size))
        if request.end_image is not None:
            kwargs["last_image"] = to_pil(fit(request.end_image, plan.size))

    def call() -> torch.Tensor:
        generator = torch.Generator().manual_seed(request.seed)
        return frames_to_uint8(pipe(**kwargs, generator=generator, output_type="pt").frames)

    return call, f"{stage.pipeline.__name__} ({stage.role})"


def _measure(backend: Backend, request: BackendRequest, reps: int) -> dict[str, Any]:
    bare, pipeline = _bare_call(backend, request)
    steps: list[int] = []

    def wrapped() -> torch.Tensor:
        return backend.generate(
            request, progress=lambda s, t: steps.append(s), is_cancelled=lambda: False
        ).frames

    same = torch.equal(wrapped(), bare())
    for _ in range(3):  # a freshly loaded pipeline's first calls still grow its allocations
        wrapped()
        bare()
    ratios, wall_ratios, wrapped_s, bare_s = [], [], [], []
    for rep in range(reps):
        order = [("wrapped", wrapped), ("bare", bare)]
        if rep % 2:
            order.reverse()
        cpu, wall = {}, {}
        for name, fn in order:
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            fn()
            cpu[name] = time.process_time() - cpu_start
            wall[name] = time.perf_counter() - wall_start
        wrapped_s.append(cpu["wrapped"])
        bare_s.append(cpu["bare"])
        ratios.append(cpu["wrapped"] / cpu["bare"])
        wall_ratios.append(wall["wrapped"] / wall["bare"])
    return {
        "pipeline": pipeline,
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_min": round(min(ratios), 3),
        "ratio_max": round(max(ratios), 3),
        "wall_ratio_median": round(statistics.median(wall_ratios), 3),
        "wrapped_s_median": round(statistics.median(wrapped_s), 4),
        "bare_s_median": round(statistics.median(bare_s), 4),
        "frames_identical": same,
    }


def _cases(models_dir: Path) -> list[tuple[Backend, str, BackendRequest]]:
    def settings(name: str) -> BackendSettings:
        return BackendSettings(name, models_dir, device="cpu", dtype="float32")

    builtin = BuiltinBackend(settings("builtin"))  # the tiny preset, random weights

    wan13 = WanBackend(BACKENDS["wan2.1-1.3b"], settings("wan2.1-1.3b"))
    wan14 = WanBackend(BACKENDS["wan2.1-14b"], settings("wan2.1-14b"))
    wan22 = WanBackend(BACKENDS["wan2.2-5b"], settings("wan2.2-5b"))
    ltx = LTXBackend(BACKENDS["ltx-video"], settings("ltx-video"))
    wan = {"height": 48, "width": 80, "num_frames": 17, "steps": 4, "seed": 1}
    by_32 = {**wan, "height": 64, "width": 96}
    prompt = "a red kite over a beach at golden hour"
    native = {"num_frames": 17, "seed": 1, "quality": "flash", "camera": _DOLLY}
    return [
        (builtin, "t2v", BackendRequest(prompt, **native)),
        (builtin, "i2v", BackendRequest(prompt, mode="i2v", image=_image(1), **native)),
        (wan13, "t2v", BackendRequest(prompt, **wan)),
        (wan13, "i2v (VACE)", BackendRequest(prompt, mode="i2v", image=_image(1), **wan)),
        (wan14, "i2v", BackendRequest(prompt, mode="i2v", image=_image(1), **wan)),
        (
            wan14,
            "keyframes (FLF2V)",
            BackendRequest(prompt, mode="keyframes", image=_image(1), end_image=_image(2), **wan),
        ),
        (wan22, "t2v", BackendRequest(prompt, **by_32)),
        (wan22, "i2v", BackendRequest(prompt, mode="i2v", image=_image(1), **by_32)),
        (ltx, "t2v", BackendRequest(prompt, **by_32)),
        (ltx, "i2v", BackendRequest(prompt, mode="i2v", image=_image(1), **by_32)),
        (
            ltx,
            "keyframes",
            BackendRequest(prompt, mode="keyframes", image=_image(1), end_image=_image(2), **by_32),
        ),
    ]


def _matrix_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| backend | modes | longest clip | largest size | fps | camera | loop | LoRA "
        "| negative prompt | weights GB: all resident / one folder / CPU offload |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        mem = r["memory_gb"]
        weights = (
            "ships with the repository; runs on the CPU"
            if mem is None
            else f"{mem['all_resident']} / {mem['largest_folder']} / {mem['cpu_offload']}"
        )
        if r["family"] == "builtin":
            camera = "3D cache, exact"
        else:
            camera = "3D cache" if r["camera_geometry"] else "prompt words"
        lines.append(
            f"| `{r['name']}` {r['title']} | {', '.join(r['modes'])} | {r['max_frames']} frames "
            f"({r['max_seconds']:g} s) | {r['max_size'][1]}×{r['max_size'][0]} | {r['fps']:g} "
            f"| {camera}{' + keyframes anywhere' if r['keyframes_anywhere'] else ''} "
            f"| {'yes' if r['loop'] else 'no'} "
            f"| {'yes' if r['lora'] else 'no'} | {'yes' if r['negative_prompt'] else 'no'} "
            f"| {weights} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny random-weight models (CPU)")
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if not args.tiny:
        parser.error("only --tiny runs here: real sizes need a GPU worker with the model folders")
    torch.set_num_threads(args.threads)
    from tests.backends import tiny

    matrix = capability_matrix()
    print("\n".join(_matrix_table(matrix)))
    load_start = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory(prefix="backends-bench-") as tmp:
        models_dir = tiny.write_models(Path(tmp))
        for backend, mode, request in _cases(models_dir):
            row = {"backend": backend.name, "mode": mode, **_measure(backend, request, args.reps)}
            results.append(row)
            print(
                f"{row['backend']:<12} {mode:<18} overhead {row['ratio_median']:.3f} "
                f"(min {row['ratio_min']:.3f}, max {row['ratio_max']:.3f}; wall "
                f"{row['wall_ratio_median']:.3f}); wrapped {row['wrapped_s_median']:.3f} s, "
                f"bare {row['bare_s_median']:.3f} s CPU; "
                f"identical frames {row['frames_identical']}"
            )
    load_end = os.getloadavg()[0]
    worst = max(r["ratio_median"] for r in results)
    context = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, torch {torch.__version__}",
        "threads": args.threads,
        "reps": args.reps,
        "load_average": [round(load_start, 2), round(load_end, 2)],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "backends.json").write_text(
        json.dumps(
            {
                **context,
                "target": TARGET,
                "worst_overhead": worst,
                "overhead": results,
                "capabilities": matrix,
            },
            indent=2,
        )
        + "\n"
    )
    lines = [
        "# Backends: capabilities and wrapper overhead",
        "",
        f"Written by `bench/backends.py --tiny` on {context['date']} ({context['machine']}); "
        f"torch threads {args.threads}, {args.reps} alternating repetitions per row.",
        "",
        "## Capability matrix",
        "",
        *_matrix_table(matrix),
        "",
        "Weights are parameter counts of the published configurations in bf16 (VAEs in "
        "float32), before activations; not measured. The built-in model renders at its native "
        "size per aspect (172×96 at 16:9) and the studio upscales for delivery.",
        "",
        "## Overhead of `backend.generate` over the bare pipeline call",
        "",
        f"Tiny random-weight configurations of the real classes, where the model's share is "
        f"smallest. Target ≤ {TARGET:.2f}; worst median **{worst:.3f}**.",
        "",
        "| backend | mode | pipeline | overhead (median, CPU time) | min | max | wall-time median "
        "| wrapped CPU s | bare CPU s | same frames |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| `{r['backend']}` | {r['mode']} | {r['pipeline']} | **{r['ratio_median']:.3f}** "
            f"| {r['ratio_min']:.3f} | {r['ratio_max']:.3f} | {r['wall_ratio_median']:.3f} "
            f"| {r['wrapped_s_median']:.3f} "
            f"| {r['bare_s_median']:.3f} | {r['frames_identical']} |"
        )
    lines += [
        "",
        f"1-minute load average {load_start:.2f} at the start and {load_end:.2f} at the end "
        f"on {os.cpu_count()} cores. Wrapped is `backend.generate` with a progress and a cancel "
        "callback, as a worker calls it; bare is the same pipeline object with the same "
        "arguments and inputs already PIL images at the clip's size (the built-in model: its "
        "own request), without callback. Both "
        "are timed in CPU seconds of the benchmark process (one torch thread), which other "
        "processes on the machine do not inflate; wall time is shown beside.",
        "",
    ]
    (RESULTS / "backends.md").write_text("\n".join(lines))
    print(f"worst overhead {worst:.3f} (target ≤ {TARGET:.2f}); wrote {RESULTS / 'backends.md'}")
    return 0 if worst <= TARGET and all(r["frames_identical"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
