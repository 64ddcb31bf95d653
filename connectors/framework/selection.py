"""Stream selection: what the user saved, merged with what discovery finds, checked against it.

A saved entry is `{name, enabled, sync_mode, load_mode, cursor_field, primary_key}`; a
discovered stream with no entry is enabled with defaults: incremental + merge where the stream
has a cursor and a key, full refresh + overwrite otherwise. Saved entries are plain JSON from
the database: `resolve` is where their modes become the framework's `SyncMode`/`LoadMode`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeVar

from connectors.framework.base import (
    LOAD_MODES,
    SYNC_MODES,
    ConfigError,
    LoadMode,
    Stream,
    SyncMode,
)

_Mode = TypeVar("_Mode", bound=str)


@dataclass(frozen=True)
class StreamSelection:
    stream: Stream
    enabled: bool
    sync_mode: SyncMode
    load_mode: LoadMode
    cursor_field: str | None
    primary_key: tuple[str, ...]
    saved: bool  # False: defaults, the user saved nothing for this stream

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.stream.name,
            "enabled": self.enabled,
            "sync_mode": self.sync_mode,
            "load_mode": self.load_mode,
            "cursor_field": self.cursor_field,
            "primary_key": list(self.primary_key),
            "saved": self.saved,
        }


def default_selection(stream: Stream) -> StreamSelection:
    cursor = stream.default_cursor if stream.supports_incremental else None
    incremental = bool(cursor and stream.primary_key)
    return StreamSelection(
        stream=stream,
        enabled=True,
        sync_mode="incremental" if incremental else "full_refresh",
        load_mode="merge" if incremental else "overwrite",
        cursor_field=cursor if incremental else None,
        primary_key=tuple(stream.primary_key),
        saved=False,
    )


def resolve(streams: list[Stream], saved: list[dict[str, Any]]) -> list[StreamSelection]:
    """Each discovered stream with its saved settings (or defaults). Saved entries for streams
    that no longer exist are ignored here (and reported by `validate`); a saved mode that is
    not one of the framework's is a ConfigError naming the stream."""
    by_name = {entry["name"]: entry for entry in saved}
    selections = []
    for stream in streams:
        entry = by_name.get(stream.name)
        if entry is None:
            selections.append(default_selection(stream))
            continue
        selections.append(
            StreamSelection(
                stream=stream,
                enabled=entry.get("enabled", True),
                sync_mode=_saved_mode(entry, "sync_mode", SYNC_MODES, default="full_refresh"),
                load_mode=_saved_mode(entry, "load_mode", LOAD_MODES, default="append"),
                cursor_field=entry.get("cursor_field"),
                primary_key=tuple(entry.get("primary_key") or stream.primary_key),
                saved=True,
            )
        )
    return selections


def _saved_mode(
    entry: dict[str, Any], field: str, modes: tuple[_Mode, ...], *, default: _Mode
) -> _Mode:
    """The saved `field` of `entry` as one of `modes` (`default` when it is unset). The API
    accepts only these modes, but the entry is data from the database (written by an older
    version, or by hand): a value the framework does not know stops the sync (and the streams
    page) with a message saying how to repair it, rather than being read as some other mode."""
    value = entry.get(field) or default
    for mode in modes:
        if value == mode:
            return mode
    raise ConfigError(
        f"Stream '{entry['name']}' has an unknown {field} '{value}' saved; save the stream's "
        f"settings again (one of: {', '.join(modes)}).",
        stream=entry["name"],
    )


def validate(streams: list[Stream], entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Problems with a submitted selection, as `{index, field, msg, type}`."""
    by_name = {stream.name: stream for stream in streams}
    problems: list[dict[str, Any]] = []
    seen: set[str] = set()

    def problem(index: int, field: str, msg: str, kind: str = "value_error") -> None:
        problems.append({"index": index, "field": field, "msg": msg, "type": kind})

    for index, entry in enumerate(entries):
        name = entry["name"]
        if name in seen:
            problem(index, "name", f"Stream '{name}' is listed twice.")
            continue
        seen.add(name)
        stream = by_name.get(name)
        if stream is None:
            problem(index, "name", f"Unknown stream '{name}'.", "unknown_stream")
            continue
        columns = {c.name for c in stream.columns}
        sync_mode, load_mode = entry["sync_mode"], entry["load_mode"]
        primary_key = entry.get("primary_key") or list(stream.primary_key)
        if len(set(primary_key)) != len(primary_key):
            problem(index, "primary_key", "A column is listed twice in the primary key.")
        for column in primary_key:
            if column not in columns:
                problem(
                    index,
                    "primary_key",
                    f"Unknown column '{column}' in '{name}'.",
                    "unknown_column",
                )
        cursor = entry.get("cursor_field")
        if sync_mode == "incremental":
            if not stream.supports_incremental:
                problem(index, "sync_mode", f"Stream '{name}' cannot be read incrementally.")
            elif not cursor:
                problem(index, "cursor_field", "Incremental sync needs a cursor_field.", "missing")
            elif cursor not in columns:
                problem(
                    index,
                    "cursor_field",
                    f"Unknown column '{cursor}' in '{name}'.",
                    "unknown_column",
                )
            elif stream.cursor_candidates and cursor not in stream.cursor_candidates:
                allowed = ", ".join(stream.cursor_candidates)
                problem(
                    index, "cursor_field", f"'{cursor}' cannot be a cursor; use one of: {allowed}."
                )
            if load_mode == "overwrite":
                problem(
                    index, "load_mode", "An incremental sync cannot overwrite; use append or merge."
                )
        elif cursor:
            problem(index, "cursor_field", "A cursor_field is only used by incremental syncs.")
        if load_mode == "merge" and not primary_key:
            problem(
                index, "primary_key", f"Merge needs a primary key; '{name}' has none.", "missing"
            )
        if load_mode == "append" and sync_mode == "full_refresh" and not primary_key:
            # A read with no key has no order to resume from: an interrupted attempt would
            # append its rows again.
            problem(
                index,
                "primary_key",
                f"Appending a full refresh needs a primary key to resume exactly once; "
                f"'{name}' has none. Name unique columns as primary_key, or use overwrite.",
                "missing",
            )
    return problems


_UNSAFE = re.compile(r"[^a-z0-9_]+")


def assign_tables(assigned: dict[str, str], stream_names: list[str]) -> dict[str, str]:
    """Destination table names: those already `assigned` never change (a stream's table, once
    loaded, stays where it is, whichever other streams come and go); a new stream gets the
    last part of its name ("public.orders" -> "orders"), made identifier-safe, or its full name
    ("public_orders") when that is taken, or a numbered variant."""
    tables = dict(assigned)
    taken = set(tables.values())
    for name in stream_names:
        if name in tables:
            continue
        short = _identifier(name.rsplit(".", 1)[-1])
        candidates = [short, _identifier(name.replace(".", "_"))]
        table = next((c for c in candidates if c not in taken), None)
        n = 2
        while table is None:
            numbered = f"{candidates[1][:55]}_{n}"
            table = numbered if numbered not in taken else None
            n += 1
        tables[name] = table
        taken.add(table)
    return tables


def _identifier(text: str) -> str:
    ident = _UNSAFE.sub("_", text.lower()).strip("_") or "stream"
    if ident[0].isdigit():
        ident = f"t_{ident}"
    return ident[:60]
