"""Fixtures for destination tests (the scratch PostgreSQL databases come from the parent)."""

from pathlib import Path

import pytest


@pytest.fixture
def duckdb_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The directory DuckDB destination files resolve under, for this test alone."""
    directory = tmp_path / "root"
    monkeypatch.setenv("LANDED_DUCKDB_ROOT", str(directory))
    monkeypatch.delenv("LANDED_DATA_DIR", raising=False)
    return directory
