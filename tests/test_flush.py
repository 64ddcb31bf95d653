"""The flush after each transactional test (tests/conftest.py empties the tables with DELETE):
every table ends empty, rows that reference each other included."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.accounts.factories import UserFactory
from tests.connectors.factories import make_connector, make_destination


@pytest.mark.django_db(transaction=True)
def test_the_flush_empties_every_table_by_delete() -> None:
    account = UserFactory().account
    make_connector(account, make_destination(account), name="demo")

    with CaptureQueriesContext(connection) as queries:
        # As TransactionTestCase calls it after each test.
        call_command(
            "flush",
            verbosity=0,
            interactive=False,
            reset_sequences=False,
            allow_cascade=False,
            inhibit_post_migrate=True,
        )

    flush = [q["sql"] for q in queries.captured_queries]
    assert any(sql.startswith("DELETE FROM") for sql in flush), flush
    assert not any("TRUNCATE" in sql for sql in flush), flush
    tables = connection.introspection.django_table_names(only_existing=True)
    with connection.cursor() as cursor:
        counts = {}
        for table in tables:
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")
            counts[table] = cursor.fetchone()[0]
    assert counts["connectors_connector"] == 0
    assert {table: n for table, n in counts.items() if n} == {}
