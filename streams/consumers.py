"""The Channels consumer of the `genesys-streams` channel: nudges reach the supervisor here."""

from channels.consumer import AsyncConsumer

STREAMS_CHANNEL = "genesys-streams"


class StreamWorkerConsumer(AsyncConsumer):
    supervisor = None

    def __init__(self, supervisor=None):
        self.supervisor = supervisor

    async def streams_reconcile(self, message):
        self.supervisor.nudge()
