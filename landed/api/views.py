"""The base class of every API view: rate-limit tier per method, then DRF's usual pipeline."""

from typing import Any, ClassVar

from rest_framework.request import Request
from rest_framework.views import APIView

from landed.api import ratelimit


class LandedAPIView(APIView):
    # Declare `rate_limit_tiers = {"POST": ratelimit.SENSITIVE}` to override the defaults
    # (reads: `read`; writes: `write`). `None` as a tier turns limiting off for that method.
    # (A comment, not a docstring: the OpenAPI description of a view without a docstring of
    # its own would inherit it.)

    rate_limit_tiers: ClassVar[dict[str, str | None]] = {}

    def rate_limit_tier(self, method: str) -> str | None:
        if method in self.rate_limit_tiers:
            return self.rate_limit_tiers[method]
        if method == "OPTIONS":
            return None
        return ratelimit.READ if method in ("GET", "HEAD") else ratelimit.WRITE

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Before authentication: a flood of bad credentials is limited like anything else.
        tier = self.rate_limit_tier(request.method)
        if tier is not None:
            group = f"{type(self).__module__}.{type(self).__qualname__}"
            ratelimit.enforce_rate_limit(request, group=group, tier=tier)
        super().initial(request, *args, **kwargs)
