"""Fixtures for connector tests: scratch PostgreSQL databases on the real local server."""

from collections.abc import Iterator

import pytest

from tests.pg import connect, pg_config, scratch

__all__ = ["connect", "pg_config", "scratch_database"]


@pytest.fixture
def scratch_database() -> Iterator[str]:
    """A new, empty PostgreSQL database; dropped afterwards."""
    with scratch() as name:
        yield name
