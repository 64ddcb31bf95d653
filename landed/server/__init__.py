"""The HTTP server the API runs under: gunicorn with uvicorn workers (`landed.server.worker`),
serving the ASGI application of `landed.asgi`.

What uvicorn leaves open against slow and oversized requests is closed here: a deadline for
a request's headers and limits on their size (`protocol`), deadlines and the size limit for its
body (`body`), a bound on the requests running Django code at once (`slots`), and an access
line per request with its id (`access_log`).
"""
