"""LearnLab settings: one file, every value from the environment with a safe default.

The defaults are the embedded stack `make run` starts: SQLite in data/, django-q2's ORM broker
and a local sandbox server. DATABASE_URL (PostgreSQL) and LEARNLAB_REDIS_URL (Redis broker) are
the scale path.
"""

import hashlib
import hmac
import secrets
from pathlib import Path

import dj_database_url

from learnlab.lib.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("LEARNLAB_DATA_DIR", str(BASE_DIR / "data")))
# The data folder holds every learner's lab keys (the SQLite file) and the secret key: owner only.
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
DATA_DIR.chmod(0o700)

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in the data folder."""
    if key := env_str("SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin",  # only the LTI platforms' admin at /lti/admin/ (learnlab/lti/admin.py)
    "django_htmx",
    "lti_tool",  # django-lti: platform registrations, the tool's keys (JWKS), launches
    "django_q",
    "learnlab.site",
    "learnlab.learners",
    "learnlab.live",  # live pages: what changed, waited on at /live/wait (issue 16)
    "learnlab.sandbox",
    "learnlab.denials",  # denials met and their traces (issue 19)
    "learnlab.gate",
    "learnlab.ticker",
    "learnlab.quiz",
    "learnlab.imds",
    "learnlab.labs",
    "learnlab.terminal",
    "learnlab.classroom",
    "learnlab.explain",  # why was it denied, the instance chain, explain this error
    "learnlab.accounts",
    "learnlab.embed",
    "learnlab.lti",
]

MIDDLEWARE = [
    "learnlab.gate.middleware.GateMiddleware",  # AWS API calls: no page middleware
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "learnlab.site.middleware.ThrottledMiddleware",
    "learnlab.site.middleware.DatabaseBusyMiddleware",  # innermost: sees the view's errors
]

ROOT_URLCONF = "learnlab.urls"
WSGI_APPLICATION = "learnlab.wsgi.application"

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
                "django.template.context_processors.csp",
            ],
        },
    },
]

# SQLite: WAL lets readers run beside the writer; IMMEDIATE takes the write lock up front so
# the busy timeout applies (reference/stack.md §1.8: 0 "database is locked" in 1,600 mixed
# transactions, against 334 with the defaults).
SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,  # the busy timeout: a writer waits up to 20 s for the lock
}
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'learnlab.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=None)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = SQLITE_OPTIONS
    _sqlite_file = Path(str(DATABASES["default"]["NAME"]))
    # Owner only, before SQLite creates it (its -wal and -shm files copy its mode).
    if str(_sqlite_file) != ":memory:" and _sqlite_file.parent.is_dir():
        _sqlite_file.touch(mode=0o600)
        _sqlite_file.chmod(0o600)
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Sessions live in the database, so log-out ends one for good (a signed cookie outlived it).
# An anonymous learner's session is written once, when the learner is created.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = 60 * 60 * 24 * 90
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_MODE = env_bool("LEARNLAB_SECURE", False)  # behind HTTPS in production
SESSION_COOKIE_SECURE = SECURE_MODE
CSRF_COOKIE_SECURE = SECURE_MODE
SECURE_SSL_REDIRECT = SECURE_MODE
SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365 if SECURE_MODE else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_MODE
SECURE_HSTS_PRELOAD = SECURE_MODE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if SECURE_MODE else None
# How many proxies in front append to X-Forwarded-For (0, the default: none, and the header is
# never read; anyone can send it). The throttles' client is the N-th address from its right.
LEARNLAB_TRUSTED_PROXIES = max(0, env_int("LEARNLAB_TRUSTED_PROXIES", 0))
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# A strict CSP: scripts and styles only from our own origin, no inline code anywhere.
SECURE_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "font-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]
LOGIN_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns about a missing one before collectstatic
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
    "loggers": {"learnlab": {"level": env_str("LOG_LEVEL", "INFO")}},
}

# The sandbox server (learnlab/sandbox/server.py) and the secret its internal endpoints need.
LEARNLAB_SANDBOX_URL = env_str("LEARNLAB_SANDBOX_URL", "http://127.0.0.1:5055")
# More than one sandbox server (moto is GIL-bound near 150 requests/s each), on any hosts:
# LEARNLAB_SANDBOX_URLS, comma-separated base URLs, each optionally "name=URL" (the name, by
# default host:port, is what a sandbox records: sandbox/connection.py). The shorthand
# LEARNLAB_SANDBOX_SERVERS: that many on consecutive ports from LEARNLAB_SANDBOX_URL's.
LEARNLAB_SANDBOX_URLS = env_str("LEARNLAB_SANDBOX_URLS")
LEARNLAB_SANDBOX_SERVERS = max(1, env_int("LEARNLAB_SANDBOX_SERVERS", 1))
LEARNLAB_SANDBOX_SECRET = (
    env_str("LEARNLAB_SANDBOX_SECRET")
    or hmac.new(SECRET_KEY.encode(), b"learnlab sandbox server", hashlib.sha256).hexdigest()
)
LEARNLAB_SANDBOX_IDLE_HOURS = env_int("LEARNLAB_SANDBOX_IDLE_HOURS", 24)
LEARNLAB_GATE_MAX_BODY = 5 * 1024 * 1024
# AWS requests a second per sandbox at the gate, bursts of twice that (gate/limits.py); 0: none.
LEARNLAB_GATE_RATE = env_int("LEARNLAB_GATE_RATE", 20)
# The lab clock: how many times faster than real AWS credentials rotate (1 to 360).
LEARNLAB_CLOCK_SPEED = min(360, max(1, env_int("LEARNLAB_CLOCK_SPEED", 60)))
# Anyone may sign up as an instructor unless this is off (then: manage.py createinstructor).
LEARNLAB_INSTRUCTOR_SIGNUP = env_bool("LEARNLAB_INSTRUCTOR_SIGNUP", True)
DATA_UPLOAD_MAX_MEMORY_SIZE = LEARNLAB_GATE_MAX_BODY

# django-q2: the ORM broker by default, Redis when LEARNLAB_REDIS_URL is set.
LEARNLAB_REDIS_URL = env_str("LEARNLAB_REDIS_URL")
Q_CLUSTER = {
    "name": "learnlab",
    "workers": env_int("LEARNLAB_Q_WORKERS", 2),
    # The ticker job loops for a minute, so a task may run 60 s; retry must exceed timeout.
    "timeout": 90,
    "retry": 120,
    "catch_up": False,
    "save_limit": 100,
    "poll": 0.2,
    "sync": env_bool("LEARNLAB_Q_SYNC", False),
}
if LEARNLAB_REDIS_URL:
    Q_CLUSTER["redis"] = LEARNLAB_REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# The cache holds the throttles' counters, shared by every web worker: Redis when configured,
# else a table in the database (`manage.py createcachetable`, run by runstack).
_DATABASE_CACHE = {
    "BACKEND": "django.core.cache.backends.db.DatabaseCache",
    "LOCATION": "learnlab_cache",
}
_REDIS_CACHE = {"BACKEND": "django.core.cache.backends.redis.RedisCache"}
CACHES = {
    "default": {**_REDIS_CACHE, "LOCATION": LEARNLAB_REDIS_URL}
    if LEARNLAB_REDIS_URL
    else _DATABASE_CACHE
}
# Throttles (learnlab/lib/throttle.py): failures allowed per window, then refusals until it ends.
LEARNLAB_LOGIN_FAILURES_PER_ACCOUNT = env_int("LEARNLAB_LOGIN_FAILURES_PER_ACCOUNT", 10)
LEARNLAB_LOGIN_FAILURES_PER_CLIENT = env_int("LEARNLAB_LOGIN_FAILURES_PER_CLIENT", 30)
LEARNLAB_JOIN_FAILURES_PER_CLIENT = env_int("LEARNLAB_JOIN_FAILURES_PER_CLIENT", 10)
# Accounts created per client address in a window (each costs a password hash and may carry a
# sandbox), learners' and instructors' alike.
LEARNLAB_SIGNUPS_PER_CLIENT = env_int("LEARNLAB_SIGNUPS_PER_CLIENT", 10)
LEARNLAB_THROTTLE_WINDOW_SECONDS = 15 * 60
# New anonymous learners (each may hold a sandbox) per client address in 10 minutes (0: no
# limit).
LEARNLAB_NEW_LEARNERS_PER_CLIENT = env_int("LEARNLAB_NEW_LEARNERS_PER_CLIENT", 20)
# A class may share one address: new learners joining with its code count against the class
# and that address (a school behind one address), and against the class alone, a safety net.
LEARNLAB_NEW_LEARNERS_PER_CLASS_CLIENT = env_int("LEARNLAB_NEW_LEARNERS_PER_CLASS_CLIENT", 60)
LEARNLAB_NEW_LEARNERS_PER_CLASS = env_int("LEARNLAB_NEW_LEARNERS_PER_CLASS", 500)
# Personal terminal tokens (/sandbox/env?token=...): wrong tokens a client may send in a
# window, and requests one token may make in it (a shell fetches its lines once, a loop should
# not).
LEARNLAB_SHELL_TOKEN_FAILURES_PER_CLIENT = env_int("LEARNLAB_SHELL_TOKEN_FAILURES_PER_CLIENT", 20)
LEARNLAB_SHELL_TOKEN_USES = env_int("LEARNLAB_SHELL_TOKEN_USES", 120)

# Embedding (learnlab/embed, docs/embedding.md): the origins whose pages may frame a lab (each
# response of an embed view allows only the one it was opened for), and how long an embed launch
# token lasts unused. By default, outside LEARNLAB_SECURE, the demo host page's origin:
# http://localhost:PORT embedding LearnLab from http://127.0.0.1:PORT.
LEARNLAB_EMBED_ORIGINS = env_list(
    "LEARNLAB_EMBED_ORIGINS",
    [] if SECURE_MODE else [f"http://localhost:{env_int('PORT', 8000)}"],
)
LEARNLAB_EMBED_TOKEN_SECONDS = max(60, env_int("LEARNLAB_EMBED_TOKEN_SECONDS", 2 * 60 * 60))

# LTI 1.3 (learnlab/lti, docs/lti.md): platforms are registered with `manage.py lti_platform`
# or in /lti/admin/; the tool's signing keys live in the database (`manage.py rotate_keys`).
# Grades (AGS) and learning records (xAPI) are posted from the task cluster, retried this many
# times with a growing wait.
LEARNLAB_LTI_RETRIES = env_int("LEARNLAB_LTI_RETRIES", 5)
# xAPI statements go to this learning record store when set (its base URL, ending before
# /statements), with HTTP Basic credentials.
LEARNLAB_XAPI_URL = env_str("LEARNLAB_XAPI_URL")
LEARNLAB_XAPI_USERNAME = env_str("LEARNLAB_XAPI_USERNAME")
LEARNLAB_XAPI_PASSWORD = env_str("LEARNLAB_XAPI_PASSWORD")
# The site's public address: xAPI activity ids and anonymous learners' account home page.
LEARNLAB_XAPI_HOMEPAGE = env_str(
    "LEARNLAB_XAPI_HOMEPAGE", f"http://localhost:{env_int('PORT', 8000)}"
)

# Email (the password reset's link): printed to the console by default; SMTP when
# LEARNLAB_SMTP_HOST is set, with LEARNLAB_SMTP_PORT, _USER, _PASSWORD, _TLS (STARTTLS, default
# on) and LEARNLAB_EMAIL_FROM.
# Django 6.1's MAILERS (EMAIL_BACKEND and the EMAIL_* settings are deprecated).
LEARNLAB_SMTP_HOST = env_str("LEARNLAB_SMTP_HOST", "")
if LEARNLAB_SMTP_HOST:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": LEARNLAB_SMTP_HOST,
                "port": env_int("LEARNLAB_SMTP_PORT", 587),
                "username": env_str("LEARNLAB_SMTP_USER", ""),
                "password": env_str("LEARNLAB_SMTP_PASSWORD", ""),
                "use_tls": env_bool("LEARNLAB_SMTP_TLS", True),
                "timeout": 10,
            },
        }
    }
else:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
DEFAULT_FROM_EMAIL = env_str("LEARNLAB_EMAIL_FROM", "LearnLab <noreply@localhost>")
# Password-reset requests per client address in the throttle window (0: no limit).
LEARNLAB_PASSWORD_RESETS_PER_CLIENT = env_int("LEARNLAB_PASSWORD_RESETS_PER_CLIENT", 5)
