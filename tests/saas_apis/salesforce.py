"""A local Salesforce REST API for one org, plugged into tests/saas_oauth_server.py (which issues
the tokens it accepts; the org's instance URL is `<server>/salesforce/instance`):

  GET .../services/data/v<version>/sobjects/<object>/describe   the object's fields and types
  GET .../services/data/v<version>/query?q=<SOQL>               SELECT <fields> FROM <object>
      [WHERE SystemModstamp >= <datetime literal>] ORDER BY SystemModstamp ASC, Id ASC;
      `records` (each with `attributes`), `done`, `nextRecordsUrl` while more remain
  GET .../services/data/v<version>/query/<locator>              the next page
Errors as Salesforce writes them, a list of `{"message", "errorCode"}`: 401 INVALID_SESSION_ID
for an expired or revoked session, 404 NOT_FOUND, 400 INVALID_FIELD / MALFORMED_QUERY. Over
its capacity Salesforce answers 503 with Retry-After (`overload(times)`); `expire_after(n)`
expires the session after `n` more requests.
"""

from __future__ import annotations

import re
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.saas_oauth_server import SaaSOAuth

BASE = datetime(2026, 3, 1, tzinfo=UTC)
_QUERY = re.compile(
    r"^SELECT (?P<fields>[A-Za-z0-9_, ]+) FROM (?P<object>[A-Za-z0-9_]+)"
    r"(?: WHERE SystemModstamp >= (?P<since>\S+))? ORDER BY SystemModstamp ASC, Id ASC$"
)

FIELDS = {
    "Account": [
        ("Id", "id"),
        ("Name", "string"),
        ("Industry", "picklist"),
        ("AnnualRevenue", "currency"),
        ("NumberOfEmployees", "int"),
        ("BillingAddress", "address"),
        ("IsDeleted", "boolean"),
        ("Logo__c", "base64"),
        ("CreatedDate", "datetime"),
        ("SystemModstamp", "datetime"),
    ],
    "Contact": [
        ("Id", "id"),
        ("AccountId", "reference"),
        ("LastName", "string"),
        ("Email", "email"),
        ("Birthdate", "date"),
        ("CreatedDate", "datetime"),
        ("SystemModstamp", "datetime"),
    ],
}


def stamp(minutes: int) -> str:
    """An instant as Salesforce writes it."""
    moment = BASE + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class SalesforceApi:
    def __init__(self, oauth: SaaSOAuth, *, version: str = "62.0", page_size: int = 200) -> None:
        self.oauth = oauth
        self.prefix = f"/salesforce/instance/services/data/v{version}/"
        self.page_size = page_size
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in FIELDS}
        self.locators: dict[str, list[dict[str, Any]]] = {}
        self.queries: list[str] = []
        self._overload = 0
        self._expire_after: int | None = None
        self._lock = threading.Lock()
        oauth.apis.append(self)

    # --- Controls -----------------------------------------------------------------------------
    def add_account(self, n: int) -> None:
        self.records["Account"][f"001{n:015d}"] = {
            "Id": f"001{n:015d}",
            "Name": f"Account {n}",
            "Industry": "Retail" if n % 2 else "Energy",
            "AnnualRevenue": n * 1000.5,
            "NumberOfEmployees": n,
            "BillingAddress": {"city": "Lyon", "country": "France"},
            "IsDeleted": False,
            "Logo__c": "/services/data/v62.0/sobjects/Account/x/Logo__c",
            "CreatedDate": stamp(n),
            "SystemModstamp": stamp(n // 3),
        }

    def add_contact(self, n: int) -> None:
        self.records["Contact"][f"003{n:015d}"] = {
            "Id": f"003{n:015d}",
            "AccountId": f"001{1 + n % 5:015d}",
            "LastName": f"Person{n}",
            "Email": f"p{n}@example.com",
            "Birthdate": "1990-01-0" + str(1 + n % 9),
            "CreatedDate": stamp(n),
            "SystemModstamp": stamp(n),
        }

    def modify(self, object_name: str, record_id: str, minutes: int, **changes: Any) -> None:
        with self._lock:
            self.records[object_name][record_id].update(SystemModstamp=stamp(minutes), **changes)

    def overload(self, times: int) -> None:
        with self._lock:
            self._overload += times

    def expire_after(self, requests: int) -> None:
        with self._lock:
            self._expire_after = requests

    # --- Serving ------------------------------------------------------------------------------
    def answer(
        self, method: str, path: str, query: dict[str, str], raw: str, headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]] | None:
        if not path.startswith(self.prefix):
            return None
        with self._lock:
            if self._overload > 0:
                self._overload -= 1
                return (
                    503,
                    [{"message": "Server is unavailable", "errorCode": "SERVER_UNAVAILABLE"}],
                    {"Retry-After": "1"},
                )
            expire = self._expire_after is not None and self._expire_after <= 0
            if self._expire_after is not None:
                self._expire_after -= 1
        if expire:
            self._expire_after = None
            self.oauth.expire_access_tokens("salesforce")
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not self.oauth.token_is_valid(token):
            return (
                401,
                [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
                {},
            )
        rest = path.removeprefix(self.prefix).strip("/").split("/")
        if method != "GET":
            return 405, [{"message": "Method not allowed", "errorCode": "METHOD_NOT_ALLOWED"}], {}
        if len(rest) == 3 and rest[0] == "sobjects" and rest[2] == "describe":
            return self._describe(rest[1])
        if rest == ["query"]:
            return self._query(query.get("q", ""))
        if len(rest) == 2 and rest[0] == "query":
            return self._page(rest[1])
        return (
            404,
            [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}],
            {},
        )

    def _describe(self, name: str) -> tuple[int, Any, dict[str, str]]:
        if name not in FIELDS:
            return (
                404,
                [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}],
                {},
            )
        fields = [
            {"name": field, "type": kind, "nillable": field != "Id"} for field, kind in FIELDS[name]
        ]
        return 200, {"name": name, "queryable": True, "fields": fields}, {}

    def _query(self, text: str) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self.queries.append(text)
        match = _QUERY.match(text)
        if match is None:
            return (
                400,
                [{"message": f"unexpected token: {text[:40]}", "errorCode": "MALFORMED_QUERY"}],
                {},
            )
        name = match["object"]
        if name not in FIELDS:
            return (
                400,
                [
                    {
                        "message": f"sObject type '{name}' is not supported.",
                        "errorCode": "INVALID_TYPE",
                    }
                ],
                {},
            )
        fields = [f.strip() for f in match["fields"].split(",")]
        known = {field for field, _ in FIELDS[name]}
        unknown = [f for f in fields if f not in known]
        if unknown:
            return (
                400,
                [
                    {
                        "message": f"No such column '{unknown[0]}' on entity '{name}'",
                        "errorCode": "INVALID_FIELD",
                    }
                ],
                {},
            )
        if "Logo__c" in fields:
            return (
                400,
                [
                    {
                        "message": "base64 fields cannot be queried in bulk",
                        "errorCode": "INVALID_FIELD",
                    }
                ],
                {},
            )
        with self._lock:
            rows = list(self.records[name].values())
        since = match["since"]
        if since:
            bound = datetime.strptime(since, "%Y-%m-%dT%H:%M:%S.%f%z")
            rows = [
                r
                for r in rows
                if datetime.strptime(r["SystemModstamp"], "%Y-%m-%dT%H:%M:%S.%f%z") >= bound
            ]
        rows.sort(key=lambda r: (r["SystemModstamp"], r["Id"]))
        selected = [
            {
                "attributes": {"type": name, "url": f"{self.prefix}sobjects/{name}/{r['Id']}"},
                **{f: r.get(f) for f in fields},
            }
            for r in rows
        ]
        return self._serve(selected, len(selected))

    def _page(self, locator: str) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            rows = self.locators.pop(locator, None)
        if rows is None:
            return (
                400,
                [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}],
                {},
            )
        return self._serve(rows, None)

    def _serve(
        self, rows: list[dict[str, Any]], total: int | None
    ) -> tuple[int, Any, dict[str, str]]:
        page, rest = rows[: self.page_size], rows[self.page_size :]
        body: dict[str, Any] = {
            "totalSize": total if total is not None else len(rows),
            "done": not rest,
            "records": page,
        }
        if rest:
            locator = f"01g{secrets.token_hex(6)}-{self.page_size}"
            with self._lock:
                self.locators[locator] = rest
            body["nextRecordsUrl"] = f"{self.prefix}query/{locator}"
        return 200, body, {}
