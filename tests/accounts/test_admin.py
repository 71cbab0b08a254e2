from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from billing import ledger
from billing.models import LedgerEntry
from generation.models import RenderJob
from generation.requests import RenderRequest
from generation.vocabulary import Quality
from tests.factories import submit_one, team_with_owner

pytestmark = pytest.mark.usefixtures("seeded")


@pytest.fixture
def admin_client_(db) -> Client:
    admin = User.objects.create_superuser(email="root@example.com", password="pw-root-123")
    client = Client()
    client.force_login(admin)
    return client


def test_every_admin_changelist_loads(admin_client_: Client) -> None:
    team_with_owner()
    for app, model in (
        ("accounts", "user"),
        ("accounts", "team"),
        ("billing", "plan"),
        ("billing", "creditaccount"),
        ("billing", "ledgerentry"),
        ("billing", "reservation"),
        ("billing", "pricebook"),
        ("moderation", "moderationterm"),
        ("moderation", "moderationdecision"),
        ("generation", "renderjob"),
        ("storyboards", "project"),
        ("storyboards", "shot"),
    ):
        response = admin_client_.get(reverse(f"admin:{app}_{model}_changelist"))
        assert response.status_code == 200, model


def test_projects_and_shots_are_in_the_admin(admin_client_: Client) -> None:
    from storyboards import services as storyboards

    team, owner = team_with_owner()
    project = storyboards.project_create(team=team, user=owner, name="Lighthouse")
    shot = storyboards.shot_create(project=project, fields={"title": "Opening", "prompt": "sea"})
    listing = admin_client_.get(reverse("admin:storyboards_project_changelist"), {"q": "Light"})
    assert "Lighthouse" in listing.content.decode()
    page = admin_client_.get(reverse("admin:storyboards_project_change", args=[project.pk]))
    assert page.status_code == 200 and "Opening" in page.content.decode()
    shot_page = admin_client_.get(reverse("admin:storyboards_shot_change", args=[shot.pk]))
    assert shot_page.status_code == 200


def test_adjust_credits_action_writes_an_entry_with_its_reason(admin_client_: Client) -> None:
    team, _ = team_with_owner()
    url = reverse("admin:accounts_team_changelist")
    form = admin_client_.post(url, {"action": "adjustcreditsform", "_selected_action": [team.pk]})
    assert b"Adjust credits" in form.content and b"reason" in form.content
    admin_client_.post(
        url,
        {
            "action": "adjustcreditsform",
            "_selected_action": [team.pk],
            "apply": "1",
            "credits": "12",
            "reason": "Refund for an outage",
        },
    )
    entry = LedgerEntry.objects.filter(team=team).first()
    assert (entry.kind, entry.topup_delta, entry.memo) == ("adjust", 12, "Refund for an outage")
    assert entry.actor.email == "root@example.com"
    assert ledger.balance(team).available == 42


def test_an_overdrawing_adjustment_is_refused_with_a_message(admin_client_: Client) -> None:
    team, _ = team_with_owner()
    response = admin_client_.post(
        reverse("admin:accounts_team_changelist"),
        {
            "action": "adjustcreditsform",
            "_selected_action": [team.pk],
            "apply": "1",
            "credits": "-31",
            "reason": "typo",
        },
        follow=True,
    )
    assert "needs 31 credits" in response.content.decode()
    assert ledger.balance(team).available == 30


def test_record_topup_action(admin_client_: Client) -> None:
    team, _ = team_with_owner()
    admin_client_.post(
        reverse("admin:accounts_team_changelist"),
        {
            "action": "topupform",
            "_selected_action": [team.pk],
            "apply": "1",
            "credits": "100",
            "memo": "Invoice 2026-114",
        },
    )
    account = ledger.balance(team)
    assert (account.monthly, account.topup) == (30, 100)


def test_ledger_entries_are_read_only_in_admin(admin_client_: Client) -> None:
    team, _ = team_with_owner()
    entry = LedgerEntry.objects.filter(team=team).first()
    change = admin_client_.post(
        reverse("admin:billing_ledgerentry_change", args=[entry.pk]), {"memo": "edited"}
    )
    assert change.status_code in (200, 403)
    delete = admin_client_.post(
        reverse("admin:billing_ledgerentry_delete", args=[entry.pk]), {"post": "yes"}
    )
    assert delete.status_code == 403
    assert LedgerEntry.objects.get(pk=entry.pk).memo == entry.memo


def test_render_jobs_are_inspectable_and_cancellable_in_admin(admin_client_: Client) -> None:
    team, owner = team_with_owner()
    job = submit_one(
        team=team,
        user=owner,
        request=RenderRequest(prompt="a lamp", quality=Quality.FLASH, resolution=540, duration_s=1),
    )
    assert admin_client_.get(reverse("admin:generation_renderjob_changelist")).status_code == 200
    assert (
        admin_client_.get(reverse("admin:generation_renderjob_change", args=[job.pk])).status_code
        == 200
    )
    admin_client_.post(
        reverse("admin:generation_renderjob_changelist"),
        {"action": "cancel_jobs", "_selected_action": [job.pk]},
    )
    job.refresh_from_db()
    assert job.state == RenderJob.State.CANCELLED and ledger.balance(team).held == 0
