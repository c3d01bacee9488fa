"""The review page's WebSocket: a page of the queue on subscribe, then live updates that
never move it.

A page shows one page of the queue (`audit.review.queue`). New items that match its filters
are not inserted into it: the page is told how many arrived ("12 new items - show"), with
their keys. Decisions and claims made anywhere update the rows the page shows, in place.

The channel layer is lossy by contract, so its messages only carry ids; rows are always
read from the database, and a page that reconnects subscribes again and gets its page
afresh. Pages flush on a shared clock (every FLUSH_SECONDS of the event loop's time), so the
pages of one process that saw the same ids flush together, and one read (`SHARED`) serves
all of them: a hundred open pages cost one query per update, not a hundred.
"""

import asyncio
import dataclasses
import json
import logging
import math

from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone
from pydantic import ValidationError as PydanticValidationError

from audit.oversight import blind
from audit.people import mfa, sessions
from audit.people.middleware import user_time_zone
from audit.review import claims, queue, selectors
from audit.review.kinds import REVIEW_KINDS, ReviewKind
from audit.review.messages import (
    MESSAGES,
    Assign,
    Bulk,
    Claim,
    Decide,
    Release,
    Skip,
    Subscribe,
    message_problem,
)
from audit.review.services import BulkDecision, DecisionConflict, item_approve, item_reject
from audit.trail.access import record_denied
from audit.trail.record import Origin
from streams.live import INSIGHT, RECEIVED_KEY, REVIEW_PAGES, LiveUpdatesUnavailable

logger = logging.getLogger(__name__)
FLUSH_SECONDS = 0.1
CLOSE_FORBIDDEN = 4403
CLOSE_TRY_AGAIN = 1013
CLOSE_SESSION_ENDED = 4401
SESSION_CHECK_SECONDS = 60.0
# A send on a socket the page has just closed: daphne's (autobahn's) error, and the OSError
# the ASGI spec asks servers to raise.
PAGE_GONE = (Disconnected, OSError)
ASSIGN_PERMISSION = "audit.assign_items"


class SharedUpdates:
    """The reads of live updates, made once per (arrival tick, ids, filters) for every page
    of this process that asks, within the last KEEP_TICKS ticks.

    Pages note new ids by the tick their process received them (the same for all of its
    pages: `streams.live.ProcessGroup` hands each message to them at once), so pages with the
    same filters ask the same questions even when one of them flushes late, and a busy
    moment does not turn into a read per page."""

    KEEP_TICKS = 100  # ten seconds of ticks: a page that fell behind still finds its reads

    def __init__(self):
        self.newest: int | None = None
        self.tasks: dict[tuple, asyncio.Future] = {}

    async def rows(self, tick: int, ids_by_kind: dict, filters, read=None) -> list:
        """The rows of these ids that `filters` match (all of them without filters), or
        what `read` makes of them (`_keys`: only their keys)."""
        read = read or _rows
        if self.newest is None or tick > self.newest:
            self.newest = tick
            oldest = tick - self.KEEP_TICKS
            self.tasks = {key: task for key, task in self.tasks.items() if key[0] > oldest}
        ids = frozenset((kind, frozenset(v)) for kind, v in ids_by_kind.items() if v)
        key = (tick, read, ids, filters)
        task = self.tasks.get(key)
        if task is None:
            task = self.tasks[key] = asyncio.ensure_future(
                database_sync_to_async(read)(ids_by_kind, filters)
            )
        # Shielded: a page that disconnects while waiting must not cancel the others' read.
        return await asyncio.shield(task)


SHARED = SharedUpdates()


class ReviewConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse(user, "not signed in")
            return
        session = self.scope.get("session")
        if session is not None and await database_sync_to_async(mfa.half_signed_in)(user, session):
            await self._refuse(user, "the second factor of the sign-in is still owed")
            return
        (
            self.can_view,
            self.can_decide,
            self.can_assign,
            self.blind_to,
        ) = await database_sync_to_async(_permissions)(user)
        # Messages ("already approved by ... at 10:45 CET") in the officer's zone, for the
        # rest of this socket's task.
        session = self.scope.get("session")
        if session is not None:
            timezone.activate(await database_sync_to_async(user_time_zone)(session, user))
        if INSIGHT not in self.can_view:  # the page itself needs insights
            await self._refuse(user, "the role cannot view insights")
            return
        self.filters = self._for_me(selectors.ReviewFilters())
        self.sort = None
        self.subscribed = False
        self.page_keys: set[str] = set()
        self.new_ids: dict[int, dict[str, set[int]]] = {}  # by the tick they arrived in
        self.changed_ids: dict[str, set[int]] = {kind: set() for kind in REVIEW_KINDS}
        self.flush_task: asyncio.Task | None = None
        self.bulk_task: asyncio.Task | None = None
        self.health_task: asyncio.Task | None = None
        if await self._session_ended(active=True):
            await self.close(code=CLOSE_SESSION_ENDED)
            return
        try:
            await REVIEW_PAGES.join(self.channel_layer, self)
        except LiveUpdatesUnavailable as exc:
            logger.warning("review page closed: %s", exc)
            await self.close(code=CLOSE_TRY_AGAIN)  # the page reconnects
            return
        await self.accept()
        self.session_task = asyncio.create_task(self._watch_session())

    async def _session_ended(self, *, active: bool) -> str:
        """Why this socket's session has ended, or "" (audit.people.sessions)."""
        return await database_sync_to_async(sessions.socket_session)(self.scope, active=active)

    async def _watch_session(self):
        """Ends the page's live updates when its session ends, even while nobody acts."""
        while True:
            await asyncio.sleep(SESSION_CHECK_SECONDS)
            why = await self._session_ended(active=False)
            if why:
                await self._end_session(why)
                return

    async def _end_session(self, why: str) -> None:
        try:
            await self.send_json({"type": "session_ended", "reason": why})
            await self.close(code=CLOSE_SESSION_ENDED)
        except PAGE_GONE:
            logger.debug("review page closed before its session's end was sent")

    async def _refuse(self, user, why: str) -> None:
        """Close the socket as forbidden, and record the refusal."""
        await database_sync_to_async(_record_refusal)(user, self.scope, why)
        await self.close(code=CLOSE_FORBIDDEN)

    async def disconnect(self, code):
        if self.channel_layer is not None and hasattr(self, "filters"):
            await REVIEW_PAGES.leave(self.channel_layer, self)
        tasks = ("flush_task", "bulk_task", "health_task", "session_task")
        for task in (getattr(self, name, None) for name in tasks):
            if task is not None:
                task.cancel()  # a bulk stops between pages: whole pages stay decided

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "malformed":
            await self.send_json({"type": "error", "message": "the message is not JSON"})
            return
        try:
            message = MESSAGES.validate_python(content)
        except PydanticValidationError as exc:
            await self.send_json({"type": "error", "message": message_problem(exc)})
            return
        why = await self._session_ended(active=True)
        if why:
            await self._end_session(why)
            return
        handler = getattr(self, f"on_{message.type}")
        try:
            await handler(message)
        except PAGE_GONE:
            raise
        except ValidationError as exc:
            await self.send_json({"type": "error", "message": exc.messages[0]})
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

    @property
    def user(self):
        return self.scope["user"]

    def _for_me(self, filters):
        return filters.for_viewer(self.user, self.can_view, blind_to=self.blind_to)

    def _shown(self, rows: list[dict]) -> list[dict]:
        """Rows as this page's viewer may see them (audit.oversight.blind)."""
        return blind.mask_rows(rows, self.blind_to)

    def origin(self) -> Origin:
        return Origin.from_scope(self.scope)

    # What the page asks

    async def on_subscribe(self, message: Subscribe):
        """The page's filters and page: the rows, the count, where the page is."""
        filters = selectors.ReviewFilters.parse(message.filters)
        request = queue.page_request({**message.filters, **message.page})
        self.filters = self._for_me(filters)
        self.sort = request["sort"]
        page = await database_sync_to_async(_page_message)(
            self.filters, request, self.can_decide, self.can_assign, self.blind_to
        )
        self.subscribed = True
        self.page_keys = {row["key"] for row in page["items"]}
        await self.send_json(page)

    async def on_decide(self, message: Decide):
        kind = REVIEW_KINDS[message.kind]
        answer = {"decision_id": message.decision_id} if message.decision_id else {}
        if kind.name not in self.can_decide:
            await self.send_json(
                {
                    "type": "error",
                    "message": f"Your role cannot decide {kind.label.lower()}s.",
                    **answer,
                }
            )
            return
        try:
            row, resent = await database_sync_to_async(_decision_apply)(
                self.user, kind, message, self.origin()
            )
        except DecisionConflict as exc:
            rows = await database_sync_to_async(selectors.review_rows)(kind.name, [exc.item.pk])
            shown = self._shown(rows)
            hidden = any(row["status"] == blind.UNDER_REVIEW for row in shown)
            message = exc.hidden_words() if hidden else str(exc)
            await self.send_json({"type": "conflict", "message": message, "items": shown, **answer})
            return
        except ValidationError as exc:
            await self.send_json({"type": "error", "message": exc.messages[0], **answer})
            return
        await self.send_json(
            {"type": "decided", "items": self._shown([row]), "resent": resent, **answer}
        )

    async def on_claim(self, message: Claim):
        self._may_decide()
        taken = await database_sync_to_async(claims.items_claim_next)(
            by=self.user,
            filters=self.filters,
            sort=self.sort,
            count=message.count,
            origin=self.origin(),
        )
        await self.send_json({"type": "claimed", "keys": taken.keys, "message": taken.message()})

    async def on_release(self, message: Release):
        released = await database_sync_to_async(claims.claims_release)(
            by=self.user, keys=message.keys, origin=self.origin()
        )
        await self.send_json(
            {"type": "released", "count": released, "message": f"{released} item(s) released."}
        )

    async def on_skip(self, message: Skip):
        skipped = await database_sync_to_async(claims.item_skip)(
            by=self.user, key=message.key, origin=self.origin()
        )
        if not skipped:
            raise ValidationError("Only an item you hold can be skipped: claim it first.")
        await self.send_json({"type": "skipped", "key": message.key})

    async def on_assign(self, message: Assign):
        if not self.can_assign:
            raise ValidationError("Your role cannot assign items: ask a governance admin.")
        officer = await database_sync_to_async(_officer)(message.to)
        taken = await database_sync_to_async(claims.items_assign)(
            by=self.user,
            to=officer,
            filters=self.filters,
            sort=self.sort,
            keys=message.keys,
            count=message.count,
            origin=self.origin(),
        )
        await self.send_json(
            {
                "type": "assigned",
                "keys": taken.keys,
                "message": f"{len(taken.keys)} item(s) assigned to {officer.get_username()}.",
            }
        )

    async def on_bulk(self, message: Bulk):
        self._may_decide()
        if self.bulk_task is not None and not self.bulk_task.done():
            raise ValidationError("A bulk decision is still running on this page: wait for it.")
        keys = message.keys
        if message.group is not None:
            keys = await database_sync_to_async(queue.group_keys)(
                message.group.model_dump(), self.filters
            )
        if keys is None and not message.all_matching:
            raise ValidationError("Choose items, or all that match the filters.")
        bulk = await database_sync_to_async(BulkDecision)(
            by=self.user,
            decision=message.decision,
            reason_code=message.reason_code,
            note=message.note,
            keys=None if message.all_matching else keys,
            filters=self.filters if message.all_matching else None,
            origin=self.origin(),
        )
        self.bulk_task = asyncio.create_task(self._bulk(message.bulk_id, bulk))

    async def _bulk(self, bulk_id: str, bulk: BulkDecision):
        """One page at a time, each its own call into the database thread, so the page's
        other messages are answered between them; progress after each page."""
        result = bulk.result
        try:
            while await database_sync_to_async(bulk.step)():
                await self.send_json(
                    {"type": "bulk_progress", "bulk_id": bulk_id, **_tally(result)}
                )
            await self.send_json(
                {
                    "type": "bulk_done",
                    "bulk_id": bulk_id,
                    **_tally(result),
                    "skipped_reasons": result.skipped[:20],
                }
            )
        except PAGE_GONE:
            logger.info("review page closed during a bulk decision; %d decided", result.decided)
        except Exception:
            logger.exception("bulk decision %s failed after %d items", bulk_id, result.decided)
            await self.send_json(
                {
                    "type": "error",
                    "message": f"The bulk decision stopped after {result.decided} item(s): "
                    "reload the page and try the rest again.",
                }
            )

    def _may_decide(self):
        if not self.can_decide:
            raise ValidationError("Your role can read and export; it cannot claim or decide.")

    # Group messages (kind and ids only): batched, then read from the database.

    async def review_items(self, message):
        arrived = self.new_ids.setdefault(_tick(message), {kind: set() for kind in REVIEW_KINDS})
        arrived[message["kind"]].update(message["ids"])
        self._schedule_flush()

    async def review_decisions(self, message):
        self.changed_ids[message["kind"]].update(message["ids"])
        self._schedule_flush()

    review_claims = review_decisions

    async def review_health(self, message):
        """A stream's state changed: the page reads the streams' health now (sent by a task
        of its own: a slow page must not hold up the process's other pages)."""
        if self.health_task is None or self.health_task.done():
            self.health_task = asyncio.create_task(self._send_health())

    async def _send_health(self):
        try:
            await self.send_json({"type": "health"})
        except PAGE_GONE:
            logger.debug("review page closed before the health news was sent")

    def _schedule_flush(self):
        if self.flush_task is None or self.flush_task.done():
            self.flush_task = asyncio.create_task(self._flush_later())

    async def _flush_later(self):
        loop = asyncio.get_running_loop()
        await asyncio.sleep(FLUSH_SECONDS - loop.time() % FLUSH_SECONDS)
        tick = round(loop.time() / FLUSH_SECONDS)
        new_ids, self.new_ids = self.new_ids, {}
        changed, self.changed_ids = self.changed_ids, {kind: set() for kind in REVIEW_KINDS}
        if not self.subscribed:
            return
        try:
            await self._send_new(tick, new_ids)
            await self._send_changes(tick, changed)
        except PAGE_GONE:
            # Closed between the update and its sending; its disconnect is on the way.
            logger.debug("review page closed before its update was sent")
        except Exception:
            # The page resyncs when it reconnects; a failed update must not kill the socket.
            logger.exception("review page update failed")

    async def _send_new(self, tick: int, new_ids: dict) -> None:
        """How many new items match this page's filters, and which: not their rows (the
        page does not move; the officer asks for them). One shared read per tick the ids
        arrived in."""
        if self.filters.scope != "queue" or not new_ids:
            return
        shared = dataclasses.replace(self.filters, viewer_id=None, day_start=None)
        if shared.status in ("pending", "all"):
            shared = dataclasses.replace(shared, blind_to=None)  # the same for every viewer
        keys = []
        for arrived in sorted(new_ids):
            keys += await SHARED.rows(arrived, new_ids[arrived], shared, read=_keys)
        if keys:
            await self.send(text_data=json.dumps({"type": "new", "keys": keys}))

    async def _send_changes(self, tick: int, changed: dict) -> None:
        """The rows this page shows that were decided, claimed or released elsewhere."""
        shown = {
            kind: {i for i in ids if f"{kind}:{i}" in self.page_keys}
            for kind, ids in changed.items()
            if kind in self.can_view
        }
        if not any(shown.values()):
            return
        rows = await SHARED.rows(tick, shown, None)
        if rows:
            items = self._shown(rows)
            await self.send(text_data=json.dumps({"type": "updates", "items": items}))


def _tick(message: dict) -> int:
    """The flush tick this process received a group message in (stamped once for all of its
    pages by `ProcessGroup`; now, for a message that came another way)."""
    received = message.get(RECEIVED_KEY)
    if received is None:
        received = asyncio.get_running_loop().time()
    return math.floor(received / FLUSH_SECONDS)


def _tally(result) -> dict:
    return {"total": result.total, "decided": result.decided, "skipped": len(result.skipped)}


def first_page(user, params) -> dict | None:
    """The page message the review page's socket would send first for the address's
    `params` (filters, tab and page), for the page's HTML to carry, so that its rows show
    before the socket is open; None when the address's filters are not valid (the socket
    then says what is wrong)."""
    can_view, can_decide, can_assign, blind_to = _permissions(user)
    values = {key: value for key, value in params.items() if value != ""}
    try:
        filters = selectors.ReviewFilters.parse(values)
        request = queue.page_request(values)
    except ValidationError:
        return None
    filters = filters.for_viewer(user, can_view, blind_to=blind_to)
    return _page_message(filters, request, can_decide, can_assign, blind_to)


def _page_message(filters, request: dict, can_decide, can_assign: bool, blind_to) -> dict:
    page = _page(filters, request)
    return {
        "type": "page",
        "scope": filters.scope,
        "can_decide": sorted(can_decide),
        "can_assign": can_assign,
        **page,
        "items": blind.mask_rows(page["items"], blind_to),
    }


def _page(filters, request: dict) -> dict:
    if filters.scope == "groups":
        return queue.identical_groups(filters)
    if filters.scope in ("mine", "done"):
        return _own_page(filters, request["sort"])
    return queue.review_page(filters, **request)


def _own_page(filters, sort) -> dict:
    """What the viewer holds (skipped items last) or decided today: one page, no cursor."""
    rows = queue.review_page(filters, sort=sort, limit=OWN_LIMIT, counted=False)["items"]
    if filters.scope == "mine":
        deferred = _deferred(rows)
        rows.sort(key=lambda row: row["key"] in deferred)
    count = len(rows)
    return {
        "items": rows,
        "count": count,
        "count_capped": count >= OWN_LIMIT,
        "position": 0,
        "has_prev": False,
        "has_next": False,
        "first": "",
        "last": "",
        "sort": sort.name,
    }


OWN_LIMIT = 500


def _deferred(rows: list[dict]) -> set[str]:
    deferred = set()
    for kind, review_kind in REVIEW_KINDS.items():
        ids = [row["id"] for row in rows if row["kind"] == kind]
        held = review_kind.model.objects.filter(pk__in=ids, claim_deferred_at__isnull=False)
        deferred |= {f"{kind}:{pk}" for pk in held.values_list("pk", flat=True)}
    return deferred


def _rows(ids_by_kind: dict[str, set[int]], filters) -> list[dict]:
    return _each_kind(selectors.review_rows, ids_by_kind, filters)


def _keys(ids_by_kind: dict[str, set[int]], filters) -> list[str]:
    return _each_kind(selectors.review_keys, ids_by_kind, filters)


def _each_kind(read, ids_by_kind: dict[str, set[int]], filters) -> list:
    out = []
    for kind, ids in ids_by_kind.items():
        if ids:
            out += read(kind, ids, filters)
    return out


def _permissions(user) -> tuple[frozenset[str], set[str], bool, int | None]:
    """The kinds of item the user may see, those they may decide, whether they may assign
    items to officers, and whom decisions under a blind second review are hidden from."""
    kinds = REVIEW_KINDS.values()
    can_view = frozenset(kind.name for kind in kinds if user.has_perm(kind.view_permission))
    can_decide = {kind.name for kind in kinds if user.has_perm(kind.permission)}
    return (
        can_view,
        can_decide & can_view,
        user.has_perm(ASSIGN_PERMISSION),
        blind.blind_viewer(user),
    )


def _officer(user_id: int):
    """An active user who may decide insights: who a lead can assign items to."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.has_perm(REVIEW_KINDS[INSIGHT].permission):
        raise ValidationError("Items can be assigned only to someone who may decide them.")
    return user


def _decision_apply(user, kind: ReviewKind, message: Decide, origin) -> tuple[dict, bool]:
    try:
        item = kind.model.objects.get(pk=message.id)
    except kind.model.DoesNotExist:
        raise ValidationError(f"there is no {kind.label.lower()} {message.id}") from None
    how = {"item": item, "by": user, "note": message.note, "origin": origin}
    how["decision_id"] = message.decision_id
    if message.decision == "approve":
        item = item_approve(**how, corrected_text=message.corrected_text)
    else:
        item = item_reject(**how, reason_code=message.reason_code)
    return selectors.review_rows(kind.name, [item.pk])[0], item.resent


def _record_refusal(user, scope, why: str) -> None:
    from assistgov.errors import roles

    record_denied(
        user=user,
        where=f"WebSocket {scope.get('path', '')}",
        what=why,
        role=roles(user) if user is not None else "",
        origin=Origin.from_scope(scope),
    )
