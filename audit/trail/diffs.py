"""What an audit entry changed, field by field, for people to read.

`before` and `after` are JSON snapshots. Nested objects are flattened to dotted names
("rules.0.minimum"), so a change deep inside a configuration shows as one row; lists of
plain values stay one cell."""

import json
from dataclasses import dataclass

MISSING = object()


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: str
    new: str
    changed: bool


def flatten(value, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        if not value and prefix:
            return {prefix: value}
        out = {}
        for key in value:
            out.update(flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return out
    return {prefix or "value": value}


def cell(value) -> str:
    if value is MISSING:
        return ""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def field_changes(before, after) -> list[FieldChange]:
    """Every field of either snapshot, in the order first seen, with changed ones marked."""
    old = flatten(before) if before is not None else {}
    new = flatten(after) if after is not None else {}
    fields = list(old) + [name for name in new if name not in old]
    rows = []
    for name in fields:
        a, b = old.get(name, MISSING), new.get(name, MISSING)
        rows.append(FieldChange(name, cell(a), cell(b), a != b or (a is MISSING) != (b is MISSING)))
    return rows
