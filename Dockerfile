# The Landed platform image: the API server by default (scripts/run.sh, with RUN_WORKERS=false
# the API alone: gunicorn with uvicorn workers, docs/server.md), workers and beat with
# `scripts/celery.sh worker|beat ...`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LANDED_DATA_DIR=/var/lib/landed

WORKDIR /app
COPY pyproject.toml README.md ./
COPY landed ./landed
COPY connectors ./connectors
COPY syncs ./syncs
COPY webhooks ./webhooks
COPY billing ./billing
COPY integrations ./integrations
COPY support ./support
RUN pip install --no-cache-dir .
COPY manage.py ./
# The support chat answers from these pages (support/index.py reads them at start).
COPY docs ./docs
COPY scripts ./scripts

RUN useradd --system --home /var/lib/landed landed \
    && mkdir -p /var/lib/landed && chown landed /var/lib/landed
USER landed

ENV HOST=0.0.0.0 PORT=8000
EXPOSE 8000
CMD ["scripts/run.sh"]
