"""gunicorn settings for `make run` and containers, from the environment."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# Without Redis the rate-limit cache lives in the server process: keep to one process then,
# and serve concurrent requests with threads.
workers = int(os.environ.get("WEB_CONCURRENCY", "2" if os.environ.get("REDIS_URL") else "1"))
threads = int(os.environ.get("WEB_THREADS", "4"))
# The application is imported once, by the arbiter, before it forks the workers: they share
# its pages instead of each importing its own copy (a web process's own memory at rest drops
# from ~75 MiB to a few). Nothing opens a connection at import, so none is shared by a fork.
preload_app = os.environ.get("WEB_PRELOAD", "true").lower() in ("1", "true", "yes")
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
graceful_timeout = 10
# Idle keep-alive connections stay open longer than a client's polling interval (gunicorn's
# 2 s default raced a client polling a job every 2 s: its request met a closing connection)
# and longer than a load balancer's idle timeout (60 s on common ones), so that the side in
# front closes first. The threaded worker parks idle connections without holding a thread.
keepalive = int(os.environ.get("WEB_KEEPALIVE_SECONDS", "75"))
accesslog = "-"
errorlog = "-"
# Each access line ends with the request id, as the application's own log lines carry it.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Several servers may run on one machine (tests, a second port): no shared control socket.
control_socket_disable = True
# The longest request line and header gunicorn allows; longer ones get its (HTML) 414 / 431.
limit_request_line = 8190
limit_request_field_size = 8190
