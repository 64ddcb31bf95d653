"""Landed: the Django project package (settings, urls, Celery app, accounts, API plumbing)."""

# Load the Celery app with Django so that tasks sent from the API use the configured broker.
from landed.celery import app as celery_app

__all__ = ["celery_app"]
