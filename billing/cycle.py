"""The monthly credit cycle across all teams, shared by the command and the beat task."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from billing import ledger
from billing.models import CreditAccount


@dataclass
class CycleReport:
    granted: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def credits_cycle_run(*, today: date | None = None) -> CycleReport:
    """Run each team's cycle in its own transaction, so one failure stops no other team."""
    report = CycleReport()
    # Every team opens its account when it is created (``ledger.account_open``).
    accounts = CreditAccount.objects.select_related("team", "team__plan").order_by("team_id")
    for team in (account.team for account in accounts):
        try:
            if ledger.run_monthly_cycle(team=team, today=today):
                report.granted.append(team.pk)
        except ledger.LedgerError as exc:
            report.errors.append(f"team {team.pk}: {exc}")
    return report
