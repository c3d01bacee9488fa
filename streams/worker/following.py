"""The conversations a notifications stream follows, kept in the database (`FollowLog`), so
that a restarted worker, or the worker a stream is handed to, follows the same ones."""

from datetime import UTC, datetime

from assistgov.asyncdb import database_sync_to_async
from streams import ports
from streams.genesys.following import Followed
from streams.worker.models import FollowedConversation


def _when(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


class DatabaseFollowLog:
    def __init__(self, stream_id: int, stream_name: str, worker: str):
        self.stream_id = stream_id
        self.stream_name = stream_name
        self.worker = worker

    @database_sync_to_async
    def load(self) -> list[Followed]:
        return [
            Followed(
                conversation=row.conversation_id,
                via=row.via,
                started=row.started_at.timestamp(),
                ended=row.ended_at.timestamp() if row.ended_at else None,
                waiting=row.waiting,
            )
            for row in FollowedConversation.objects.filter(stream_id=self.stream_id)
        ]

    @database_sync_to_async
    def save(self, followed: Followed) -> None:
        FollowedConversation.objects.update_or_create(
            stream_id=self.stream_id,
            conversation_id=followed.conversation,
            defaults={
                "via": followed.via[:160],
                "started_at": _when(followed.started),
                "ended_at": _when(followed.ended),
                "waiting": followed.waiting,
            },
        )

    @database_sync_to_async
    def forget(self, conversations: list[str]) -> None:
        FollowedConversation.objects.filter(
            stream_id=self.stream_id, conversation_id__in=conversations
        ).delete()

    @database_sync_to_async
    def note(self, message: str) -> None:
        """An entry in the trail: the channels filled up (new conversations wait), or have
        room again."""
        event = "channels_room" if message.startswith("channels have room") else "channels_full"
        ports.governance().stream_run_changed(
            stream_id=self.stream_id,
            stream_name=self.stream_name,
            event=event,
            reason=message,
            worker=self.worker,
        )
