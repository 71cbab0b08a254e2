"""The one module that builds engine objects from settings, once per worker process."""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from generation.engine.svt_pipeline import VideoPipeline, build_pipeline

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineInfo:
    backend: str
    preset: str
    model_version: str
    trained: bool
    native_fps: float
    limits: tuple[str, ...]


def _engine_settings() -> dict:
    return settings.DAILIES_ENGINE


@functools.cache
def pipeline() -> VideoPipeline:
    """The built-in model's pipeline, built on first use and kept for the process."""
    cfg = _engine_settings()
    started = time.perf_counter()
    weights = cfg.get("weights_dir")
    pipe = build_pipeline(
        cfg["preset"],
        Path(weights) if weights else None,
        device=cfg.get("device", "cpu"),
        autocast=cfg.get("autocast", False),
    )
    log.info("engine %s built in %.2fs", cfg["preset"], time.perf_counter() - started)
    return pipe


def _trained_steps(weights_dir: str | None) -> int | None:
    """Training steps recorded with the weights (``transformer.json`` metadata)."""
    if not weights_dir:
        return None
    try:
        meta = json.loads((Path(weights_dir) / "transformer.json").read_text())
        return int(meta.get("metadata", {}).get("step"))
    except (OSError, ValueError, TypeError):
        return None


@functools.cache
def _info(preset: str, weights_dir: str | None, model_version: str) -> EngineInfo:
    from generation.engine.presets import PRESETS

    steps = _trained_steps(weights_dir)
    limits = [
        "No audio: add sound in your editor.",
        "On-screen text is not rendered legibly.",
        "Clips are rendered at the model's native size and upscaled for delivery.",
    ]
    if not weights_dir:
        limits.insert(0, "No trained weights are installed: renders are untrained noise.")
    elif steps is not None and steps < 10_000:
        limits.insert(
            0,
            f"The built-in model has trained for {steps:,} steps so far: expect the prompt's "
            "palette and light, not yet its objects or camera move (see docs/model/MODEL_CARD.md).",
        )
    version = model_version or f"builtin-{preset}" + (f"-{steps}" if steps is not None else "")
    return EngineInfo(
        backend="builtin",
        preset=preset,
        model_version=version,
        trained=bool(weights_dir),
        native_fps=PRESETS[preset].fps,
        limits=tuple(limits),
    )


def engine_info() -> EngineInfo:
    """What the active model is and cannot do, shown in the UI before anyone submits."""
    cfg = _engine_settings()
    weights = cfg.get("weights_dir")
    return _info(cfg["preset"], str(weights) if weights else None, cfg.get("model_version") or "")
