"""Decoding of WebSocket frames: text JSON, binary UTF-8 JSON, or binary base64 JSON.

Decoding never raises for bad input: a frame that is none of the three is a DecodeError
value carrying the reason, so one bad frame cannot stop a stream.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from enum import StrEnum


class Encoding(StrEnum):
    TEXT = "text"
    BINARY_JSON = "binary-json"
    BINARY_BASE64 = "binary-base64"


@dataclass(frozen=True, slots=True)
class Decoded:
    payload: dict
    encoding: Encoding


@dataclass(frozen=True, slots=True)
class DecodeError:
    reason: str
    encoding: Encoding


class Frame:
    """A frame as received, with when. It is decoded at most once, on first use: a client
    that routes frames (heartbeats, topics) decodes it, and ingestion reads the same result;
    a frame that ingestion refuses for its size is never decoded."""

    __slots__ = ("_decoded", "raw", "received_at")

    def __init__(
        self, raw: str | bytes, received_at: float, decoded: "Decoded | DecodeError | None" = None
    ):
        self.raw = raw
        self.received_at = received_at
        self._decoded = decoded

    @property
    def size(self) -> int:
        """In bytes, as sent."""
        return len(self.raw.encode() if isinstance(self.raw, str) else self.raw)

    @property
    def decoded(self) -> "Decoded | DecodeError":
        if self._decoded is None:
            self._decoded = decode_frame(self.raw)
        return self._decoded


def decode_frame(raw: str | bytes) -> Decoded | DecodeError:
    if isinstance(raw, str):
        return _load(raw, Encoding.TEXT)
    # A JSON object starts with "{", which is not in the base64 alphabet, so the first
    # significant byte tells the two binary forms apart without guessing.
    if raw.lstrip()[:1] in (b"{", b"["):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return DecodeError(
                f"binary frame is not valid UTF-8: {exc.reason}", Encoding.BINARY_JSON
            )
        return _load(text, Encoding.BINARY_JSON)
    try:
        decoded = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        return DecodeError(
            f"binary frame is neither JSON nor base64 ({exc})", Encoding.BINARY_BASE64
        )
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError as exc:
        return DecodeError(
            f"base64 frame does not decode to UTF-8: {exc.reason}", Encoding.BINARY_BASE64
        )
    return _load(text, Encoding.BINARY_BASE64)


def _load(text: str, encoding: Encoding) -> Decoded | DecodeError:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        return DecodeError(f"{encoding} frame is not valid JSON: {exc}", encoding)
    except RecursionError:
        return DecodeError(f"{encoding} frame nests too deeply", encoding)
    if not isinstance(payload, dict):
        return DecodeError(
            f"{encoding} frame is a JSON {type(payload).__name__}, expected an object", encoding
        )
    # JSON strings cannot hold a raw NUL (strict decoding refuses control characters), only
    # the escape: without one in the text there is nothing to scrub.
    return Decoded(scrub_nul(payload) if "\\u0000" in text else payload, encoding)


def scrub_nul(value):
    """Replace NUL characters, which PostgreSQL cannot store in text or jsonb."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {scrub_nul(k): scrub_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_nul(v) for v in value]
    return value


def preview(raw: str | bytes, limit: int) -> str:
    """A printable, bounded copy of a raw frame for the quarantine table."""
    text = raw if isinstance(raw, str) else raw.decode("utf-8", errors="backslashreplace")
    text = text.replace("\x00", "\\x00")
    return text if len(text) <= limit else text[:limit]
