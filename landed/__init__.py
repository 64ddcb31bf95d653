"""Landed: the Django project package (settings, urls, Celery app, accounts, API plumbing,
platform services).

It imports nothing itself: the connector framework uses the plain-Python parts of
`landed.security` without loading Django or Celery. The Celery app (`landed.celery`) is loaded
by what sends tasks (`landed.tasks`) and by `celery -A landed`, which finds it there."""
