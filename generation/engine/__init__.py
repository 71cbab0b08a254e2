"""The Dailies video engine: plain PyTorch, no Django, Celery or Channels.

Usable and testable on its own: ``world`` (the synthetic renderer), the VAE, the
transformer, flow-matching sampling, camera conditioning, LoRA, video I/O and metrics.
"""

from __future__ import annotations
