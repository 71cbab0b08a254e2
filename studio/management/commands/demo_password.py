"""``manage.py demo_password``: a new password for the demo login, printed once."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from accounts import services


class Command(BaseCommand):
    help = (
        "Set a new random password for the demo account and print it (the old one stops working)."
    )

    def handle(self, *args: object, **options: object) -> None:
        user, password = services.demo_password_reset()
        self.stdout.write(self.style.SUCCESS(f"Demo login: {user.email}  password: {password}"))
