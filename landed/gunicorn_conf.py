"""gunicorn settings for `make run` and containers, from the environment.

gunicorn runs uvicorn workers (landed.server.worker) serving the ASGI application
`landed.asgi`: `gunicorn --config python:landed.gunicorn_conf landed.asgi`.
"""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# One event loop per process reads requests, so a slow client holds no thread; Django's code
# runs in threads, WEB_THREADS at once per process (landed.server.slots).
worker_class = "landed.server.worker.LandedUvicornWorker"
# Without Redis the rate-limit cache lives in the server process: keep to one process then.
workers = int(os.environ.get("WEB_CONCURRENCY", "2" if os.environ.get("REDIS_URL") else "1"))
# The connections one process keeps open, idle keep-alive ones included; past it, new ones are
# answered 503. Every connection's request must arrive within its deadlines
# (WEB_HEADER_TIMEOUT_SECONDS, WEB_BODY_IDLE_TIMEOUT_SECONDS, WEB_BODY_TIMEOUT_SECONDS), so
# slow clients cannot hold them for long.
worker_connections = int(os.environ.get("WEB_MAX_CONNECTIONS", "1000"))
# The application is imported once, by the arbiter, before it forks the workers: they share
# its pages instead of each importing its own copy. Nothing opens a connection at import, so
# none is shared by a fork.
preload_app = os.environ.get("WEB_PRELOAD", "true").lower() in ("1", "true", "yes")
# A worker silent this long (its event loop blocked) is restarted.
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
# How long requests under way get to finish when a worker stops.
graceful_timeout = 10
# Idle keep-alive connections stay open longer than a client's polling interval (gunicorn's
# 2 s default raced a client polling a job every 2 s: its request met a closing connection)
# and longer than a load balancer's idle timeout (60 s on common ones), so that the side in
# front closes first. An idle connection holds no thread, only its socket.
keepalive = int(os.environ.get("WEB_KEEPALIVE_SECONDS", "75"))
accesslog = "-"
errorlog = "-"
# The client address (access log, rate limits) and scheme are taken from X-Forwarded-For and
# X-Forwarded-Proto only when the connection comes from one of these addresses (a proxy).
# The proxies the application trusts (TRUSTED_PROXIES, for rate limits and the sign-in
# lockout) are the server's too, unless FORWARDED_ALLOW_IPS says otherwise.
forwarded_allow_ips = (
    os.environ.get("FORWARDED_ALLOW_IPS") or os.environ.get("TRUSTED_PROXIES") or "127.0.0.1"
)
# Several servers may run on one machine (tests, a second port): no shared control socket.
control_socket_disable = True
# The longest request line and header field, and the most header fields, a request may have;
# past them it is answered 414 / 431 in the API's JSON error envelope.
limit_request_line = 8190
limit_request_field_size = 8190
limit_request_fields = 100
