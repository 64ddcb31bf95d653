"""Landed's documentation cut into passages the support chat retrieves: each Markdown page by
heading, each operation of the OpenAPI description, and the list of the API's error statuses.

Plain functions of their inputs (text, a schema dict): support/index.py reads the files and
stores what these return.
"""

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

# A passage's text is kept under this many characters: long sections are cut between
# paragraphs, so that a passage is about one thing and an LLM prompt holds several.
MAX_PASSAGE_CHARS = 1800
_HEADING = re.compile(r"^(#{1,4})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_HTTP_METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class PassageDraft:
    kind: str  # "docs" or "api"
    source_path: str
    title: str
    anchor: str
    url: str
    text: str

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(f"{self.title}\n{self.text}".encode()).hexdigest()


def heading_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_\[\]()]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def markdown_passages(*, source_path: str, markdown: str, base_url: str) -> list[PassageDraft]:
    """One passage per section (a heading and what follows up to the next heading), titled
    "Page title: Section" and cut to MAX_PASSAGE_CHARS between paragraphs."""
    page_title = ""
    sections: list[tuple[str, list[str]]] = [("", [])]
    in_fence = False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.match(line)
        if heading:
            title = heading.group(2).strip()
            if heading.group(1) == "#" and not page_title:
                page_title = title
            sections.append((title, []))
        else:
            sections[-1][1].append(line)
    page_title = page_title or source_path
    drafts: list[PassageDraft] = []
    for heading_text, lines in sections:
        body = "\n".join(lines).strip()
        if not body:
            continue
        anchor = heading_anchor(heading_text) if heading_text else ""
        title = page_title if heading_text in ("", page_title) else f"{page_title}: {heading_text}"
        url = f"{base_url}{source_path}" + (f"#{anchor}" if anchor else "")
        for part, text in enumerate(_bounded_parts(body), start=1):
            drafts.append(
                PassageDraft(
                    kind="docs",
                    source_path=source_path,
                    title=title if part == 1 else f"{title} ({part})",
                    anchor=anchor,
                    url=url,
                    text=text,
                )
            )
    return drafts


def _bounded_parts(body: str) -> Iterator[str]:
    """`body` in pieces of at most MAX_PASSAGE_CHARS, cut between paragraphs where it can."""
    current = ""
    for paragraph in re.split(r"\n\s*\n", body):
        paragraph = paragraph.strip()
        while len(paragraph) > MAX_PASSAGE_CHARS:
            if current:
                yield current
                current = ""
            cut = paragraph.rfind(" ", 0, MAX_PASSAGE_CHARS)
            cut = cut if cut > MAX_PASSAGE_CHARS // 2 else MAX_PASSAGE_CHARS
            yield paragraph[:cut].strip()
            paragraph = paragraph[cut:].strip()
        if current and len(current) + 2 + len(paragraph) > MAX_PASSAGE_CHARS:
            yield current
            current = ""
        current = f"{current}\n\n{paragraph}" if current else paragraph
    if current:
        yield current


def openapi_passages(*, schema: dict[str, Any], reference_url: str) -> list[PassageDraft]:
    """One passage per operation: its method and path, summary, description, parameters,
    request body fields and documented responses (the error statuses and why each happens)."""
    drafts: list[PassageDraft] = []
    for path, item in (schema.get("paths") or {}).items():
        for method in _HTTP_METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            operation_id = str(operation.get("operationId") or f"{method}{path}")
            summary = str(operation.get("summary") or "").strip()
            title = f"{method.upper()} {path}" + (f": {summary}" if summary else "")
            lines = [str(operation.get("description") or "").strip()]
            parameters = [*(item.get("parameters") or []), *(operation.get("parameters") or [])]
            lines.extend(_parameter_lines(parameters))
            lines.extend(_body_lines(schema, operation))
            lines.extend(_response_lines(operation))
            text = "\n".join(line for line in lines if line)
            drafts.append(
                PassageDraft(
                    kind="api",
                    source_path="openapi",
                    title=title,
                    anchor=operation_id,
                    url=f"{reference_url}#operation/{operation_id}",
                    text=text[: MAX_PASSAGE_CHARS * 2],
                )
            )
    return drafts


def _parameter_lines(parameters: Iterable[Any]) -> list[str]:
    lines = []
    for parameter in parameters:
        if not isinstance(parameter, dict) or "name" not in parameter:
            continue
        required = "required" if parameter.get("required") else "optional"
        description = str(parameter.get("description") or "").strip()
        lines.append(
            f"Parameter {parameter['name']} (in {parameter.get('in', '?')}, {required})"
            + (f": {description}" if description else "")
        )
    return lines


def _body_lines(schema: dict[str, Any], operation: dict[str, Any]) -> list[str]:
    content = (operation.get("requestBody") or {}).get("content") or {}
    body_schema = (content.get("application/json") or {}).get("schema")
    resolved = _resolve(schema, body_schema)
    properties = resolved.get("properties") if isinstance(resolved, dict) else None
    if not properties:
        return []
    required = set(resolved.get("required") or [])
    fields = []
    for name, field in properties.items():
        field = _resolve(schema, field)
        description = str(field.get("description") or "").strip() if field else ""
        mark = " (required)" if name in required else ""
        fields.append(f"{name}{mark}" + (f": {description}" if description else ""))
    return ["Body fields: " + "; ".join(fields)]


def _resolve(schema: dict[str, Any], node: Any) -> Any:
    """Follow a local `$ref` (one level, as drf-spectacular writes its components)."""
    if isinstance(node, dict) and isinstance(node.get("$ref"), str):
        target: Any = schema
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return target
    return node


def _response_lines(operation: dict[str, Any]) -> list[str]:
    lines = []
    for status, response in sorted((operation.get("responses") or {}).items()):
        description = str((response or {}).get("description") or "").strip()
        lines.append(f"Response {status}: {description}" if description else f"Response {status}")
    return lines


def status_codes_passage(
    *, statuses: Iterable[tuple[int, str, str]], reference_url: str
) -> PassageDraft:
    """The API's error statuses, each with its message and meaning: `statuses` is
    (status code, message, description) per error class of landed.api.errors."""
    lines = [
        'Every error is answered with the JSON envelope {"error": "message", "detail": ...}; '
        "a 422's detail lists each problem as {loc, msg, type}. What each status code means:"
    ]
    for status, message, description in sorted(set(statuses)):
        lines.append(f"{status} {message}: {description}")
    return PassageDraft(
        kind="api",
        source_path="openapi",
        title="API error responses: what each HTTP status code means",
        anchor="errors",
        url=reference_url,
        text="\n".join(lines),
    )
