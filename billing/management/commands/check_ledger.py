from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from billing.ledger import check_ledger


class Command(BaseCommand):
    help = "Verify every cached credit balance against the ledger entries."

    def handle(self, *args: object, **options: object) -> None:
        problems = check_ledger()
        for p in problems:
            self.stderr.write(
                f"team {p.team_id}: {p.what} is {p.cached}, entries say {p.from_entries}"
            )
        if problems:
            raise CommandError(f"{len(problems)} discrepancies found.")
        self.stdout.write(
            self.style.SUCCESS("Ledger consistent: every balance matches its entries.")
        )
