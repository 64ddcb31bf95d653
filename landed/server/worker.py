"""The gunicorn worker: uvicorn's (the `uvicorn-worker` package), with the guarded protocol.

gunicorn's threaded worker held a thread for as long as a client took to send its request,
with no deadline: a few slow clients stalled every request. Here one event loop per process
reads requests; a slow client costs a connection, bounded in time (landed.server.protocol,
landed.server.body) and in number (`worker_connections`, WEB_MAX_CONNECTIONS).
"""

import functools
import logging
from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker

from landed.server.access_log import ACCESS_LOGGER_NAME
from landed.server.limits import deadlines
from landed.server.protocol import GuardedHttpToolsProtocol, HeadLimits

# The whole request head (request line and headers) one connection may send: eight times the
# longest header field gunicorn allows by default, room for large cookies.
MAX_HEAD_BYTES = 64 * 1024


class LandedUvicornWorker(UvicornWorker):  # type: ignore[misc]  # gunicorn has no types
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "auto",
        "http": "httptools",
        # Django answers no lifespan events (it refuses every scope but "http").
        "lifespan": "off",
        # landed.server.access_log writes the access line, with the request id.
        "access_log": False,
        # The protocol bounds connections and requests itself, answering in the API's format.
        "limit_concurrency": None,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        access = logging.getLogger(ACCESS_LOGGER_NAME)
        access.handlers = self.log.access_log.handlers
        access.setLevel(self.log.access_log.level)
        access.propagate = False

        limits = HeadLimits(
            header_seconds=deadlines().header,
            limit_request_line=self.cfg.limit_request_line,
            limit_request_field_size=self.cfg.limit_request_field_size,
            limit_request_fields=self.cfg.limit_request_fields,
            max_head_bytes=MAX_HEAD_BYTES,
            max_connections=self.cfg.worker_connections,
        )
        self.config.http = functools.partial(GuardedHttpToolsProtocol, limits=limits)
        # In-flight requests get gunicorn's graceful timeout to finish when the worker stops.
        self.config.timeout_graceful_shutdown = self.cfg.graceful_timeout
