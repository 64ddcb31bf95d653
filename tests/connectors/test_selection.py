"""Saved stream settings as the framework reads them: plain JSON from the database, checked
where it becomes the framework's modes."""

import pytest

from connectors.framework import selection
from connectors.framework.base import ConfigError, Stream
from connectors.framework.types import Column

ORDERS = Stream(
    name="orders",
    columns=(Column("id", "integer"), Column("updated_at", "timestamp")),
    primary_key=("id",),
    cursor_candidates=("updated_at",),
)


def test_saved_modes_are_read_and_unset_ones_take_the_defaults():
    saved = [
        {"name": "orders", "sync_mode": "incremental", "load_mode": "merge"},
    ]
    (chosen,) = selection.resolve([ORDERS], saved)
    assert (chosen.sync_mode, chosen.load_mode) == ("incremental", "merge")
    (unset,) = selection.resolve([ORDERS], [{"name": "orders"}])
    assert (unset.sync_mode, unset.load_mode) == ("full_refresh", "append")


@pytest.mark.parametrize(
    ("field", "value"), [("sync_mode", "cdc"), ("load_mode", "upsert"), ("load_mode", "Merge")]
)
def test_a_saved_mode_the_framework_does_not_know_is_a_config_error(field, value):
    saved = [{"name": "orders", "sync_mode": "full_refresh", "load_mode": "append", field: value}]
    with pytest.raises(ConfigError) as caught:
        selection.resolve([ORDERS], saved)
    assert caught.value.stream == "orders"
    assert f"unknown {field} '{value}'" in caught.value.message
