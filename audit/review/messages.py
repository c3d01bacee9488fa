"""What a review page may send over its socket, validated: anything else gets an error
message, and the socket stays open."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, TypeAdapter
from pydantic import ValidationError as PydanticValidationError


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


FilterValue = StrictStr | float | None
Key = Annotated[StrictStr, Field(max_length=40)]


class Subscribe(_Message):
    """The page's filters (scope, search and sort included) and which page: the first,
    the one after or before a row's cursor, or the last."""

    type: Literal["subscribe"]
    filters: dict[Annotated[str, Field(max_length=40)], FilterValue] = Field(
        default_factory=dict, max_length=20
    )
    page: dict[Literal["after", "before", "last"], StrictStr | StrictBool] = Field(
        default_factory=dict
    )


class Decide(_Message):
    type: Literal["decide"]
    kind: Literal["insight", "knowledge"] = "insight"
    id: Annotated[StrictInt, Field(ge=1, le=2**63 - 1)]
    decision: Literal["approve", "reject"]
    reason_code: Annotated[StrictStr, Field(max_length=40)] = ""
    note: StrictStr = ""
    corrected_text: StrictStr = ""
    # The page's id of this decision: a resend after a reconnect is recognised.
    decision_id: Annotated[StrictStr, Field(max_length=64)] = ""


class Claim(_Message):
    """Claim the next items of the page's filters (the workspace's claim size by default)."""

    type: Literal["claim"]
    count: Annotated[StrictInt, Field(ge=1, le=200)] | None = None


class Release(_Message):
    """Give back my claims on these items, or all of them."""

    type: Literal["release"]
    keys: list[Key] | None = Field(default=None, max_length=1000)


class Skip(_Message):
    """Move one of my claimed items to the end of my claim."""

    type: Literal["skip"]
    key: Key


class Assign(_Message):
    """(Leads.) Give an officer these items, or the next `count` of the page's filters."""

    type: Literal["assign"]
    to: Annotated[StrictInt, Field(ge=1, le=2**63 - 1)]
    keys: list[Key] | None = Field(default=None, max_length=1000)
    count: Annotated[StrictInt, Field(ge=1, le=1000)] | None = None


class Group(_Message):
    """Identical items, as the groups page describes them."""

    kind: Literal["insight", "knowledge"]
    stream_id: Annotated[StrictInt, Field(ge=1, le=2**63 - 1)]
    insight_type: Annotated[StrictStr, Field(max_length=64)] = ""
    text: Annotated[StrictStr, Field(max_length=2000)] = ""
    cache_key: Annotated[StrictStr, Field(max_length=64)] = ""


class Bulk(_Message):
    """Decide these items, every pending item the page's filters match, or a group of
    identical items, with one reason."""

    type: Literal["bulk"]
    bulk_id: Annotated[StrictStr, Field(max_length=64)]
    decision: Literal["approve", "reject"]
    reason_code: Annotated[StrictStr, Field(max_length=40)] = ""
    note: StrictStr = ""
    keys: list[Key] | None = Field(default=None, max_length=10_000)
    all_matching: StrictBool = False
    group: Group | None = None


MESSAGES = TypeAdapter(
    Annotated[
        Subscribe | Decide | Claim | Release | Skip | Assign | Bulk, Field(discriminator="type")
    ]
)


def message_problem(exc: PydanticValidationError) -> str:
    """The first thing wrong with a message, in words: where, then what."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"][1:] or error["loc"]) or "message"
    if not error["loc"] or error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return "unknown message type: send subscribe or decide"
    if error["type"] == "literal_error":
        return f"{where} must be {error['ctx']['expected'].replace(chr(39), '')}"
    return f"{where}: {error['msg']}"
