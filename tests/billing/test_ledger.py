from __future__ import annotations

from datetime import date

import pytest

from billing import ledger
from billing.ledger import billing_period_start, next_billing_date
from billing.models import LedgerEntry, Reservation
from tests.factories import team_with_owner

pytestmark = pytest.mark.usefixtures("seeded")


def _balances(team) -> tuple[int, int, int]:
    a = ledger.balance(team)
    a.refresh_from_db()
    return a.monthly, a.topup, a.held


def test_new_team_gets_its_plans_monthly_credits() -> None:
    team, _ = team_with_owner(plan_code="free")
    assert _balances(team) == (30, 0, 0)
    grant = LedgerEntry.objects.get(team=team)
    assert grant.kind == "grant" and grant.monthly_delta == 30


def test_reserve_spends_monthly_credits_before_topup() -> None:
    team, _ = team_with_owner()
    ledger.topup(team=team, credits=50)
    r = ledger.reserve(team=team, credits=40, memo="shot 1")
    assert (r.monthly_part, r.topup_part) == (30, 10)
    assert _balances(team) == (0, 40, 40)


def test_insufficient_credits_raise_a_clear_error_and_change_nothing() -> None:
    team, _ = team_with_owner()
    entries_before = LedgerEntry.objects.filter(team=team).count()
    with pytest.raises(ledger.InsufficientCredits, match=r"needs 31 credits .* has 30 available"):
        ledger.reserve(team=team, credits=31)
    assert _balances(team) == (30, 0, 0)
    assert LedgerEntry.objects.filter(team=team).count() == entries_before
    assert not Reservation.objects.filter(team=team).exists()


def test_settle_for_less_releases_the_rest_topup_first() -> None:
    team, _ = team_with_owner()
    ledger.topup(team=team, credits=20)
    r = ledger.reserve(team=team, credits=40)  # 30 monthly + 10 top-up
    ledger.settle(reservation=r, credits=32)  # spends 30 monthly + 2 top-up
    assert _balances(team) == (0, 18, 0)
    r.refresh_from_db()
    assert (r.state, r.spent) == ("settled", 32)


def test_a_reservation_is_never_settled_twice() -> None:
    team, _ = team_with_owner()
    r = ledger.reserve(team=team, credits=10)
    ledger.settle(reservation=r, credits=10)
    with pytest.raises(ledger.ReservationClosed):
        ledger.settle(reservation=r, credits=10)
    with pytest.raises(ledger.ReservationClosed):
        ledger.release(reservation=r)
    assert _balances(team) == (20, 0, 0)


def test_settling_more_than_reserved_is_refused() -> None:
    team, _ = team_with_owner()
    r = ledger.reserve(team=team, credits=10)
    with pytest.raises(ledger.LedgerError, match="between 0 and the 10"):
        ledger.settle(reservation=r, credits=11)
    assert _balances(team) == (20, 0, 10)


def test_release_refunds_every_credit() -> None:
    team, _ = team_with_owner()
    ledger.topup(team=team, credits=5)
    r = ledger.reserve(team=team, credits=33)
    ledger.release(reservation=r, memo="render failed")
    assert _balances(team) == (30, 5, 0)


def test_monthly_cycle_expires_unspent_monthly_and_keeps_topups() -> None:
    team, _ = team_with_owner()
    ledger.topup(team=team, credits=7)
    r = ledger.reserve(team=team, credits=12)
    ledger.settle(reservation=r, credits=12)  # 18 monthly left
    anchor = team.billing_anchor
    later = next_billing_date(anchor, anchor)
    entries = ledger.run_monthly_cycle(team=team, today=later)
    assert [e.kind for e in entries] == ["expiry", "grant"]
    assert entries[0].monthly_delta == -18
    assert _balances(team) == (30, 7, 0)
    assert ledger.run_monthly_cycle(team=team, today=later) == []  # idempotent
    assert _balances(team) == (30, 7, 0)


def test_monthly_credits_refunded_after_their_period_ended_expire_at_once() -> None:
    team, _ = team_with_owner()
    r = ledger.reserve(team=team, credits=10)  # drawn from this period's monthly credits
    later = next_billing_date(team.billing_anchor, team.billing_anchor)
    ledger.run_monthly_cycle(team=team, today=later)  # expires the 20 unreserved
    assert _balances(team) == (30, 0, 10)
    ledger.release(reservation=r)
    # The 10 returned credits belonged to the old period: they must not top up the new one.
    assert _balances(team) == (30, 0, 0)
    assert ledger.check_ledger() == []


def test_adjustments_need_a_reason_and_removals_cannot_overdraw() -> None:
    team, owner = team_with_owner()
    with pytest.raises(ledger.LedgerError, match="reason"):
        ledger.adjust(team=team, credits=5, reason=" ")
    ledger.adjust(team=team, credits=5, reason="goodwill", actor=owner)
    assert _balances(team) == (30, 5, 0)
    with pytest.raises(ledger.InsufficientCredits):
        ledger.adjust(team=team, credits=-36, reason="correction")
    ledger.adjust(team=team, credits=-32, reason="correction")
    assert _balances(team) == (0, 3, 0)


def test_entries_cannot_be_updated_or_deleted() -> None:
    team, _ = team_with_owner()
    entry = LedgerEntry.objects.filter(team=team).first()
    entry.memo = "rewritten"
    with pytest.raises(TypeError, match="append-only"):
        entry.save()
    with pytest.raises(TypeError, match="append-only"):
        entry.delete()
    with pytest.raises(TypeError, match="append-only"):
        LedgerEntry.objects.filter(team=team).update(memo="x")
    with pytest.raises(TypeError, match="append-only"):
        LedgerEntry.objects.filter(team=team).delete()


def test_check_ledger_finds_a_tampered_balance() -> None:
    team, _ = team_with_owner()
    assert ledger.check_ledger() == []
    account = ledger.balance(team)
    account.topup = 999  # a cached row edited behind the ledger's back
    account.save()
    problems = ledger.check_ledger()
    assert [(p.what, p.cached, p.from_entries) for p in problems] == [("topup", 999, 0)]


@pytest.mark.parametrize(
    ("anchor", "on", "start"),
    [
        (date(2026, 1, 15), date(2026, 1, 15), date(2026, 1, 15)),
        (date(2026, 1, 15), date(2026, 3, 14), date(2026, 2, 15)),
        (date(2026, 1, 31), date(2026, 2, 28), date(2026, 2, 28)),  # clamped to month end
        (date(2026, 1, 31), date(2026, 3, 30), date(2026, 2, 28)),
        (date(2026, 1, 31), date(2026, 3, 31), date(2026, 3, 31)),
        (date(2025, 12, 20), date(2026, 1, 5), date(2025, 12, 20)),  # across a year end
    ],
)
def test_billing_periods_start_on_the_anchor_day(anchor: date, on: date, start: date) -> None:
    assert billing_period_start(anchor, on) == start
