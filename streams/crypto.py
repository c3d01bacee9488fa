"""Encryption of secrets at rest with Fernet (first key encrypts, every key decrypts)."""

import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(plaintext: str) -> str:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS)).encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS)).decrypt(token.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEY: the key changed. "
            "Put the old key after the new one (comma-separated) to rotate, or re-enter the secret."
        ) from None


def fingerprint(token: str) -> str:
    """Names a stored secret in the audit trail: changes exactly when a new one is stored
    (each encryption differs), reveals nothing about it."""
    if not token:
        return "not set"
    return "stored:" + hashlib.sha256(token.encode()).hexdigest()[:12]
