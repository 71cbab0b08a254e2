"""The monthly credit cycle across all teams, shared by the command and the beat task."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from dailies import ledger
from dailies.models import Team


@dataclass
class CycleReport:
    granted: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def credits_cycle_run(*, today: date | None = None) -> CycleReport:
    """Run each team's cycle in its own transaction, so one failure stops no other team."""
    report = CycleReport()
    for team in Team.objects.select_related("plan").order_by("pk"):
        try:
            if ledger.run_monthly_cycle(team=team, today=today):
                report.granted.append(team.pk)
        except ledger.LedgerError as exc:
            report.errors.append(f"team {team.pk}: {exc}")
    return report
