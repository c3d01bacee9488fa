"""assistgov settings: every value from the environment, with defaults that run a checkout.

Each variable is documented in .env.example. A malformed value stops the start with a
message that names it.
"""

import base64
import os
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from assistgov.devkeys import DEV_SECRET_KEY, derived
from assistgov.envvars import EnvReader

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
env = EnvReader()

DEBUG = env.bool("DEBUG", True)

SECRET_KEY = env.str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it to a long random string (DEBUG=false needs one)."
        )
    SECRET_KEY = DEV_SECRET_KEY
# Stand-ins for the keys below while DEBUG is on (assistgov.devkeys); never used with it off.
_dev_keys = derived(SECRET_KEY)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", [])
CSRF_FAILURE_VIEW = "assistgov.errors.csrf_failure"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",  # allauth's social apps name their site
    "channels",
    "assistgov.apps.SignInThrottlingConfig",  # django-axes, named for people
    "csp",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.mfa",
    "streams",
    "audit",
    "perf",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "assistgov.middleware.AsyncWhiteNoiseMiddleware",
    "audit.people.middleware.RequestContextMiddleware",
    "audit.people.middleware.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "audit.people.sessions.SessionLifetimeMiddleware",
    "audit.people.mfa.SecondFactorMiddleware",
    "audit.people.middleware.UserTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Inside CSP's: the page it writes gets the policy's nonce.
    "assistgov.middleware.MethodNotAllowedMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into its lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "assistgov.urls"
ASGI_APPLICATION = "assistgov.asgi.application"

# audit is one app made of packages by feature; each keeps its own templates and static
# files beside its code (audit/review/templates, audit/review/static, ...).
AUDIT_PACKAGES = [
    BASE_DIR / "audit" / name
    for name in ("trail", "people", "oversight", "privacy", "review", "reports")
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates", *(package / "templates" for package in AUDIT_PACKAGES)],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.tz",
                "csp.context_processors.nonce",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite is the embedded default. It is set up for several writers (the stream worker
# and web requests): WAL, a busy timeout, and IMMEDIATE transactions so that a writer
# takes the lock at BEGIN instead of failing on upgrade in the middle of a transaction.
DATABASES = {"default": env.database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'assistgov.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "timeout": env.int("SQLITE_BUSY_TIMEOUT_SECONDS", 20, minimum=1),
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
# Connections are reused (each opened SQLite connection also runs the PRAGMAs above): a
# stream writer storing a batch every 0.2 s should not connect every time.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Without REDIS_URL everything runs in one process: the in-memory channel layer and the
# local-memory cache. With it, daphne and the stream workers share Redis.
REDIS_URL = env.redis_url("REDIS_URL")
# Deployments that share one Redis server keep apart by a prefix of their own (the bench's
# scaled section uses one, so that it never reaches a deployment's pages).
REDIS_KEY_PREFIX = env.str("REDIS_KEY_PREFIX", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # channels_redis waits up to 5 s in BZPOPMIN; redis-py's default socket
                # timeout is also 5 s, which would turn every idle wait into an error.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
                "capacity": 1000,
                "expiry": 60,
                "prefix": REDIS_KEY_PREFIX or "asgi",  # channels_redis' own default
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_KEY_PREFIX,
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Argon2id first: memory-hard (100 MiB a check), so stronger against guessing on graphics
# cards than PBKDF2, and about a third of its time on a server's core (0.12 s against 0.33 s),
# which a person waits for at every sign-in. Passwords hashed before with PBKDF2 still sign
# in, and are hashed again with Argon2id as they do.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "review"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# One date-time format where people read (2026-11-30 10:45 UTC), the admin included.
FORMAT_MODULE_PATH = ["assistgov.formats"]

STATIC_URL = "static/"
STATICFILES_DIRS = [
    package / "static" for package in AUDIT_PACKAGES if (package / "static").is_dir()
]
# Where collectstatic gathers the static files that WhiteNoise serves when DEBUG is off.
STATIC_ROOT = Path(env.str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
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
# In DEBUG WhiteNoise serves straight from the apps' static folders, so the demo needs
# no collectstatic step.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
if DEBUG:
    STATIC_ROOT.mkdir(exist_ok=True)

# A signed-in session ends after this long without the person doing anything, and this
# long after signing in whatever they do (audit.people.sessions).
SESSION_IDLE_MINUTES = env.float("SESSION_IDLE_MINUTES", 30.0, minimum=1.0)
SESSION_MAX_HOURS = env.float("SESSION_MAX_HOURS", 12.0, minimum=0.1)
SESSION_COOKIE_AGE = int(SESSION_MAX_HOURS * 3600)
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
TRUST_X_FORWARDED_PROTO = env.bool("TRUST_X_FORWARDED_PROTO", False)
if TRUST_X_FORWARDED_PROTO:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# HTTPS: plain-HTTP requests are redirected (health checks and metrics excepted, for load
# balancers and scrapers inside the network), and browsers are told to use HTTPS only.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", False)
# Preloading is a decision about the whole domain (browsers' lists are slow to leave), not
# about this application: SECURE_HSTS_PRELOAD=true opts in, and Django's reminder is off.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
# Content-Security-Policy: scripts only from here and with the response's nonce (no inline
# handlers), nothing framed, forms posted here only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Sign-in throttling (django-axes): after AXES_FAILURE_LIMIT failed sign-ins for one user
# from one address, both login pages refuse that pair for the cool-off time. Governance
# admins unlock from the admin ("Access attempts"); every lock-out is an audit entry.
# Local passwords can be turned off once single sign-on is on: the login page then offers
# only the identity provider, and no password is checked anywhere (the admin's login too).
LOCAL_PASSWORDS = env.bool("LOCAL_PASSWORDS", True)
# Second factors (TOTP, through django-allauth's MFA) for local passwords: anyone may set one
# up on their account page; governance admins must when they sign in with a local password.
MFA_REQUIRED_FOR_ADMINS = env.bool("MFA_REQUIRED_FOR_ADMINS", not DEBUG)
MFA_ADAPTER = "audit.people.mfa.EncryptingMfaAdapter"
MFA_SUPPORTED_TYPES = ["totp"]
MFA_TOTP_ISSUER = "assistgov"
# A phone's clock may be a little off: the codes of the 30 seconds before and after count too
# (each code once).
MFA_TOTP_TOLERANCE = 1
AUTHENTICATION_BACKENDS = [
    *(
        ["axes.backends.AxesStandaloneBackend", "audit.people.signin.NormalisedModelBackend"]
        if LOCAL_PASSWORDS
        else []
    ),
    "audit.people.signin.SingleSignOnBackend",  # allauth's, for single sign-on only
]

# Single sign-on: OpenID Connect through django-allauth, on when OIDC_ISSUER is set. Users
# are created at their first sign-in with no local password; their role follows the groups
# claim at every sign-in (a person in none of the mapped groups is refused).
SITE_ID = 1
OIDC_ISSUER = env.str("OIDC_ISSUER", "")
OIDC_PROVIDER_ID = "sso"
OIDC_NAME = env.str("OIDC_NAME", "Company sign-in")
OIDC_GROUPS_CLAIM = env.str("OIDC_GROUPS_CLAIM", "groups")
# With `offline_access` among the scopes the provider grants a refresh token, and roles are
# checked against it this often between sign-ins (audit.people.sso).
OIDC_SCOPES = env.list("OIDC_SCOPES", ["openid", "profile", "email", "offline_access"])
OIDC_SYNC_SECONDS = env.float("OIDC_SYNC_SECONDS", 900.0, minimum=10.0)
OIDC_ROLE_GROUPS = {
    "Compliance officers": env.list("OIDC_OFFICER_GROUPS", ["assistgov-officers"]),
    "Governance admins": env.list("OIDC_ADMIN_GROUPS", ["assistgov-admins"]),
    "Auditors": env.list("OIDC_AUDITOR_GROUPS", ["assistgov-auditors"]),
    "Data protection officers": env.list("OIDC_DPO_GROUPS", ["assistgov-dpo"]),
}
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {
        "APPS": [
            {
                "provider_id": OIDC_PROVIDER_ID,
                "name": OIDC_NAME,
                "client_id": env.str("OIDC_CLIENT_ID", ""),
                "secret": env.str("OIDC_CLIENT_SECRET", ""),
                "settings": {
                    "server_url": OIDC_ISSUER,
                    "oauth_pkce_enabled": True,
                    "scope": OIDC_SCOPES,
                    # Providers grant offline access (a refresh token) only with consent.
                    "auth_params": {"prompt": "consent"} if "offline_access" in OIDC_SCOPES else {},
                },
            }
        ]
        if OIDC_ISSUER
        else [],
    }
}
if not LOCAL_PASSWORDS and not OIDC_ISSUER:
    raise ImproperlyConfigured(
        "LOCAL_PASSWORDS=false leaves no way to sign in: set OIDC_ISSUER (with OIDC_CLIENT_ID "
        "and OIDC_CLIENT_SECRET) first."
    )
if OIDC_ISSUER:  # the sign-in button posts here and is sent on to the identity provider
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"] = [SELF, OIDC_ISSUER.rstrip("/")]
SOCIALACCOUNT_ADAPTER = "audit.people.sso.RoleAdapter"
ACCOUNT_ADAPTER = "audit.people.sso.NoSignupAdapter"
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # a provider's e-mail never takes over an account
SOCIALACCOUNT_STORE_TOKENS = False
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
# Failures from one address across all user names before that address is locked out for
# every name (a password spray), within the same cool-off time.
LOGIN_ADDRESS_FAILURE_LIMIT = env.int(
    "LOGIN_ADDRESS_FAILURE_LIMIT", max(20, AXES_FAILURE_LIMIT), minimum=AXES_FAILURE_LIMIT
)
# One reading of a user name for the password check, the lock-out and the trail (NFKC,
# trimmed, case-folded); a name that is no account's is kept only as a keyed hash.
AXES_LOCKOUT_PARAMETERS = "audit.people.signin.lockout_parameters"
AXES_USERNAME_CALLABLE = "audit.people.signin.axes_username"
# What people typed in the user name box stays out of the attempts' stored form data.
AXES_SENSITIVE_PARAMETERS = ["username", "login"]
AXES_RESET_ON_SUCCESS = True
# A lock-out lasts its cool-off time from the failure that caused it; tries while locked
# do not extend it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_ENABLE_ADMIN = False  # audit.admin registers the attempts, with audited unlocking
AXES_VERBOSE = False
# The client's address is the connection's: behind a reverse proxy, daphne's --proxy-headers
# sets it from X-Forwarded-For (a header a client could forge is never read here).
AXES_CLIENT_IP_CALLABLE = "audit.people.security.client_address"

# Outbound connections. Connections' custom base URLs must name one of these hosts (else
# only Genesys Cloud's region hosts, at public addresses); webhook endpoints may use any
# public host and these at any address. Loopback is allowed by default while DEBUG, for
# the simulator and local receivers.
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1"]
CONNECTION_ALLOWED_HOSTS = env.list("CONNECTION_ALLOWED_HOSTS", LOOPBACK_HOSTS if DEBUG else [])
WEBHOOK_ALLOWED_HOSTS = env.list("WEBHOOK_ALLOWED_HOSTS", LOOPBACK_HOSTS if DEBUG else [])
# Environment variables a connection may read its client secret from (shell-style patterns);
# the product's own settings are refused whatever this says.
CONNECTION_SECRET_ENV_ALLOWED = env.list("CONNECTION_SECRET_ENV_ALLOWED", ["GENESYS_*"])

# Secrets at rest (connection client secrets) are encrypted with Fernet. Several
# comma-separated keys allow rotation: the first encrypts, all decrypt.
FIELD_ENCRYPTION_KEYS = env.fernet_keys(
    "FIELD_ENCRYPTION_KEY", [_dev_keys["FIELD_ENCRYPTION_KEY"]] if DEBUG else []
)

# The stream worker.
STREAMS_RECONCILE_SECONDS = env.float("STREAMS_RECONCILE_SECONDS", 5.0, minimum=0.1)
STREAMS_BATCH_SIZE = env.int("STREAMS_BATCH_SIZE", 500, minimum=1)
STREAMS_FLUSH_SECONDS = env.float("STREAMS_FLUSH_SECONDS", 0.05, minimum=0.01)
# How long a stopping stream may take to store what it has buffered (and a resuming one
# before it asks for a replay). What is not stored by then is received again on resume.
STREAMS_DRAIN_SECONDS = env.float("STREAMS_DRAIN_SECONDS", 10.0, minimum=0.1)
STREAMS_BUFFER_LIMIT = env.int("STREAMS_BUFFER_LIMIT", 5000, minimum=1)
STREAMS_MAX_FRAME_BYTES = env.int("STREAMS_MAX_FRAME_BYTES", 1024 * 1024, minimum=1024)
STREAMS_ACK_TIMEOUT_SECONDS = env.float("STREAMS_ACK_TIMEOUT_SECONDS", 10.0, minimum=0.1)
STREAMS_BACKOFF_BASE_SECONDS = env.float("STREAMS_BACKOFF_BASE_SECONDS", 1.0, minimum=0.01)
STREAMS_BACKOFF_CAP_SECONDS = env.float("STREAMS_BACKOFF_CAP_SECONDS", 60.0, minimum=0.1)
STREAMS_POLICY_BACKOFF_SECONDS = env.float("STREAMS_POLICY_BACKOFF_SECONDS", 300.0, minimum=0.1)
STREAMS_STABLE_SECONDS = env.float("STREAMS_STABLE_SECONDS", 30.0, minimum=0.1)
STREAMS_PING_SECONDS = env.float("STREAMS_PING_SECONDS", 20.0, minimum=1.0)
# Notifications flavour: a channel socket with no frame (heartbeat, pong or event) for this
# long is dead; a channel is replaced this long before its 24-hour expiry.
STREAMS_HEARTBEAT_TIMEOUT_SECONDS = env.float(
    "STREAMS_HEARTBEAT_TIMEOUT_SECONDS", 40.0, minimum=1.0
)
STREAMS_CHANNEL_ROLLOVER_SECONDS = env.float(
    "STREAMS_CHANNEL_ROLLOVER_SECONDS", 3600.0, minimum=1.0
)
# Notifications flavour: a followed conversation that ended is unsubscribed this long after.
STREAMS_FOLLOW_LINGER_SECONDS = env.float("STREAMS_FOLLOW_LINGER_SECONDS", 300.0, minimum=0.0)
# A worker holds each stream it runs by a lease in the database, renewed every reconcile;
# a worker that dies loses its streams to the others once its leases expire.
STREAMS_LEASE_SECONDS = env.float("STREAMS_LEASE_SECONDS", 15.0, minimum=1.0)
# Knowledge search: the worker re-runs the most frequent queries of the last window shortly
# before their cached answers expire.
KNOWLEDGE_WARM_INTERVAL_SECONDS = env.float("KNOWLEDGE_WARM_INTERVAL_SECONDS", 15.0, minimum=0.1)
KNOWLEDGE_WARM_WINDOW_SECONDS = env.float("KNOWLEDGE_WARM_WINDOW_SECONDS", 3600.0, minimum=1.0)
KNOWLEDGE_WARM_TOP = env.int("KNOWLEDGE_WARM_TOP", 20, minimum=0)
# Automatic queries for new insights: how many insights may wait for one (beyond that they
# are skipped, with a warning: an answer is only useful while the conversation lasts), and
# how many run at once in a worker (each stream's own in-flight limit applies as well).
KNOWLEDGE_AUTO_BACKLOG = env.int("KNOWLEDGE_AUTO_BACKLOG", 1000, minimum=1)
KNOWLEDGE_AUTO_CONCURRENCY = env.int("KNOWLEDGE_AUTO_CONCURRENCY", 20, minimum=1)

# Outbound webhooks: the waits (seconds) between delivery attempts, after which a delivery
# is marked failed (an admin can redeliver it); the timeout of one attempt; how many run at once.
WEBHOOK_RETRY_SCHEDULE = env.numbers(
    "WEBHOOK_RETRY_SCHEDULE", [5, 30, 120, 600, 1800, 3600, 7200, 21600]
)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", 10.0, minimum=0.1)
WEBHOOK_CONCURRENCY = env.int("WEBHOOK_CONCURRENCY", 8, minimum=1)
WEBHOOK_POLL_SECONDS = env.float("WEBHOOK_POLL_SECONDS", 1.0, minimum=0.05)
# The stream worker delivers webhooks and verdicts to Genesys itself; false when
# `manage.py runwebhooks` runs beside it (their own process, off the ingest path).
WEBHOOKS_IN_STREAM_WORKER = env.bool("WEBHOOKS_IN_STREAM_WORKER", True)
# /metrics answers only with "Authorization: Bearer <token>" when this is set; without a
# token it is closed unless METRICS_PUBLIC (default: DEBUG).
METRICS_TOKEN = env.str("METRICS_TOKEN", "")
METRICS_PUBLIC = env.bool("METRICS_PUBLIC", DEBUG)

# The audit chain's keys: each entry carries an HMAC of its hash with the first key (by its
# id), so a database writer without the key cannot rewrite the chain. Older keys verify what
# they signed. The chain's head is published (log, /metrics, audit.head webhooks) this often.
AUDIT_HMAC_KEYS = env.keyed_secrets(
    "AUDIT_HMAC_KEY", dict([_dev_keys["AUDIT_HMAC_KEY"].split(":")]) if DEBUG else {}
)
AUDIT_HEAD_PUBLISH_SECONDS = env.float("AUDIT_HEAD_PUBLISH_SECONDS", 300.0, minimum=1.0)
# Audit exports come with a manifest signed by this Ed25519 key (32 bytes, base64); in
# DEBUG a key derived from SECRET_KEY stands in. Without one, exports carry no manifest.
AUDIT_SIGNING_KEY = env.str("AUDIT_SIGNING_KEY", _dev_keys["AUDIT_SIGNING_KEY"] if DEBUG else "")
if AUDIT_SIGNING_KEY:
    try:
        if len(base64.b64decode(AUDIT_SIGNING_KEY, altchars=b"-_", validate=True)) != 32:
            raise ValueError
    except ValueError:
        raise ImproperlyConfigured(
            "AUDIT_SIGNING_KEY must be 32 random bytes in base64 (an Ed25519 private key), "
            'for example from: python -c "import base64, os; '
            'print(base64.b64encode(os.urandom(32)).decode())"'
        ) from None
# The key verifiers trust (verify_export, verify_audit --checkpoints): the public half of
# AUDIT_SIGNING_KEY by default; set it where only the public key is kept (an auditor's machine).
AUDIT_PUBLIC_KEY = env.str("AUDIT_PUBLIC_KEY", "")
# The source commit this deployment runs, named in evidence packs (set by the build).
GIT_COMMIT = env.str("GIT_COMMIT", "")
# Where a stream worker writes each month's evidence pack (last month's, once), with its
# signed manifest; empty: no monthly pack.
EVIDENCE_MONTHLY_DIR = env.str("EVIDENCE_MONTHLY_DIR", "")
# How often a stream worker reads Genesys' Agent Assist configuration (assistants, their
# copilot settings and queues) and records what changed there.
GENESYS_DRIFT_SECONDS = env.float("GENESYS_DRIFT_SECONDS", 900.0, minimum=10.0)
# Signed checkpoints of the chain's head are written here when it moves (a folder on storage
# the database's users cannot change: a WORM mount, object storage with a retention lock).
# Empty: checkpoints go to the log, /metrics and audit.head webhooks only.
AUDIT_CHECKPOINT_DIR = env.str("AUDIT_CHECKPOINT_DIR", "")
# Customers' personal data (streams.privacy): "redacted" keeps no original at all;
# "redacted_and_original" keeps each text as it arrived, encrypted under a key of its
# conversation, wrapped by PERSONAL_DATA_MASTER_KEY (key-id:secret, comma-separated to
# rotate), for a reveal by those allowed. Detected identifiers are kept only as HMACs under
# PERSONAL_DATA_HASH_KEY, to find a data subject.
PERSONAL_DATA_POLICY = env.choice(
    "PERSONAL_DATA_POLICY", "redacted", ["redacted", "redacted_and_original"]
)
_dev_master = dict([_dev_keys["PERSONAL_DATA_MASTER_KEY"].split(":")])
PERSONAL_DATA_MASTER_KEYS = {
    key_id: HKDF(
        algorithm=SHA256(), length=32, salt=None, info=b"assistgov personal data master key"
    ).derive(secret.encode())
    for key_id, secret in (
        env.keyed_secrets("PERSONAL_DATA_MASTER_KEY", _dev_master if DEBUG else {})
        if PERSONAL_DATA_POLICY == "redacted_and_original"
        or "PERSONAL_DATA_MASTER_KEY" in os.environ
        else {}
    ).items()
}
PERSONAL_DATA_HASH_KEY = env.str(
    "PERSONAL_DATA_HASH_KEY",
    _dev_keys["PERSONAL_DATA_HASH_KEY"] if DEBUG else "",
)
if not PERSONAL_DATA_HASH_KEY or len(PERSONAL_DATA_HASH_KEY) < 32:
    raise ImproperlyConfigured(
        "PERSONAL_DATA_HASH_KEY must be 32 characters or more (it keys the hashes that find a "
        'data subject), for example: python -c "import secrets; print(secrets.token_urlsafe(48))"'
    )
# A stream worker verifies the whole chain this often (a day) and records the result.
AUDIT_VERIFY_SECONDS = env.float("AUDIT_VERIFY_SECONDS", 86400.0, minimum=1.0)
# A stream worker deletes what is past its retention (RetentionPolicy) this often (a day).
RETENTION_PURGE_SECONDS = env.float("RETENTION_PURGE_SECONDS", 86400.0, minimum=1.0)
# Four-eyes: a change to what agents are shown (confidence matrices, streams, knowledge
# streams and sources) waits for a second governance admin; requests expire after a while.
FOUR_EYES = env.bool("FOUR_EYES", not DEBUG)
FOUR_EYES_EXPIRY_HOURS = env.float("FOUR_EYES_EXPIRY_HOURS", 72.0, minimum=0.01)
if STREAMS_RECONCILE_SECONDS > STREAMS_LEASE_SECONDS / 2:
    raise ImproperlyConfigured(
        f"STREAMS_RECONCILE_SECONDS={STREAMS_RECONCILE_SECONDS:g} must be at most half of "
        f"STREAMS_LEASE_SECONDS={STREAMS_LEASE_SECONDS:g}, or leases lapse between renewals."
    )

LOG_LEVEL = env.choice("LOG_LEVEL", "INFO", ["DEBUG", "INFO", "WARNING", "ERROR"])
# "json": one JSON object per line, with the stream and request ids, for log collectors.
LOG_FORMAT = env.choice("LOG_FORMAT", "text", ["text", "json"])
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "streams.context.ContextFilter"},
        "refusal_without_trace": {"()": "streams.context.RefusalWithoutTrace"},
    },
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(stream)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # httpx logs every request line at INFO, including URLs; keep it at WARNING.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "websockets": {"level": "WARNING"},
        "aiohttp.access": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        # django-axes logs every sign-in at INFO; lock-outs (WARNING) and audit entries stay.
        "axes": {"level": "WARNING"},
        # Presidio says which device it loads on, at every start; its warnings stay.
        "presidio-analyzer": {"level": "WARNING"},
        "django.request": {"filters": ["refusal_without_trace"]},
    },
}

# Every environment variable read above is one of the product's own settings: a connection
# may never read its client secret from one of them.
PRODUCT_ENV_NAMES = frozenset(env.names | {"DJANGO_SETTINGS_MODULE"})
