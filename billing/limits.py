"""What a team's plan allows, and the one sentence for each limit a request goes past.

Every form, the live estimate and the render service take their plan-limit messages from
here, so the studio says the same thing wherever a limit shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from generation.vocabulary import Resolution

if TYPE_CHECKING:
    from accounts.models import Team

# Extensions of a paid plan's clips may run to this many seconds in total.
EXTEND_TOTAL_S = 30


@dataclass(frozen=True)
class PlanLimits:
    """A team's limits: its plan's, or its contract's overrides (Enterprise)."""

    plan: str
    max_resolution: int
    max_duration_s: int
    commercial: bool
    max_characters: int = 1

    @classmethod
    def of(cls, team: Team) -> PlanLimits:
        return cls(
            plan=team.plan.name,
            max_resolution=team.max_resolution,
            max_duration_s=team.max_duration_s,
            commercial=team.plan.commercial_licence,
            max_characters=team.max_characters,
        )

    @property
    def max_resolution_label(self) -> str:
        return Resolution(self.max_resolution).label

    @property
    def extend_total_s(self) -> int:
        """How long an extended clip may get: plans with 10 s clips extend to 30 s."""
        if self.max_duration_s >= 10:
            return max(EXTEND_TOTAL_S, self.max_duration_s)
        return self.max_duration_s

    def summary(self) -> str:
        return f"{self.plan} plan: up to {self.max_resolution_label} and {self.max_duration_s} s."

    def resolution_refusal(self, wanted: int) -> str | None:
        if wanted <= self.max_resolution:
            return None
        label = Resolution(wanted).label if wanted in Resolution.values else f"{wanted}p"
        return f"{self.summary()[:-1]} — upgrade for {label}."

    def duration_refusal(self, seconds: int) -> str | None:
        if seconds < 1:
            return "Clips last at least 1 s."
        if seconds <= self.max_duration_s:
            return None
        return f"{self.plan} plan: clips up to {self.max_duration_s} s — upgrade for longer clips."

    def extend_refusal(self, total_s: int) -> str | None:
        limit = self.extend_total_s
        if total_s <= limit:
            return None
        upgrade = " — upgrade to extend to 30 s." if limit < EXTEND_TOTAL_S else "."
        return (
            f"{self.plan} plan: extended clips up to {limit} s in total; "
            f"this one would be {total_s} s{upgrade}"
        )

    def commercial_refusal(self) -> str | None:
        if self.commercial:
            return None
        return (
            f"The {self.plan} plan has no commercial licence — upgrade to Standard to use "
            "renders commercially."
        )

    def character_refusal(self, existing: int) -> str | None:
        """Why a team that keeps ``existing`` characters cannot lock another, or None."""
        if existing < self.max_characters:
            return None
        kept = f"{self.max_characters} locked character{'s' if self.max_characters != 1 else ''}"
        return f"{self.plan} plan: up to {kept} — upgrade to lock another."
