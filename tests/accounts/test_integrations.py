"""API keys and webhooks on the team page: owners and admins manage them; a key's secret is
shown once; deliveries are logged."""

from __future__ import annotations

import hashlib

import pytest
from django.test import Client
from django.urls import reverse

from accounts import services
from accounts.models import ApiKey, Role
from tests.factories import UserFactory, team_with_owner
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.usefixtures("seeded")
HTMX = {"HTTP_HX_REQUEST": "true"}


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_new_key_is_shown_once_and_stored_hashed() -> None:
    team, owner = team_with_owner()
    client = _client_for(owner)
    response = client.post(
        reverse("api_key_create", args=[team.pk]),
        {"name": "render farm", "scopes": ["read", "render"]},
        follow=True,
    )
    page = response.content.decode()
    key = ApiKey.objects.get(team=team)
    token = page.split('id="new-api-key">', 1)[1].split("<", 1)[0]
    assert token.startswith(key.prefix + "_")
    assert key.key_sha256 == hashlib.sha256(token.encode()).hexdigest() != token
    assert key.scopes == ["read", "render"]
    assert token not in client.get(reverse("team_detail", args=[team.pk])).content.decode()
    api = Client().get("/api/v1/credits", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None
    listed = client.get(reverse("team_detail", args=[team.pk])).content.decode()
    assert "render farm" in listed and "Read + Render" in listed


def test_revoking_from_the_team_page_stops_the_key() -> None:
    team, owner = team_with_owner()
    key, token = services.api_key_create(team=team, actor=owner, name="ci", scopes=["read"])
    client = _client_for(owner)
    response = client.post(reverse("api_key_revoke", args=[team.pk, key.pk]), **HTMX)
    assert response.status_code == 200 and "revoked" in response.content.decode()
    assert (
        Client().get("/api/v1/credits", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )


def test_a_key_needs_a_name_and_a_scope() -> None:
    team, owner = team_with_owner()
    response = _client_for(owner).post(
        reverse("api_key_create", args=[team.pk]), {"name": "", "scopes": []}, **HTMX
    )
    html = response.content.decode()
    assert 'id="id_name-errors"' in html and 'id="id_scopes-errors"' in html
    assert not ApiKey.objects.exists()


def test_members_cannot_see_or_manage_keys_and_other_teams_get_404() -> None:
    team, owner = team_with_owner()
    member = UserFactory()
    services.membership_add(team=team, actor=owner, email=member.email, role=Role.MEMBER)
    client = _client_for(member)
    assert "API keys" not in client.get(reverse("team_detail", args=[team.pk])).content.decode()
    refused = client.post(
        reverse("api_key_create", args=[team.pk]), {"name": "x", "scopes": ["read"]}
    )
    assert refused.status_code == 403
    outsider, _ = team_with_owner()
    stranger = _client_for(outsider.memberships.get().user)
    assert (
        stranger.post(
            reverse("webhook_create", args=[team.pk]), {"url": "https://a.example/h"}
        ).status_code
        == 404
    )
    assert not ApiKey.objects.exists()


def test_a_private_endpoint_is_refused_beside_its_field(settings) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    team, owner = team_with_owner()
    response = _client_for(owner).post(
        reverse("webhook_create", args=[team.pk]), {"url": "http://169.254.169.254/latest"}, **HTMX
    )
    html = response.content.decode()
    assert 'id="id_url-errors"' in html and "private, loopback or link-local" in html
    assert not WebhookEndpoint.objects.exists()


def test_endpoints_the_secret_and_the_delivery_log(settings) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    team, owner = team_with_owner()
    admin = UserFactory()
    services.membership_add(team=team, actor=owner, email=admin.email, role=Role.ADMIN)
    client = _client_for(admin)
    client.post(reverse("webhook_create", args=[team.pk]), {"url": "http://127.0.0.1:9/h"}, **HTMX)
    endpoint = WebhookEndpoint.objects.get(team=team)
    page = client.get(reverse("team_detail", args=[team.pk])).content.decode()
    secret = team.webhook_secret.secret
    assert endpoint.url in page and secret in page
    client.post(reverse("webhook_secret_rotate", args=[team.pk]), **HTMX)
    team.webhook_secret.refresh_from_db()
    assert team.webhook_secret.secret != secret
    WebhookDelivery.objects.create(
        team=team, endpoint=endpoint, event="generation.completed", url=endpoint.url,
        payload={"data": {"id": 41}}, state="failed", attempts=5, last_status=500,
        last_error="The receiver answered 500.",
    )  # fmt: skip
    log = client.get(reverse("webhook_deliveries", args=[team.pk]), **HTMX).content.decode()
    assert "generation.completed" in log and "generation 41" in log and "answered 500" in log
    client.post(reverse("webhook_delete", args=[team.pk, endpoint.pk]), **HTMX)
    assert not WebhookEndpoint.objects.exists()
    assert WebhookDelivery.objects.filter(team=team).count() == 1  # the log stays
