"""Why a sign-in with a provider stopped. Each failure has a short `code`: the browser's
redirect to the frontend carries it as `?error=<code>`; an API call answers the usual
`{"error", "detail"}` envelope with the failure's status."""

from typing import Any

from landed.api.errors import ApplicationError

ACCESS_DENIED = "access_denied"  # the person declined at the consent screen
PROVIDER_ERROR = "provider_error"  # the provider redirected back with another error
INVALID_STATE = "invalid_state"  # missing, forged, or for another provider
STATE_EXPIRED = "state_expired"  # older than OAUTH_STATE_TTL_SECONDS
STATE_USED = "state_used"  # the callback was replayed
STATE_MISMATCH = "state_mismatch"  # not the browser that started the sign-in
CODE_MISSING = "code_missing"
CODE_REJECTED = "code_rejected"  # the provider refused the code: reused, expired, PKCE
ID_TOKEN_INVALID = "id_token_invalid"  # noqa: S105 (an error code)
# A provider access token (POST /auth/oauth/exchange) the provider refused.
INVALID_TOKEN = "invalid_token"  # noqa: S105 (an error code)
EMAIL_UNVERIFIED = "email_unverified"
ACCOUNT_DISABLED = "account_disabled"
PROVIDER_UNAVAILABLE = "provider_unavailable"

CODES = (
    ACCESS_DENIED,
    PROVIDER_ERROR,
    INVALID_STATE,
    STATE_EXPIRED,
    STATE_USED,
    STATE_MISMATCH,
    CODE_MISSING,
    CODE_REJECTED,
    ID_TOKEN_INVALID,
    INVALID_TOKEN,
    EMAIL_UNVERIFIED,
    ACCOUNT_DISABLED,
    PROVIDER_UNAVAILABLE,
)


class OAuthFlowError(ApplicationError):
    """A sign-in with a provider that cannot go on."""

    def __init__(self, code: str, message: str, detail: Any = None, *, status: int = 400) -> None:
        headers = {"WWW-Authenticate": 'Bearer realm="api"'} if status == 401 else None
        super().__init__(message, detail, headers=headers)
        self.code = code
        self.status_code = status


def provider_unavailable(label: str, detail: str) -> OAuthFlowError:
    """The provider could not be reached, or answered with a server error: a 502."""
    return OAuthFlowError(PROVIDER_UNAVAILABLE, f"{label} is unavailable", detail, status=502)
