from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from accounts import services as accounts
from accounts.models import Team, User
from billing import ledger
from tests.factories import team_with_owner


@dataclass
class ApiClient:
    """A team's API key and a Django test client that sends it."""

    team: Team
    owner: User
    token: str
    client: Client

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(headers or {})}

    def get(self, path: str, params: dict[str, Any] | None = None, **headers: str) -> Any:
        return self.client.get(path, params or {}, headers=self._headers(headers))

    def post(self, path: str, body: Any = None, **headers: str) -> Any:
        return self.client.post(
            path,
            json.dumps(body if body is not None else {}),
            content_type="application/json",
            headers=self._headers(headers),
        )

    def delete(self, path: str, **headers: str) -> Any:
        return self.client.delete(path, headers=self._headers(headers))

    def upload(self, path: str, data: dict[str, Any]) -> Any:
        return self.client.post(path, data, headers=self._headers(None))


def api_client(
    *, plan_code: str = "standard", scopes: tuple[str, ...] = ("read", "render"), credits: int = 500
) -> ApiClient:
    team, owner = team_with_owner(plan_code=plan_code)
    if credits:
        ledger.topup(team=team, credits=credits)
    _, token = accounts.api_key_create(team=team, actor=owner, name="pipeline", scopes=list(scopes))
    return ApiClient(team=team, owner=owner, token=token, client=Client())


@pytest.fixture
def api(seeded) -> ApiClient:
    return api_client()


@pytest.fixture
def other(seeded) -> ApiClient:
    return api_client()


# A cheap valid request on every plan, as the API spells it.
SMALL = {
    "prompt": "a yellow ball bounces on a checker floor",
    "camera_words": "slow push-in, 35mm, f/2",
    "quality": "flash",
    "resolution": 540,
    "duration_s": 2,
    "fps": 12,
    "seed": 7,
}
