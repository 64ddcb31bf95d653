"""Landed settings: one module, every value read from the environment.

With nothing set, Landed runs embedded: a SQLite file, a file-based broker and a secret key
generated once, under `LANDED_DATA_DIR`, and an in-process cache. Production sets
`DATABASE_URL` (PostgreSQL), `REDIS_URL` and `SECRET_KEY`.
"""

import ipaddress
import json
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from landed.queues import Queue
from landed.secret_key import data_dir_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

DATA_DIR = Path(env.str("LANDED_DATA_DIR", default=str(BASE_DIR / "var")))

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not env.str("DATABASE_URL", default=""):
        # The embedded default (no DATABASE_URL): the key kept in the data directory, the one
        # scripts/run.sh gives the server and workers, so that management commands agree with
        # them without being handed it.
        SECRET_KEY = data_dir_secret_key(DATA_DIR)
    elif DEBUG:
        SECRET_KEY = "insecure-development-key-do-not-use-in-production"  # noqa: S105
    else:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DATABASE_URL set, set the SECRET_KEY environment "
            "variable to a long random string (for example: python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'), or set DEBUG=true for local development only."
        )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "landed.accounts",
    "landed.llm",
    "connectors",
    "syncs",
    "webhooks",
    "billing",
    "integrations",
    "support",
]

MIDDLEWARE = [
    # Outermost, so that every response (errors, 429s, 500s) carries the request id.
    "landed.middleware.RequestIdMiddleware",
    # Security headers next, so that they reach every response, even one made before a view.
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "landed.middleware.PermissionsPolicyMiddleware",
    "landed.middleware.JsonErrorFallbackMiddleware",
    # Refuses a chunked body the WSGI layer (landed.chunked) could not read, before any view.
    "landed.chunked.ChunkedBodyRefusalMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A session whose sign-in has ended is signed out here (landed/accounts/sign_ins.py).
    "landed.accounts.middleware.SignInSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "landed.urls"
WSGI_APPLICATION = "landed.wsgi.application"
# The API's paths have no trailing slash; a slash-terminated path is a 404, not a redirect.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The project's own templates: the admin pages shared by the apps (operation buttons).
        "DIRS": [BASE_DIR / "landed" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'landed.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg's connection pool, one per server process; its figures are reported by /health.
    # It is how connections are reused under ASGI: each request takes one from the pool in its
    # own thread and gives it back when it ends.
    if env.bool("DATABASE_POOL", default=True):
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=1),
            "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=10),
            "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
        }
    else:
        # 0: a connection per request. The API is served under ASGI, where each request runs
        # in a thread of its own, new each time (asgiref's ThreadSensitiveContext): a connection
        # kept open past its request (CONN_MAX_AGE > 0) stays behind with its finished thread,
        # open and never reused. Django's documentation says so: under ASGI, persistent
        # connections off, a pool instead. (Celery workers reuse their threads, and may set it.)
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
    # A connection is checked before it is used again: with the pool, one empty query as it
    # leaves the pool (psycopg's check_connection). After the database restarted, the idle
    # connections are all broken, and each would otherwise fail the one request or task that
    # took it (a 500) before it was let go.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the API read while another process (a worker) writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate limits) and broker ---------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="landed"),
        }
    }
else:
    # Embedded mode: `make run` serves from a single process, so a process-local cache
    # still enforces the rate limits. With several processes, set REDIS_URL.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

SILENCED_SYSTEM_CHECKS = [
    # django-ratelimit lists only django-redis; Django's own RedisCache increments atomically too.
    "django_ratelimit.W001",
]
if not REDIS_URL:
    # The process-local cache is not shared; acceptable for the single-process embedded mode.
    SILENCED_SYSTEM_CHECKS.append("django_ratelimit.E003")

# The filesystem transport ignores the host, but kombu warns "No hostname was supplied" each
# time it resolves a URL without one (every process's start, every publish): name it.
CELERY_BROKER_URL = REDIS_URL or "filesystem://localhost"
# A message a worker took and never acknowledged (the worker died) is handed out again after
# this; the stale-job reaper usually acts first, and a redelivered task finds its job settled.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
}
if not REDIS_URL:
    # A broker that needs no server: messages are files under the data directory.
    _broker_dir = DATA_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS |= {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        # Broadcast (pidbox) messages, kept under the data directory too, not the cwd.
        "control_folder": str(_broker_dir / "control"),
        # How long a worker sleeps when it found no message. Kombu's default (1 s) adds up to
        # a second to every hop (event, dispatch, delivery) and to a worker's stop: it notices
        # a shutdown only between polls. Listing the folder ten times a second costs ~0.2% CPU.
        "polling_interval": 0.1,
    }
# A broker outage (Redis restarted, a failover) is waited out, however long, by every process:
# at start too (Celery 6 will no longer retry there unless told), and past the 100 retries
# after which a worker would exit by default (and `scripts/run.sh` with it).
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A sync running when the worker loses the broker goes on: its progress, checkpoints and end
# are written to the database, not sent through the broker. (Celery 6 will cancel it by
# default, to run it again when its unacknowledged message comes back: a restart of the whole
# sync for a broker blip.) Its message, if it cannot be acknowledged, comes back after the
# visibility timeout and finds its job settled.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Long syncs: acknowledge after the task ran, and give a lost task back to the queue.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
# Work is split by kind onto queues (landed.queues.Queue), so the fleet scales per queue.
CELERY_TASK_DEFAULT_QUEUE = Queue.DEFAULT.value
# Each task's queue, by name (the one place it is set): a message sent by name from a process
# that never loaded the task (the API) is routed as the workers expect. Long syncs ("syncs")
# apart from light, frequent work ("default"), so that each can have workers of its own.
_TASK_QUEUES = {
    "syncs.run": Queue.SYNCS,
    "syncs.trigger_due": Queue.DEFAULT,
    "syncs.reap_stale_jobs": Queue.DEFAULT,
    "syncs.prune_history": Queue.DEFAULT,
    # Webhook deliveries and alert evaluation: short HTTP calls, never behind a long sync.
    "webhooks.dispatch_event": Queue.WEBHOOKS,
    "webhooks.deliver": Queue.WEBHOOKS,
    "webhooks.send_notification_email": Queue.WEBHOOKS,
    # The sweep and the freshness check with the scheduler's light tasks: a backlog of
    # deliveries must not hold back (or expire) the sweep that sends due retries.
    "webhooks.sweep": Queue.DEFAULT,
    "alerts.check_freshness": Queue.DEFAULT,
    "webhooks.prune": Queue.DEFAULT,
    "billing.report_usage": Queue.DEFAULT,
    # A custom connector's generation: a few requests and a sandboxed test-read.
    "connectors.custom_generate": Queue.DEFAULT,
}
CELERY_TASK_ROUTES = {name: {"queue": queue.value} for name, queue in _TASK_QUEUES.items()}
# Tasks modules that autodiscovery (an app's own `tasks` module) does not find.
CELERY_IMPORTS = ("connectors.custom.tasks",)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

# --- Syncs ----------------------------------------------------------------------------------
# How often a running job writes its progress (and checks for a cancel request).
JOB_PROGRESS_INTERVAL_SECONDS = env.float("JOB_PROGRESS_INTERVAL_SECONDS", default=1.0)
# A running job's worker beats this often; a job silent for JOB_STALE_SECONDS is taken as
# lost by the reaper, failed, and retried from its last checkpoint.
JOB_HEARTBEAT_SECONDS = env.float("JOB_HEARTBEAT_SECONDS", default=5.0)
JOB_STALE_SECONDS = env.float("JOB_STALE_SECONDS", default=60.0)
# Attempts of one sync (the first included) before it stays failed; retries back off
# exponentially from SYNC_RETRY_BACKOFF_SECONDS up to SYNC_RETRY_BACKOFF_MAX_SECONDS.
SYNC_MAX_ATTEMPTS = env.int("SYNC_MAX_ATTEMPTS", default=3)
SYNC_RETRY_BACKOFF_SECONDS = env.float("SYNC_RETRY_BACKOFF_SECONDS", default=30.0)
SYNC_RETRY_BACKOFF_MAX_SECONDS = env.float("SYNC_RETRY_BACKOFF_MAX_SECONDS", default=900.0)
# A pending job no worker has started this long after it was due is enqueued again.
JOB_REQUEUE_AFTER_SECONDS = env.float("JOB_REQUEUE_AFTER_SECONDS", default=120.0)
# Beat: how often due schedules are triggered and stale jobs reaped.
SCHEDULER_TICK_SECONDS = env.float("SCHEDULER_TICK_SECONDS", default=30.0)
REAPER_INTERVAL_SECONDS = env.float("REAPER_INTERVAL_SECONDS", default=15.0)
# Connection tests answer within this, whatever the connector's own timeouts.
CONNECTION_TEST_TIMEOUT_SECONDS = env.float("CONNECTION_TEST_TIMEOUT_SECONDS", default=30.0)
SYNC_BATCH_ROWS = env.int("SYNC_BATCH_ROWS", default=100_000)
# The custom connectors' sandbox (docs/custom_connector_testing.md): a test-read's wall clock
# (seconds), its child process's memory (MiB), records read per stream, and bytes of output
# (each response the child reads is bounded by it too).
SANDBOX_SECONDS = env.float("SANDBOX_SECONDS", default=30.0)
SANDBOX_MEMORY_MIB = env.int("SANDBOX_MEMORY_MIB", default=512)
SANDBOX_MAX_RECORDS = env.int("SANDBOX_MAX_RECORDS", default=100)
SANDBOX_MAX_BYTES = env.int("SANDBOX_MAX_BYTES", default=5 * 1024 * 1024)
# "auto": a stream whose source and destination are both PostgreSQL, with matching column
# types, passes binary COPY through; "arrow": every stream loads through Arrow batches
# (docs/syncs.md, "Load paths").
SYNC_LOAD_PATH = env.str("SYNC_LOAD_PATH", default="auto")
if SYNC_LOAD_PATH not in ("auto", "arrow"):
    raise ImproperlyConfigured(f"SYNC_LOAD_PATH must be auto or arrow, not {SYNC_LOAD_PATH!r}.")
# A worker that runs syncs keeps its database connections (PostgreSQL reads and loads) from
# one sync to the next: a few per process, closed after 5 idle minutes or when the config they
# were opened with changes (connectors.framework.connections).
SYNC_REUSE_CONNECTIONS = env.bool("SYNC_REUSE_CONNECTIONS", default=True)
# Finished job rows (live progress, per-stream rows) are kept this long; sync receipts, the
# history, much longer (usage, audit). 0 keeps them forever.
JOB_RETENTION_DAYS = env.int("JOB_RETENTION_DAYS", default=30)
RECEIPT_RETENTION_DAYS = env.int("RECEIPT_RETENTION_DAYS", default=400)

# --- Webhooks and alerts --------------------------------------------------------------------
# Endpoint URLs must be https, except on a DEBUG or test server.
WEBHOOK_REQUIRE_HTTPS = env.bool("WEBHOOK_REQUIRE_HTTPS", default=not DEBUG)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# Retries back off exponentially (with jitter) from the base to the cap: with the defaults,
# 15 attempts span about a day.
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=15)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=30.0)
WEBHOOK_RETRY_MAX_SECONDS = env.float("WEBHOOK_RETRY_MAX_SECONDS", default=6 * 3600.0)
# An endpoint whose every attempt has failed for this long is disabled (with a notification).
WEBHOOK_DISABLE_AFTER_SECONDS = env.float("WEBHOOK_DISABLE_AFTER_SECONDS", default=3 * 86400.0)
# After a rotation, the previous secret signs alongside the new one this long.
WEBHOOK_SECRET_OVERLAP_SECONDS = env.float("WEBHOOK_SECRET_OVERLAP_SECONDS", default=86400.0)
# Beat: how often due retries and undispatched events are put on the queue; a worker holds a
# delivery this long while it makes an attempt (a killed worker's attempt is made again).
WEBHOOK_SWEEP_SECONDS = env.float("WEBHOOK_SWEEP_SECONDS", default=10.0)
WEBHOOK_LOCK_SECONDS = env.float("WEBHOOK_LOCK_SECONDS", default=60.0)
# The hold outlasts the attempt's deadline by this margin at least: a worker that is slow to
# record its attempt (a busy machine, a slow database) still holds it while it does.
WEBHOOK_LOCK_MARGIN_SECONDS = env.float("WEBHOOK_LOCK_MARGIN_SECONDS", default=30.0)
# An event or delivery not picked up this long after it was due was lost on its way to the
# queue (the process died between commit and publish, or the broker lost it): sent again.
WEBHOOK_LOST_AFTER_SECONDS = env.float("WEBHOOK_LOST_AFTER_SECONDS", default=30.0)
WEBHOOK_RETENTION_DAYS = env.int("WEBHOOK_RETENTION_DAYS", default=30)
# The circuit breaker: an endpoint that timed out this many attempts in a row (0: never) is
# held (no attempt, its deliveries wait in order) for the cooldown, doubled at each further
# timeout up to the cap; then one probe attempt decides.
WEBHOOK_BREAKER_TIMEOUTS = env.int("WEBHOOK_BREAKER_TIMEOUTS", default=3)
WEBHOOK_BREAKER_COOLDOWN_SECONDS = env.float("WEBHOOK_BREAKER_COOLDOWN_SECONDS", default=60.0)
WEBHOOK_BREAKER_MAX_COOLDOWN_SECONDS = env.float(
    "WEBHOOK_BREAKER_MAX_COOLDOWN_SECONDS", default=1800.0
)
ALERT_FRESHNESS_CHECK_SECONDS = env.float("ALERT_FRESHNESS_CHECK_SECONDS", default=300.0)

# Alert emails go through Django's email backend: SMTP when EMAIL_HOST is set, else the
# console (the worker's log).
EMAIL_HOST = env.str("EMAIL_HOST", default="")
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = env.int("EMAIL_PORT", default=587)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(DATA_DIR / "mail"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Landed <alerts@localhost>")

# How often synced rows are reported to Stripe's metered billing (billing/usage.py).
BILLING_USAGE_REPORT_SECONDS = env.float("BILLING_USAGE_REPORT_SECONDS", default=3600.0)

CELERY_BEAT_SCHEDULE = {
    "trigger-due-syncs": {
        "task": "syncs.trigger_due",
        "schedule": SCHEDULER_TICK_SECONDS,
        "options": {"expires": SCHEDULER_TICK_SECONDS},
    },
    "reap-stale-jobs": {
        "task": "syncs.reap_stale_jobs",
        "schedule": REAPER_INTERVAL_SECONDS,
        "options": {"expires": REAPER_INTERVAL_SECONDS},
    },
    "prune-history": {
        "task": "syncs.prune_history",
        "schedule": 3600.0,
        "options": {"expires": 3600.0},
    },
    "webhooks-sweep": {
        "task": "webhooks.sweep",
        "schedule": WEBHOOK_SWEEP_SECONDS,
        "options": {"expires": WEBHOOK_SWEEP_SECONDS},
    },
    "alerts-check-freshness": {
        "task": "alerts.check_freshness",
        "schedule": ALERT_FRESHNESS_CHECK_SECONDS,
        "options": {"expires": ALERT_FRESHNESS_CHECK_SECONDS},
    },
    "prune-webhooks": {
        "task": "webhooks.prune",
        "schedule": 3600.0,
        "options": {"expires": 3600.0},
    },
    "report-usage": {
        "task": "billing.report_usage",
        "schedule": BILLING_USAGE_REPORT_SECONDS,
        "options": {"expires": BILLING_USAGE_REPORT_SECONDS},
    },
}

# --- LLM provider (optional) ------------------------------------------------------------------
# Any server speaking OpenAI's Chat Completions (docs/llm.md): OpenAI, Azure OpenAI, vLLM,
# Ollama, llama.cpp. Without a model, and a base URL or a key, every feature works by its
# deterministic path. A local server that needs no key gets a placeholder one (the client
# library insists on a key).
LLM_BASE_URL = env.str("LLM_BASE_URL", default="")
LLM_API_KEY = env.str("LLM_API_KEY", default="")
LLM_MODEL = env.str("LLM_MODEL", default="")
# Per request (and per read of a stream); the library's retries of 429, 5xx and lost
# connections, with its exponential backoff (and the server's Retry-After), come on top.
LLM_TIMEOUT_SECONDS = env.float("LLM_TIMEOUT_SECONDS", default=60.0)
LLM_MAX_RETRIES = env.int("LLM_MAX_RETRIES", default=2)
# The provider's prices, for the cost recorded with each request's tokens (0: not priced).


def _usd_price(name: str) -> Decimal:
    """A price as a Decimal (never a float: costs are summed), refused at start when it is not
    a non-negative number."""
    raw = env.str(name, default="0")
    try:
        price = Decimal(raw)
    except InvalidOperation:
        price = Decimal(-1)
    if not price.is_finite() or price < 0:
        raise ImproperlyConfigured(
            f"{name} must be a non-negative number of US dollars, not {raw!r}"
        )
    return price


LLM_INPUT_USD_PER_MILLION_TOKENS = _usd_price("LLM_INPUT_USD_PER_MILLION_TOKENS")
LLM_OUTPUT_USD_PER_MILLION_TOKENS = _usd_price("LLM_OUTPUT_USD_PER_MILLION_TOKENS")

# --- Billing --------------------------------------------------------------------------------
# Stripe (docs/billing.md). With no secret key, checkout and portal answer 503; with no webhook
# secret, so does the webhook. STRIPE_API_BASE points the client elsewhere (the tests' server).
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")
# A request is a customer waiting (checkout, portal): a short timeout, a 502 when it passes.
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=10.0)
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
# The event name of the Stripe Billing Meter that counts synced rows.
STRIPE_METER_EVENT_NAME = env.str("STRIPE_METER_EVENT_NAME", default="landed_rows_synced")
# Where Stripe sends the browser back after Checkout and from the Customer Portal.
BILLING_SUCCESS_URL = env.str(
    "BILLING_SUCCESS_URL", default="http://localhost:3000/billing?checkout=success"
)
BILLING_CANCEL_URL = env.str(
    "BILLING_CANCEL_URL", default="http://localhost:3000/billing?checkout=cancelled"
)
BILLING_PORTAL_RETURN_URL = env.str(
    "BILLING_PORTAL_RETURN_URL", default="http://localhost:3000/billing"
)
# The free plan every new account starts on.
BILLING_FREE_CONNECTOR_LIMIT = env.int("BILLING_FREE_CONNECTOR_LIMIT", default=3)
BILLING_FREE_INCLUDED_ROWS = env.int("BILLING_FREE_INCLUDED_ROWS", default=1_000_000)
# A past_due subscription keeps the account active this long after the first failed payment.
BILLING_GRACE_DAYS = env.int("BILLING_GRACE_DAYS", default=7)
# The paid plans: a JSON list (BILLING_PLANS) or a JSON file (BILLING_PLANS_FILE), validated
# by billing/plans.py when the app loads.
_billing_plans_file = env.str("BILLING_PLANS_FILE", default="")
try:
    if _billing_plans_file:
        BILLING_PLANS = json.loads(Path(_billing_plans_file).read_text(encoding="utf-8"))
    else:
        BILLING_PLANS = json.loads(env.str("BILLING_PLANS", default="") or "[]")
except (OSError, ValueError) as _billing_plans_error:
    _source = "BILLING_PLANS_FILE" if _billing_plans_file else "BILLING_PLANS"
    raise ImproperlyConfigured(f"{_source} is not readable JSON: {_billing_plans_error}") from None

# --- GitHub App integration (docs/github.md) -----------------------------------------------
# Connecting GitHub (GET /integrations/github/install and its callback) answers 503 until the
# App's id, slug and private key are set. Separate from "Sign in with GitHub" (an OAuth app's
# settings): the App is what `github` connectors read repositories through.
GITHUB_APP_ID = env.str("GITHUB_APP_ID", default="")
GITHUB_APP_SLUG = env.str("GITHUB_APP_SLUG", default="")
GITHUB_APP_PRIVATE_KEY_PATH = env.str("GITHUB_APP_PRIVATE_KEY_PATH", default="")
# The App's client id and secret: with them, the install callback checks that the user who
# installed the App can reach the installation it names (GitHub's advice: an installation_id
# in a URL can be forged). Needs "Request user authorization (OAuth) during installation".
GITHUB_APP_CLIENT_ID = env.str("GITHUB_APP_CLIENT_ID", default="")
GITHUB_APP_CLIENT_SECRET = env.str("GITHUB_APP_CLIENT_SECRET", default="")
# GitHub's REST API and web site (GitHub Enterprise Server: https://<host>/api/v3 and
# https://<host>); the tests point them at a local server.
GITHUB_API_URL = env.str("GITHUB_API_URL", default="https://api.github.com")
GITHUB_WEB_URL = env.str("GITHUB_WEB_URL", default="https://github.com")
# Where the browser lands after the install: `?github=connected&installation_id=...`, or
# `?github=error&error=<code>`.
GITHUB_APP_FRONTEND_URL = env.str(
    "GITHUB_APP_FRONTEND_URL", default="http://localhost:3000/integrations"
)
# How long an install URL's state stays valid: choosing repositories, or waiting for an
# organization owner, can take a while.
GITHUB_APP_STATE_MAX_AGE_SECONDS = env.int("GITHUB_APP_STATE_MAX_AGE_SECONDS", default=3600)
# Each call of the App to GitHub (a customer waits for the callback's).
GITHUB_APP_TIMEOUT_SECONDS = env.float("GITHUB_APP_TIMEOUT_SECONDS", default=10.0)

# Connectors may reach private, loopback and link-local addresses (the server's own network)
# only when this is on: a hosted Landed keeps it off; `make run` on a loopback host turns it on.
ALLOW_PRIVATE_NETWORKS = env.bool("ALLOW_PRIVATE_NETWORKS", default=False)

# --- Secrets at rest ------------------------------------------------------------------------
# Fernet keys, newest first (landed/security/secrets.py). Empty: one key derived from SECRET_KEY.
ENCRYPTION_KEYS = env.list("ENCRYPTION_KEYS", default=[])

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

SESSION_COOKIE_NAME = "landed_session"
SESSION_COOKIE_AGE = int(timedelta(days=30).total_seconds())
SESSION_COOKIE_HTTPONLY = True
# Lax: the cookie rides top-level navigations (the OAuth redirect back) but not cross-site
# POSTs; cookie-authenticated writes also need the CSRF token.
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_COOKIE_SAMESITE = "Lax"

# Sign-in lockout (docs/auth.md#failed-sign-ins): LOGIN_LOCKOUT_THRESHOLD failures for an
# email from one client address lock that email from that address for LOGIN_LOCKOUT_SECONDS.
LOGIN_LOCKOUT_THRESHOLD = env.int("LOGIN_LOCKOUT_THRESHOLD", default=5)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=15 * 60)
# Across all addresses: from LOGIN_BACKOFF_THRESHOLD failures for an email (each less than
# LOGIN_BACKOFF_WINDOW_SECONDS after the one before), every further attempt for it waits a
# delay that doubles from 1 second up to LOGIN_BACKOFF_MAX_SECONDS, except from an address
# that signed in to it within LOGIN_KNOWN_ADDRESS_SECONDS. Keep the cap well under the
# lockout: it is all a stranger's failures can cost the owner.
LOGIN_BACKOFF_THRESHOLD = env.int("LOGIN_BACKOFF_THRESHOLD", default=20)
LOGIN_BACKOFF_WINDOW_SECONDS = env.int("LOGIN_BACKOFF_WINDOW_SECONDS", default=3600)
LOGIN_BACKOFF_MAX_SECONDS = env.int("LOGIN_BACKOFF_MAX_SECONDS", default=60)
LOGIN_KNOWN_ADDRESS_SECONDS = env.int("LOGIN_KNOWN_ADDRESS_SECONDS", default=30 * 24 * 3600)
AUTH_CODE_TTL_SECONDS = env.int("AUTH_CODE_TTL_SECONDS", default=60)
JWT_REFRESH_MAX_AGE_SECONDS = env.int("JWT_REFRESH_MAX_AGE_SECONDS", default=7 * 24 * 3600)

# --- Sign in with Google and GitHub (docs/auth.md) -----------------------------------------
# Each provider answers 503 until its client id and secret are set. The endpoint URLs default
# to the real providers'; the tests point them at a local server.
GOOGLE_OAUTH_CLIENT_ID = env.str("GOOGLE_OAUTH_CLIENT_ID", default="")
GOOGLE_OAUTH_CLIENT_SECRET = env.str("GOOGLE_OAUTH_CLIENT_SECRET", default="")
GOOGLE_OAUTH_DISCOVERY_URL = env.str(
    "GOOGLE_OAUTH_DISCOVERY_URL",
    default="https://accounts.google.com/.well-known/openid-configuration",
)
# Says whom an access token was issued to (POST /auth/oauth/exchange checks it is us).
GOOGLE_OAUTH_TOKENINFO_URL = env.str(
    "GOOGLE_OAUTH_TOKENINFO_URL", default="https://oauth2.googleapis.com/tokeninfo"
)
GITHUB_OAUTH_CLIENT_ID = env.str("GITHUB_OAUTH_CLIENT_ID", default="")
GITHUB_OAUTH_CLIENT_SECRET = env.str("GITHUB_OAUTH_CLIENT_SECRET", default="")
GITHUB_OAUTH_BASE_URL = env.str("GITHUB_OAUTH_BASE_URL", default="https://github.com")
GITHUB_API_BASE_URL = env.str("GITHUB_API_BASE_URL", default="https://api.github.com")
# The public origin of this API, to which the providers send the browser back
# (`<base>/auth/oauth/<provider>/callback`, registered at the provider). Empty: the origin the
# request came to. One per provider, or one for both.
OAUTH_REDIRECT_BASE_URL = env.str("OAUTH_REDIRECT_BASE_URL", default="")
GOOGLE_OAUTH_REDIRECT_BASE_URL = env.str("GOOGLE_OAUTH_REDIRECT_BASE_URL", default="")
GITHUB_OAUTH_REDIRECT_BASE_URL = env.str("GITHUB_OAUTH_REDIRECT_BASE_URL", default="")
# Where the browser lands after a sign-in, with `?code=` (for POST /auth/exchange-code) or
# `?error=`; and the URLs a `next` parameter may name instead (default: any page of the
# frontend's origin).
OAUTH_FRONTEND_URL = env.str("OAUTH_FRONTEND_URL", default="http://localhost:3000/auth/callback")
OAUTH_ALLOWED_REDIRECT_URLS = env.list("OAUTH_ALLOWED_REDIRECT_URLS", default=[])
OAUTH_STATE_TTL_SECONDS = env.int("OAUTH_STATE_TTL_SECONDS", default=600)
OAUTH_HTTP_TIMEOUT_SECONDS = env.float("OAUTH_HTTP_TIMEOUT_SECONDS", default=10.0)
# Google's discovery document and signing keys are cached this long (a key id not in the
# cached keys fetches them again).
OAUTH_METADATA_CACHE_SECONDS = env.int("OAUTH_METADATA_CACHE_SECONDS", default=3600)

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_LIFETIME_SECONDS", default=3600)),
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "UPDATE_LAST_LOGIN": False,
}

# --- Connector OAuth: SaaS sources authorized by their users (docs/connector_oauth.md) ------
# Each provider is off (503) until its app's client id and secret are set. Hosts are settings,
# so that a test or a sovereign cloud points them elsewhere. The callback URL to register at
# each provider is <OAUTH_REDIRECT_BASE_URL or this server>/connectors/oauth/<provider>/callback;
# the callback's page posts its result to the opener at the origin of OAUTH_FRONTEND_URL (or of
# an allowed `redirect_to`).
SLACK_CLIENT_ID = env.str("SLACK_CLIENT_ID", default="")
SLACK_CLIENT_SECRET = env.str("SLACK_CLIENT_SECRET", default="")
SLACK_OAUTH_URL = env.str("SLACK_OAUTH_URL", default="https://slack.com")
SLACK_API_URL = env.str("SLACK_API_URL", default="https://slack.com/api")
MICROSOFT_CLIENT_ID = env.str("MICROSOFT_CLIENT_ID", default="")
MICROSOFT_CLIENT_SECRET = env.str("MICROSOFT_CLIENT_SECRET", default="")
MICROSOFT_LOGIN_URL = env.str("MICROSOFT_LOGIN_URL", default="https://login.microsoftonline.com")
# "organizations" lets any work or school account authorize; a tenant id pins one.
MICROSOFT_TENANT = env.str("MICROSOFT_TENANT", default="organizations")
MICROSOFT_GRAPH_URL = env.str("MICROSOFT_GRAPH_URL", default="https://graph.microsoft.com")
SALESFORCE_CLIENT_ID = env.str("SALESFORCE_CLIENT_ID", default="")
SALESFORCE_CLIENT_SECRET = env.str("SALESFORCE_CLIENT_SECRET", default="")
SALESFORCE_LOGIN_URL = env.str("SALESFORCE_LOGIN_URL", default="https://login.salesforce.com")
SALESFORCE_SANDBOX_LOGIN_URL = env.str(
    "SALESFORCE_SANDBOX_LOGIN_URL", default="https://test.salesforce.com"
)
SALESFORCE_API_VERSION = env.str("SALESFORCE_API_VERSION", default="62.0")
HUBSPOT_CLIENT_ID = env.str("HUBSPOT_CLIENT_ID", default="")
HUBSPOT_CLIENT_SECRET = env.str("HUBSPOT_CLIENT_SECRET", default="")
HUBSPOT_OAUTH_URL = env.str("HUBSPOT_OAUTH_URL", default="https://app.hubspot.com")
HUBSPOT_API_URL = env.str("HUBSPOT_API_URL", default="https://api.hubapi.com")
# The most results one CRM search serves (HubSpot answers 400 past them): a `hubspot` read
# starts a new search from the last record's modification time before passing it.
HUBSPOT_SEARCH_RESULT_WINDOW = env.int("HUBSPOT_SEARCH_RESULT_WINDOW", default=10_000)
SHOPIFY_CLIENT_ID = env.str("SHOPIFY_CLIENT_ID", default="")
SHOPIFY_CLIENT_SECRET = env.str("SHOPIFY_CLIENT_SECRET", default="")
# Where a shop lives; `{shop}` is its validated <name>.myshopify.com domain.
SHOPIFY_SHOP_URL_TEMPLATE = env.str("SHOPIFY_SHOP_URL_TEMPLATE", default="https://{shop}")
# The Admin API version every request pins (Shopify supports each for a year).
SHOPIFY_API_VERSION = env.str("SHOPIFY_API_VERSION", default="2025-10")
# How long the callback's result code can be traded for the credential reference.
CONNECTOR_OAUTH_RESULT_TTL_SECONDS = env.int("CONNECTOR_OAUTH_RESULT_TTL_SECONDS", default=300)
# Custom connectors' icons (connectors/custom/icons.py): the largest file accepted, and the
# largest and smallest side in pixels (an SVG's declared size counts against the largest).
ICON_MAX_BYTES = env.int("ICON_MAX_BYTES", default=512 * 1024)
ICON_MAX_PIXELS = env.int("ICON_MAX_PIXELS", default=1024)
ICON_MIN_PIXELS = env.int("ICON_MIN_PIXELS", default=16)

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # The reference's order: session cookie, then API key, then JWT.
        "landed.accounts.authentication.CookieSessionAuthentication",
        "landed.accounts.authentication.ApiKeyAuthentication",
        "landed.accounts.authentication.BearerJWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        # 403 on writes while the subscription is inactive (billing/permissions.py).
        "billing.permissions.ActiveSubscriptionForWrites",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["landed.api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "landed.api.schema.LandedAutoSchema",
    "EXCEPTION_HANDLER": "landed.api.exception_handler.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_THROTTLE_CLASSES": [],
    # A JSON-only API: always answer JSON, whatever `Accept` or `?format=` says.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "landed.api.negotiation.FirstRendererNegotiation",
    "URL_FORMAT_OVERRIDE": None,
}

EXPOSE_API_DOCS = env.bool("EXPOSE_API_DOCS", default=False)
SPECTACULAR_SETTINGS = {
    "TITLE": "Landed API",
    "DESCRIPTION": (
        "Manage data-integration pipelines: connectors, destinations and syncs. "
        'Errors are JSON `{"error", "detail"}`; lists are '
        '`{"items", "total", "limit", "offset", "has_next"}`.'
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "syncs.models.JobStatus",
        # Two `provider` fields with different choices: sign-in providers and integrations.
        "SignInProviderEnum": "landed.accounts.oauth.providers.PROVIDER_NAMES",
        "IntegrationProviderEnum": "integrations.selectors.PROVIDERS",
        "GenerationStatusEnum": "connectors.custom.generation.GENERATION_STATUSES",
        # A test's outcome (a connection test, a custom connector's sandbox test).
        "TestOutcomeEnum": ["succeeded", "failed"],
        # A custom connector's auth_kind and its definition's auth_type: one choice set.
        "CustomConnectorAuthEnum": "connectors.models.CustomConnector.AUTH_KINDS",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "landed.api.schema.collapse_redundant_blank_choices",
        "billing.schema.document_billing_rules",
        "support.schema.document_support_chat",
    ],
}

# Rate-limit tiers of the API reference; each is a list of django-ratelimit rates, all enforced.
RATE_LIMIT_TIERS = {
    "read": env.list("RATE_LIMIT_READ", default=["60/m"]),
    "read_high": env.list("RATE_LIMIT_READ_HIGH", default=["120/m"]),
    "write": env.list("RATE_LIMIT_WRITE", default=["20/m"]),
    "sensitive": env.list("RATE_LIMIT_SENSITIVE", default=["10/m"]),
    "signup": env.list("RATE_LIMIT_SIGNUP", default=["5/m", "20/h"]),
    "login": env.list("RATE_LIMIT_LOGIN", default=["10/m", "50/h"]),
}
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=True)
# The addresses (or networks) of the proxies in front of the server, whose X-Forwarded-For
# is believed. Rate limits and the sign-in lockout count per client address, which is
# REMOTE_ADDR unless that is one of these (landed.api.ratelimit.client_ip).
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {_exc}") from _exc
RATELIMIT_IP_META_KEY = "landed.api.ratelimit.client_ip"
if env.str("RATELIMIT_IP_META_KEY", default=""):
    # It named a header believed from anyone; every client would now count as the proxy.
    raise ImproperlyConfigured(
        "RATELIMIT_IP_META_KEY is no longer read: set TRUSTED_PROXIES to your proxies' "
        "addresses instead (README, Configuration)."
    )

# --- Security headers -----------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
X_FRAME_OPTIONS = "DENY"
PERMISSIONS_POLICY = "geolocation=(), microphone=(), camera=()"
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- I18N, static ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Times on the operators' pages to the second, as in the logs ("2026-03-28 12:00:05").
FORMAT_MODULE_PATH = ["landed.formats"]

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(DATA_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Logging --------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "landed.logging.RequestIdFilter"},
        "disallowed_host": {"()": "landed.logging.DisallowedHostFilter"},
    },
    "formatters": {
        "standard": {
            "format": "%(asctime)s %(levelname)s %(name)s [request_id=%(request_id)s] %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "standard",
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        # A bad Host header: one WARNING line, not a traceback at ERROR (see the filter).
        "django.security.DisallowedHost": {"filters": ["disallowed_host"]},
    },
}

# --- Support chat (support/, docs/support.md) -----------------------------------------------
# The whole answer's deadline: past it the stream ends with `event: error` (code "timeout").
SUPPORT_CHAT_TIMEOUT_SECONDS = env.float("SUPPORT_CHAT_TIMEOUT_SECONDS", default=60.0)
# The earlier messages of a conversation given to the LLM with a new question.
SUPPORT_CHAT_HISTORY_MESSAGES = env.int("SUPPORT_CHAT_HISTORY_MESSAGES", default=10)
# Passages retrieved for an answer.
SUPPORT_CHAT_PASSAGES = env.int("SUPPORT_CHAT_PASSAGES", default=5)
# How often (at most) a server process checks whether the documentation changed since the
# index was built; 0 checks before every answer.
SUPPORT_INDEX_CHECK_SECONDS = env.float("SUPPORT_INDEX_CHECK_SECONDS", default=60.0)
# Where the links of documentation passages point: the docs/ pages under this URL (for
# example a repository's tree on GitHub). The API reference's operations link to /redoc.
SUPPORT_DOCS_BASE_URL = env.str("SUPPORT_DOCS_BASE_URL", default="")
