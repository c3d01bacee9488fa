"""Test settings: the product's settings, read with a test environment.

Values already in the environment win, so `DATABASE_URL=postgres://... pytest` runs the
suite on PostgreSQL and `REDIS_URL=...` on Redis.
"""

import os

os.environ.setdefault("DEBUG", "false")
# Four-eyes is on wherever DEBUG is off; tests that exercise it turn it on themselves.
os.environ.setdefault("FOUR_EYES", "false")
# Tests that need the second factor required of governance admins turn it on.
os.environ.setdefault("MFA_REQUIRED_FOR_ADMINS", "false")
os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "xOagc6CXvReSLtrxA5BFWwsl07eQsDsJ9_zF7s3b5_w=")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("SECURE_COOKIES", "false")
os.environ.setdefault("STREAMS_FLUSH_SECONDS", "0.05")
os.environ.setdefault("STREAMS_BACKOFF_BASE_SECONDS", "0.05")
os.environ.setdefault("STREAMS_BACKOFF_CAP_SECONDS", "0.5")
os.environ.setdefault("STREAMS_ACK_TIMEOUT_SECONDS", "2")
# A bound against a hang on a busy host, not a speed limit: stopping stores what was received.
os.environ.setdefault("STREAMS_DRAIN_SECONDS", "120")
# The simulator and webhook receivers the tests start listen on the loopback.
os.environ.setdefault("CONNECTION_ALLOWED_HOSTS", "127.0.0.1,localhost")
os.environ.setdefault("WEBHOOK_ALLOWED_HOSTS", "127.0.0.1,localhost")
os.environ.setdefault("AUDIT_HMAC_KEY", "tests:tests-only-audit-key-0123456789abcdefghijklmn")
# 32 bytes in base64: the Ed25519 key that signs audit export manifests in the tests.
os.environ.setdefault("AUDIT_SIGNING_KEY", "dGVzdHMtb25seS1zaWduaW5nLWtleS0wMTIzNDU2Nzg=")
os.environ.setdefault("PERSONAL_DATA_HASH_KEY", "tests-only-subject-hash-key-0123456789abcdef")
os.environ.setdefault(
    "PERSONAL_DATA_MASTER_KEY", "tests:tests-only-master-key-0123456789abcdefghij"
)
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")  # the test client speaks plain HTTP

from assistgov.settings import *  # noqa: F403
from assistgov.settings import BASE_DIR, DATABASES

# Worker threads and live servers share the test database, which in-memory SQLite
# cannot do reliably: use a file.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-{os.getpid()}.sqlite3")}
else:
    # Worker threads would keep their connections, and the test database could not be dropped.
    DATABASES["default"]["CONN_MAX_AGE"] = 0

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# None: nothing is collected, finders serve the files; a process the tests start that must
# collect them (the bench's `serve`) names a directory.
STATIC_ROOT = os.environ.get("STATIC_ROOT") or None
