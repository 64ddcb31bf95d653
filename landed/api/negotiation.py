"""Content negotiation for a JSON-only API: the view's first renderer, always."""

from typing import Any

from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class FirstRendererNegotiation(BaseContentNegotiation):
    """Answer JSON even to `Accept: text/html` rather than a 406 no client can use. (Views
    with other renderers, like the docs' HTML, list theirs first.)"""

    def select_parser(self, request: Request, parsers: list[BaseParser]) -> BaseParser | None:
        content_type = request.content_type
        for parser in parsers:
            if parser.media_type.split(";")[0] == content_type.split(";")[0].strip().lower():
                return parser
        return None

    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: Any = None
    ) -> tuple[BaseRenderer, str]:
        return renderers[0], renderers[0].media_type
