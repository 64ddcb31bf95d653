"""The contracts of sources and destinations.

Sources: `spec`, `check`, `discover`, `read`. Destinations: `spec`, `check`, `open_loader`.
Both are handed plain config dicts (secrets already decrypted) and know nothing of Django.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from connectors.framework.credentials import TokenProvider
from connectors.framework.passthrough import CopyChunk, CopyOffer, CopyRefused
from connectors.framework.spec import ConfigIssue, ConnectorSpec
from connectors.framework.types import Column

if TYPE_CHECKING:
    # For annotations only: the API process imports these contracts (errors, specs) and
    # never needs Arrow; only the code that moves data loads it.
    import pyarrow as pa

SyncMode = Literal["full_refresh", "incremental"]
LoadMode = Literal["append", "overwrite", "merge"]
SYNC_MODES: tuple[SyncMode, ...] = ("full_refresh", "incremental")
LOAD_MODES: tuple[LoadMode, ...] = ("append", "overwrite", "merge")

# Rows per batch a source aims at; the actual batch is bounded by rows or by bytes.
DEFAULT_BATCH_ROWS = 100_000


# --- Errors --------------------------------------------------------------------------------
class ConnectorError(Exception):
    """A failure a user can act on. `retryable` failures (network, timeouts, a server
    restarting) are retried automatically; the others (bad password, missing table) are not."""

    retryable: ClassVar[bool] = False
    kind: ClassVar[str] = "connector_error"

    def __init__(self, message: str, *, stream: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.stream = stream


class ConfigError(ConnectorError):
    kind = "config_error"


class HostNotAllowedError(ConfigError):
    """The server's outbound network policy refuses the host (landed/security)."""

    kind = "host_not_allowed"


class UnreachableError(ConnectorError):
    retryable = True
    kind = "unreachable"


class AuthenticationError(ConnectorError):
    kind = "authentication_failed"


class PermissionError_(ConnectorError):
    kind = "permission_denied"


class StreamNotFoundError(ConnectorError):
    kind = "stream_not_found"


class TransientError(ConnectorError):
    retryable = True
    kind = "transient"


class StorageFullError(ConnectorError):
    """The destination's disk (or quota) is full. Not retried: space does not come back on
    its own within the retries' minutes; someone frees it, and the next sync resumes from the
    last batch the destination committed."""

    kind = "storage_full"


class ReauthorizeRequiredError(ConnectorError):
    """The grant the source reads with is gone (an app uninstalled or suspended, an
    integration disconnected): only the user can restore it, by authorizing again. Not
    retried, and scheduled syncs of the connector stop until it is fixed."""

    kind = "reauthorize_required"


# --- Check ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckResult:
    """The outcome of a connection test, step by step: reachable, authenticated, permitted.
    A step that was not reached is None."""

    ok: bool
    reachable: bool | None
    authenticated: bool | None
    permitted: bool | None
    message: str
    error_type: str | None = None

    @classmethod
    def success(cls, message: str = "Connection succeeded.") -> CheckResult:
        return cls(True, True, True, True, message)

    @classmethod
    def failure(cls, error: ConnectorError) -> CheckResult:
        """Each step as far as the error tells: an unreachable system was not reached; a
        refused login was reached; a refused permission passed the login. Any other error
        leaves the steps unknown."""
        steps: dict[str, tuple[bool | None, bool | None, bool | None]] = {
            "unreachable": (False, None, None),
            "authentication_failed": (True, False, None),
            "permission_denied": (True, True, False),
            # The system answered, and refused the grant behind the credentials.
            "reauthorize_required": (True, False, None),
        }
        reachable, authenticated, permitted = steps.get(error.kind, (None, None, None))
        return cls(False, reachable, authenticated, permitted, error.message, error.kind)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "reachable": self.reachable,
            "authenticated": self.authenticated,
            "permitted": self.permitted,
            "message": self.message,
            "error_type": self.error_type,
        }


# --- Streams -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stream:
    """A discovered stream: a table, a view, an API collection."""

    name: str  # unique within the source, e.g. "public.orders"
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    cursor_candidates: tuple[str, ...] = ()  # columns usable as an incremental cursor
    default_cursor: str | None = None
    supports_incremental: bool = True
    kind: str = "table"  # "table", "view", "collection"

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "columns": [c.as_dict() for c in self.columns],
            "primary_key": list(self.primary_key),
            "cursor_candidates": list(self.cursor_candidates),
            "default_cursor": self.default_cursor,
            "supports_incremental": self.supports_incremental,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stream:
        return cls(
            name=data["name"],
            kind=data.get("kind", "table"),
            columns=tuple(Column.from_dict(c) for c in data["columns"]),
            primary_key=tuple(data.get("primary_key") or ()),
            cursor_candidates=tuple(data.get("cursor_candidates") or ()),
            default_cursor=data.get("default_cursor"),
            supports_incremental=data.get("supports_incremental", True),
        )


@dataclass(frozen=True)
class ReadRequest:
    """What to read of one stream.

    `state` is the position a previous read reached (as yielded with a batch), or None to
    start from the beginning. For `incremental` it holds the cursor reached; for
    `full_refresh` it lets an interrupted read resume after the last delivered key.
    """

    stream: Stream
    sync_mode: SyncMode = "full_refresh"
    cursor_field: str | None = None
    primary_key: tuple[str, ...] = ()
    state: dict[str, Any] | None = None
    batch_rows: int = DEFAULT_BATCH_ROWS


@dataclass
class Batch:
    """Rows of one stream, and the stream's state once these rows are loaded.
    `state` is JSON-serialisable; loading it with the rows, atomically, is the destination's job."""

    records: pa.RecordBatch
    state: dict[str, Any] | None
    bytes_read: int = 0


# --- Source --------------------------------------------------------------------------------
class Source(ABC):
    spec: ClassVar[ConnectorSpec]
    # Config fields holding URLs the source connects to: their hosts are checked against the
    # server's network policy when a config is saved (the source checks each connection too).
    url_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        config: dict[str, Any],
        *,
        hostaddr: str | None = None,
        allow_private_networks: bool = False,
        credentials: TokenProvider | None = None,
    ) -> None:
        """`hostaddr`: the IP address the config's host was resolved to and checked against
        the server's network policy; a connector connects there (the host name still serves
        TLS verification), so that a DNS answer cannot change between check and connect.
        `allow_private_networks`: the policy itself, for sources that connect to URLs of their
        config (no single host to pin) and check every connection they open.
        `credentials`: the tokens the platform supplies, for a source whose spec names the
        kind it needs (`spec.credentials`; see connectors/framework/credentials.py)."""
        self.config = config
        self.hostaddr = hostaddr
        self.allow_private_networks = allow_private_networks
        self.credentials = credentials

    @classmethod
    def config_issues(cls, config: dict[str, Any]) -> list[ConfigIssue]:
        """Problems with a config that its spec's field types cannot express (checked when a
        connector is saved, before anything connects)."""
        return []

    @abstractmethod
    def check(self) -> CheckResult:
        """Credentials valid, system reachable, read permitted; nothing written."""

    @abstractmethod
    def discover(self) -> list[Stream]:
        """The streams with their columns, keys and cursor candidates."""

    @abstractmethod
    def read(self, request: ReadRequest) -> Iterator[Batch]:
        """The stream's rows from `request.state` on, in bounded batches, in the order that
        makes each batch's state a valid resume point."""

    def estimate_rows(self, request: ReadRequest) -> int | None:
        """About how many rows `read(request)` will yield (from `request.state` on), for a
        sync's percent and time left; None when the source cannot tell cheaply (the default).

        Optional. It must cost next to nothing next to the read (statistics, a count the API
        returns, arithmetic; never a scan), bound its own time (a statement timeout), and keep
        to a connection of its own: the engine asks on a thread of its own, possibly while the
        read runs, and goes on without an answer that fails or comes late."""
        return None

    def copy_offer(self, request: ReadRequest) -> CopyOffer:
        """The read of `request` as PostgreSQL binary COPY data (see
        `connectors.framework.passthrough`), or CopyRefused saying why not. Optional: by
        default a source refuses."""
        raise CopyRefused("The source does not read PostgreSQL binary COPY.")

    def read_copy(self, request: ReadRequest, offer: CopyOffer) -> Iterator[CopyChunk]:
        """The rows of `request` as binary COPY chunks of at most `request.batch_rows` rows,
        each bounded by the read's order and carrying the state reached after it, as `read`
        would yield them. Only called with an offer this source made."""
        raise CopyRefused("The source does not read PostgreSQL binary COPY.")


# --- Destination ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SchemaChange:
    """A change the loader applied (or recorded) to a destination table."""

    stream: str
    change: Literal["table_created", "column_added", "column_removed", "type_changed"]
    column: str | None = None
    old_type: str | None = None
    new_type: str | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "change": self.change,
            "column": self.column,
            "old_type": self.old_type,
            "new_type": self.new_type,
            "note": self.note,
        }


@dataclass(frozen=True)
class StreamLoad:
    """How one stream lands: table name, columns, key and load mode. `run_id` ties the loads of
    one sync (across its retried attempts) together: a resumed attempt with the same run id
    continues an unfinished overwrite instead of starting it over."""

    stream: str
    table: str
    columns: tuple[Column, ...]
    load_mode: LoadMode
    run_id: str
    primary_key: tuple[str, ...] = ()


@dataclass
class SavedState:
    """A stream's state as committed in the destination."""

    stream: str
    state: dict[str, Any] | None
    run_id: str | None
    complete: bool


@dataclass
class LoadResult:
    rows: int
    bytes: int


# The stages of a stream's load a loader goes through, for live progress: `loading` (batches
# inserted), `merging` (batches upserted by key), `swapping` (an overwrite's staging table
# swapped in), `finishing` (the final state committed).
LoadStage = Literal["loading", "merging", "swapping", "finishing"]
LOAD_STAGES: tuple[str, ...] = ("loading", "merging", "swapping", "finishing")


class StreamLoader(ABC):
    """Loads one stream's batches. Every `write` is one transaction holding the rows and the
    stream's new state; `finish` completes the stream (the atomic swap of an overwrite).

    Whoever drives the load may set `stage_listener`: the loader calls it with each stage it
    enters (`report_stage`), before the stage's work, on the thread that drives it; so a
    listener that records the stage shows it while the work runs. A repeated stage is not
    reported again: a listener is called a few times per stream, not once per batch."""

    schema_changes: list[SchemaChange]
    stage_listener: Callable[[LoadStage], None] | None = None
    _reported_stage: LoadStage | None = None

    def report_stage(self, stage: LoadStage) -> None:
        if stage == self._reported_stage:
            return
        self._reported_stage = stage
        if self.stage_listener is not None:
            self.stage_listener(stage)

    @abstractmethod
    def write(self, records: pa.RecordBatch, state: dict[str, Any] | None) -> LoadResult: ...

    def copy_refusal(self, offer: CopyOffer) -> str | None:
        """Why this loader cannot load `offer`'s binary COPY data into its table as it is;
        None when it can (see `connectors.framework.passthrough`). By default it cannot."""
        return "The destination does not load PostgreSQL binary COPY."

    def write_copy(self, chunk: CopyChunk, state: dict[str, Any] | None) -> LoadResult:
        """Load a chunk of an offer `copy_refusal` accepted, with `state`, in one transaction
        (as `write` does a batch)."""
        raise NotImplementedError("The destination does not load PostgreSQL binary COPY.")

    @abstractmethod
    def finish(self, state: dict[str, Any] | None) -> None: ...


class Loader(AbstractContextManager["Loader"]):
    """An open connection to a destination namespace (a schema), for one sync."""

    @abstractmethod
    def saved_states(self) -> dict[str, SavedState]:
        """Every stream's state as committed with its rows."""

    @abstractmethod
    def open_stream(self, load: StreamLoad) -> StreamLoader:
        """Create or evolve the stream's table (recording schema changes), ready for writes."""

    @abstractmethod
    def reset_state(self, stream: str) -> None:
        """Forget a stream's state (a full re-sync)."""


class Destination(ABC):
    spec: ClassVar[ConnectorSpec]

    def __init__(
        self, config: dict[str, Any], *, tenant: str | None = None, hostaddr: str | None = None
    ) -> None:
        """`tenant` names the account the destination loads for: a destination that keeps
        files on the Landed server itself keeps each tenant's apart. `hostaddr` as for
        sources."""
        self.config = config
        self.tenant = tenant
        self.hostaddr = hostaddr

    @classmethod
    def config_issues(
        cls, config: dict[str, Any], *, tenant: str | None = None
    ) -> list[ConfigIssue]:
        """Problems with a config that its spec's field types cannot express (checked when a
        destination is saved or tested, before anything connects)."""
        return []

    @abstractmethod
    def check(self) -> CheckResult:
        """Reachable, authenticated, and allowed to create tables (nothing left behind)."""

    @abstractmethod
    def open_loader(self, namespace: str) -> Loader:
        """A loader writing into `namespace` (created if missing)."""
