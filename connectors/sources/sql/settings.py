"""Parsing what the SQL sources' configs share."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from connectors.framework.base import ConfigError


def require_fields(config: dict[str, Any], names: Iterable[str]) -> None:
    """A ConfigError naming every one of `names` the config leaves empty."""
    missing = [name for name in names if not config.get(name)]
    if missing:
        raise ConfigError(f"Missing required field(s): {', '.join(missing)}.")


def name_list(text: str) -> tuple[str, ...]:
    """The names of a comma-separated list, stripped, without empty ones or repeats."""
    return tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
