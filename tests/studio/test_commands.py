from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from accounts.services import DEMO_EMAIL
from billing import ledger
from billing.models import LedgerEntry, Plan, PriceBook
from billing.tasks import credits_monthly_cycle
from tests.factories import team_with_owner


def _call(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


@pytest.mark.django_db
def test_seed_creates_plans_pricing_and_a_demo_login_printed_once() -> None:
    first = _call("seed")
    assert list(Plan.objects.values_list("code", "monthly_credits")) == [
        ("free", 30),
        ("standard", 500),
        ("pro", 2000),
        ("enterprise", 10000),
    ]
    assert PriceBook.objects.filter(is_active=True).count() == 1
    password = first.split("password: ")[1].split()[0]
    assert User.objects.get(email=DEMO_EMAIL).check_password(password)

    second = _call("seed")
    assert "password:" not in second and "manage.py demo_password" in second
    assert Plan.objects.count() == 4 and PriceBook.objects.count() == 1


@pytest.mark.django_db
def test_demo_password_sets_a_new_one_the_readme_names() -> None:
    old = _call("seed").split("password: ")[1].split()[0]
    new = _call("demo_password").split("password: ")[1].split()[0]
    demo = User.objects.get(email=DEMO_EMAIL)
    assert new != old and demo.check_password(new) and not demo.check_password(old)
    assert "manage.py demo_password" in (Path(__file__).parents[2] / "README.md").read_text()


@pytest.mark.django_db
def test_seed_keeps_an_admins_plan_edits() -> None:
    _call("seed")
    Plan.objects.filter(code="free").update(monthly_credits=50)
    _call("seed")
    assert Plan.objects.get(code="free").monthly_credits == 50


@pytest.mark.usefixtures("seeded")
def test_credits_cycle_command_is_idempotent() -> None:
    team, _ = team_with_owner()
    later = ledger.next_billing_date(team.billing_anchor, team.billing_anchor)
    assert "to 1 team(s)" in _call("credits_cycle", "--today", later.isoformat())
    assert "to 0 team(s)" in _call("credits_cycle", "--today", later.isoformat())
    assert team.ledger_entries.filter(kind="grant").count() == 2


@pytest.mark.usefixtures("seeded")
def test_the_beat_task_runs_the_cycle_for_todays_date() -> None:
    team, _ = team_with_owner()
    assert credits_monthly_cycle.apply().get() == 0  # already granted at creation
    assert LedgerEntry.objects.filter(team=team, kind="grant").count() == 1


@pytest.mark.usefixtures("seeded")
def test_check_ledger_command_reports_discrepancies() -> None:
    team, _ = team_with_owner()
    assert "consistent" in _call("check_ledger")
    account = ledger.balance(team)
    account.monthly += 1
    account.save()
    with pytest.raises(CommandError, match="1 discrepancies"):
        _call("check_ledger")
