"""WSGI entry point for gunicorn (`gunicorn landed.wsgi`)."""

import os

from django.core.wsgi import get_wsgi_application

from landed.chunked import ChunkedBodyMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "landed.settings")

# Django reads a body by Content-Length only: chunked bodies are buffered before it sees them.
application = ChunkedBodyMiddleware(get_wsgi_application())
