"""The review page's WebSocket: a snapshot on subscribe, then batched live updates.

The channel layer is lossy by contract, so its messages only carry ids; rows are always
read from the database, and a page that reconnects subscribes again and gets a fresh
snapshot.
"""

import asyncio
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.exceptions import ValidationError

from audit import selectors
from audit.services import DecisionConflict, Origin, insight_approve, insight_reject
from streams.live import REVIEW_GROUP
from streams.models import Insight

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 0.25
CLOSE_FORBIDDEN = 4403


class ReviewConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        can_view, self.can_review = await database_sync_to_async(_permissions)(user)
        if not can_view:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.filters = selectors.ReviewFilters()
        self.subscribed = False
        self.new_ids: set[int] = set()
        self.decided_ids: set[int] = set()
        self.flush_task: asyncio.Task | None = None
        await self.channel_layer.group_add(REVIEW_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if self.channel_layer is not None and hasattr(self, "filters"):
            await self.channel_layer.group_discard(REVIEW_GROUP, self.channel_name)
        if getattr(self, "flush_task", None) is not None:
            self.flush_task.cancel()

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "malformed":
            await self.send_json({"type": "error", "message": "the message is not JSON"})
        elif kind == "subscribe":
            await self.subscribe(content.get("filters"))
        elif kind == "decide":
            await self.decide(content)
        else:
            await self.send_json({"type": "error", "message": f"unknown message type {kind!r}"})

    async def decode_json(self, text_data):
        try:
            return await super().decode_json(text_data)
        except ValueError:
            return {"type": "malformed"}

    async def subscribe(self, raw_filters):
        try:
            self.filters = selectors.ReviewFilters.parse(raw_filters)
        except ValidationError as exc:
            await self.send_json({"type": "error", "message": exc.messages[0]})
            return
        snapshot = await database_sync_to_async(selectors.review_queue)(self.filters)
        self.subscribed = True
        await self.send_json({"type": "snapshot", "can_review": self.can_review, **snapshot})

    async def decide(self, content):
        if not self.can_review:
            await self.send_json({"type": "error", "message": "Your role cannot decide insights."})
            return
        try:
            row = await database_sync_to_async(_decide)(
                self.scope["user"], content, Origin.from_scope(self.scope)
            )
        except DecisionConflict as exc:
            rows = await database_sync_to_async(selectors.review_rows)([exc.insight.pk])
            await self.send_json({"type": "conflict", "message": str(exc), "insights": rows})
            return
        except ValidationError as exc:
            await self.send_json({"type": "error", "message": exc.messages[0]})
            return
        await self.send_json({"type": "decided", "insights": [row]})

    # Group messages (ids only): batched, then read from the database.

    async def review_insights(self, message):
        self.new_ids.update(message["ids"])
        self._schedule_flush()

    async def review_decisions(self, message):
        self.decided_ids.update(message["ids"])
        self._schedule_flush()

    def _schedule_flush(self):
        if self.flush_task is None or self.flush_task.done():
            self.flush_task = asyncio.create_task(self._flush_later())

    async def _flush_later(self):
        await asyncio.sleep(FLUSH_SECONDS)
        new_ids, self.new_ids = self.new_ids, set()
        decided_ids, self.decided_ids = self.decided_ids, set()
        if not self.subscribed:
            return
        try:
            if new_ids:
                rows = await database_sync_to_async(selectors.review_rows)(new_ids, self.filters)
                if rows:
                    await self.send_json({"type": "insights", "insights": rows})
            if decided_ids:
                rows = await database_sync_to_async(selectors.review_rows)(decided_ids)
                await self.send_json({"type": "decisions", "insights": rows})
        except Exception:
            # The page resyncs when it reconnects; a failed update must not kill the socket.
            logger.exception("review page update failed")


def _permissions(user) -> tuple[bool, bool]:
    return user.has_perm("streams.view_insight"), user.has_perm("streams.review_insight")


def _decide(user, content, origin) -> dict:
    try:
        insight = Insight.objects.get(pk=int(content.get("id")))
    except (TypeError, ValueError):
        raise ValidationError("a decision needs the insight's id") from None
    except Insight.DoesNotExist:
        raise ValidationError(f"there is no insight {content.get('id')}") from None
    note = str(content.get("note") or "")
    if content.get("decision") == "approve":
        insight_approve(insight=insight, by=user, note=note, origin=origin)
    elif content.get("decision") == "reject":
        reason_code = str(content.get("reason_code") or "")
        insight_reject(insight=insight, by=user, reason_code=reason_code, note=note, origin=origin)
    else:
        raise ValidationError("decision must be approve or reject")
    return selectors.review_rows([insight.pk])[0]
