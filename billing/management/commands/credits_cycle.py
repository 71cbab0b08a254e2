from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from billing.cycle import credits_cycle_run


class Command(BaseCommand):
    help = "Grant monthly credits and expire unused ones for teams whose billing date came."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--today", type=date.fromisoformat, help="Run as of this date (ISO).")

    def handle(self, *args: object, today: date | None = None, **options: object) -> None:
        report = credits_cycle_run(today=today)
        self.stdout.write(f"Granted a new period to {len(report.granted)} team(s).")
        if report.errors:
            raise CommandError("; ".join(report.errors))
