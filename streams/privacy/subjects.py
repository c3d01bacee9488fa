"""Data subjects found without keeping what identifies them: each detected e-mail address,
phone number, card number and IBAN is kept as an HMAC under PERSONAL_DATA_HASH_KEY (a key
of its own), with the conversation it was in. Looking one up hashes the value the same way."""

import hashlib
import hmac
import re

import phonenumbers
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from streams.privacy import detect


def normalised(kind: str, value: str, regions: tuple[str, ...] = ()) -> str:
    """One spelling of an identifier: an address in lower case, a phone number in E.164
    (read for the configured regions when it has no country code), digits of a card, an
    IBAN without spaces."""
    value = value.strip()
    if kind == detect.EMAIL:
        return value.lower()
    if kind == detect.CARD:
        return re.sub(r"\D", "", value)
    if kind == detect.IBAN:
        return re.sub(r"[\s-]", "", value).upper()
    if kind == detect.PHONE:
        for region in (None, *regions):
            try:
                number = phonenumbers.parse(value, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return re.sub(r"\D", "", value)
    raise ValueError(f"{kind} is not a kind a data subject is found by")


def digest(kind: str, value: str, regions: tuple[str, ...] = (), normal: str = "") -> str:
    """The keyed hash of an identifier; `normal`: its one spelling where detection already
    read it (a phone number in E.164)."""
    key = settings.PERSONAL_DATA_HASH_KEY
    if not key:
        raise ImproperlyConfigured("PERSONAL_DATA_HASH_KEY is not set")
    message = f"{kind}:{normal or normalised(kind, value, regions)}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def commitment(text: str) -> str:
    """What the audit trail keeps of a text a person typed (a note, a correction): an HMAC
    that proves which text it was to whoever holds it, and reads as nothing to anyone else.
    The text itself lives on the item, where erasure can reach it; the chain stays whole."""
    if not text:
        return ""
    key = settings.PERSONAL_DATA_HASH_KEY
    mac = hmac.new(key.encode(), f"text:{text}".encode(), hashlib.sha256).hexdigest()
    return f"hmac-sha256:{mac}"
