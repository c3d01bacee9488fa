"""Keys for running without a secrets store: derived from SECRET_KEY, so one random string
stands for all of them. Settings use them as defaults while DEBUG is on; `make demo` runs
with DEBUG off, as production does, and keeps its keys in var/demo.env, written once here:

    python -m assistgov.devkeys var/demo.env

That file holds a random SECRET_KEY and the keys derived from it, beside the demo's database
whose secrets they encrypt (`make demo-reset` removes both). A database made before the demo
had the file was made under the development key: the file then keeps it, so that data still
opens. Production sets each key itself (see the README's configuration)."""

import base64
import hashlib
import secrets
import sys
from pathlib import Path

DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"  # noqa: S105


def _digest(purpose: str, secret_key: str) -> bytes:
    return hashlib.sha256(f"assistgov-{purpose}:{secret_key}".encode()).digest()


def derived(secret_key: str, key_id: str = "dev") -> dict[str, str]:
    """Each key the settings need, as its environment variable would give it (the keys
    that rotate under the id `key_id`)."""
    return {
        "FIELD_ENCRYPTION_KEY": base64.urlsafe_b64encode(_digest("field-key", secret_key)).decode(),
        "AUDIT_HMAC_KEY": f"{key_id}:" + _digest("audit-key", secret_key).hex(),
        "AUDIT_SIGNING_KEY": base64.b64encode(_digest("signing-key", secret_key)).decode(),
        "PERSONAL_DATA_MASTER_KEY": f"{key_id}:" + _digest("master", secret_key).hex(),
        "PERSONAL_DATA_HASH_KEY": _digest("subjects", secret_key).hex(),
    }


# How the demo runs on a loopback address over plain HTTP, beside its simulator.
DEMO_SETTINGS = {
    "DEBUG": "false",
    "SECURE_COOKIES": "false",
    "SECURE_SSL_REDIRECT": "false",
    "SECURE_HSTS_SECONDS": "0",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "false",
    "CONNECTION_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1,localhost",
}


def write_demo_env(path: Path, database: Path) -> bool:
    """Write the demo's environment to `path` unless it is there; True when written."""
    if path.exists():
        return False
    if database.exists():  # made under DEBUG, with the development keys
        secret_key, key_id = DEV_SECRET_KEY, "dev"
    else:
        secret_key, key_id = secrets.token_urlsafe(50), "demo"
    values = {"SECRET_KEY": secret_key, **derived(secret_key, key_id), **DEMO_SETTINGS}
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# The demo's settings and keys (assistgov.devkeys); `make demo-reset` removes them.",
        *(f"{name}={value}" for name, value in values.items()),
    ]
    path.touch(mode=0o600)
    path.write_text("\n".join(lines) + "\n")
    return True


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "var/demo.env")
    write_demo_env(target, target.parent / "assistgov.sqlite3")
