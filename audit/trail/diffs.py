"""What an audit entry changed, field by field, for people to read.

`before` and `after` are JSON snapshots. Nested objects are flattened to names ("rules for
compliance_flag: min confidence"), so a change deep inside a configuration shows as one
row; items of a list are named by what they are (a rule by its insight type, a source by its
knowledge base), not by their place, so adding one rule shows one rule added, not every
rule after it changed; lists of plain values stay one cell."""

import json
from dataclasses import dataclass

MISSING = object()


# What names an item of a list of objects, in order of preference.
IDENTITIES = ("insight_type", "knowledge_base_id", "name", "code", "kind", "id")


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: str
    new: str
    changed: bool
    how: str = ""  # "added", "removed", "changed", or "" when the same


def words(key: str) -> str:
    return str(key).replace("_", " ")


def identity(items: list) -> str | None:
    """The key that names every item of the list, each differently, if there is one."""
    for key in IDENTITIES:
        values = [item.get(key) for item in items if isinstance(item, dict)]
        if len(values) == len(items) and all(values) and len(set(map(str, values))) == len(items):
            return key
    return None


def flatten(value, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        if not value and prefix:
            return {prefix: value}
        out = {}
        for key in value:
            out.update(flatten(value[key], f"{prefix}: {words(key)}" if prefix else words(key)))
        return out
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        key = identity(value)
        out = {}
        for index, item in enumerate(value):
            name = f"{prefix} for {item[key]}" if key else f"{prefix} no. {index + 1}"
            rest = {k: v for k, v in item.items() if k != key} if key else item
            out.update(flatten(rest, name) if rest else {name: "present"})
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
        changed = a != b or (a is MISSING) != (b is MISSING)
        how = (
            ("added" if a is MISSING else "removed" if b is MISSING else "changed")
            if changed and before is not None and after is not None
            else ""
        )
        rows.append(FieldChange(name, cell(a), cell(b), changed, how))
    return rows
