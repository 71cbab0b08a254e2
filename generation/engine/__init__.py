"""The Dailies video engine: plain PyTorch, no Django, Celery or Channels.

Usable and testable on its own: ``models`` (keyframe, depth, refiner networks), ``cache`` (the
3D point cache and its renderer), ``pipeline`` (the stages from a request to a clip), sampling
and schedules, LoRA, video I/O, evaluation (metrics, optical flow, the move classifier),
``training`` (never imported when serving) and ``world`` (the synthetic renderer).
"""

from __future__ import annotations
