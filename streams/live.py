"""Live updates to review pages: ids of new or decided items, sent after commit.

The channel layer may drop messages (capacity, expiry); pages treat these messages as
hints and read the rows from the database, which is the source of truth. An item is an
insight or a knowledge answer (`kind`).
"""

import asyncio
import logging
import weakref

from asgiref.sync import async_to_sync
from channels.consumer import get_handler_name
from channels.layers import get_channel_layer

from assistgov.asyncdb import cancellable

logger = logging.getLogger(__name__)

REVIEW_GROUP = "review"
INSIGHT, KNOWLEDGE = "insight", "knowledge"
# channels_redis forgets a group's member after a day (group_expiry): a process's member
# joins again every hour.
GROUP_REFRESH_SECONDS = 3600.0
JOIN_TIMEOUT_SECONDS = 10.0
# The event loop's time when this process received a group message, stamped once for all of
# its subscribers (so they batch it into the same flush tick).
RECEIVED_KEY = "_received"


async def announce_insights(layer, insight_ids: list[int]) -> None:
    """From the stream runner, once per stored batch."""
    await _send(layer, _message("review.items", INSIGHT, insight_ids))


def announce_knowledge(query_ids: list[int]) -> None:
    """From sync code after commit: knowledge answers that joined the review queue."""
    async_to_sync(_send)(get_channel_layer(), _message("review.items", KNOWLEDGE, query_ids))


def announce_decisions(ids: list[int], kind: str = INSIGHT) -> None:
    """From sync code after commit: these items were decided."""
    async_to_sync(_send)(get_channel_layer(), _message("review.decisions", kind, ids))


def announce_claims(ids: list[int], kind: str = INSIGHT) -> None:
    """From sync code after commit: these items were claimed, assigned or released."""
    async_to_sync(_send)(get_channel_layer(), _message("review.claims", kind, ids))


async def announce_health(layer) -> None:
    """A stream's state changed: pages show a banner while one is not connected."""
    if layer is None:
        return
    try:
        await cancellable(layer.group_send)(REVIEW_GROUP, {"type": "review.health"})
    except Exception as exc:  # lossy by contract: pages also read the health every few seconds
        logger.warning("live update (stream health) not sent: %s", exc)


def _message(event: str, kind: str, ids: list[int]) -> dict:
    return {"type": event, "kind": kind, "ids": list(ids)}


async def _send(layer, message: dict) -> None:
    if layer is None or not message["ids"]:
        return
    try:
        await cancellable(layer.group_send)(REVIEW_GROUP, message)
    except Exception as exc:  # the layer is lossy by contract; never stall the sender on it
        logger.warning(
            "live update (%s) for %d %s item(s) not sent: %s",
            message["type"],
            len(message["ids"]),
            message["kind"],
            exc,
        )


class LiveUpdatesUnavailable(Exception):
    """A page cannot have live updates: the channel layer does not answer."""


class ProcessGroup:
    """This process's one member of a channel-layer group, handing each message to the
    process's own subscribers (its review pages) in memory.

    With a member per page, the layer writes, and each web process reads and decodes, one
    copy of every announcement per page: at 100 pages and 2,000 insights/s over Redis the
    pages fell seconds behind. A member per process makes it one copy per process.
    Subscribers handle a message as a consumer's group handler would (`review_items` for
    "review.items"), without the consumer's per-message database-connection check; the
    handlers only note ids and schedule work, so one slow page never holds up the others.
    """

    def __init__(self, group: str):
        self.group = group
        # One member per event loop and layer (tests run a loop each; layers can be reset).
        self._members: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    async def join(self, layer, subscriber) -> None:
        members = self._members.setdefault(asyncio.get_running_loop(), {})
        member = members.get(layer)
        if member is None:
            member = members[layer] = _Member(self.group, layer)
        member.subscribers.add(subscriber)
        try:
            async with asyncio.timeout(JOIN_TIMEOUT_SECONDS):
                await member.joined.wait()
        except TimeoutError:
            await self.leave(layer, subscriber)
            raise LiveUpdatesUnavailable(
                f"the channel layer did not let this process join the {self.group!r} group "
                f"within {JOIN_TIMEOUT_SECONDS:g} s (is Redis answering? see /readyz)"
            ) from None

    async def leave(self, layer, subscriber) -> None:
        members = self._members.get(asyncio.get_running_loop(), {})
        member = members.get(layer)
        if member is None:
            return
        member.subscribers.discard(subscriber)
        if not member.subscribers:
            del members[layer]
            await member.close()

    def subscribers(self) -> int:
        """This loop's subscribers (for tests and diagnostics)."""
        members = self._members.get(asyncio.get_running_loop(), {})
        return sum(len(member.subscribers) for member in members.values())


class _Member:
    def __init__(self, group: str, layer):
        self.group = group
        self.layer = layer
        self.subscribers: set = set()
        self.channel: str | None = None
        self.joined = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name=f"group-{group}")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                if self.channel is None:
                    self.channel = await self.layer.new_channel()
                await self.layer.group_add(self.group, self.channel)
                self.joined.set()
                refresh_at = loop.time() + GROUP_REFRESH_SECONDS
                while (remaining := refresh_at - loop.time()) > 0:
                    try:
                        async with asyncio.timeout(remaining):
                            message = await self.layer.receive(self.channel)
                    except TimeoutError:
                        break
                    await self._hand_out(message)
            except Exception as exc:  # the layer is lossy by contract; pages resync
                logger.warning("live updates (%s group) interrupted: %s", self.group, exc)
                await asyncio.sleep(1.0)

    async def _hand_out(self, message: dict) -> None:
        message = {**message, RECEIVED_KEY: asyncio.get_running_loop().time()}
        name = get_handler_name(message)
        for subscriber in list(self.subscribers):
            handler = getattr(subscriber, name, None)
            if handler is None:
                continue
            try:
                await handler(message)
            except Exception:
                logger.exception("a review page failed to take a live update")

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        if self.channel is not None:
            try:
                await self.layer.group_discard(self.group, self.channel)
            except Exception as exc:
                logger.warning("live updates: leaving the %s group failed: %s", self.group, exc)


REVIEW_PAGES = ProcessGroup(REVIEW_GROUP)
