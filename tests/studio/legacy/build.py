"""Build the first release's database and fill it: ``python -m tests.studio.legacy.build``
with ``DJANGO_SETTINGS_MODULE=tests.studio.legacy.settings`` and ``DATABASE_URL`` set.

Rows go in through the migrations' own historical models, as that release wrote them.
"""

from __future__ import annotations

import datetime

import django
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

PASSWORD = "correct-horse-42"


def main() -> None:
    django.setup()
    call_command("migrate", interactive=False, verbosity=0, skip_checks=True)
    apps = MigrationLoader(connection).project_state().apps

    def model(label: str):
        return apps.get_model(label)

    today = datetime.date(2026, 11, 1)
    now = timezone.now()
    user = model("dailies.User").objects.create(
        email="ada@example.com", password=make_password(PASSWORD), display_name="Ada"
    )
    plan = model("dailies.Plan").objects.create(
        code="standard", name="Standard", price_cents=2400, monthly_credits=500,
        max_resolution=1080, max_duration_s=10, commercial_licence=True, queue_priority=3,
    )  # fmt: skip
    team = model("dailies.Team").objects.create(name="Ada's team", plan=plan, billing_anchor=today)
    model("dailies.Membership").objects.create(team=team, user=user, role="owner")
    model("dailies.CreditAccount").objects.create(
        team=team, monthly=490, topup=0, held=5, period_start=today
    )
    entry = model("dailies.LedgerEntry")
    entry.objects.create(
        team=team, kind="grant", monthly_delta=500, monthly_after=500, topup_after=0,
        held_after=0, period_start=today, memo="Standard plan",
    )  # fmt: skip
    spent = model("dailies.Reservation").objects.create(
        team=team, credits=10, monthly_part=10, topup_part=0, state="settled", spent=10,
        period_start=today, memo="Render: a lighthouse",
    )  # fmt: skip
    entry.objects.create(
        team=team, kind="reserve", monthly_delta=-10, held_delta=10, monthly_after=490,
        topup_after=0, held_after=10, reservation=spent,
    )  # fmt: skip
    entry.objects.create(
        team=team, kind="settle", held_delta=-10, monthly_after=490, topup_after=0,
        held_after=0, reservation=spent,
    )  # fmt: skip
    held = model("dailies.Reservation").objects.create(
        team=team, credits=5, monthly_part=5, topup_part=0, period_start=today, memo="Render"
    )
    entry.objects.create(
        team=team, kind="reserve", monthly_delta=-5, held_delta=5, monthly_after=485,
        topup_after=0, held_after=5, reservation=held,
    )  # fmt: skip
    # The settled render's cached pool: 500 - 10 - 5 = 485.
    model("dailies.CreditAccount").objects.filter(team=team).update(monthly=485)
    book = model("dailies.PriceBook").objects.create(name="Default pricing", is_active=True)
    model("dailies.PricingFactor").objects.create(
        book=book, dimension="quality", key="flash", numerator=1, denominator=3
    )
    model("dailies.ModerationTerm").objects.create(phrase="gore", category="violence")
    model("dailies.ModerationDecision").objects.create(
        team=team, user=user, source="prompt", excerpt="gore", blocked=True,
        matched=[["gore", "Graphic violence"]],
    )  # fmt: skip

    project = model("storyboards.Project").objects.create(
        team=team, name="Lighthouse", created_by=user
    )
    shot_model = model("storyboards.Shot")
    portrait = shot_model.objects.create(
        project=project, title="Portrait", prompt="a lighthouse at dusk", camera={},
        aspect="9:16",
    )  # fmt: skip
    shot_model.objects.create(
        project=project, position=1, title="Wide", prompt="the sea",
        camera={"focal_mm": 85, "moves": [{"kind": "dolly", "direction": "in"}]},
        aspect="2.39:1",
    )  # fmt: skip
    recipe_camera = {"focal_mm": 50.0, "aperture": 2.0, "aspect": "9:16",
                     "moves": [{"kind": "pan", "direction": "left"}]}  # fmt: skip
    job_model = model("generation.RenderJob")
    settled = job_model.objects.create(
        team=team, shot=portrait, requested_by=user, prompt="a lighthouse at dusk", mode="t2v",
        quality="standard", resolution=720, duration_s=5, fps=24, aspect="9:16", seed=7,
        recipe={"camera": recipe_camera, "seed": 7}, state="succeeded", estimate_credits=10,
        cost_credits=10, reservation=spent, idempotency_key="form-1", finished_at=now,
    )  # fmt: skip
    # A camera the spec refuses: the job must still open after the upgrade.
    job_model.objects.create(
        team=team, shot=portrait, requested_by=user, prompt="a lighthouse at dusk", mode="t2v",
        quality="flash", resolution=720, duration_s=5, fps=24, aspect="9:16", seed=8,
        recipe={"camera": {"focal_mm": 9}}, estimate_credits=5, reservation=held,
    )  # fmt: skip
    shot_model.objects.filter(pk=portrait.pk).update(current_job=settled)
    model("generation.Artifact").objects.create(
        job=settled, kind="video", file="renders/team-1/job-1/video.mp4", bytes=1234
    )

    content_type = model("contenttypes.ContentType")
    team_type, _ = content_type.objects.get_or_create(app_label="dailies", model="team")
    permission = model("auth.Permission").objects.get_or_create(
        content_type=team_type, codename="change_team", defaults={"name": "Can change team"}
    )[0]
    user.user_permissions.add(permission)
    model("admin.LogEntry").objects.create(
        user=user, content_type=team_type, object_id=str(team.pk), object_repr=team.name,
        action_flag=2, change_message="renamed",
    )  # fmt: skip
    print("built")


if __name__ == "__main__":
    main()
