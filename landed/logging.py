"""Request correlation: the current request's id, available to every log line."""

import logging
from contextvars import ContextVar

current_request_id: ContextVar[str] = ContextVar("current_request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to each record, so formatters can print it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        return True


class DisallowedHostFilter(logging.Filter):
    """Turns Django's report of a request with a Host header not in ALLOWED_HOSTS into one
    WARNING line. Django logs it at ERROR with a full traceback, on every such request; but
    any client can send any Host (scanners do, all day), the answer is a plain 400, and the
    one thing an operator may need from it (the host, in case ALLOWED_HOSTS lacks one) is in
    the message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno = logging.WARNING
        record.levelname = logging.getLevelName(logging.WARNING)
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True
