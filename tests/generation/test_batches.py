"""One submit service: the takes of a request reserved together under one lock of the team's
account, once per idempotency key, or refused with nothing spent.

The parallel tests run on the embedded SQLite and, in the scale-out pass, on PostgreSQL.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.db import connection

from billing import ledger, pricing
from billing.models import LedgerEntry, PriceBook
from generation import services
from generation.models import RenderBatch, RenderJob
from tests.factories import team_with_owner
from tests.threads import race


def _snapshot(team) -> tuple[int, int, int, int, int]:
    account = ledger.balance(team)
    account.refresh_from_db()
    return (
        account.monthly,
        account.topup,
        account.held,
        LedgerEntry.objects.filter(team=team).count(),
        RenderJob.objects.filter(team=team).count(),
    )


def _leave(team, credits: int) -> None:
    """Spend all but ``credits`` of the team's balance."""
    ledger.adjust(team=team, credits=credits - ledger.balance(team).available, reason="test")


@pytest.mark.usefixtures("seeded")
class TestOneSubmit:
    def test_takes_are_reserved_together_with_consecutive_seeds(self, small_request) -> None:
        team, owner = team_with_owner()
        submitted = services.render_submit(
            team=team, user=owner, request=small_request, takes=3, idempotency_key="k-1"
        )
        assert not submitted.replayed and submitted.batch.takes == 3
        assert [(j.take, j.seed) for j in submitted.jobs] == [(0, 7), (1, 8), (2, 9)]
        assert {j.batch_id for j in submitted.jobs} == {submitted.batch.pk}
        assert ledger.balance(team).held == sum(j.estimate_credits for j in submitted.jobs) == 3

    def test_a_batch_the_balance_cannot_cover_reserves_no_take(self, small_request) -> None:
        team, owner = team_with_owner()
        _leave(team, 2)  # three takes of 1 credit each
        before = _snapshot(team)
        with pytest.raises(ledger.InsufficientCredits, match="needs 3 credits and your team has 2"):
            services.render_submit(team=team, user=owner, request=small_request, takes=3)
        assert _snapshot(team) == before and not RenderBatch.objects.exists()

    def test_replaying_a_key_returns_the_same_jobs_even_once_the_credits_are_gone(
        self, small_request
    ) -> None:
        team, owner = team_with_owner()
        first = services.render_submit(
            team=team, user=owner, request=small_request, takes=2, idempotency_key="click"
        )
        _leave(team, 0)
        before = _snapshot(team)
        again = services.render_submit(
            team=team, user=owner, request=small_request, takes=2, idempotency_key="click"
        )
        assert again.replayed and [j.pk for j in again.jobs] == [j.pk for j in first.jobs]
        assert _snapshot(team) == before

    @pytest.mark.parametrize(
        ("change", "takes"), [({"prompt": "a blue ball instead"}, 2), ({}, 3), ({"seed": 8}, 2)]
    )
    def test_the_same_key_with_another_request_is_refused_and_costs_nothing(
        self, small_request, change: dict, takes: int
    ) -> None:
        team, owner = team_with_owner()
        services.render_submit(
            team=team, user=owner, request=small_request, takes=2, idempotency_key="click"
        )
        before = _snapshot(team)
        with pytest.raises(services.IdempotencyConflict, match="already submitted with other"):
            services.render_submit(
                team=team,
                user=owner,
                request=replace(small_request, **change),
                takes=takes,
                idempotency_key="click",
            )
        assert _snapshot(team) == before

    def test_keys_are_per_team(self, small_request) -> None:
        team, owner = team_with_owner()
        other, stranger = team_with_owner()
        mine = services.render_submit(
            team=team, user=owner, request=small_request, idempotency_key="same"
        )
        theirs = services.render_submit(
            team=other, user=stranger, request=small_request, idempotency_key="same"
        )
        assert not theirs.replayed and theirs.jobs[0].pk != mine.jobs[0].pk

    def test_without_an_active_price_book_a_submit_says_so_and_spends_nothing(
        self, small_request
    ) -> None:
        team, owner = team_with_owner()
        PriceBook.objects.update(is_active=False)
        before = _snapshot(team)
        with pytest.raises(pricing.PricingError, match="no price book is active") as info:
            services.render_submit(team=team, user=owner, request=small_request, takes=2)
        assert "Nothing was charged" in info.value.message
        assert _snapshot(team) == before and not RenderBatch.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("seeded")
class TestParallelSubmits:
    def test_two_batches_on_a_balance_for_one_reserve_once(self, small_request) -> None:
        team, owner = team_with_owner()
        _leave(team, 3)  # one batch of three 1-credit takes
        results = race(
            2,
            lambda i: services.render_submit(
                team=team, user=owner, request=small_request, takes=3, idempotency_key=f"tab-{i}"
            ),
        )
        won = [r for r in results if isinstance(r, services.Submitted)]
        refused = [r for r in results if isinstance(r, ledger.InsufficientCredits)]
        assert len(won) == 1 and len(refused) == 1, (connection.vendor, results)
        account = ledger.balance(team)
        account.refresh_from_db()
        assert (account.available, account.held) == (0, 3)
        assert RenderJob.objects.filter(team=team).count() == 3
        assert ledger.check_ledger() == []

    def test_parallel_replays_of_one_key_make_one_batch(self, small_request) -> None:
        team, owner = team_with_owner()
        results = race(
            4,
            lambda i: services.render_submit(
                team=team, user=owner, request=small_request, takes=2, idempotency_key="double"
            ),
        )
        assert all(isinstance(r, services.Submitted) for r in results), results
        job_ids = {tuple(j.pk for j in r.jobs) for r in results}  # type: ignore[union-attr]
        assert len(job_ids) == 1 and RenderBatch.objects.filter(team=team).count() == 1
        assert sum(not r.replayed for r in results) == 1  # type: ignore[union-attr]
        assert ledger.balance(team).held == 2 and ledger.check_ledger() == []
