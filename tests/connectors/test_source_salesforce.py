"""The `salesforce` source's own rules: which objects a config may name, the SOQL it writes,
and Salesforce's field types as columns."""

from __future__ import annotations

import pytest

from connectors.framework.base import ConfigError
from connectors.sources.salesforce.source import (
    SalesforceSource,
    column_types,
    soql,
    soql_instant,
)


@pytest.mark.parametrize(
    "objects",
    [[], "Account", ["Account", "Account"], ["Account; DELETE"], ["1Account"], [None]],
)
def test_objects_must_be_distinct_api_names(objects):
    issues = SalesforceSource.config_issues({"credential_id": "x", "objects": objects})
    assert [i.field for i in issues] == ["objects"]


def test_soql_names_only_api_names_and_a_written_boundary():
    assert soql(
        "Invoice__c", ["Id", "SystemModstamp"], soql_instant("2024-05-01T10:00:00+02:00")
    ) == (
        "SELECT Id, SystemModstamp FROM Invoice__c WHERE SystemModstamp >= "
        "2024-05-01T08:00:00.000+0000 ORDER BY SystemModstamp ASC, Id ASC"
    )
    with pytest.raises(ConfigError):
        soql("Account", ["Id", "Name FROM User --"], None)
    assert soql_instant("yesterday") is None


def test_describe_types_become_columns_and_binary_fields_are_left_out():
    describe = {
        "fields": [
            {"name": "Id", "type": "id"},
            {"name": "Amount", "type": "currency"},
            {"name": "CloseDate", "type": "date"},
            {"name": "Attachment__c", "type": "base64"},
            {"name": "ShippingAddress", "type": "address"},
            {"name": "bad name", "type": "string"},
        ]
    }
    assert column_types(describe) == {
        "Id": "string",
        "Amount": "double",
        "CloseDate": "date",
        "ShippingAddress": "json",
    }
