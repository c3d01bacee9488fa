"""Checkpoints of the chain's head, signed with Ed25519 (AUDIT_SIGNING_KEY) and published
outside the database: files in AUDIT_CHECKPOINT_DIR, audit.head webhooks, the log.

A checkpoint says "entry N, with this hash, was the newest entry at this time". The chain
must hold every checkpoint ever published (or a recorded retention purge must have removed
it): `verify_audit --checkpoints DIR_OR_URL` checks that, so a chain cut short, even one
continued with new entries since, fails against the checkpoints published before the cut.
A checkpoint is signed, so one forged to match a rewritten chain does not verify."""

import json
import logging
import os
from pathlib import Path

import httpx
from django.conf import settings

from audit.trail import signing
from audit.trail.chain import Head

logger = logging.getLogger(__name__)
FORMAT = "assistgov-audit-checkpoint/1"


class CheckpointsUnreadable(Exception):
    """The checkpoints could not be read from where they were said to be."""


def signed(head: Head, published_at: str) -> dict:
    content = {
        "entry_id": head.entry_id,
        "entry_hash": head.entry_hash,
        "head": str(head),
        "published_at": published_at,
    }
    return signing.sign(content, FORMAT)


def write(checkpoint: dict, folder: str) -> Path:
    """Write `checkpoint` as a file of its own in `folder` (never over another)."""
    directory = Path(folder)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = checkpoint["published_at"].replace(":", "").replace("-", "")
    path = directory / f"audit-checkpoint-{checkpoint['entry_id']:012d}-{stamp}.json"
    text = json.dumps(checkpoint, indent=2, sort_keys=True) + "\n"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def load(source: str) -> list[dict]:
    """The checkpoints in a folder (its *.json files), a file (a JSON object, a list, or
    JSON lines) or at an http(s) URL (the same shapes)."""
    if source.startswith(("http://", "https://")):
        try:
            response = httpx.get(source, timeout=30.0, follow_redirects=True)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise CheckpointsUnreadable(f"{source}: {exc}") from None
        return _parse(response.text, source)
    path = Path(source)
    if path.is_dir():
        return [c for file in sorted(path.glob("*.json")) for c in _parse(_read(file), file)]
    return _parse(_read(path), path)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CheckpointsUnreadable(f"{path}: {exc.strerror or exc}") from None


def _parse(text: str, where) -> list[dict]:
    text = text.strip()
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as exc:
            raise CheckpointsUnreadable(f"{where}: neither JSON nor JSON lines ({exc})") from None
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, dict) for item in items):
        raise CheckpointsUnreadable(f"{where}: checkpoints are JSON objects")
    return items


def heads(checkpoints: list[dict], public_key: str) -> tuple[list[Head], list[str]]:
    """The heads the checkpoints vouch for, and what is wrong with any that does not
    verify against `public_key` (a checkpoint that does not verify is itself a finding:
    someone wrote it who does not hold the signing key)."""
    found, problems = [], []
    for checkpoint in checkpoints:
        problem = signing.signature_problem(checkpoint, public_key, FORMAT)
        if problem:
            problems.append(
                f"checkpoint of entry {checkpoint.get('entry_id', '?')} published at "
                f"{checkpoint.get('published_at', '?')}: {problem}"
            )
            continue
        found.append(Head(int(checkpoint["entry_id"]), str(checkpoint["entry_hash"])))
    return found, problems


def folder() -> str:
    return settings.AUDIT_CHECKPOINT_DIR
