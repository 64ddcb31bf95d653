"""Per-client-IP rate limits with django-ratelimit, by the reference's tiers.

Each view names a tier per HTTP method; a tier is one or more rates (Signup is 5/minute and
20/hour), all counted in the shared cache so that they hold across server processes.
"""

import logging

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage

from landed.api.errors import RateLimitedError

logger = logging.getLogger("landed.api.ratelimit")

READ = "read"
READ_HIGH = "read_high"
WRITE = "write"
SENSITIVE = "sensitive"
SIGNUP = "signup"
LOGIN = "login"


def enforce_rate_limit(request: HttpRequest, *, group: str, tier: str) -> None:
    """Count this request against every rate of `tier`; raise 429 when one is exceeded."""
    retry_after = 0
    for rate in settings.RATE_LIMIT_TIERS[tier]:
        try:
            usage = get_usage(request, group=f"{group}:{tier}", key="ip", rate=rate, increment=True)
        except Exception:
            # A cache outage must not take the API down with it; /health reports the cache.
            logger.exception("rate-limit cache unavailable; request allowed")
            return
        if usage and usage["should_limit"]:
            retry_after = max(retry_after, usage["time_left"])
    if retry_after:
        raise RateLimitedError(retry_after)
