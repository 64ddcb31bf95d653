"""Where each stream's read starts, from the state committed in the destination.

The destination keeps one state row per stream, written with each batch. What it holds:
`{"source": <the source's position>, "cursor_field", "primary_key", "load_mode",
"connector_id", "live": ...}`. While an overwrite stages a new copy, `live` keeps the state
that the live table (still the old copy) matches, so that an overwrite that never finishes
(cancelled, failed for good) does not move the next incremental sync's starting point.

The row's `run_id` is the load's id: the sync's `run_id`, or `<run_id>.<attempt>` when an
attempt had to start a stream over (nothing to resume from, or settings changed between
attempts); the destination keeps an overwrite's staging table only for the same load id.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from connectors.framework.base import LoadMode, SavedState, SyncMode
from connectors.framework.selection import StreamSelection


@dataclass(frozen=True)
class StreamSettings:
    sync_mode: SyncMode
    load_mode: LoadMode
    cursor_field: str | None
    primary_key: tuple[str, ...]

    @classmethod
    def from_selection(cls, chosen: StreamSelection, *, full_resync: bool) -> StreamSettings:
        """The settings a job loads the stream with: its own, except that a full resync
        replaces every table."""
        return cls(
            sync_mode=chosen.sync_mode,
            load_mode="overwrite" if full_resync else chosen.load_mode,
            cursor_field=chosen.cursor_field,
            primary_key=tuple(chosen.primary_key),
        )


@dataclass(frozen=True)
class StreamPlan:
    skip: bool  # loaded whole by an earlier attempt of this sync
    load_id: str
    source_state: dict[str, Any] | None
    live: dict[str, Any] | None  # the state the live table matches, carried while staging
    # The mode this load writes with: the settings' own, or the override below. Decided
    # here, once; everything after the plan reads it from the plan.
    effective_load_mode: LoadMode
    # Set when this load must replace the table instead of the stream's own mode: an
    # incremental append whose cursor or key changed re-reads everything.
    load_mode: LoadMode | None = None
    # A backfill reads from the start again; until it completes, its states carry the
    # position the stream had reached before it, where a stream that gives the backfill up
    # (switched to append, say) goes on from.
    backfill: bool = False
    before_backfill: Any = None

    def state(self, settings: StreamSettings, connector_id: str, source: Any) -> dict[str, Any]:
        """The state to commit with a batch that reached `source`."""
        state: dict[str, Any] = {
            "source": source,
            "cursor_field": settings.cursor_field,
            "primary_key": list(settings.primary_key),
            "load_mode": self.effective_load_mode,
            "connector_id": connector_id,
        }
        if self.effective_load_mode == "overwrite":
            state["live"] = self.live
        if self.backfill:
            state["before_backfill"] = self.before_backfill
        return state

    def final_state(
        self, settings: StreamSettings, connector_id: str, source: Any
    ) -> dict[str, Any]:
        """The state committed when the stream completes: the live table now matches it."""
        state = self.state(settings, connector_id, source)
        state.pop("live", None)
        state.pop("before_backfill", None)
        return state


def live_state(saved: SavedState | None, connector_id: str) -> dict[str, Any] | None:
    """The state the stream's live table matches; None when unknown (never loaded, or left
    behind by another connector that loaded into this schema before)."""
    if saved is None or not saved.state or saved.state.get("connector_id") != connector_id:
        return None
    if saved.state.get("load_mode") == "overwrite" and not saved.complete:
        return saved.state.get("live")
    return saved.state


def _same_settings(state: dict[str, Any], settings: StreamSettings) -> bool:
    return (
        state.get("load_mode") == settings.load_mode
        and state.get("cursor_field") == settings.cursor_field
        and tuple(state.get("primary_key") or ()) == settings.primary_key
    )


@dataclass(frozen=True)
class _EarlierAttempt:
    """What an earlier attempt of this same sync committed for the stream."""

    load_id: str
    state: dict[str, Any]
    complete: bool


def _earlier_attempt(
    saved: SavedState | None, *, run_id: str, connector_id: str
) -> _EarlierAttempt | None:
    """The stream's saved state if an earlier attempt of this sync (run `run_id`, load id
    `run_id` or `run_id.<attempt>`) committed it for this connector; None otherwise."""
    if saved is None or not saved.state or saved.state.get("connector_id") != connector_id:
        return None
    if saved.run_id is None or saved.run_id.split(".")[0] != run_id:
        return None
    return _EarlierAttempt(load_id=saved.run_id, state=saved.state, complete=saved.complete)


def plan_stream(
    *,
    saved: SavedState | None,
    settings: StreamSettings,
    run_id: str,
    attempt: int,
    connector_id: str,
    full_resync: bool,
    backfill: bool = False,
) -> StreamPlan:
    """`backfill`: read an incremental stream from the start again, keeping its load mode
    (merge), instead of from the live table's cursor."""
    live = live_state(saved, connector_id)
    earlier = _earlier_attempt(saved, run_id=run_id, connector_id=connector_id)
    if earlier is not None and earlier.complete:
        return StreamPlan(
            skip=True,
            load_id=earlier.load_id,
            source_state=None,
            live=None,
            effective_load_mode=settings.load_mode,
        )

    # The cursor or key changed since the live table was loaded: the old position means
    # nothing in the new order, so the stream is read again from the start. Merge absorbs
    # that; an append would load every row twice, so this load replaces the table instead.
    incremental = settings.sync_mode == "incremental" and not full_resync and not backfill
    position_lost = incremental and live is not None and not _same_position(live, settings)
    override: LoadMode | None = (
        "overwrite" if position_lost and settings.load_mode == "append" else None
    )
    effective = replace(settings, load_mode=override) if override else settings

    # Where the stream stood before a backfill that has not completed (an interrupted one
    # left its position in the live state).
    reached = live or {}
    unfinished_backfill = "before_backfill" in reached
    before_backfill = reached["before_backfill"] if unfinished_backfill else reached.get("source")

    if (
        earlier is not None
        and _same_settings(earlier.state, effective)
        and earlier.state.get("source")
    ):
        # An earlier attempt of this sync committed batches: go on after the last one.
        carried = earlier.state.get("live") if effective.load_mode == "overwrite" else None
        return StreamPlan(
            skip=False,
            load_id=earlier.load_id,
            source_state=earlier.state["source"],
            live=carried,
            effective_load_mode=effective.load_mode,
            load_mode=override,
            backfill=backfill,
            before_backfill=before_backfill if backfill else None,
        )

    # A new load. Within a sync that already began this stream, it gets a load id of its
    # own, so that nothing staged by the abandoned attempt is kept.
    load_id = f"{run_id}.{attempt}" if earlier is not None else run_id
    start = None
    if incremental and live is not None and not position_lost:
        # A backfill given up goes on from where the stream was before it.
        start = before_backfill if unfinished_backfill else live.get("source")
    return StreamPlan(
        skip=False,
        load_id=load_id,
        source_state=start,
        live=live,
        effective_load_mode=effective.load_mode,
        load_mode=override,
        backfill=backfill,
        before_backfill=before_backfill if backfill else None,
    )


def _same_position(live: dict[str, Any], settings: StreamSettings) -> bool:
    """Whether a position saved under `live`'s settings is one in the order `settings` read."""
    return (
        live.get("cursor_field") == settings.cursor_field
        and tuple(live.get("primary_key") or ()) == settings.primary_key
    )
