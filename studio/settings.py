"""Studio settings: every knob is an environment variable with an embedded default.

With nothing set, Studio runs on SQLite and local disk under ``STUDIO_DATA_DIR`` (``./var``) with Celery on a
SQLite broker, so a fresh checkout starts with one command. ``DATABASE_URL``, ``CELERY_BROKER_URL``/``REDIS_URL`` and
an ``s3://`` ``STUDIO_ARTIFACT_ROOT`` move it onto PostgreSQL, Redis and S3-compatible storage.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
import plotly

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DATA_DIR = Path(os.environ.get("STUDIO_DATA_DIR", BASE_DIR / "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    # A stable key per data directory, so sessions survive restarts without anyone configuring one.
    if key := os.environ.get("STUDIO_SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _env_bool("STUDIO_DEBUG", False)
STUDIO_AUTH = _env_bool("STUDIO_AUTH", False)
# With STUDIO_AUTH on: the permission of users on experiments and registered models they have no row for (MLflow's
# auth app's default_permission), and how many failed sign-ins a user name or address may make per window.
STUDIO_DEFAULT_PERMISSION = os.environ.get("STUDIO_DEFAULT_PERMISSION", "READ")
STUDIO_SIGNIN_MAX_FAILURES = int(os.environ.get("STUDIO_SIGNIN_MAX_FAILURES", "10"))
STUDIO_SIGNIN_WINDOW_SECONDS = int(os.environ.get("STUDIO_SIGNIN_WINDOW_SECONDS", "900"))
LOGIN_URL = "studio:signin"
LOGIN_REDIRECT_URL = "home"
STUDIO_HOST = os.environ.get("STUDIO_HOST", "127.0.0.1")
STUDIO_PORT = int(os.environ.get("STUDIO_PORT", "5000"))
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("STUDIO_ALLOWED_HOSTS", "*").split(",") if h.strip()]

STUDIO_ARTIFACT_ROOT = os.environ.get("STUDIO_ARTIFACT_ROOT", str(DATA_DIR / "artifacts"))
# Endpoint of an S3-compatible server (MinIO, Ceph, moto); empty means AWS itself.
STUDIO_S3_ENDPOINT_URL = os.environ.get("STUDIO_S3_ENDPOINT_URL") or os.environ.get("MLFLOW_S3_ENDPOINT_URL") or None
# Offer multipart uploads to the mlflow client (parts are proxied through Studio under signed URLs).
STUDIO_MULTIPART_UPLOADS = _env_bool("STUDIO_MULTIPART_UPLOADS", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "studio",
    "tracking",
    "registry",
    "deployments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The Content-Security-Policy of every HTML page (Django 5.2 has none of its own).
    "studio.security.ContentSecurityPolicyMiddleware",
    "studio.security.RefuseNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After Django's: API credentials (tokens, Basic) replace the session user, then every view's access rule applies.
    "studio.auth.middleware.AuthMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "studio.urls"
WSGI_APPLICATION = "studio.wsgi.application"

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
                "studio.context_processors.menu",
            ],
        },
    },
]


def _database() -> dict:
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'studio.sqlite3'}"
    config = dj_database_url.parse(url, conn_max_age=600, conn_health_checks=True)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets readers run beside the one writer of several web processes and the worker; IMMEDIATE
        # transactions take the write lock up front, so two writers queue instead of failing with "locked".
        config["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-64000;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
        config["CONN_HEALTH_CHECKS"] = False
        # A file (the live server's threads share it), named per process so that two test runs in one checkout
        # never drop each other's database.
        config["TEST"] = {"NAME": str(DATA_DIR / f"test-studio-{os.getpid()}.sqlite3")}
    return config


DATABASES = {"default": _database()}
# The cache every web process shares (sign-in rate limits): Redis when there is one, else files in the data dir.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": os.environ["REDIS_URL"]}
        if os.environ.get("REDIS_URL")
        else {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(DATA_DIR / "cache")}
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# plotly.js comes from the plotly package's own copy, so the charts' library and the Python package never drift apart
# and no 4.8 MB file is committed; pages load it as static/vendor/plotly/plotly.min.js.
STATICFILES_DIRS = [BASE_DIR / "static", ("vendor/plotly", Path(plotly.__file__).parent / "package_data")]
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True

# Artifact uploads stream to the store; the request body is never held whole in memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("STUDIO_MAX_REQUEST_BYTES", str(64 * 1024 * 1024)))

# Celery: a broker that needs no server by default (SQLite through kombu's SQLAlchemy transport).
_redis_url = os.environ.get("REDIS_URL")
CELERY_BROKER_URL = (
    os.environ.get("CELERY_BROKER_URL") or _redis_url or f"sqla+sqlite:///{DATA_DIR / 'celery-broker.sqlite3'}"
)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or (
    CELERY_BROKER_URL
    if CELERY_BROKER_URL.startswith("redis")
    else f"db+sqlite:///{DATA_DIR / 'celery-results.sqlite3'}"
)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Periodic jobs, sent by the beat of the worker that `studio run` starts: re-enqueue the deployments whose worker died
# mid-task (their claim's lease ran out) or whose task was lost. Idempotent, so a second beat elsewhere does no harm.
CELERY_BEAT_SCHEDULE = {
    "recover-stale-deployments": {
        "task": "deployments.recover_stale_deployments",
        "schedule": float(os.environ.get("STUDIO_RECOVERY_INTERVAL", "60")),
    },
    # The health of running deployments: the gateway's instance URLs and a "failed" for servers that are gone.
    "probe-deployments": {
        "task": "deployments.probe_deployments",
        "schedule": float(os.environ.get("STUDIO_PROBE_INTERVAL", "30")),
    },
    # Model environments that no deployment uses and that were not used for STUDIO_ENV_RETENTION_DAYS.
    "prune-environments": {"task": "deployments.prune_environments", "schedule": 86_400.0},
    "prune-request-log": {"task": "deployments.prune_request_log", "schedule": 86_400.0},
    # Storage usage: rescan the artifact roots written since their last scan; once a day, walk the whole store to
    # catch files written or removed around Studio.
    "refresh-storage-usage": {"task": "tracking.refresh_storage_usage", "schedule": 60.0},
    "reconcile-storage-usage": {"task": "tracking.reconcile_storage_usage", "schedule": 86_400.0},
    # Purge jobs whose worker died; and the trash's retention rules (hourly, so a rule of N days is kept to the hour).
    "recover-purge-jobs": {
        "task": "studio.recover_purge_jobs",
        "schedule": float(os.environ.get("STUDIO_RECOVERY_INTERVAL", "60")),
    },
    "purge-expired": {"task": "studio.purge_expired", "schedule": 3_600.0},
}
# The trash: how long deleted things of an experiment without its own rule (and registered models) are kept before
# the periodic purge removes them ("" keeps them until someone purges them); how long a purge job's claim holds.
STUDIO_TRASH_RETENTION_DAYS = (
    int(os.environ["STUDIO_TRASH_RETENTION_DAYS"]) if os.environ.get("STUDIO_TRASH_RETENTION_DAYS") else None
)
STUDIO_PURGE_LEASE_SECONDS = float(os.environ.get("STUDIO_PURGE_LEASE_SECONDS", "300"))
# The container runtime: the Docker Engine API to use ("" takes DOCKER_HOST, as the docker CLI does) and the image
# model images build on (any image with python3 and pip; where no registry is reachable, a local one such as
# scripts/podman-setup.sh makes). The kubernetes runtime: where images are pushed, the namespace, the kubeconfig
# ("" is the in-cluster config, else ~/.kube/config).
STUDIO_DOCKER_HOST = os.environ.get("STUDIO_DOCKER_HOST", "")
STUDIO_CONTAINER_BASE_IMAGE = os.environ.get("STUDIO_CONTAINER_BASE_IMAGE", "python:3.11-slim")
STUDIO_KUBERNETES_REGISTRY = os.environ.get("STUDIO_KUBERNETES_REGISTRY", "")
STUDIO_KUBERNETES_NAMESPACE = os.environ.get("STUDIO_KUBERNETES_NAMESPACE", "studio")
STUDIO_KUBERNETES_KUBECONFIG = os.environ.get("STUDIO_KUBERNETES_KUBECONFIG", "")
# Days the scoring gateway's per-request records are kept.
STUDIO_REQUEST_LOG_DAYS = float(os.environ.get("STUDIO_REQUEST_LOG_DAYS", "30"))
STUDIO_ENV_RETENTION_DAYS = float(os.environ.get("STUDIO_ENV_RETENTION_DAYS", "7"))
# A deployment's claim lapses after this long without renewal; its worker's heartbeat renews it every quarter of it.
STUDIO_DEPLOYMENT_LEASE_SECONDS = float(os.environ.get("STUDIO_DEPLOYMENT_LEASE_SECONDS", "60"))
# The scoring gateway: how long a scoring server may take to answer, and how stale its routing table may be.
STUDIO_GATEWAY_TIMEOUT = float(os.environ.get("STUDIO_GATEWAY_TIMEOUT", "60"))
STUDIO_GATEWAY_CACHE_SECONDS = float(os.environ.get("STUDIO_GATEWAY_CACHE_SECONDS", "1"))
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celery-beat-schedule")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("STUDIO_LOG_LEVEL", "WARNING")},
}

# --- Security ---------------------------------------------------------------------------------------------------------
# Off by default, so a local Studio on http://127.0.0.1 keeps working; STUDIO_HTTPS=on for a deployment served over
# TLS: cookies only over HTTPS, HSTS, and plain-http requests redirected (except the probe, which load balancers and
# orchestrators call on the internal http port). Behind a proxy that terminates TLS, name the header it sets
# (STUDIO_TRUSTED_PROXY_HEADER=X-Forwarded-Proto) so Django knows a request came in over HTTPS: only then, because a
# client could set that header itself where no proxy overwrites it.
STUDIO_HTTPS = _env_bool("STUDIO_HTTPS", False)
SESSION_COOKIE_SECURE = STUDIO_HTTPS
CSRF_COOKIE_SECURE = STUDIO_HTTPS
SECURE_HSTS_SECONDS = int(os.environ.get("STUDIO_HSTS_SECONDS", "31536000")) if STUDIO_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = STUDIO_HTTPS
SECURE_HSTS_PRELOAD = STUDIO_HTTPS and _env_bool("STUDIO_HSTS_PRELOAD", False)  # a commitment; the operator's call
SECURE_SSL_REDIRECT = STUDIO_HTTPS and _env_bool("STUDIO_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^health$"]
if _proxy_header := os.environ.get("STUDIO_TRUSTED_PROXY_HEADER", "").strip():
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_header.upper().replace("-", "_"), "https")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False  # the page scripts read the token from the cookie for the X-CSRFToken header
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("STUDIO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "SAMEORIGIN"  # the artifact preview frames the raw views of the same origin
# Every HTML page (studio.security); "" turns it off, another value replaces it (an extra img-src for a proxy, say).
STUDIO_CONTENT_SECURITY_POLICY = os.environ.get(
    "STUDIO_CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'self'; base-uri 'self'; frame-ancestors 'self'; "
    "form-action 'self'",
)
# Pages that draw plotly.js WebGL traces (parallel coordinates), whose regl compiles shader code with Function():
# only these also allow 'unsafe-eval'.
STUDIO_CSP_EVAL_VIEWS = ["tracking:run-compare"]
# Forms: Django's bound on the number of fields (the API reads JSON bodies, bounded by STUDIO_MAX_REQUEST_BYTES).
DATA_UPLOAD_MAX_NUMBER_FIELDS = int(os.environ.get("STUDIO_MAX_FORM_FIELDS", "1000"))
