"""The content policy, applied to prompts before any credit is spent.

Terms are admin-editable phrases matched as whole words after Unicode and case folding,
so "Gore" and "gore!" match while "gorest" or "Gorey Street" do not match "gore". Every
blocked request is recorded for the audit trail.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction

from moderation.models import ModerationDecision, ModerationTerm
from studio.errors import UserError

if TYPE_CHECKING:
    from accounts.models import Team, User

# A conservative starting policy; admins extend it in Django admin.
DEFAULT_TERMS: dict[str, tuple[str, ...]] = {
    ModerationTerm.Category.SEXUAL: ("porn", "pornographic", "explicit sex", "nude", "naked"),
    ModerationTerm.Category.MINORS: ("child abuse", "underage", "csam"),
    ModerationTerm.Category.VIOLENCE: ("gore", "beheading", "dismembered", "mutilated"),
    ModerationTerm.Category.HATE: ("ethnic cleansing", "genocide propaganda"),
    ModerationTerm.Category.SELF_HARM: ("suicide tutorial", "self-harm tutorial"),
    ModerationTerm.Category.IMPERSONATION: ("deepfake of",),
}


class ContentBlocked(UserError):
    """The request breaks the content policy; the message says which part."""

    def __init__(self, categories: list[str], *, field: str = "prompt") -> None:
        self.categories = categories
        labels = ", ".join(sorted(set(categories)))
        super().__init__(
            f"This prompt was blocked by the content policy ({labels}). "
            "Nothing was charged. Rephrase it and try again.",
            field=field,
        )


@dataclass(frozen=True)
class Verdict:
    blocked: bool
    matched: tuple[tuple[str, str], ...]  # (phrase, category label)


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s-]", " ", text)).strip()


def evaluate(text: str) -> Verdict:
    """Match ``text`` against the active terms (read-only)."""
    haystack = f" {_normalise(text)} "
    matched = []
    for term in ModerationTerm.objects.filter(is_active=True):
        phrase = _normalise(term.phrase)
        if phrase and re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", haystack):
            matched.append((term.phrase, term.get_category_display()))
    return Verdict(blocked=bool(matched), matched=tuple(matched))


def check(*, team: Team, user: User | None, text: str, source: str = "prompt") -> Verdict:
    """Raise :class:`ContentBlocked` (after recording it) if ``text`` breaks the policy.

    Call it before opening the transaction that spends credits, so the audit row is
    committed on its own and a blocked request never touches the ledger.
    """
    verdict = evaluate(text)
    if verdict.blocked:
        with transaction.atomic():
            ModerationDecision.objects.create(
                team=team,
                user=user,
                source=source,
                excerpt=text[:300],
                blocked=True,
                matched=[list(m) for m in verdict.matched],
            )
        raise ContentBlocked([label for _, label in verdict.matched])
    return verdict


def terms_seed() -> int:
    """Add the default terms that are missing; never re-enable one an admin switched off."""
    created = 0
    for category, phrases in DEFAULT_TERMS.items():
        for phrase in phrases:
            _, new = ModerationTerm.objects.get_or_create(
                phrase=phrase, defaults={"category": category}
            )
            created += new
    return created
