"""WSGI entry point for gunicorn (`gunicorn landed.wsgi`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "landed.settings")

application = get_wsgi_application()
