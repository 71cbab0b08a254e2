"""Concurrent reservations against one balance, on whichever database is configured.

``./dailies test`` runs this on the embedded SQLite; with ``DATABASE_URL`` set (CI) the
scale-out pass runs it again on PostgreSQL, where row locks do the work.
"""

from __future__ import annotations

import pytest
from django.db import connection

from billing import ledger
from billing.models import Reservation
from tests.factories import team_with_owner
from tests.threads import race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("seeded")]


def test_twenty_threads_reserving_against_a_balance_for_seven_reserve_exactly_seven() -> None:
    team, _ = team_with_owner(plan_code="free")  # 30 monthly credits
    ledger.topup(team=team, credits=5)  # 35 = 7 reservations of 5, across both pools
    results = race(20, lambda i: ledger.reserve(team=team, credits=5, memo=f"thread {i}"))

    won = [r for r in results if isinstance(r, Reservation)]
    refused = [r for r in results if isinstance(r, ledger.InsufficientCredits)]
    assert len(won) == 7, (connection.vendor, results)
    assert len(refused) == 13
    account = ledger.balance(team)
    account.refresh_from_db()
    assert (account.monthly, account.topup, account.held) == (0, 0, 35)
    assert ledger.check_ledger() == []


def test_concurrent_settlements_of_one_reservation_settle_it_once() -> None:
    team, _ = team_with_owner(plan_code="free")
    reservation = ledger.reserve(team=team, credits=20)
    results = race(8, lambda i: ledger.settle(reservation=reservation, credits=15))

    assert sum(1 for r in results if not isinstance(r, Exception)) == 1, results
    assert all(isinstance(r, ledger.ReservationClosed) for r in results if isinstance(r, Exception))
    account = ledger.balance(team)
    account.refresh_from_db()
    assert (account.monthly, account.held) == (15, 0)
    assert ledger.check_ledger() == []


def test_concurrent_monthly_cycles_grant_a_period_once() -> None:
    team, _ = team_with_owner(plan_code="free")
    later = ledger.next_billing_date(team.billing_anchor, team.billing_anchor)
    race(6, lambda i: ledger.run_monthly_cycle(team=team, today=later))

    assert team.ledger_entries.filter(kind="grant").count() == 2  # sign-up + this period
    account = ledger.balance(team)
    account.refresh_from_db()
    assert account.monthly == 30
    assert ledger.check_ledger() == []
