"""Read the migrated database with today's code and print what it finds, as JSON:
``python -m tests.studio.legacy.check`` with the project's settings and ``DATABASE_URL``."""

from __future__ import annotations

import json

import django


def main() -> None:
    django.setup()
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    from accounts.models import Membership, Team, User
    from billing import ledger
    from generation.models import RenderJob
    from moderation.models import ModerationDecision
    from storyboards.models import Shot

    user = User.objects.get(email="ada@example.com")
    team = Team.objects.select_related("plan").get()
    account = ledger.balance(team)
    jobs = list(RenderJob.objects.select_related("batch").order_by("pk"))
    shots = {shot.title: shot for shot in Shot.objects.all()}
    log = LogEntry.objects.select_related("user", "content_type").get()
    tables = set(connection.introspection.table_names())
    entries = team.ledger_entries.count()
    consistent = ledger.check_ledger() == []
    # Today's code writes to the renamed tables too: a reservation moves credits.
    reservation = ledger.reserve(team=team, credits=3, memo="after the upgrade")
    report = {
        "password_ok": user.check_password("correct-horse-42"),
        "can_change_team": user.has_perm("accounts.change_team"),
        "team": [team.name, team.plan.code, Membership.objects.get().role],
        "balance": [account.monthly, account.topup, account.held],
        "ledger_entries": entries,
        "ledger_consistent": consistent and ledger.check_ledger() == [],
        "reserved_after": reservation.credits,
        "decisions": ModerationDecision.objects.filter(team=team).count(),
        "jobs": [
            {
                "key": job.batch.idempotency_key,
                "take": job.take,
                "camera": [job.camera.focal_mm, job.camera.aspect, job.camera.moves[0].label],
                "shot": job.shot.title if job.shot else None,
                "artifacts": job.artifacts.count(),
            }
            for job in jobs
        ],
        "shots": {
            title: [shot.camera.focal_mm, shot.camera.aspect, shot.current_job_id is not None]
            for title, shot in shots.items()
        },
        "log_entry": [log.user.email, log.content_type.app_label, log.content_type.model],
        "dailies_content_types": ContentType.objects.filter(app_label="dailies").count(),
        "old_tables": sorted(t for t in tables if t.startswith("dailies_")),
        "new_tables": sorted(
            t for t in tables if t.split("_")[0] in ("accounts", "billing", "moderation")
        ),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
