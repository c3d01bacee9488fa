"""Audit exports that prove themselves: a manifest beside each file, signed with Ed25519.

The manifest names the file's SHA-256, its row count, the entries it holds (first and last,
with their chain hashes) and the filters that chose them, and is signed with the private key
in AUDIT_SIGNING_KEY. Anyone holding the public key (shown on the audit trail page and in
the admin) checks a file offline, without the database: `manage.py verify_export FILE
MANIFEST --public-key KEY`."""

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# What a verifier needs lives in one standalone file (it is also offered for download).
from audit.trail.offline import (  # noqa: F401 (re-exported)
    MANIFEST_FORMAT,
    _decode,
    canonical,
    file_digest,
    signature_problem,
)


class NoSigningKey(ImproperlyConfigured):
    pass


def private_key() -> Ed25519PrivateKey:
    if not settings.AUDIT_SIGNING_KEY:
        raise NoSigningKey(
            "AUDIT_SIGNING_KEY is not set, so exports cannot be signed: set it to 32 random "
            "bytes in base64 (see the README, 'Exports that prove themselves')."
        )
    return Ed25519PrivateKey.from_private_bytes(
        _decode(settings.AUDIT_SIGNING_KEY, "AUDIT_SIGNING_KEY")
    )


def public_key_text(key: Ed25519PublicKey | None = None) -> str:
    """The public key, base64: what an auditor keeps and checks manifests against."""
    key = key or private_key().public_key()
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def public_key_or_none() -> str | None:
    try:
        return public_key_text()
    except NoSigningKey:
        return None


class NoPinnedKey(ImproperlyConfigured):
    pass


def pinned_public_key(given: str | None = None) -> str:
    """The public key a verifier trusts: the one given (an argument), else AUDIT_PUBLIC_KEY,
    else the public half of AUDIT_SIGNING_KEY. Never the key a manifest names itself: anyone
    can re-sign a file with a key of their own."""
    key = (given or settings.AUDIT_PUBLIC_KEY or "").strip()
    if key:
        _decode(key, "the public key")
        return key
    if settings.AUDIT_SIGNING_KEY:
        return public_key_text()
    raise NoPinnedKey(
        "no public key to check against: pass --public-key KEY (as published on the audit "
        "trail page) or set AUDIT_PUBLIC_KEY; the key a manifest names itself proves nothing"
    )


def sign(manifest: dict, fmt: str = MANIFEST_FORMAT) -> dict:
    key = private_key()
    manifest = {**manifest, "format": fmt, "public_key": public_key_text()}
    signature = key.sign(canonical(manifest))
    return {**manifest, "signature": base64.b64encode(signature).decode()}
