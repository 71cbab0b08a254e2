"""Reads of a team's webhooks; another team's endpoint is a 404."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet
from django.http import Http404

from webhooks.models import WebhookDelivery, WebhookEndpoint

if TYPE_CHECKING:
    from accounts.models import Team


def endpoint_list(*, team: Team) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(team=team)


def endpoint_get(*, team: Team, endpoint_id: int | str) -> WebhookEndpoint:
    try:
        return WebhookEndpoint.objects.get(team=team, pk=int(endpoint_id))
    except (WebhookEndpoint.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such endpoint.") from exc


def delivery_list(*, team: Team) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(team=team).select_related("endpoint")
