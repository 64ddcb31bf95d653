"""The DuckDB destination's own behaviour, on files under a temporary root: its spec and
check, paths kept inside the root, the file lock, and the table rebuild where DuckDB cannot
ALTER in place. What every destination does is in test_contract.py."""

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from connectors.destinations import duckdb as duck
from connectors.destinations.duckdb import DuckDBDestination
from connectors.framework.base import ConfigError, StorageFullError, TransientError
from connectors.framework.types import Column
from tests.connectors.destinations.helpers import DUCKDB_PATH as PATH
from tests.connectors.destinations.helpers import NS, batch_of, keyed, load
from tests.connectors.destinations.helpers import duckdb_rows as values


# --- Fixtures ------------------------------------------------------------------------------
@pytest.fixture
def root(duckdb_root: Path) -> Path:
    return duckdb_root


@pytest.fixture
def file(root: Path) -> Path:
    return root / PATH


@pytest.fixture
def destination(root: Path) -> DuckDBDestination:
    return DuckDBDestination({"path": PATH})


def test_spec_describes_the_file() -> None:
    spec = DuckDBDestination.spec
    assert (spec.type, spec.display_name, spec.category, spec.auth_method) == (
        "duckdb",
        "DuckDB",
        "file",
        "file",
    )
    assert [(f.name, f.type, f.required) for f in spec.fields] == [("path", "string", True)]


# --- Schema evolution ----------------------------------------------------------------------
def _changes(stream: Any) -> set[tuple[str, str | None, str | None, str | None]]:
    return {(c.change, c.column, c.old_type, c.new_type) for c in stream.schema_changes}


def test_merge_table_evolves_its_key_and_other_columns(
    destination: DuckDBDestination, file: Path
) -> None:
    """DuckDB cannot ALTER a key column's type (nor any column of a table with an index):
    the table is rebuilt in the transaction, its key, comments and indexes carried over."""
    v1 = (Column("id", "integer"), Column("n", "integer"), Column("gone", "string"))
    v2 = (Column("id", "bigint"), Column("n", "string"))
    with destination.open_loader(NS) as loader:
        first = loader.open_stream(load("keyed", "merge", v1))
        first.write(batch_of(list(v1), [{"id": 1, "n": 1, "gone": "g"}]), None)
        first.finish(None)
        loader.connection.execute(f"CREATE INDEX keyed_n ON {NS}.keyed (n)")

        second = loader.open_stream(load("keyed", "merge", v2))
        assert _changes(second) == {
            ("type_changed", "id", "INTEGER", "BIGINT"),
            ("type_changed", "n", "INTEGER", "VARCHAR"),
            ("column_removed", "gone", "VARCHAR", None),
        }
        second.write(batch_of(list(v2), [{"id": 1, "n": "one"}, {"id": 2**40, "n": "big"}]), None)
        second.finish(None)
        assert loader.open_stream(load("keyed", "merge", v2)).schema_changes == []
    assert values(file, f"SELECT id, n, gone FROM {NS}.keyed ORDER BY id") == [
        (1, "one", "g"),
        (2**40, "big", None),
    ]
    indexes = values(file, f"SELECT index_name FROM duckdb_indexes() WHERE schema_name = '{NS}'")
    assert indexes == [("keyed_n",)]
    keys = values(
        file,
        "SELECT constraint_column_names FROM duckdb_constraints() "
        f"WHERE schema_name = '{NS}' AND table_name = 'keyed' AND constraint_type = 'PRIMARY KEY'",
    )
    assert keys == [(["id"],)]


def test_namespace_named_like_the_file(root: Path) -> None:
    destination = DuckDBDestination({"path": "shop.duckdb"})
    with destination.open_loader("shop") as loader:
        stream = loader.open_stream(load("orders", "merge"))
        stream.write(keyed([(1, "a")]), {"n": 1})
        stream.finish({"n": 1})
        assert loader.saved_states()["public.orders"].complete
    assert values(root / "shop.duckdb", "SELECT id, v FROM shop.shop.orders") == [(1, "a")]


# --- Paths ---------------------------------------------------------------------------------
def test_relative_path_resolves_under_the_root(root: Path) -> None:
    assert duck.resolve_path("a/b.duckdb") == (root / "a" / "b.duckdb").resolve()


def test_absolute_path_inside_the_root_is_accepted(root: Path) -> None:
    inside = root / "x" / "y.duckdb"
    assert duck.resolve_path(str(inside)) == inside.resolve()


@pytest.mark.parametrize(
    "path",
    [
        "../escape.duckdb",
        "a/../../escape.duckdb",
        "a/../b.duckdb",
        "/etc/passwd.duckdb",
        "/tmp/elsewhere.duckdb",
        "notes.txt",
        "noext",
        "",
        ".duckdb",
        "a\x00b.duckdb",
    ],
)
def test_path_escapes_are_refused(root: Path, path: str) -> None:
    with pytest.raises(ConfigError):
        duck.resolve_path(path)
    result = DuckDBDestination({"path": path}).check()
    assert not result.ok and result.error_type == "config_error"


def test_symlink_out_of_the_root_is_refused(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root.mkdir(parents=True)
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ConfigError):
        duck.resolve_path("link/data.duckdb")
    with pytest.raises(ConfigError):
        DuckDBDestination({"path": "link/data.duckdb"}).open_loader(NS)
    assert list(outside.iterdir()) == []


def test_root_falls_back_to_data_dir_then_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LANDED_DUCKDB_ROOT", raising=False)
    monkeypatch.setenv("LANDED_DATA_DIR", str(tmp_path / "data"))
    assert duck.duckdb_root() == (tmp_path / "data" / "duckdb").resolve()
    monkeypatch.delenv("LANDED_DATA_DIR")
    monkeypatch.chdir(tmp_path)
    assert duck.duckdb_root() == (tmp_path / "var" / "duckdb").resolve()


def test_open_loader_creates_parent_directories(destination: DuckDBDestination, file: Path) -> None:
    assert not file.parent.exists()
    with destination.open_loader(NS):
        pass
    assert file.exists()


# --- Check and locking ---------------------------------------------------------------------
def test_check_succeeds_and_creates_nothing(destination: DuckDBDestination, root: Path) -> None:
    root.mkdir(parents=True)
    result = destination.check()
    assert result.ok, result.message
    assert list(root.iterdir()) == []


def test_check_opens_an_existing_file(destination: DuckDBDestination, file: Path) -> None:
    with destination.open_loader(NS):
        pass
    assert destination.check().ok


def test_check_refuses_a_file_that_is_not_duckdb(
    destination: DuckDBDestination, file: Path
) -> None:
    file.parent.mkdir(parents=True)
    file.write_text("not a database")
    result = destination.check()
    assert not result.ok and result.error_type == "config_error"
    assert "not a DuckDB" in result.message


# Opens the DuckDB file for writing, says so, and holds it until killed.
_HOLDER = """
import sys, time, duckdb
connection = duckdb.connect(sys.argv[1])
print("held", flush=True)
time.sleep(600)
"""


@pytest.fixture
def held_file(file: Path) -> Iterator[Path]:
    """The file, held open for writing by another process."""
    file.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(file)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield file
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_a_file_in_use_is_a_retryable_clear_error(
    destination: DuckDBDestination, held_file: Path
) -> None:
    started = time.monotonic()
    with pytest.raises(TransientError, match="in use") as raised:
        destination.open_loader(NS)
    assert raised.value.retryable
    assert PATH in raised.value.message and str(held_file.parent) not in raised.value.message
    result = destination.check()
    assert not result.ok and result.error_type == "transient" and "in use" in result.message
    assert time.monotonic() - started < 10


# --- Lengths and OS errors -----------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "a" * 250 + ".duckdb",
        "dir/" + "é" * 125 + ".duckdb",
        "/".join(["d" * 200] * 21) + "/x.duckdb",
    ],
)
def test_names_longer_than_the_file_system_allows_are_refused(root: Path, path: str) -> None:
    with pytest.raises(ConfigError, match="too long"):
        duck.resolve_path(path)
    result = DuckDBDestination({"path": path}).check()
    assert not result.ok and result.error_type == "config_error"


def test_the_longest_file_name_is_accepted(root: Path) -> None:
    name = "a" * (255 - len(".duckdb")) + ".duckdb"
    assert duck.resolve_path(name).name == name


def test_check_reports_an_os_error_as_a_failed_check(
    destination: DuckDBDestination, root: Path
) -> None:
    # A regular file where the tenant's directory should be: stat() and the probe fail with
    # ENOTDIR, which must come back as a failed check rather than an exception.
    root.parent.mkdir(parents=True, exist_ok=True)
    root.write_text("not a directory")
    result = destination.check()
    assert not result.ok
    assert result.error_type == "permission_denied"


def test_a_symlink_loop_is_a_failed_check_not_a_crash(root: Path) -> None:
    root.mkdir(parents=True)
    (root / "loop").symlink_to(root / "loop")
    with pytest.raises(ConfigError):
        duck.resolve_path("loop/data.duckdb")
    result = DuckDBDestination({"path": "loop/data.duckdb"}).check()
    assert not result.ok and result.error_type == "config_error"


# --- A full disk ---------------------------------------------------------------------------
@pytest.fixture
def small_disk(root: Path) -> Iterator[Path]:
    """The DuckDB root on a 4 MB tmpfs (mounting needs root; skipped otherwise)."""
    root.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(root)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)


def _rows(first: int, count: int) -> pa.RecordBatch:
    return keyed([(i, f"{i:08d}" + "x" * 90) for i in range(first, first + count)])


@pytest.mark.parametrize("checkpoint_threshold", [None, "256KB"], ids=["wal", "checkpoint"])
def test_a_full_disk_fails_clearly_and_the_file_keeps_its_last_committed_batch(
    destination: DuckDBDestination,
    small_disk: Path,
    file: Path,
    checkpoint_threshold: str | None,
) -> None:
    """The disk fills under a load: whether DuckDB meets it writing its WAL at commit or in a
    checkpoint (which invalidates the database for the connection), the write fails with a
    storage_full error in the user's words, and the file, opened again by the same process
    once space is freed, holds the batches committed before it with their state."""
    per_batch = 2000
    committed = 0
    loader = destination.open_loader(NS)
    try:
        if checkpoint_threshold:
            # Checkpoints after every few batches, as a long sync's WAL would trigger them.
            loader.execute(f"SET checkpoint_threshold = '{checkpoint_threshold}'")
        stream = loader.open_stream(load("t"))
        with pytest.raises(StorageFullError) as raised:
            for _ in range(100):  # 4 MB hold far fewer batches
                stream.write(_rows(committed, per_batch), {"after": committed + per_batch})
                committed += per_batch
        # Anything else the stream tries meets the same, clear answer.
        with pytest.raises(StorageFullError):
            stream.write(_rows(committed, per_batch), {"after": committed + per_batch})
    finally:
        loader.close()
    error = raised.value
    # The path the test meant to take: a failed WAL write at commit, or a fatal checkpoint.
    expected = duckdb.FatalException if checkpoint_threshold else duckdb.TransactionException
    assert isinstance(error.__cause__, expected), repr(error.__cause__)
    assert not error.retryable and error.kind == "storage_full" and error.stream == "public.t"
    assert f"{PATH!r} is full" in error.message
    assert str(small_disk) not in error.message and ".wal" not in error.message
    assert committed > 0

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    with destination.open_loader(NS) as again:
        (last,) = again.saved_states()["public.t"].state.values()
        # Rows and state are one transaction: whatever the failure left, they agree.
        assert last in (committed, committed + per_batch)
        assert values(file, f"SELECT count(*), count(DISTINCT id), max(id) FROM {NS}.t") == [
            (last, last, last - 1)
        ]
        resumed = again.open_stream(load("t"))
        resumed.write(_rows(last, per_batch), {"after": last + per_batch})
    assert values(file, f"SELECT count(*) FROM {NS}.t") == [(last + per_batch,)]


def test_the_connection_test_says_when_the_disk_is_full(
    destination: DuckDBDestination, small_disk: Path
) -> None:
    assert destination.check().ok
    filler = small_disk / "filler"
    with filler.open("wb") as out, contextlib.suppress(OSError):
        out.write(b"\0" * (8 * 1024 * 1024))  # more than the disk holds
    result = destination.check()
    assert not result.ok and result.error_type == "storage_full"
    assert result.message.startswith(f"The disk holding the DuckDB file {PATH!r} is full")
    filler.unlink()
    assert destination.check().ok
