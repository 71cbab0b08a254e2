from __future__ import annotations

import pytest

from dailies import pricing
from dailies.plans import plans_seed


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    # Real hashing costs ~0.3 s per login; the hasher is Django's concern, not ours.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def seeded(db) -> None:
    """The four plans and the default price book, as ``manage.py seed`` makes them."""
    plans_seed()
    pricing.price_book_create_default()
