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


class RefusalWithoutTrace(logging.Filter):
    """A refused request (403) is a line in the log, not a stack trace: the refusal is
    expected, and its record is in the audit trail."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
