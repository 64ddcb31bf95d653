"""A SQL source's connection test, reported rather than raised."""

from __future__ import annotations

from collections.abc import Callable

from connectors.framework.base import CheckResult, ConnectorError


def report_check(
    probe: Callable[[], str],
    *,
    driver_errors: tuple[type[BaseException], ...],
    map_error: Callable[[BaseException], ConnectorError],
) -> CheckResult:
    """Run `probe` (which returns a summary for the user) and report how it went: a driver's
    failure as the connector error it stands for, anything else as unexpected. Every failure
    is reported, never raised."""
    try:
        message = probe()
    except ConnectorError as error:
        return CheckResult.failure(error)
    except driver_errors as exc:
        return CheckResult.failure(map_error(exc))
    except Exception as exc:  # check() reports, whatever happens
        return CheckResult.failure(ConnectorError(f"Unexpected error: {exc}"))
    return CheckResult.success(message)
