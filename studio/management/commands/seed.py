from __future__ import annotations

from django.core.management.base import BaseCommand

from accounts import services
from billing import pricing
from billing.models import PriceBook
from billing.plans import plans_seed
from moderation import services as moderation


class Command(BaseCommand):
    help = "Seed plans, default pricing, the content policy and the demo account (idempotent)."

    def handle(self, *args: object, **options: object) -> None:
        plans = plans_seed()
        if not PriceBook.objects.exists():
            pricing.price_book_create_default()
        moderation.terms_seed()
        user, password = services.demo_account_ensure()
        self.stdout.write(
            f"Plans: {', '.join(p.name for p in plans)}; pricing and content policy ready."
        )
        if password:
            self.stdout.write(
                self.style.SUCCESS(f"Demo login: {user.email}  password: {password}")
                + "  (shown once; change it after signing in)"
            )
        else:
            self.stdout.write(
                f"Demo login: {user.email} (password shown when it was created; "
                "`.venv/bin/python manage.py demo_password` sets a new one)"
            )
