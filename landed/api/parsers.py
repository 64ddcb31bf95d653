"""The JSON body parser, hardened against bodies that crash Python's json module."""

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON nested too deeply.") from exc
        except ParseError as exc:
            # Python's limit on digits in an integer (CVE-2020-10735); its message names
            # interpreter internals.
            if "integer string conversion" in str(exc.detail):
                raise ParseError("A number in the body has too many digits.") from exc
            raise
