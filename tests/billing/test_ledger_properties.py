"""Random operation sequences against a reference model of the two credit pools.

Each example is one sequence on a fresh team, rolled back afterwards. After every step the
database must agree with the model, the cached balance with the sum of entries, no pool
may be negative, and every entry written so far must still be there, unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from billing import ledger, pricing
from billing.models import LedgerEntry, Plan
from billing.plans import plans_seed
from tests.factories import team_with_owner

MONTHLY = 30  # the Free plan's grant

operations = st.lists(
    st.one_of(
        st.tuples(st.just("topup"), st.integers(1, 40)),
        st.tuples(st.just("reserve"), st.integers(1, 60)),
        st.tuples(st.just("settle"), st.integers(0, 50), st.fractions(0, 1)),
        st.tuples(st.just("release"), st.integers(0, 50)),
        st.tuples(st.just("cycle"), st.integers(0, 2)),
        st.tuples(st.just("adjust"), st.integers(-40, 40).filter(bool)),
    ),
    max_size=25,
)


@dataclass
class Model:
    monthly: int = MONTHLY
    topup: int = 0
    held: int = 0
    period: int = 0
    open: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # pk -> (m, t, period)

    @property
    def available(self) -> int:
        return self.monthly + self.topup

    def take(self, credits: int) -> tuple[int, int]:
        from_monthly = min(credits, self.monthly)
        self.monthly -= from_monthly
        self.topup -= credits - from_monthly
        return from_monthly, credits - from_monthly

    def close(self, pk: int, spent: int) -> None:
        monthly_part, topup_part, period = self.open.pop(pk)
        spent_monthly = min(spent, monthly_part)
        self.held -= monthly_part + topup_part
        if period == self.period:  # returned monthly credits of an ended period expire
            self.monthly += monthly_part - spent_monthly
        self.topup += topup_part - (spent - spent_monthly)


class LedgerProperties(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        plans_seed()
        pricing.price_book_create_default()
        assert Plan.objects.get(code="free").monthly_credits == MONTHLY

    @settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ops=operations)
    def test_random_sequences_keep_every_invariant(self, ops: list[tuple]) -> None:
        team, _ = team_with_owner(plan_code="free")
        model = Model()
        today = team.billing_anchor
        seen: list[tuple] = []
        for op in ops:
            self._apply(op, team, model, today)
            if op[0] == "cycle":
                for _ in range(op[1]):
                    today = ledger.next_billing_date(team.billing_anchor, today)
                    ledger.run_monthly_cycle(team=team, today=today)
                    model.period += 1
                    model.monthly = MONTHLY
            seen = self._check(team, model, seen)

    def _apply(self, op: tuple, team, model: Model, today: date) -> None:
        kind = op[0]
        if kind == "topup":
            ledger.topup(team=team, credits=op[1])
            model.topup += op[1]
        elif kind == "reserve":
            if op[1] > model.available:
                with self.assertRaises(ledger.InsufficientCredits):
                    ledger.reserve(team=team, credits=op[1])
                return
            r = ledger.reserve(team=team, credits=op[1])
            monthly_part, topup_part = model.take(op[1])
            assert (r.monthly_part, r.topup_part) == (monthly_part, topup_part), "monthly first"
            model.held += op[1]
            model.open[r.pk] = (monthly_part, topup_part, model.period)
        elif kind in ("settle", "release") and model.open:
            pk = sorted(model.open)[op[1] % len(model.open)]
            reservation = team.reservations.get(pk=pk)
            spent = int(op[2] * reservation.credits) if kind == "settle" else 0
            if kind == "settle":
                ledger.settle(reservation=reservation, credits=spent)
            else:
                ledger.release(reservation=reservation)
            model.close(pk, spent)
            with self.assertRaises(ledger.ReservationClosed):
                ledger.release(reservation=reservation)
        elif kind == "adjust":
            credits = op[1]
            if credits < 0 and -credits > model.available:
                with self.assertRaises(ledger.InsufficientCredits):
                    ledger.adjust(team=team, credits=credits, reason="test")
                return
            ledger.adjust(team=team, credits=credits, reason="test")
            if credits > 0:
                model.topup += credits
            else:
                model.take(-credits)

    def _check(self, team, model: Model, seen: list[tuple]) -> list[tuple]:
        account = ledger.balance(team)
        account.refresh_from_db()
        assert (account.monthly, account.topup, account.held) == (
            model.monthly,
            model.topup,
            model.held,
        )
        assert min(account.monthly, account.topup, account.held) >= 0
        assert ledger.check_ledger() == []
        rows = list(
            LedgerEntry.objects.filter(team=team)
            .order_by("pk")
            .values_list("pk", "kind", "monthly_delta", "topup_delta", "held_delta", "memo")
        )
        assert rows[: len(seen)] == seen, "an entry was changed or deleted"
        for pk, kind, monthly_delta, topup_delta, *_ in rows[len(seen) :]:
            if kind == "expiry":
                assert topup_delta == 0 and monthly_delta < 0, f"expiry {pk} touched top-ups"
        return rows
