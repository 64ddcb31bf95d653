"""Where a stream's read starts, from the state committed in the destination."""

from connectors.framework.base import SavedState
from syncs.engine.resume import StreamSettings, live_state, plan_stream

CONNECTOR = "c-1"
INCREMENTAL_APPEND = StreamSettings("incremental", "append", "updated_at", ("id",))
OVERWRITE = StreamSettings("incremental", "overwrite", "updated_at", ("id",))


def saved(state, *, run_id="run-1", complete=False, stream="s"):
    return SavedState(stream=stream, state=state, run_id=run_id, complete=complete)


def committed(settings, source, **extra):
    return {
        "source": source,
        "cursor_field": settings.cursor_field,
        "primary_key": list(settings.primary_key),
        "load_mode": settings.load_mode,
        "connector_id": CONNECTOR,
        **extra,
    }


def plan(saved_state, settings=INCREMENTAL_APPEND, *, run_id="run-2", attempt=1, resync=False):
    return plan_stream(
        saved=saved_state,
        settings=settings,
        run_id=run_id,
        attempt=attempt,
        connector_id=CONNECTOR,
        full_resync=resync,
    )


def test_a_first_sync_starts_at_the_beginning():
    result = plan(None)
    assert (result.skip, result.load_id, result.source_state) == (False, "run-2", None)


def test_a_new_sync_goes_on_from_the_cursor():
    state = committed(INCREMENTAL_APPEND, {"cursor": [5, 5]})
    result = plan(saved(state, complete=True))
    assert result.source_state == {"cursor": [5, 5]} and result.load_id == "run-2"


def test_an_attempt_resumes_after_the_last_committed_batch_of_its_sync():
    state = committed(INCREMENTAL_APPEND, {"cursor": [7, 7]})
    result = plan(saved(state, run_id="run-2"), attempt=2)
    assert result.source_state == {"cursor": [7, 7]} and result.load_id == "run-2"


def test_a_stream_finished_by_an_earlier_attempt_is_skipped():
    state = committed(INCREMENTAL_APPEND, {"cursor": [9, 9]})
    assert plan(saved(state, run_id="run-2", complete=True), attempt=2).skip


def test_an_unfinished_overwrite_does_not_move_the_live_cursor():
    """A full resync staged part of a new copy, then was cancelled: the live table still
    matches the cursor from before it, and the next sync goes on from there."""
    live = committed(INCREMENTAL_APPEND, {"cursor": [50, 50]})
    staging = committed(OVERWRITE, {"cursor": [30, 30]}, live=live)
    assert live_state(saved(staging, run_id="run-1"), CONNECTOR) == live
    result = plan(saved(staging, run_id="run-1"))
    assert result.source_state == {"cursor": [50, 50]}


def test_the_resumed_overwrite_carries_the_live_state_along():
    live = committed(INCREMENTAL_APPEND, {"cursor": [50, 50]})
    staging = committed(OVERWRITE, {"cursor": [30, 30]}, live=live)
    result = plan(saved(staging, run_id="run-2"), OVERWRITE, attempt=2, resync=True)
    assert result.source_state == {"cursor": [30, 30]} and result.live == live
    state = result.state(OVERWRITE, CONNECTOR, {"cursor": [40, 40]})
    assert state["live"] == live
    assert "live" not in result.final_state(OVERWRITE, CONNECTOR, {"cursor": [60, 60]})


def test_changed_settings_between_attempts_start_a_new_load():
    staging = committed(OVERWRITE, {"cursor": [30, 30]}, live=None)
    result = plan(saved(staging, run_id="run-2"), INCREMENTAL_APPEND, attempt=3)
    # Not the staging position; a load id of its own, so the old staging table is dropped.
    assert result.source_state is None
    assert result.load_id == "run-2.3"
    # Its later attempts continue that load.
    restarted = committed(INCREMENTAL_APPEND, {"cursor": [3, 3]})
    again = plan(saved(restarted, run_id="run-2.3"), INCREMENTAL_APPEND, attempt=4)
    assert again.source_state == {"cursor": [3, 3]} and again.load_id == "run-2.3"


def test_a_keyless_overwrite_that_cannot_resume_starts_over_with_its_own_load_id():
    keyless = StreamSettings("full_refresh", "overwrite", None, ())
    staging = committed(keyless, None, live=None)
    result = plan(saved(staging, run_id="run-2"), keyless, attempt=2)
    assert result.source_state is None and result.load_id == "run-2.2"


def test_state_left_by_another_connector_is_ignored():
    other = {**committed(INCREMENTAL_APPEND, {"cursor": [99, 99]}), "connector_id": "c-old"}
    result = plan(saved(other, run_id="run-2", complete=True))
    assert result.source_state is None and not result.skip


def test_a_changed_cursor_or_key_reads_from_the_start():
    state = committed(INCREMENTAL_APPEND, {"cursor": [5, 5]})
    other_cursor = StreamSettings("incremental", "append", "created_at", ("id",))
    other_key = StreamSettings("incremental", "append", "updated_at", ("id", "region"))
    assert plan(saved(state, complete=True), other_cursor).source_state is None
    assert plan(saved(state, complete=True), other_key).source_state is None


def test_a_full_resync_reads_from_the_start():
    state = committed(INCREMENTAL_APPEND, {"cursor": [5, 5]})
    assert plan(saved(state, complete=True), OVERWRITE, resync=True).source_state is None


def test_a_changed_key_of_an_append_stream_overwrites_and_its_retry_resumes():
    old_live = committed(INCREMENTAL_APPEND, {"cursor": [50, 50]})
    new_key = StreamSettings("incremental", "append", "updated_at", ("id", "email"))
    first = plan(saved(old_live, run_id="run-1", complete=True), new_key)
    assert first.load_mode == "overwrite" and first.source_state is None
    assert first.live == old_live

    # Attempt 1 staged 30 rows, then failed: attempt 2 goes on with the staging table.
    as_overwrite = StreamSettings("incremental", "overwrite", "updated_at", ("id", "email"))
    staged = committed(as_overwrite, {"cursor": [30, 30, "x"]}, live=old_live)
    retry = plan(saved(staged, run_id="run-2"), new_key, attempt=2)
    assert retry.load_mode == "overwrite"
    assert retry.load_id == "run-2" and retry.source_state == {"cursor": [30, 30, "x"]}
    assert retry.live == old_live

    # Swapped in: the next sync appends from the new position.
    done = committed(as_overwrite, {"cursor": [50, 50, "x"]})
    after = plan(saved(done, run_id="run-2", complete=True), new_key, run_id="run-3")
    assert after.load_mode is None and after.source_state == {"cursor": [50, 50, "x"]}
