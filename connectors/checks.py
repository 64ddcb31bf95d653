"""Connection tests with an overall deadline, whatever the connector's own timeouts."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from django.conf import settings

from connectors.framework.base import CheckResult, ConnectorError

logger = logging.getLogger("connectors.checks")

# Checks run on threads that outlive a timed-out request; a small shared pool bounds them.
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="connection-test")


def run_check(check: Callable[[], CheckResult]) -> dict[str, Any]:
    """`check()`'s outcome as the API's test result, with its duration."""
    timeout = settings.CONNECTION_TEST_TIMEOUT_SECONDS
    started = time.monotonic()
    future = _POOL.submit(check)
    try:
        result = future.result(timeout=timeout)
    except ConnectorError as exc:
        # Raised before the check itself ran (a host the network policy refuses).
        result = CheckResult.failure(exc)
    except FutureTimeout:
        result = CheckResult(
            ok=False,
            reachable=None,
            authenticated=None,
            permitted=None,
            message=f"The connection test did not finish within {timeout:g} seconds.",
            error_type="timeout",
        )
    except Exception:
        logger.exception("connectors.check_crashed")
        result = CheckResult(
            ok=False,
            reachable=None,
            authenticated=None,
            permitted=None,
            message="The connection test failed unexpectedly; quote the X-Request-ID to support.",
            error_type="internal_error",
        )
    outcome = result.as_dict()
    outcome["status"] = "succeeded" if result.ok else "failed"
    outcome["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
    return outcome
