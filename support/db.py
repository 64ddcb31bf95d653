"""Database work of a long-lived answer, done in short visits that give the connection back.

An answer streams for up to SUPPORT_CHAT_TIMEOUT_SECONDS, mostly waiting on the LLM. Django
gives a request's connection back to the pool only when the request ends, so each answer
waiting on the LLM would hold one of the pool's few connections (DATABASE_POOL_MAX_SIZE) the
whole time, and a handful of slow answers would starve every other request. Each visit to
the database therefore closes the connection after it, which returns it to the pool.
"""

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import connection

P = ParamSpec("P")
T = TypeVar("T")


def release_connection() -> None:
    # Not inside a transaction (a test's, or a caller's): closing would end it.
    if not connection.in_atomic_block:
        connection.close()


def visit(function: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """`function` for async code: run in the request's thread (sync_to_async), the connection
    given back once it returns."""

    @wraps(function)
    def run_and_release(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return function(*args, **kwargs)
        finally:
            release_connection()

    return sync_to_async(run_and_release)
