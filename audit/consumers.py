"""The review page's WebSocket: a snapshot on subscribe, then batched live updates.

The channel layer is lossy by contract, so its messages only carry ids; rows are always
read from the database, and a page that reconnects subscribes again and gets a fresh
snapshot.

Pages flush on a shared clock (every FLUSH_SECONDS of the event loop's time), so the pages
of one process that saw the same ids flush together, and one read and one JSON encoding
(`SHARED`) serve all of them: a hundred open pages cost one query per update, not a hundred.
"""

import asyncio
import dataclasses
import json
import logging
from typing import Annotated, Literal

from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.exceptions import ValidationError
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from audit import selectors
from audit.services import (
    REVIEW_KINDS,
    DecisionConflict,
    Origin,
    ReviewKind,
    item_approve,
    item_reject,
)
from streams.live import INSIGHT, REVIEW_GROUP

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 0.1
CLOSE_FORBIDDEN = 4403
# A send on a socket the page has just closed: daphne's (autobahn's) error, and the OSError
# the ASGI spec asks servers to raise.
PAGE_GONE = (Disconnected, OSError)


class SharedUpdates:
    """The messages of one flush tick, read and encoded once per (ids, filters) for every
    page of this process that asks within the tick."""

    def __init__(self):
        self.tick: int | None = None
        self.tasks: dict[tuple, asyncio.Future] = {}

    async def text(self, tick: int, event: str, ids_by_kind: dict, filters) -> str | None:
        """The message (`event`, the rows of these ids) as JSON text; None without rows."""
        if tick != self.tick:
            self.tick, self.tasks = tick, {}
        key = (event, frozenset((k, frozenset(v)) for k, v in ids_by_kind.items() if v), filters)
        task = self.tasks.get(key)
        if task is None:
            task = self.tasks[key] = asyncio.ensure_future(self._read(event, ids_by_kind, filters))
        # Shielded: a page that disconnects while waiting must not cancel the others' read.
        return await asyncio.shield(task)

    @staticmethod
    async def _read(event: str, ids_by_kind: dict, filters) -> str | None:
        rows = await database_sync_to_async(_rows)(ids_by_kind, filters)
        return json.dumps({"type": event, "items": rows}) if rows else None


SHARED = SharedUpdates()


# What a page may send. Anything else gets an error message and the socket stays open.


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


FilterValue = StrictStr | float | None


class Subscribe(_Message):
    type: Literal["subscribe"]
    filters: dict[Annotated[str, Field(max_length=40)], FilterValue] = Field(
        default_factory=dict, max_length=20
    )


class Decide(_Message):
    type: Literal["decide"]
    kind: Literal["insight", "knowledge"] = "insight"
    id: Annotated[StrictInt, Field(ge=1, le=2**63 - 1)]
    decision: Literal["approve", "reject"]
    reason_code: Annotated[StrictStr, Field(max_length=40)] = ""
    note: StrictStr = ""


MESSAGES = TypeAdapter(Annotated[Subscribe | Decide, Field(discriminator="type")])


def message_problem(exc: PydanticValidationError) -> str:
    """The first thing wrong with a message, in words: where, then what."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"][1:] or error["loc"]) or "message"
    if not error["loc"] or error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return "unknown message type: send subscribe or decide"
    if error["type"] == "literal_error":
        return f"{where} must be {error['ctx']['expected'].replace(chr(39), '')}"
    return f"{where}: {error['msg']}"


class ReviewConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.can_view, self.can_decide = await database_sync_to_async(_permissions)(user)
        if INSIGHT not in self.can_view:  # the page itself needs insights
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.filters = selectors.ReviewFilters(allowed_kinds=self.can_view)
        self.subscribed = False
        self.new_ids: dict[str, set[int]] = {kind: set() for kind in REVIEW_KINDS}
        self.decided_ids: dict[str, set[int]] = {kind: set() for kind in REVIEW_KINDS}
        self.flush_task: asyncio.Task | None = None
        await self.channel_layer.group_add(REVIEW_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if self.channel_layer is not None and hasattr(self, "filters"):
            await self.channel_layer.group_discard(REVIEW_GROUP, self.channel_name)
        if getattr(self, "flush_task", None) is not None:
            self.flush_task.cancel()

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "malformed":
            await self.send_json({"type": "error", "message": "the message is not JSON"})
            return
        try:
            message = MESSAGES.validate_python(content)
        except PydanticValidationError as exc:
            await self.send_json({"type": "error", "message": message_problem(exc)})
            return
        try:
            if isinstance(message, Subscribe):
                await self.subscribe(message.filters)
            else:
                await self.decide(message)
        except PAGE_GONE:
            raise
        except Exception:
            # A bug here must not close the page's socket: it says so and carries on.
            logger.exception("review socket: a %s message failed", message.type)
            await self.send_json(
                {"type": "error", "message": "That did not work (an internal error was logged)."}
            )

    async def decode_json(self, text_data):
        try:
            return await super().decode_json(text_data)
        except ValueError:
            return {"type": "malformed"}

    async def subscribe(self, raw_filters):
        try:
            filters = selectors.ReviewFilters.parse(raw_filters)
            self.filters = dataclasses.replace(filters, allowed_kinds=self.can_view)
        except ValidationError as exc:
            await self.send_json({"type": "error", "message": exc.messages[0]})
            return
        snapshot = await database_sync_to_async(selectors.review_queue)(self.filters)
        self.subscribed = True
        await self.send_json(
            {"type": "snapshot", "can_decide": sorted(self.can_decide), **snapshot}
        )

    async def decide(self, message: Decide):
        kind = REVIEW_KINDS[message.kind]
        if kind.name not in self.can_decide:
            await self.send_json(
                {"type": "error", "message": f"Your role cannot decide {kind.label.lower()}s."}
            )
            return
        try:
            row = await database_sync_to_async(_decision_apply)(
                self.scope["user"], kind, message, Origin.from_scope(self.scope)
            )
        except DecisionConflict as exc:
            rows = await database_sync_to_async(selectors.review_rows)(kind.name, [exc.item.pk])
            await self.send_json({"type": "conflict", "message": str(exc), "items": rows})
            return
        except ValidationError as exc:
            await self.send_json({"type": "error", "message": exc.messages[0]})
            return
        await self.send_json({"type": "decided", "items": [row]})

    # Group messages (kind and ids only): batched, then read from the database.

    async def review_items(self, message):
        self.new_ids[message["kind"]].update(message["ids"])
        self._schedule_flush()

    async def review_decisions(self, message):
        self.decided_ids[message["kind"]].update(message["ids"])
        self._schedule_flush()

    def _schedule_flush(self):
        if self.flush_task is None or self.flush_task.done():
            self.flush_task = asyncio.create_task(self._flush_later())

    async def _flush_later(self):
        loop = asyncio.get_running_loop()
        await asyncio.sleep(FLUSH_SECONDS - loop.time() % FLUSH_SECONDS)
        tick = round(loop.time() / FLUSH_SECONDS)
        new_ids, self.new_ids = self.new_ids, {kind: set() for kind in REVIEW_KINDS}
        decided_ids, self.decided_ids = self.decided_ids, {kind: set() for kind in REVIEW_KINDS}
        if not self.subscribed:
            return
        try:
            text = await SHARED.text(tick, "items", new_ids, self.filters)
            if text:
                await self.send(text_data=text)
            visible = {kind: decided_ids[kind] for kind in self.can_view}
            text = await SHARED.text(tick, "decisions", visible, None)
            if text:
                await self.send(text_data=text)
        except PAGE_GONE:
            # Closed between the update and its sending; its disconnect is on the way.
            logger.debug("review page closed before its update was sent")
        except Exception:
            # The page resyncs when it reconnects; a failed update must not kill the socket.
            logger.exception("review page update failed")


def _rows(ids_by_kind: dict[str, set[int]], filters) -> list[dict]:
    rows = []
    for kind, ids in ids_by_kind.items():
        if ids:
            rows += selectors.review_rows(kind, ids, filters)
    return rows


def _permissions(user) -> tuple[frozenset[str], set[str]]:
    """The kinds of item the user may see, and those they may decide."""
    kinds = REVIEW_KINDS.values()
    can_view = frozenset(kind.name for kind in kinds if user.has_perm(kind.view_permission))
    can_decide = {kind.name for kind in kinds if user.has_perm(kind.permission)}
    return can_view, can_decide & can_view


def _decision_apply(user, kind: ReviewKind, message: Decide, origin) -> dict:
    try:
        item = kind.model.objects.get(pk=message.id)
    except kind.model.DoesNotExist:
        raise ValidationError(f"there is no {kind.label.lower()} {message.id}") from None
    if message.decision == "approve":
        item_approve(item=item, by=user, note=message.note, origin=origin)
    else:
        item_reject(
            item=item, by=user, reason_code=message.reason_code, note=message.note, origin=origin
        )
    return selectors.review_rows(kind.name, [item.pk])[0]
