from __future__ import annotations

import pytest

from dailies.models import Plan
from generation.services import RenderRequest


@pytest.fixture
def small_request() -> RenderRequest:
    """A cheap valid request on every plan: 540p, 2 s at 12 fps, Flash."""
    return RenderRequest(
        prompt="a yellow ball bounces on a checker floor, slow push-in",
        quality="flash",
        resolution=540,
        duration_s=2,
        fps=12,
        aspect="16:9",
        seed=7,
        camera={"focal_mm": 35, "aperture": 2.0, "moves": [{"kind": "dolly", "direction": "in"}]},
    )


@pytest.fixture
def pro_plan(seeded) -> Plan:
    return Plan.objects.get(code="pro")
