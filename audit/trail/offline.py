"""Check an assistgov audit export offline: this one file, Python 3.10+ and the
`cryptography` package, nothing else (no assistgov, no database). It is what `manage.py
verify_export` runs, and what the audit trail page offers to download.

    python verify_export.py FILE FILE.manifest.json --public-key KEY

Exit 0 with "export verified" and what the export can prove (its scope); exit 1 with each
thing that does not match. The key is the one you were given (the audit trail page shows
it): never the key a manifest names itself, since anyone can re-sign a file."""

import argparse
import base64
import binascii
import csv
import hashlib
import itertools
import json
import sys
import zipfile

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MANIFEST_FORMAT = "assistgov-audit-export/1"
PACK_FORMAT = "assistgov-evidence-pack/1"


def _decode(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip() + "=" * (-len(text.strip()) % 4), altchars=b"-_")
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValueError(f"{what} is not 32 bytes in base64 (an Ed25519 key)")
    return raw


def canonical(manifest: dict) -> bytes:
    """The signed bytes: the manifest without its signature, as sorted compact JSON."""
    unsigned = {key: value for key, value in manifest.items() if key != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


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


FILTERS = ("category", "actor", "action", "object", "since", "until")


def _signed_and_whole(path, manifest, public_key, fmt, what) -> tuple[list[str], list[str]]:
    """(problems, what was checked) of the manifest's signature and the whole file's SHA-256."""
    problems, checked = [], []
    problem = signature_problem(manifest, public_key, fmt)
    if problem:
        problems.append(problem)
    else:
        checked.append(f"the manifest is signed by Ed25519 key {public_key}")
    digest = file_digest(path)
    if digest != manifest.get("sha256"):
        problems.append(
            f"the {what}'s SHA-256 is {digest}, the manifest says {manifest.get('sha256')}"
        )
    else:
        checked.append(f"the {what}'s SHA-256 matches ({digest})")
    return problems, checked


def check_pack(path, manifest: dict, public_key: str) -> tuple[list[str], list[str]]:
    """An evidence pack (a ZIP): the manifest's signature, the ZIP's SHA-256, and each
    member's, by name; a member added or missing is a problem too."""
    problems, checked = _signed_and_whole(path, manifest, public_key, PACK_FORMAT, "pack")
    expected = {m["name"]: m["sha256"] for m in manifest.get("members") or []}
    with zipfile.ZipFile(path) as pack:
        names = pack.namelist()
        for name in names:
            if name not in expected:
                problems.append(f"member {name} is not in the manifest")
                continue
            member = hashlib.sha256()
            with pack.open(name) as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    member.update(block)
            if member.hexdigest() != expected[name]:
                problems.append(
                    f"member {name} does not match: its SHA-256 is {member.hexdigest()}, "
                    f"the manifest says {expected[name]}"
                )
            else:
                checked.append(f"member {name} matches")
    for name in sorted(set(expected) - set(names)):
        problems.append(f"member {name} is missing from the pack")
    return problems, checked


def check_file(path, manifest: dict, public_key: str) -> tuple[list[str], list[str]]:
    """Offline, without the database: (problems, what was checked). The manifest must be
    signed by `public_key`, the key the verifier trusts (never the manifest's own)."""
    if manifest.get("format") == PACK_FORMAT:
        return check_pack(path, manifest, public_key)
    problems, checked = _signed_and_whole(path, manifest, public_key, MANIFEST_FORMAT, "file")
    rows = _rows(path, manifest)
    if len(rows) != manifest.get("rows"):
        problems.append(f"the file has {len(rows)} rows, the manifest says {manifest.get('rows')}")
    else:
        checked.append(f"{len(rows)} rows, as the manifest says")
    for end, row in (
        ("first_entry", rows[0] if rows else None),
        ("last_entry", rows[-1] if rows else None),
    ):
        expected = manifest.get(end)
        found = {"id": row[0], "entry_hash": row[1]} if row else None
        wanted = {"id": expected["id"], "entry_hash": expected["entry_hash"]} if expected else None
        if found != wanted:
            problems.append(
                f"the file's {end.replace('_', ' ')} is {found}, the manifest says {wanted}"
            )
    contiguous = not selection(manifest.get("parameters") or {})
    if contiguous and rows:
        pairs = itertools.pairwise(rows)
        broken = next((later[0] for earlier, later in pairs if later[2] != earlier[1]), None)
        if broken is not None:
            problems.append(f"entry {broken} does not link to the entry before it in the file")
        else:
            checked.append("every entry links to the one before it")
    return problems, checked


def _rows(path, manifest) -> list[tuple[int, str, str]]:
    """(entry id, hash, previous hash) of each row of the file."""
    if str(manifest.get("file_format", "")).startswith("OCSF"):
        rows = []
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    event = json.loads(line)
                    unmapped = event.get("unmapped", {})
                    rows.append(
                        (
                            int(event["metadata"]["uid"]),
                            unmapped.get("entry_hash"),
                            unmapped.get("prev_hash"),
                        )
                    )
        return rows
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return [
            (int(row["Entry id"]), row["Hash"], row["Previous hash"])
            for row in csv.DictReader(handle)
        ]


def selection(params: dict) -> dict[str, str]:
    """The filters that make an export a selection (none: the whole trail)."""
    chosen = {name: value for name, value in (params or {}).items() if name in FILTERS and value}
    if chosen.get("category") == "all":
        del chosen["category"]
    return chosen


def scope(params: dict) -> str:
    """What an export can prove, in words (signed in its manifest, said by verify_export)."""
    chosen = selection(params)
    if not chosen:
        return (
            f"complete: every entry of the trail up to entry {params.get('through')}, each "
            "linked to the one before it, so none can be missing unnoticed"
        )
    filters = ", ".join(f"{name}={value}" for name, value in sorted(chosen.items()))
    return (
        f"a selection ({filters}): it proves each entry it holds, not that the trail holds "
        "no other entry matching these filters; the complete export proves that"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Check an assistgov audit export offline.")
    parser.add_argument("file")
    parser.add_argument("manifest")
    parser.add_argument(
        "--public-key", required=True, help="The signing key's public half, as published."
    )
    options = parser.parse_args(argv)
    try:
        with open(options.manifest, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, ValueError) as exc:
        print(f"cannot read the manifest: {exc}", file=sys.stderr)
        return 1
    if not isinstance(manifest, dict):
        print("the manifest is not a JSON object", file=sys.stderr)
        return 1
    try:
        problems, checked = check_file(options.file, manifest, options.public_key)
    except OSError as exc:
        print(f"cannot read the file: {exc}", file=sys.stderr)
        return 1
    except (ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        print(f"the file is not an audit export: {exc}", file=sys.stderr)
        return 1
    for line in checked:
        print(f"ok: {line}")
    if problems:
        print("export NOT verified: " + "; ".join(problems), file=sys.stderr)
        return 1
    print("export verified")
    print(f"scope: {what_it_proves(manifest)}")
    return 0


def what_it_proves(manifest: dict) -> str:
    if manifest.get("format") == PACK_FORMAT:
        period = manifest.get("period") or {}
        return (
            f"an evidence pack for {period.get('since')} to {period.get('until')}: every "
            "member is as it was generated"
        )
    return scope(manifest.get("parameters") or {})


if __name__ == "__main__":
    sys.exit(main())
