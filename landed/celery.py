"""The Celery application shared by the API (which enqueues) and the workers (which run)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "landed.settings")

app = Celery("landed")
# Every Celery option lives in Django settings under the CELERY_ prefix.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
