"""Typed readers for settings that come from the environment.

django-environ parses the values; this layer refuses malformed ones loudly, naming the
variable, so a typo fails at start instead of silently becoming a default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
DATABASE_ENGINES = {
    "django.db.backends.sqlite3": "sqlite",
    "django.db.backends.postgresql": "postgresql",
}
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


class EnvReader:
    def __init__(self, environ_: Mapping[str, str] | None = None):
        self.environ = os.environ if environ_ is None else environ_
        self.names: set[str] = set()  # every variable asked for: the product's own settings

    def raw(self, name: str) -> str | None:
        self.names.add(name)
        value = self.environ.get(name)
        return None if value is None or value.strip() == "" else value.strip()

    def str(self, name: str, default: str) -> str:
        value = self.raw(name)
        return default if value is None else value

    def bool(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if value.lower() in TRUE_WORDS:
            return True
        if value.lower() in FALSE_WORDS:
            return False
        raise ImproperlyConfigured(f"{name}={value!r} is not a boolean: use true or false.")

    def int(self, name: str, default: int, *, minimum: int | None = None) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
        if minimum is not None and number < minimum:
            raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}.")
        return number

    def float(self, name: str, default: float, *, minimum: float | None = None) -> float:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={value!r} is not a number.") from None
        if minimum is not None and number < minimum:
            raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}.")
        return number

    def list(self, name: str, default: Sequence[str]) -> list[str]:
        value = self.raw(name)
        if value is None:
            return list(default)
        return [item.strip() for item in value.split(",") if item.strip()]

    def numbers(self, name: str, default: Sequence[float]) -> list[float]:
        """A comma-separated list of non-negative numbers, such as a retry schedule."""
        items = self.list(name, [str(n) for n in default])
        try:
            numbers = [float(item) for item in items]
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}={','.join(items)!r} is not a list of numbers."
            ) from None
        if not numbers or any(n < 0 for n in numbers):
            raise ImproperlyConfigured(f"{name} needs one or more numbers, none negative.")
        return numbers

    def choice(self, name: str, default: str, choices: Sequence[str]) -> str:
        value = self.str(name, default)
        normalised = value.upper() if all(c.isupper() for c in choices) else value.lower()
        if normalised not in choices:
            raise ImproperlyConfigured(f"{name}={value!r} is not one of: {', '.join(choices)}.")
        return normalised

    def database(self, name: str, default: str) -> dict:
        url = self.str(name, default)
        if "://" not in url:
            raise ImproperlyConfigured(
                f"{name}={url!r} is not a database URL: use sqlite:///path/to/file.sqlite3 "
                "or postgres://user:password@host:5432/name."
            )
        config = environ.Env.db_url_config(url)
        engine = config.get("ENGINE", "")
        if engine not in DATABASE_ENGINES:
            scheme = url.split("://", 1)[0]
            raise ImproperlyConfigured(
                f"{name} uses the unsupported scheme {scheme!r}: use sqlite:// or postgres://."
            )
        if not config.get("NAME"):
            raise ImproperlyConfigured(f"{name}={url!r} names no database.")
        return config

    def redis_url(self, name: str) -> str:
        url = self.str(name, "")
        if url and not url.startswith(REDIS_SCHEMES):
            raise ImproperlyConfigured(
                f"{name}={url!r} is not a Redis URL: use redis://host:6379/0."
            )
        return url

    def fernet_keys(self, name: str, default: Sequence[str]) -> list[str]:
        keys = self.list(name, default)
        if not keys:
            raise ImproperlyConfigured(
                f'{name} is not set. Generate one with: python -c "from cryptography.fernet '
                'import Fernet; print(Fernet.generate_key().decode())"'
            )
        for position, key in enumerate(keys, start=1):
            try:
                Fernet(key)
            except ValueError:
                raise ImproperlyConfigured(
                    f"{name}: key {position} is not a Fernet key (32 url-safe base64 bytes)."
                ) from None
        return keys

    def keyed_secrets(self, name: str, default: Mapping[str, str]) -> dict[str, str]:
        """`id:secret` pairs, comma-separated, for keys that rotate: the first is current,
        the others still verify what they signed. A secret is 32 characters or more."""
        value = self.raw(name)
        if value is None:
            if not default:
                raise ImproperlyConfigured(
                    f"{name} is not set. Give it as key-id:secret, e.g. "
                    f'2026a:$(python -c "import secrets; print(secrets.token_urlsafe(48))")'
                )
            return dict(default)
        keys: dict[str, str] = {}
        for position, item in enumerate(value.split(","), start=1):
            key_id, _, secret = item.strip().partition(":")
            if not KEY_ID.match(key_id) or len(secret) < 32:
                raise ImproperlyConfigured(
                    f"{name}: key {position} is not key-id:secret with a key id of letters, "
                    "digits, - or _ (up to 16) and a secret of 32 characters or more."
                )
            if key_id in keys:
                raise ImproperlyConfigured(f"{name}: key id {key_id!r} is given twice.")
            keys[key_id] = secret
        return keys
