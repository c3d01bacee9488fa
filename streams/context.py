"""What a log line is about: the stream a worker task serves, the request a view answers."""

import logging
from contextvars import ContextVar

stream_name: ContextVar[str] = ContextVar("stream_name", default="")
request_id: ContextVar[str] = ContextVar("request_id", default="")


class ContextFilter(logging.Filter):
    """Adds `stream` and `request_id` to every record, for the JSON log format."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.stream = stream_name.get()
        record.request_id = request_id.get()
        return True
