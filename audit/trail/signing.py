"""Audit exports that prove themselves: a manifest beside each file, signed with Ed25519.

The manifest names the file's SHA-256, its row count, the entries it holds (first and last,
with their chain hashes) and the filters that chose them, and is signed with the private key
in AUDIT_SIGNING_KEY. Anyone holding the public key (shown on the audit trail page and in
the admin) checks a file offline, without the database: `manage.py verify_export FILE
MANIFEST --public-key KEY`."""

import base64
import binascii
import hashlib
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MANIFEST_FORMAT = "assistgov-audit-export/1"


class NoSigningKey(ImproperlyConfigured):
    pass


def _decode(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip() + "=" * (-len(text.strip()) % 4), altchars=b"-_")
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValueError(f"{what} is not 32 bytes in base64 (an Ed25519 key)")
    return raw


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


def canonical(manifest: dict) -> bytes:
    """The signed bytes: the manifest without its signature, as sorted compact JSON."""
    unsigned = {key: value for key, value in manifest.items() if key != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


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


def signature_problem(manifest: dict, public_key: str, fmt: str = MANIFEST_FORMAT) -> str:
    """ "" when `manifest` is signed by the key `public_key`; otherwise what is wrong."""
    if manifest.get("format") != fmt:
        return f"the format is not {fmt}"
    try:
        key = Ed25519PublicKey.from_public_bytes(_decode(public_key, "the public key"))
        signature = base64.b64decode(str(manifest.get("signature", "")), validate=True)
    except (ValueError, binascii.Error) as exc:
        return str(exc)
    try:
        key.verify(signature, canonical(manifest))
    except InvalidSignature:
        return (
            "the signature does not match the pinned public key: it was changed, or another "
            "key signed it"
        )
    return ""


def file_digest(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
