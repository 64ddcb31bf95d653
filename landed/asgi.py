"""ASGI entry point: what gunicorn's uvicorn workers serve (`landed.gunicorn_conf`).

Django's ASGI handler, inside the server's own layers (landed/server): the access line, the
request body read within its deadlines and size limit, and a bound on the requests running
Django code at once.
"""

import os
import warnings

from django.core.asgi import get_asgi_application

from landed.server.access_log import AccessLog
from landed.server.body import RequestBody
from landed.server.limits import deadlines, request_slots
from landed.server.slots import RequestSlots

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "landed.settings")

# The admin's static files (whitenoise) stream from file iterators, which Django reads whole
# before sending: small files, and the warning says nothing more. (The support chat's answer
# streams from an async iterator, which Django sends as it comes.)
warnings.filterwarnings(
    "ignore",
    message="StreamingHttpResponse must consume synchronous iterators",
    module="django.core.handlers.asgi",
)

application = AccessLog(
    RequestBody(RequestSlots(get_asgi_application(), request_slots()), deadlines())
)
