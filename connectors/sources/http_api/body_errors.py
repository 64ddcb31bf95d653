"""Errors an API answers with a successful status (the definition's `body_errors`).

Some APIs answer every request with HTTP 200 and say in the body whether it worked: Slack's
`{"ok": false, "error": "token_expired"}`. Without a rule, such a body would be read as a page
(its record selector finding nothing, or the wrong thing). With one:

* a 2xx JSON object whose `success_path` does not hold `success_value` is an error, whose code
  is the text at `code_path`;
* a code of `auth_codes` means the token was refused: it is renewed once (as after a 401),
  then the request fails with `authentication_failed`;
* a code of `retry_codes` is retried with backoff like a 5xx;
* any other code fails the stream (not retried), naming the code; a stream may list codes
  that mean "nothing here" (`ignore_error_codes`, like `ignore_statuses`): an empty last page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from connectors.sources.http_api.records import value_at

_KEYS = {"success_path", "success_value", "code_path", "auth_codes", "retry_codes"}


@dataclass(frozen=True)
class BodyErrorRule:
    success_path: tuple[str, ...]
    success_value: Any
    code_path: tuple[str, ...]
    auth_codes: frozenset[str]
    retry_codes: frozenset[str]

    @classmethod
    def from_config(cls, raw: Any) -> BodyErrorRule | None:
        """The rule of a checked definition's `body_errors` (None: no rule)."""
        if not isinstance(raw, dict):
            return None
        return cls(
            success_path=tuple(str(raw["success_path"]).split(".")),
            success_value=raw.get("success_value", True),
            code_path=tuple(str(raw.get("code_path") or "error").split(".")),
            auth_codes=frozenset(raw.get("auth_codes") or ()),
            retry_codes=frozenset(raw.get("retry_codes") or ()),
        )

    def error_code(self, response: requests.Response) -> str | None:
        """The error code a successful response's body carries; None when it says it worked
        (or is not a JSON object: the reader reports what is wrong with it)."""
        try:
            body = response.json()
        except ValueError:
            return None
        if not isinstance(body, dict) or value_at(body, self.success_path) == self.success_value:
            return None
        code = value_at(body, self.code_path)
        return str(code) if code not in (None, "") else "unknown_error"


def body_error_issues(raw: Any) -> list[tuple[tuple[str | int, ...], str, str]]:
    """What is wrong with a `body_errors` rule: (location, message, kind) each."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return [((), "Give an object: {success_path, success_value, code_path, ...}.", "dict_type")]
    issues: list[tuple[tuple[str | int, ...], str, str]] = []
    for key in sorted(set(raw) - _KEYS):
        issues.append(((key,), "Unknown key.", "extra_forbidden"))
    if not isinstance(raw.get("success_path"), str) or not raw["success_path"]:
        issues.append((("success_path",), "Give the dotted path of the success flag.", "missing"))
    if "code_path" in raw and (not isinstance(raw["code_path"], str) or not raw["code_path"]):
        issues.append((("code_path",), "Give the dotted path of the error code.", "string_type"))
    value = raw.get("success_value", True)
    if not isinstance(value, str | int | float | bool):
        issues.append((("success_value",), "Give a text, number or boolean.", "value_error"))
    for key in ("auth_codes", "retry_codes"):
        codes = raw.get(key)
        if codes is not None and (
            not isinstance(codes, list) or not all(isinstance(c, str) and c for c in codes)
        ):
            issues.append(((key,), "Give a list of error codes.", "list_type"))
    return issues
