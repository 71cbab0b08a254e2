from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts import services
from accounts.models import Membership, Role, User
from billing import ledger
from tests.factories import UserFactory, team_with_owner

pytestmark = pytest.mark.usefixtures("seeded")
HTMX = {"HTTP_HX_REQUEST": "true"}


def _client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _link_in(message) -> str:
    return re.search(r"http://testserver(/\S+)", message.body)[1]


def test_signup_mails_a_link_that_opens_a_personal_team_with_free_credits(
    client: Client, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("signup"),
            {"email": "Ada@Example.com", "display_name": "Ada", "password": "lens-flare-1979"},
            follow=True,
        )
    assert response.redirect_chain[-1][0] == reverse("signup_done")
    assert "ada@example.com" in response.content.decode()
    user = User.objects.get(email="ada@example.com")
    assert not user.is_active  # no log-in until the mailbox answers
    (message,) = mail.outbox
    assert message.to == ["ada@example.com"]
    landed = client.get(_link_in(message), follow=True)
    assert landed.redirect_chain[-1][0] == reverse("dashboard")
    user.refresh_from_db()
    team = user.teams.get()
    assert user.is_active and team.is_personal and team.plan.code == "free"
    assert ledger.balance(team).available == 30
    html = landed.content.decode()
    assert "30</span>" in html or ">30<" in html
    client.post(reverse("logout"))
    again = client.get(_link_in(message))  # once only
    assert again.status_code == 400 and "no longer works" in again.content.decode()


def _main(html: str) -> str:
    return html.split('<main id="main"', 1)[1].split("</main>", 1)[0]


def test_signup_says_the_same_whether_or_not_the_email_has_an_account(
    client: Client, django_capture_on_commit_callbacks
) -> None:
    owner = UserFactory(email="taken@example.com")
    answers = []
    for email in ("taken@example.com", "fresh@example.com"):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                reverse("signup"), {"email": email, "password": "lens-flare-1979"}, follow=True
            )
        page = _main(response.content.decode()).replace(email, "E")
        answers.append((response.status_code, response.redirect_chain, page))
    assert answers[0] == answers[1]
    owner.refresh_from_db()
    assert owner.check_password("correct-horse-42")  # the account is untouched
    to_owner, to_new = mail.outbox
    assert to_owner.to == ["taken@example.com"] and "already has one" in to_owner.body
    assert reverse("password_reset") in to_owner.body and "/confirm/" not in to_owner.body
    assert to_new.to == ["fresh@example.com"] and "/confirm/" in to_new.body


def test_signup_errors_are_shown_next_to_their_fields(client: Client) -> None:
    response = client.post(reverse("signup"), {"email": "not-an-email", "password": "12345678"})
    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'id="id_email-errors">.*valid email', html, re.S)
    assert re.search(r'id="id_password-errors">.*entirely numeric', html, re.S)
    assert not User.objects.exists() and not mail.outbox


def test_a_second_signup_of_an_unconfirmed_address_replaces_the_first_link(
    client: Client, django_capture_on_commit_callbacks
) -> None:
    for password in ("squatter-pass-1", "owners-pass-22"):
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse("signup"), {"email": "new@example.com", "password": password})
    first, second = mail.outbox
    assert client.get(_link_in(first)).status_code == 400
    assert client.get(_link_in(second)).status_code == 302
    assert User.objects.get(email="new@example.com").check_password("owners-pass-22")


def test_login_with_email_and_logout(client: Client) -> None:
    user = UserFactory(email="cam@example.com")
    services.team_create(name="Cam", owner=user, personal=True)
    response = client.post(
        reverse("login"), {"username": "cam@example.com", "password": "correct-horse-42"}
    )
    assert response.status_code == 302 and response.url == reverse("dashboard")
    assert client.get(reverse("dashboard")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("dashboard")).status_code == 302


def test_wrong_password_says_so_without_saying_which_part(client: Client) -> None:
    UserFactory(email="cam@example.com")
    response = client.post(reverse("login"), {"username": "cam@example.com", "password": "nope"})
    assert response.status_code == 200
    assert "That email and password don&#x27;t match an account" in response.content.decode()


def test_password_reset_sends_a_working_link(client: Client) -> None:
    UserFactory(email="reset@example.com")
    client.post(reverse("password_reset"), {"email": "reset@example.com"})
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    form_url = client.get(link).url  # Django swaps the token into the session, then redirects
    client.post(
        form_url, {"new_password1": "new-dolly-shot-7", "new_password2": "new-dolly-shot-7"}
    )
    assert User.objects.get(email="reset@example.com").check_password("new-dolly-shot-7")


def test_pages_require_login(client: Client) -> None:
    for name in ("dashboard", "team_list"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_team_page_shows_plan_limits_pools_and_ledger() -> None:
    team, owner = team_with_owner(plan_code="standard")
    ledger.topup(team=team, credits=40, memo="Top-up purchase")
    html = _client_for(owner).get(reverse("team_detail", args=[team.pk])).content.decode()
    for text in ("Standard", "1080p", "10 s", "Commercial", "500", "40", "Top-up purchase"):
        assert text in html


def test_ledger_history_paginates_and_returns_a_fragment_for_htmx() -> None:
    team, owner = team_with_owner()
    for i in range(25):
        ledger.topup(team=team, credits=1, memo=f"top-up {i}")
    client = _client_for(owner)
    url = reverse("team_ledger", args=[team.pk]) + "?page=2"
    fragment = client.get(url, **HTMX).content.decode()
    assert fragment.lstrip().startswith('<section class="card" id="ledger"')
    assert "<html" not in fragment and "Page 2 of 2" in fragment
    assert "top-up 0" in fragment and "top-up 24" not in fragment  # newest first
    full = client.get(url).content.decode()
    assert "<html" in full and "Page 2 of 2" in full


def test_owner_adds_changes_and_removes_members() -> None:
    team, owner = team_with_owner()
    newcomer = UserFactory(email="new@example.com")
    client = _client_for(owner)
    fragment = client.post(
        reverse("member_add", args=[team.pk]),
        {"email": "NEW@example.com", "role": "member"},
        **HTMX,
    ).content.decode()
    assert 'id="members"' in fragment and "new@example.com" in fragment and "<html" not in fragment
    membership = Membership.objects.get(team=team, user=newcomer)
    client.post(reverse("member_role", args=[team.pk, membership.pk]), {"role": "admin"})
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN
    client.post(reverse("member_remove", args=[team.pk, membership.pk]))
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_adding_an_unknown_email_shows_the_error_next_to_the_field() -> None:
    team, owner = team_with_owner()
    html = (
        _client_for(owner)
        .post(
            reverse("member_add", args=[team.pk]), {"email": "ghost@example.com", "role": "member"}
        )
        .content.decode()
    )
    assert re.search(r'id="id_email-errors">.*No account uses this email', html, re.S)


def test_members_cannot_manage_members() -> None:
    team, owner = team_with_owner()
    member = UserFactory()
    services.membership_add(team=team, actor=owner, email=member.email)
    UserFactory(email="x@example.com")
    client = _client_for(member)
    # Their own team, so it is visible: a 403 that says why, not a 404.
    response = client.post(
        reverse("member_add", args=[team.pk]), {"email": "x@example.com", "role": "owner"}
    )
    assert response.status_code == 403
    assert "Only a team owner can manage members" in response.content.decode()
    owner_membership = Membership.objects.get(team=team, user=owner)
    response = client.post(reverse("member_remove", args=[team.pk, owner_membership.pk]))
    assert response.status_code == 403
    assert Membership.objects.filter(pk=owner_membership.pk).exists()
    assert team.memberships.count() == 2


def test_the_last_owner_cannot_leave_or_be_demoted() -> None:
    team, owner = team_with_owner()
    mine = Membership.objects.get(team=team, user=owner)
    client = _client_for(owner)
    response = client.post(
        reverse("member_role", args=[team.pk, mine.pk]), {"role": "member"}, follow=True
    )
    assert "at least one owner" in response.content.decode()
    client.post(reverse("member_remove", args=[team.pk, mine.pk]))
    mine.refresh_from_db()
    assert mine.role == Role.OWNER


def test_creating_a_team_makes_it_active(client: Client) -> None:
    _, owner = team_with_owner(name="Personal")
    client.force_login(owner)
    response = client.post(reverse("team_list"), {"name": "Night Unit"}, follow=True)
    assert "Night Unit" in response.content.decode()
    new_team = owner.teams.get(name="Night Unit")
    assert client.get(reverse("dashboard")).context["team"] == new_team
    assert ledger.balance(new_team).available == 30


def test_switching_to_another_teams_id_is_404_and_keeps_the_active_team() -> None:
    mine, me = team_with_owner(name="Mine")
    theirs, _ = team_with_owner(name="Theirs")
    client = _client_for(me)
    assert client.post(reverse("team_switch"), {"team": theirs.pk}).status_code == 404
    assert client.get(reverse("dashboard")).context["team"] == mine


def test_every_team_url_answers_404_for_another_team() -> None:
    theirs, their_owner = team_with_owner(name="Theirs")
    their_membership = Membership.objects.get(team=theirs, user=their_owner)
    _, me = team_with_owner(name="Mine")
    client = _client_for(me)
    gets = [reverse("team_detail", args=[theirs.pk]), reverse("team_ledger", args=[theirs.pk])]
    posts = [
        (reverse("member_add", args=[theirs.pk]), {"email": me.email, "role": "owner"}),
        (reverse("member_role", args=[theirs.pk, their_membership.pk]), {"role": "member"}),
        (reverse("member_remove", args=[theirs.pk, their_membership.pk]), {}),
        (reverse("team_switch"), {"team": theirs.pk}),
    ]
    for url in gets:
        assert client.get(url).status_code == 404, url
        assert client.get(url, **HTMX).status_code == 404, url
    for url, data in posts:
        assert client.post(url, data).status_code == 404, url
    assert not Membership.objects.filter(team=theirs, user=me).exists()
    their_membership.refresh_from_db()
    assert their_membership.role == Role.OWNER


def test_a_membership_of_my_team_cannot_be_reached_through_another_team_url() -> None:
    mine, me = team_with_owner(name="Mine")
    other, _ = team_with_owner(name="Other")
    services.membership_add(team=other, actor=other.memberships.get().user, email=me.email)
    my_membership = Membership.objects.get(team=mine, user=me)
    # A real team of mine in the URL, but a membership id from another team: 404.
    response = _client_for(me).post(reverse("member_remove", args=[other.pk, my_membership.pk]))
    assert response.status_code == 404


def test_plans_page_and_live_estimate(client: Client) -> None:
    html = client.get(reverse("plans")).content.decode()
    for text in ("Free", "Standard", "Pro", "Enterprise", "$24/mo", "$79/mo", "Custom"):
        assert text in html
    fragment = client.get(
        reverse("estimate"), {"duration_s": 5, "resolution": 1080, "quality": "pro"}, **HTMX
    ).content.decode()
    assert fragment.lstrip().startswith('<div id="estimate"') and ">20</strong>" in fragment
    bad = client.get(
        reverse("estimate"), {"duration_s": 0, "resolution": 1080, "quality": "pro"}, **HTMX
    ).content.decode()
    assert "Duration (s): Ensure this value is greater than or equal to 1." in bad


def test_healthz(client: Client) -> None:
    assert client.get(reverse("healthz")).json() == {"ok": True}
