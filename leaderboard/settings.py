"""Django settings, read from the environment (twelve-factor style).

Defaults give an embedded set-up (SQLite, a broker that needs no server) so the demo runs on a bare
machine; production sets DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis).
"""
import os
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from leaderboard.storage_config import private_stores

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("EHPS_VAR_DIR", BASE_DIR / "var"))
# The embedded defaults (SQLite database, SQLite broker and result backend) keep their files here.
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(int(default))).lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


DEBUG = env_bool("DJANGO_DEBUG", False)
# The fallback is public: tests and management commands may use it, serving does not (leaderboard/wsgi.py refuses
# to start with DEBUG off and no DJANGO_SECRET_KEY; scripts/serve generates one).
INSECURE_DEV_SECRET_KEY = "insecure-dev-key-set-DJANGO_SECRET_KEY-in-production"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or INSECURE_DEV_SECRET_KEY
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc assets, served by us (no CDN)
    "leaderboard.benchmarks",
    "leaderboard.submissions",
    "leaderboard.accounts",
    "leaderboard.api",
    "leaderboard.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "leaderboard.nul_guard.NulByteGuardMiddleware",  # a NUL in the path or query: 400, before any look-up
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Warm anonymous board requests are answered here, before sessions, auth and the views (leaderboard/web/response_cache.py).
    "leaderboard.web.response_cache.AnonymousBoardCacheMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Authentication before the upload guard, the guard before CSRF: CSRF reads the body of every POST.
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "leaderboard.upload_guard.UploadGuardMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "leaderboard.urls"
WSGI_APPLICATION = "leaderboard.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        # Reuse connections (a new one per request halves req/s on small endpoints); health checks drop dead ones.
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes write (gunicorn, Celery): WAL lets readers run beside the writer, IMMEDIATE takes the write
    # lock at BEGIN (a deferred transaction that reads, then writes, fails at once with "database is locked"
    # instead of waiting), and writers queue for up to SQLITE_BUSY_TIMEOUT_S (issue 24: 1 upload in 6 was a 500).
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": env_int("SQLITE_BUSY_TIMEOUT_S", 20),
    })
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Private data: uploads, ground truth and held-out images. Never mapped to a URL. ---
PRIVATE_STORAGE_ROOT = Path(os.environ.get("PRIVATE_STORAGE_ROOT", VAR_DIR / "private"))
# Where those files live (leaderboard/storage.py, docs/workers.md "Object storage"): "filesystem" (the default: both
# stores are PRIVATE_STORAGE_ROOT) or "s3" (any S3-compatible endpoint; two buckets, each with its own keys; a process
# without ground-truth keys, the web, cannot read ground truth or held-out images at all).
EHPS_STORAGE = os.environ.get("EHPS_STORAGE", "filesystem")
try:
    STORAGES.update(private_stores(os.environ))
except ValueError as exc:
    raise ImproperlyConfigured(str(exc)) from None
# A host's content-addressed copies of what it reads from S3 (leaderboard/object_cache.py), bounded, LRU.
OBJECT_CACHE_DIR = Path(os.environ.get("OBJECT_CACHE_DIR", VAR_DIR / "object-cache"))
OBJECT_CACHE_MAX_BYTES = env_int("OBJECT_CACHE_MAX_BYTES", 20 * 1024**3)
# Direct uploads (S3 only, leaderboard/submissions/direct_uploads.py): how long a pre-signed PUT URL works, and the
# store's address as clients reach it when that differs from S3_ENDPOINT_URL (e.g. http://seaweedfs:8333 inside compose).
DIRECT_UPLOAD_EXPIRES_S = env_int("DIRECT_UPLOAD_EXPIRES_S", 3600)
S3_PRESIGN_ENDPOINT_URL = os.environ.get("S3_PRESIGN_ENDPOINT_URL", "")
SMPLX_MODEL_DIR = Path(os.environ.get("SMPLX_MODEL_DIR", VAR_DIR / "smplx_synthetic"))
# SMPL body models (smpl/SMPL_{NEUTRAL,MALE,FEMALE} + smplx2smpl) for protocols with SMPL GT (3DPW); trusted
# operator files. Unset: the smpl/ folder next to SMPL-X's in SMPLX_MODEL_DIR (where the synthetic model puts it).
SMPL_MODEL_DIR = Path(os.environ["SMPL_MODEL_DIR"]) if os.environ.get("SMPL_MODEL_DIR") else None

# --- Uploads and quotas ---
MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_BYTES", 512 * 1024 * 1024)
MAX_UNCOMPRESSED_BYTES = env_int("MAX_UNCOMPRESSED_BYTES", 2 * 1024 * 1024 * 1024)
MAX_ARCHIVE_MEMBERS = env_int("MAX_ARCHIVE_MEMBERS", 10_000)  # zip entries / tar members, checked before parsing
# Ground-truth bundles imported from the staff page (staff-trusted, still bounded): a .zip's members and bytes.
MAX_GT_BUNDLE_MEMBERS = env_int("MAX_GT_BUNDLE_MEMBERS", 100_000)
MAX_GT_BUNDLE_BYTES = env_int("MAX_GT_BUNDLE_BYTES", 16 * 1024**3)
# Request bodies (leaderboard/upload_guard.py refuses them from the headers, before anything reads them):
MAX_ANONYMOUS_BODY_BYTES = env_int("MAX_ANONYMOUS_BODY_BYTES", 64 * 1024)  # log-in / sign-up forms, token requests
MAX_FORM_BODY_BYTES = env_int("MAX_FORM_BODY_BYTES", 2 * 1024 * 1024)  # any other view, for a logged-in user
REQUEST_BODY_STALL_TIMEOUT_S = env_int("REQUEST_BODY_STALL_TIMEOUT_S", 30)  # an upload silent this long: 408
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024  # form fields (not files) of one request
DATA_UPLOAD_MAX_NUMBER_FILES = 4
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024  # larger files go to FILE_UPLOAD_TEMP_DIR while the request runs
# Ours, not the system temp folder: the sweeper and gunicorn's start-up remove what a killed request left behind.
FILE_UPLOAD_TEMP_DIR = str(os.environ.get("FILE_UPLOAD_TEMP_DIR", VAR_DIR / "tmp" / "requests"))
try:  # Django's system check (files.E001) refuses a missing folder, and every management command runs it
    Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
except OSError:
    pass  # not writable here (e.g. a read-only image build): the check names the folder
FILE_UPLOAD_HANDLERS = [
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "leaderboard.upload_temp.BoundedTemporaryFileUploadHandler",
]
STALE_UPLOAD_AGE_S = env_int("STALE_UPLOAD_AGE_S", 6 * 60 * 60)  # temp uploads / staging folders untouched this long
SUBMISSIONS_PER_BENCHMARK_PER_DAY = env_int("SUBMISSIONS_PER_BENCHMARK_PER_DAY", 5)
MAX_SUBMISSIONS_IN_PROGRESS = env_int("MAX_SUBMISSIONS_IN_PROGRESS", 3)

# --- Evaluation ---
EVAL_SHARD_SIZE = env_int("EVAL_SHARD_SIZE", 2048)  # the largest shard; shards are planned per worker (docs/workers.md)
EVAL_WORKER_PROCESSES = env_int("EVAL_WORKER_PROCESSES", 0)  # evaluating processes to plan for; 0 = ask the workers
EVAL_SHARDS_PER_PROCESS = env_int("EVAL_SHARDS_PER_PROCESS", 4)  # 0 = always EVAL_SHARD_SIZE
EVAL_CHUNK_SIZE = env_int("EVAL_CHUNK_SIZE", 64)  # bench: 64 beats 256 by ~15% on CPU (cache-sized chunks)
EVAL_GT_MESH_CACHE = env_bool("EVAL_GT_MESH_CACHE", True)  # store GT meshes next to the GT (evaluator.gt_meshes)
EVAL_DEVICE = os.environ.get("EVAL_DEVICE", "auto")  # auto = cuda when present
EVAL_STUCK_AFTER_S = env_int("EVAL_STUCK_AFTER_S", 15 * 60)  # no heartbeat for this long = stuck
# Quiet this long and none of its tasks queued, reserved or running in the (Redis) broker = lost, re-sent at once
EVAL_LOST_AFTER_S = env_int("EVAL_LOST_AFTER_S", 60)
EVAL_MAX_ATTEMPTS = env_int("EVAL_MAX_ATTEMPTS", 3)
EVAL_FINALIZE_GRACE_S = env_int("EVAL_FINALIZE_GRACE_S", 120)  # all shards done but not finished this long = lost chord
EVAL_SWEEP_INTERVAL_S = env_int("EVAL_SWEEP_INTERVAL_S", 60)
EVAL_TORCH_THREADS = env_int("EVAL_TORCH_THREADS", 0)  # torch threads per pool process; 0 = one
# Chunks a pool process scores at a time, torch on one thread each (evaluator.chunk_threads): with fewer
# processes than cores (less memory: one body model each) this keeps every core busy and degrades gracefully.
EVAL_SCORING_THREADS = env_int("EVAL_SCORING_THREADS", 1)
EVAL_TASK_MAX_RETRIES = env_int("EVAL_TASK_MAX_RETRIES", 6)  # transient DB/broker errors, exponential backoff
# Soft limit raises inside the task (it fails the submission cleanly); the hard limit kills the process.
EVAL_SHARD_SOFT_TIME_LIMIT_S = env_int("EVAL_SHARD_SOFT_TIME_LIMIT_S", 30 * 60)
EVAL_SHARD_TIME_LIMIT_S = env_int("EVAL_SHARD_TIME_LIMIT_S", 35 * 60)
EVAL_VALIDATE_SOFT_TIME_LIMIT_S = env_int("EVAL_VALIDATE_SOFT_TIME_LIMIT_S", 2 * 60 * 60)  # includes model runs
EVAL_VALIDATE_TIME_LIMIT_S = env_int("EVAL_VALIDATE_TIME_LIMIT_S", 2 * 60 * 60 + 5 * 60)
BENCHMARK_IMPORT_TIME_LIMIT_S = env_int("BENCHMARK_IMPORT_TIME_LIMIT_S", 2 * 60 * 60)  # one import from the staff page
EVAL_FINALIZE_TIME_LIMIT_S = env_int("EVAL_FINALIZE_TIME_LIMIT_S", 5 * 60)
# Limits of one model run (container / TorchScript archive) on one benchmark; see docs/model_submissions.md.
MODEL_RUN_TIME_LIMIT_S = env_int("MODEL_RUN_TIME_LIMIT_S", 30 * 60)
MODEL_RUN_MEMORY_BYTES = env_int("MODEL_RUN_MEMORY_BYTES", 8 * 1024**3)
MODEL_RUN_OUTPUT_BYTES = env_int("MODEL_RUN_OUTPUT_BYTES", 512 * 1024**2)  # everything the model writes to /output
MODEL_RUN_MAX_FILES = env_int("MODEL_RUN_MAX_FILES", 1000)  # files and folders in /output
MODEL_RUN_CPUS = float(os.environ.get("MODEL_RUN_CPUS") or 4)  # CPU quota in cores; 0 = none
MODEL_RUN_MAX_ATTEMPTS = env_int("MODEL_RUN_MAX_ATTEMPTS", 2)  # runs started (a lost worker re-runs it) before failing
# Scratch of the runs (input copy, output, model): one owned folder per run, orphans reaped (workers.runners.rundirs).
MODEL_RUN_WORK_ROOT = Path(os.environ.get("MODEL_RUN_WORK_ROOT") or Path(tempfile.gettempdir()) / "ehps-runs")

# --- Celery (read by workers.celery_app through the CELERY_ namespace) ---
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", f"db+sqlite:///{VAR_DIR / 'celery-results.sqlite3'}")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Longest wait for the broker per connection try when sending a task (an upload is stored first; if the broker does
# not answer, the sweeper sends it later and the user is told so at once).
CELERY_PUBLISH_TIMEOUT_S = float(os.environ.get("CELERY_PUBLISH_TIMEOUT_S", "2"))
# Redis re-delivers an unacknowledged message after this long; it must exceed the longest task (hard limit).
CELERY_VISIBILITY_TIMEOUT_S = env_int(
    "CELERY_VISIBILITY_TIMEOUT_S", max(EVAL_SHARD_TIME_LIMIT_S, EVAL_VALIDATE_TIME_LIMIT_S) + 10 * 60
)

# --- REST framework ---
# Reverse proxies in front of gunicorn that append the peer they saw to X-Forwarded-For (nginx:
# $proxy_add_x_forwarded_for). 0: none, the header is the client's own text and REMOTE_ADDR names the client.
# Every throttle reads the address through leaderboard.accounts.throttles.client_address.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
API_MAX_LIMIT = env_int("API_MAX_LIMIT", 500)  # most rows one page of a list endpoint returns
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "leaderboard.api.authentication.TokenOrBearerAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "leaderboard.api.errors.exception_handler",  # JSON 500s, never Django's HTML page
    "DEFAULT_PAGINATION_CLASS": "leaderboard.api.pagination.BoundedLimitOffsetPagination",  # limit <= API_MAX_LIMIT
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [  # DRF's anon/user throttles, clients named by client_address
        "leaderboard.accounts.throttles.AnonThrottle",
        "leaderboard.accounts.throttles.UserThrottle",
    ],
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,  # the same count for any DRF code that calls its own get_ident
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("API_THROTTLE_ANON", "120/min"),
        "user": os.environ.get("API_THROTTLE_USER", "600/min"),
        # leaderboard/accounts/throttles.py: password checks (log-in form, API token request), token creation
        "login": os.environ.get("THROTTLE_LOGIN", "10/min"),  # per client address
        "login_username": os.environ.get("THROTTLE_LOGIN_USERNAME", "30/hour"),  # per account name
        "token": os.environ.get("THROTTLE_TOKEN", "10/hour"),  # new API tokens per user
        # Mail the site sends on request (leaderboard/accounts/throttles.py): password reset per client address and
        # per target address, the verification mail again per user.
        "password_reset": os.environ.get("THROTTLE_PASSWORD_RESET", "5/hour"),
        "password_reset_address": os.environ.get("THROTTLE_PASSWORD_RESET_ADDRESS", "3/hour"),
        "verify_email": os.environ.get("THROTTLE_VERIFY_EMAIL", "5/hour"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "EHPS Leaderboard API",
    "DESCRIPTION": "Submit SMPL-X predictions, follow their evaluation and read the leaderboards.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Email: notifications (finished/failed) and password reset. Console by default; SMTP once EMAIL_HOST is set. ---
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "EHPS Leaderboard <noreply@localhost>")
EMAIL_NOTIFICATIONS = env_bool("EMAIL_NOTIFICATIONS", True)
# How long an address-confirmation link works (leaderboard/accounts/verification.py); until an address is confirmed
# the site mails it nothing else (no notifications, no password reset).
EMAIL_VERIFICATION_MAX_AGE_S = env_int("EMAIL_VERIFICATION_MAX_AGE_S", 3 * 24 * 3600)
# Absolute links in emails (the workers have no request to build them from).
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000")

# --- Cache: rendered leaderboards (keyed by the leaderboard version, see submissions/board_cache.py), throttles ---
# CACHE_URL=redis://host:6379/2 shares one cache between all web processes; otherwise each process has its own
# LocMemCache, which stays correct because the version token that invalidates it is read from the database.
CACHE_URL = os.environ.get("CACHE_URL", "")
# While that Redis is down each process uses its own memory (leaderboard/resilient_cache.py): pages are read
# uncached and throttles count per process; Redis is tried again CACHE_RETRY_AFTER_S after a failure.
CACHE_SOCKET_TIMEOUT_S = float(os.environ.get("CACHE_SOCKET_TIMEOUT_S", "0.5"))
CACHE_RETRY_AFTER_S = float(os.environ.get("CACHE_RETRY_AFTER_S", "5"))
if CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    from leaderboard.resilient_cache import cache_config

    CACHES = {"default": {**cache_config(CACHE_URL, CACHE_SOCKET_TIMEOUT_S), "KEY_PREFIX": "ehps"}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                          "OPTIONS": {"MAX_ENTRIES": env_int("LOCMEM_CACHE_MAX_ENTRIES", 5000)}}}
LEADERBOARD_CACHE_SECONDS = env_int("LEADERBOARD_CACHE_SECONDS", 3600)  # entries of old versions expire
LEADERBOARD_PAGE_SIZE = env_int("LEADERBOARD_PAGE_SIZE", 50)
# How long a process trusts its last read of the leaderboard version (changes made in other processes show after it).
LEADERBOARD_VERSION_TTL_S = float(os.environ.get("LEADERBOARD_VERSION_TTL_S", "0.25"))
LEADERBOARD_API_MAX_LIMIT = env_int("LEADERBOARD_API_MAX_LIMIT", 500)
# Whole anonymous board responses each web process keeps in memory (bodies ~40-60 KB a page: ~300 pages).
LEADERBOARD_RESPONSE_CACHE_BYTES = env_int("LEADERBOARD_RESPONSE_CACHE_BYTES", 16 * 1024 * 1024)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
FORMS_URLFIELD_ASSUME_HTTPS = True  # Django 6 default; silences the transitional warning
