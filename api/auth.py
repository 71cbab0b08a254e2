"""``Authorization: Bearer <key>``: which team a request acts for, whether its key may do
this (scopes read and render), and whether it is within its plan's rate."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer

from accounts import services as accounts
from accounts.models import ApiKey
from api import ratelimit
from api.problems import ApiProblem


class KeyAuth(HttpBearer):
    def __init__(self, scope: str) -> None:
        super().__init__()
        self.scope = scope

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        key = accounts.api_key_resolve(token)
        if key is None:
            return None  # 401
        decision = ratelimit.hit(key.pk, per_minute=key.team.plan.api_requests_per_minute)
        request.rate_limit = decision  # type: ignore[attr-defined]
        if not decision.allowed:
            raise ApiProblem(
                429,
                f"This key may make {decision.limit} requests every "
                f"{ratelimit.window_label()}; try again in {decision.reset_s} s.",
                slug="rate-limited",
                headers={"Retry-After": str(decision.reset_s)},
            )
        if not key.allows(self.scope):
            raise ApiProblem(
                403,
                f"This key lacks the {self.scope} scope: make a key with it on the team page.",
                slug="scope-missing",
            )
        return key


read = KeyAuth(ApiKey.Scope.READ)
render = KeyAuth(ApiKey.Scope.RENDER)


def key_of(request: HttpRequest) -> ApiKey:
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    return key
