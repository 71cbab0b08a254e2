from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from channels.layers import channel_layers
from django.conf import settings as django_settings
from django.core.cache import cache

from api import ratelimit
from billing import pricing
from billing.models import Plan
from billing.plans import plans_seed
from generation.engine.camera import CameraMove, CameraSpec
from generation.requests import RenderRequest
from generation.vocabulary import Quality
from moderation.services import terms_seed
from studio.settings import channel_layer_host
from tests.redis_server import redis_for_tests


@pytest.fixture(scope="session", autouse=True)
def redis_server() -> Iterator[str]:
    """Every test talks to a real Redis: the broker and the channel layer are not faked."""
    with redis_for_tests() as (url, broker, channel_host):
        django_settings.CELERY_BROKER_URL = broker
        django_settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [channel_layer_host(channel_host)], "expiry": 30},
            }
        }
        from studio.celery import app

        app.conf.broker_url = broker
        channel_layers.backends = {}
        yield url


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path) -> None:
    # Real hashing costs ~0.3 s per login; the hasher is Django's concern, not ours.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.MEDIA_ROOT = tmp_path / "media"
    # The test client speaks plain HTTP, as DAILIES_PLAIN_HTTP=1 serves it.
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    settings.SECURE_HSTS_SECONDS = 0
    cache.clear()  # login-throttle and other cached counters start at zero in every test
    # API rate counters live in Redis, keyed by the key's id, and ids repeat across tests.
    client = ratelimit.client()
    stale = list(client.scan_iter("dailies:api-rate:*"))
    if stale:
        client.delete(*stale)
    # Tests render with the tiny random-weight model: fast, and what they assert does not
    # depend on training.
    settings.DAILIES_ENGINE = {**settings.DAILIES_ENGINE, "preset": "tiny", "weights_dir": None}


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny random-weight open-weights model folders (tests/backends/tiny.py), written once
    per test session; diffusers is imported only by the tests that ask for them."""
    from tests.backends import tiny

    return tiny.write_models(tmp_path_factory.mktemp("models"))


@pytest.fixture
def use_backend(settings, monkeypatch, models_dir):
    """``use_backend(name, frames=9, scale=1, **settings)`` makes a tiny configuration of open-weights
    backend `name` (``tiny.job_spec``) the active backend, over the tiny model folders unless
    ``models_dir`` says otherwise; returns its name."""
    from generation.backends.catalog import BACKENDS
    from tests.backends import tiny

    def use(name: str, *, frames: int = 9, scale: int = 1, **options: object) -> str:
        spec = tiny.job_spec(name, frames=frames, scale=scale)
        monkeypatch.setitem(BACKENDS, spec.name, spec)
        settings.DAILIES_BACKEND = {
            **settings.DAILIES_BACKEND,
            "backend": spec.name,
            "models_dir": str(models_dir),
            "dtype": "float32",
            **options,
        }
        return spec.name

    return use


@pytest.fixture
def seeded(db) -> None:
    """Plans, the default price book and the content policy, as ``manage.py seed`` makes them."""
    plans_seed()
    pricing.price_book_create_default()
    terms_seed()


@pytest.fixture
def small_request() -> RenderRequest:
    """A cheap valid request on every plan: 540p, 2 s at 12 fps, Flash."""
    return RenderRequest(
        prompt="a yellow ball bounces on a checker floor, slow push-in",
        quality=Quality.FLASH,
        resolution=540,
        duration_s=2,
        fps=12,
        seed=7,
        camera=CameraSpec(focal_mm=35, aperture=2.0, moves=(CameraMove.make("dolly", "in"),)),
    )


@pytest.fixture
def pro_plan(seeded) -> Plan:
    return Plan.objects.get(code="pro")
