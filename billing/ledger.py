"""Credit movements: the only code that changes a team's balance.

Every function runs in one transaction, locks the team's account row first (on SQLite
the IMMEDIATE transaction mode takes the database write lock instead), writes one or
more append-only :class:`LedgerEntry` rows and updates the cached
:class:`CreditAccount` in the same transaction. Monthly credits are spent before top-up
credits; unused monthly credits expire at the billing date; top-ups carry over.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from billing.models import CreditAccount, LedgerEntry, Reservation
from studio.errors import UserError

if TYPE_CHECKING:
    from accounts.models import Team, User

Kind = LedgerEntry.Kind


class LedgerError(UserError):
    """A credit movement that cannot happen; the message is meant for the user."""


class InsufficientCredits(LedgerError):
    def __init__(self, *, needed: int, available: int) -> None:
        self.needed = needed
        self.available = available
        super().__init__(
            f"This needs {needed} credits and your team has {available} available. "
            "Top up or wait for your monthly credits."
        )


class ReservationClosed(LedgerError):
    pass


# --- Billing periods ----------------------------------------------------------------------


def billing_period_start(anchor: date, on: date) -> date:
    """The start of the billing period containing ``on``.

    Periods start on the anchor's day of the month, clamped to the month's last day
    (an anchor on the 31st renews on 30 April and 28/29 February).
    """

    def in_month(year: int, month: int) -> date:
        return date(year, month, min(anchor.day, calendar.monthrange(year, month)[1]))

    start = in_month(on.year, on.month)
    if start > on:
        year, month = (on.year, on.month - 1) if on.month > 1 else (on.year - 1, 12)
        start = in_month(year, month)
    return start


def next_billing_date(anchor: date, on: date) -> date:
    start = billing_period_start(anchor, on)
    year, month = (start.year, start.month + 1) if start.month < 12 else (start.year + 1, 1)
    return date(year, month, min(anchor.day, calendar.monthrange(year, month)[1]))


# --- Internals ----------------------------------------------------------------------------


def _lock_account(team: Team) -> CreditAccount:
    account, _ = CreditAccount.objects.select_for_update().get_or_create(team=team)
    return account


def _post(
    account: CreditAccount,
    kind: str,
    *,
    monthly: int = 0,
    topup: int = 0,
    held: int = 0,
    reservation: Reservation | None = None,
    period_start: date | None = None,
    memo: str = "",
    actor: User | None = None,
) -> LedgerEntry:
    """Apply deltas to a locked account and record them. Callers check sufficiency first."""
    account.monthly += monthly
    account.topup += topup
    account.held += held
    if min(account.monthly, account.topup, account.held) < 0:
        raise LedgerError("A credit movement would make a balance negative.")
    account.save(update_fields=["monthly", "topup", "held", "period_start", "updated_at"])
    return LedgerEntry.objects.create(
        team_id=account.team_id,
        kind=kind,
        monthly_delta=monthly,
        topup_delta=topup,
        held_delta=held,
        monthly_after=account.monthly,
        topup_after=account.topup,
        held_after=account.held,
        reservation=reservation,
        period_start=period_start,
        memo=memo[:200],
        actor=actor,
    )


def _split(account: CreditAccount, credits: int) -> tuple[int, int]:
    """How ``credits`` divide between the pools: monthly first, then top-up."""
    from_monthly = min(credits, account.monthly)
    return from_monthly, credits - from_monthly


# --- Public services ----------------------------------------------------------------------


@transaction.atomic
def account_open(*, team: Team) -> CreditAccount:
    """A new team's empty account, granted this period's monthly credits."""
    account = CreditAccount.objects.create(team=team)
    run_monthly_cycle(team=team)
    account.refresh_from_db()
    return account


def balance(team: Team) -> CreditAccount:
    """The team's current balance (read-only; no lock)."""
    account, _ = CreditAccount.objects.get_or_create(team=team)
    return account


@transaction.atomic
def topup(
    *, team: Team, credits: int, memo: str = "Top-up", actor: User | None = None
) -> LedgerEntry:
    """Record purchased credits. They carry over and are spent after monthly credits."""
    if credits <= 0:
        raise LedgerError("A top-up must be a positive number of credits.")
    account = _lock_account(team)
    return _post(account, Kind.TOPUP, topup=credits, memo=memo, actor=actor)


@transaction.atomic
def adjust(*, team: Team, credits: int, reason: str, actor: User | None = None) -> LedgerEntry:
    """An admin correction. Additions go to top-up credits (they carry over); removals
    take monthly credits first, like spending."""
    if not reason.strip():
        raise LedgerError("An adjustment needs a reason.")
    if credits == 0:
        raise LedgerError("An adjustment must change the balance.")
    account = _lock_account(team)
    if credits > 0:
        return _post(account, Kind.ADJUST, topup=credits, memo=reason, actor=actor)
    if -credits > account.available:
        raise InsufficientCredits(needed=-credits, available=account.available)
    from_monthly, from_topup = _split(account, -credits)
    return _post(
        account, Kind.ADJUST, monthly=-from_monthly, topup=-from_topup, memo=reason, actor=actor
    )


def lock_account(team: Team) -> CreditAccount:
    """Lock the team's account for the rest of the current transaction.

    Work that must see the balance and act on it as one step (a batch of renders checks its
    idempotency key, then reserves) takes this lock first; every movement below takes it
    again, which within one transaction costs nothing.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lock_account() needs a transaction: the lock ends with it")
    return _lock_account(team)


def _reserve_locked(account: CreditAccount, team: Team, credits: int, memo: str) -> Reservation:
    from_monthly, from_topup = _split(account, credits)
    reservation = Reservation.objects.create(
        team=team,
        credits=credits,
        monthly_part=from_monthly,
        topup_part=from_topup,
        period_start=account.period_start,
        memo=memo[:200],
    )
    _post(
        account,
        Kind.RESERVE,
        monthly=-from_monthly,
        topup=-from_topup,
        held=credits,
        reservation=reservation,
        memo=memo,
    )
    return reservation


@transaction.atomic
def reserve(*, team: Team, credits: int, memo: str = "") -> Reservation:
    """Set credits aside before work starts; raises :class:`InsufficientCredits`."""
    return reserve_many(team=team, credits=[credits], memo=memo)[0]


@transaction.atomic
def reserve_many(*, team: Team, credits: Sequence[int], memo: str = "") -> list[Reservation]:
    """One reservation per piece of work, all or none, under one lock of the account.

    The total is checked against the balance once, so a batch never half-starts for lack of
    credits. Raises :class:`InsufficientCredits` (nothing reserved).
    """
    if not credits or any(c <= 0 for c in credits):
        raise LedgerError("A reservation must be for a positive number of credits.")
    account = _lock_account(team)
    total = sum(credits)
    if total > account.available:
        raise InsufficientCredits(needed=total, available=account.available)
    return [_reserve_locked(account, team, c, memo) for c in credits]


def _lock_open_reservation(reservation: Reservation) -> tuple[CreditAccount, Reservation]:
    # Account first, then reservation: the same lock order everywhere avoids deadlocks.
    account = _lock_account(reservation.team)
    locked = Reservation.objects.select_for_update().get(pk=reservation.pk)
    if locked.state != Reservation.State.HELD:
        raise ReservationClosed(
            f"This reservation is already {locked.get_state_display().lower()}."
        )
    return account, locked


def _close(
    account: CreditAccount, reservation: Reservation, *, spent: int, kind: str, memo: str
) -> LedgerEntry:
    """Spend ``spent`` of a held reservation (monthly part first) and return the rest.

    Monthly credits returned after their billing period ended expire at once: a refund
    must not revive credits the cycle already took away.
    """
    spent_monthly = min(spent, reservation.monthly_part)
    back_monthly = reservation.monthly_part - spent_monthly
    back_topup = reservation.topup_part - (spent - spent_monthly)
    entry = _post(
        account,
        kind,
        monthly=back_monthly,
        topup=back_topup,
        held=-reservation.credits,
        reservation=reservation,
        memo=memo,
    )
    if back_monthly and reservation.period_start != account.period_start:
        _post(
            account,
            Kind.EXPIRY,
            monthly=-back_monthly,
            reservation=reservation,
            period_start=reservation.period_start,
            memo="Returned monthly credits from an ended billing period",
        )
    reservation.state = (
        Reservation.State.SETTLED if kind == Kind.SETTLE else Reservation.State.RELEASED
    )
    reservation.spent = spent
    reservation.closed_at = timezone.now()
    reservation.save(update_fields=["state", "spent", "closed_at"])
    return entry


@transaction.atomic
def settle(*, reservation: Reservation, credits: int, memo: str = "") -> LedgerEntry:
    """Charge the actual cost, at most what was reserved; the rest is released.

    A reservation is settled at most once: a second call raises :class:`ReservationClosed`.
    """
    if not 0 <= credits <= reservation.credits:
        raise LedgerError(
            f"A settlement must be between 0 and the {reservation.credits} credits reserved."
        )
    account, locked = _lock_open_reservation(reservation)
    entry = _close(account, locked, spent=credits, kind=Kind.SETTLE, memo=memo or locked.memo)
    reservation.refresh_from_db()
    return entry


@transaction.atomic
def release(*, reservation: Reservation, memo: str = "") -> LedgerEntry:
    """Return every reserved credit (failed or cancelled work)."""
    account, locked = _lock_open_reservation(reservation)
    entry = _close(account, locked, spent=0, kind=Kind.RELEASE, memo=memo or locked.memo)
    reservation.refresh_from_db()
    return entry


@transaction.atomic
def run_monthly_cycle(*, team: Team, today: date | None = None) -> list[LedgerEntry]:
    """Expire last period's unspent monthly credits and grant this period's. Idempotent.

    Safe to run any number of times, from any number of processes: a period already
    granted is skipped, and a unique constraint rejects a concurrent duplicate.
    """
    today = today or timezone.localdate()
    if today < team.billing_anchor:
        return []
    current = billing_period_start(team.billing_anchor, today)
    account = _lock_account(team)
    if account.period_start is not None and account.period_start >= current:
        return []
    entries = []
    if account.monthly and account.period_start is not None:
        entries.append(
            _post(
                account,
                Kind.EXPIRY,
                monthly=-account.monthly,
                period_start=account.period_start,
                memo="Unused monthly credits expired at the billing date",
            )
        )
    account.period_start = current
    try:
        with transaction.atomic():
            entries.append(
                _post(
                    account,
                    Kind.GRANT,
                    monthly=team.monthly_credits,
                    period_start=current,
                    memo=f"{team.plan.name} plan, period from {current:%d %b %Y}",
                )
            )
    except IntegrityError as exc:  # another process granted this period a moment ago
        raise LedgerError("This billing period was granted concurrently.") from exc
    return entries


# --- Verification -------------------------------------------------------------------------


@dataclass(frozen=True)
class Discrepancy:
    team_id: int
    what: str
    cached: int
    from_entries: int


def check_ledger() -> list[Discrepancy]:
    """Compare every cached balance with the sum of its entries and its open reservations."""
    sums = {
        row["team_id"]: row
        for row in LedgerEntry.objects.values("team_id").annotate(
            monthly=Sum("monthly_delta"), topup=Sum("topup_delta"), held=Sum("held_delta")
        )
    }
    held = {
        row["team_id"]: row["total"]
        for row in Reservation.objects.filter(state=Reservation.State.HELD)
        .values("team_id")
        .annotate(total=Sum("credits"))
    }
    problems = []
    for account in CreditAccount.objects.all():
        row = sums.get(account.team_id, {"monthly": 0, "topup": 0, "held": 0})
        expected = {
            "monthly": row["monthly"],
            "topup": row["topup"],
            "held": row["held"],
            "open reservations": held.get(account.team_id, 0),
        }
        cached = {
            "monthly": account.monthly,
            "topup": account.topup,
            "held": account.held,
            "open reservations": account.held,
        }
        problems += [
            Discrepancy(account.team_id, what, cached[what], expected[what])
            for what in expected
            if cached[what] != expected[what]
        ]
    return problems
