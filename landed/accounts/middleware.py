"""Sessions end with their sign-in (landed/accounts/sign_ins.py)."""

import uuid
from collections.abc import Callable

from django.contrib.auth import SESSION_KEY, logout
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponse

from landed.accounts.models import SignIn
from landed.accounts.sign_ins import SESSION_SIGN_IN_KEY


class SignInSessionMiddleware:
    """Signs out a session whose sign-in has ended (signed out everywhere, or a session from
    before sign-ins existed) before any view runs, so that the API and the admin both see an
    anonymous user and the cookie is cleared. One primary-key lookup per request that carries
    a signed-in session; none for other requests."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if SESSION_KEY in request.session and not _sign_in_exists(request.session):
            logout(request)
        return self.get_response(request)


def _sign_in_exists(session: SessionBase) -> bool:
    try:
        sign_in_id = uuid.UUID(str(session.get(SESSION_SIGN_IN_KEY)))
    except ValueError:
        return False
    return SignIn.objects.filter(pk=sign_in_id, user_id=session.get(SESSION_KEY)).exists()
