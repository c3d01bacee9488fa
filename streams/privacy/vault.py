"""Originals, encrypted: each conversation has a random data key (AES-256-GCM) of its own,
kept wrapped by the master key from the environment (PERSONAL_DATA_MASTER_KEY, by key id, so
it rotates: the first wraps, every key unwraps what it wrapped). The master key is never in
the database or a log. Destroying a conversation's wrapped key makes its originals beyond
use, wherever copies of the rows are (crypto-shredding)."""

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

NONCE_BYTES = 12


class NoMasterKey(ImproperlyConfigured):
    pass


class Unreadable(Exception):
    """An original that cannot be opened: its key is gone, or it was changed."""


def keeps_originals() -> bool:
    return settings.PERSONAL_DATA_POLICY == "redacted_and_original"


def _master(key_id: str | None = None) -> tuple[str, bytes]:
    keys = settings.PERSONAL_DATA_MASTER_KEYS
    if not keys:
        raise NoMasterKey(
            "PERSONAL_DATA_POLICY=redacted_and_original needs PERSONAL_DATA_MASTER_KEY "
            "(key-id:32 random bytes in base64)"
        )
    key_id = key_id or next(iter(keys))
    if key_id not in keys:
        raise Unreadable(f"master key {key_id!r} is not in PERSONAL_DATA_MASTER_KEY")
    return key_id, keys[key_id]


def _seal(key: bytes, plaintext: bytes, context: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext, context.encode())
    return base64.b64encode(nonce + sealed).decode()


def _open(key: bytes, text: str, context: str) -> bytes:
    raw = base64.b64decode(text)
    try:
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
    except InvalidTag:
        raise Unreadable("the original does not match its seal") from None


def new_data_key(conversation_id: str) -> tuple[str, str]:
    """A fresh data key, wrapped for storage, and the id of the master key that wrapped it."""
    key_id, master = _master()
    data_key = AESGCM.generate_key(bit_length=256)
    return _seal(master, data_key, f"conversation:{conversation_id}"), key_id


def unwrap(wrapped: str, key_id: str, conversation_id: str) -> bytes:
    _, master = _master(key_id)
    return _open(master, wrapped, f"conversation:{conversation_id}")


def seal_text(data_key: bytes, text: str, context: str) -> str:
    return _seal(data_key, text.encode(), context)


def open_text(data_key: bytes, sealed: str, context: str) -> str:
    return _open(data_key, sealed, context).decode()
