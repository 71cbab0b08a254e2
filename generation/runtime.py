"""The one module that builds engine objects from settings, once per worker process."""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from generation.engine.pipeline import VideoPipeline, build_pipeline

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


def engine_info() -> EngineInfo:
    """What the active model is and cannot do, shown in the UI before anyone submits."""
    cfg = _engine_settings()
    trained = bool(cfg.get("weights_dir"))
    limits = [
        "No audio: add sound in your editor.",
        "On-screen text is not rendered legibly.",
        "Clips are rendered at the model's native size and upscaled for delivery.",
    ]
    if not trained:
        limits.insert(0, "No trained weights are installed: renders are untrained noise.")
    from generation.engine.presets import PRESETS

    return EngineInfo(
        backend="builtin",
        preset=cfg["preset"],
        model_version=cfg.get("model_version") or f"builtin-{cfg['preset']}",
        trained=trained,
        native_fps=PRESETS[cfg["preset"]].fps,
        limits=tuple(limits),
    )
