"""Log-in throttling (django-axes), the password-reset mail limit, and where focus goes."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.usefixtures("seeded")


def _login(client: Client, email: str, password: str):
    return client.post(reverse("login"), {"username": email, "password": password})


def test_five_wrong_passwords_lock_the_account_from_that_address(client: Client) -> None:
    UserFactory(email="ada@example.com")
    statuses = [_login(client, "ada@example.com", f"wrong-{i}").status_code for i in range(5)]
    assert statuses == [200] * 4 + [429]
    locked = _login(client, "Ada@Example.com", "correct-horse-42")  # even the right one
    assert locked.status_code == 429 and "Too many attempts" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # Another address is not locked out of the account.
    elsewhere = Client(REMOTE_ADDR="10.0.0.9")
    assert _login(elsewhere, "ada@example.com", "correct-horse-42").status_code == 302


def test_a_right_password_clears_the_count(client: Client) -> None:
    UserFactory(email="cam@example.com")
    for i in range(4):
        _login(client, "cam@example.com", f"wrong-{i}")
    assert _login(client, "cam@example.com", "correct-horse-42").status_code == 302
    client.post(reverse("logout"))
    for i in range(4):
        assert _login(client, "cam@example.com", f"wrong-{i}").status_code == 200


def test_a_wrong_password_puts_focus_on_the_password(client: Client) -> None:
    UserFactory(email="dee@example.com")
    html = _login(client, "dee@example.com", "nope").content.decode()
    password = html.split('name="password"', 1)[1].split(">", 1)[0]
    email = html.split('name="username"', 1)[1].split(">", 1)[0]
    assert "autofocus" in password and "autofocus" not in email
    fresh = client.get(reverse("login")).content.decode()
    assert "autofocus" in fresh.split('name="username"', 1)[1].split(">", 1)[0]


def test_reset_mail_is_limited_per_address_without_saying_so(client: Client, settings) -> None:
    settings.PASSWORD_RESET_PER_EMAIL = 3
    UserFactory(email="eve@example.com")
    for _ in range(5):
        response = client.post(reverse("password_reset"), {"email": "eve@example.com"})
        assert response.status_code == 302 and response.url == reverse("password_reset_done")
    assert len(mail.outbox) == 3


def test_reset_requests_are_limited_per_client_address(client: Client, settings) -> None:
    settings.PASSWORD_RESET_PER_IP = 4
    statuses = [
        client.post(reverse("password_reset"), {"email": f"x{i}@example.com"}).status_code
        for i in range(6)
    ]
    assert statuses == [302] * 4 + [429, 429]
    page = client.post(reverse("password_reset"), {"email": "y@example.com"})
    assert "Too many reset requests" in page.content.decode()
