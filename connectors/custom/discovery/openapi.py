"""What an OpenAPI 3.x or Swagger 2.0 document says about reading an API: its base URL (server
variables become config fields), its authentication (security schemes), and its streams (GET
operations answering an array of records, with the record selector, pagination parameters,
primary key, cursor candidates and column types), as a discovery
(docs/custom_connector_discovery.md).

Only local references (`#/...`) are followed, each chain at most so deep and never in a
cycle: a document is data from anyone, so neither a remote reference nor a self-referencing
schema can make discovery fetch or loop. YAML is read with the safe loader, and a document
whose aliases expand it beyond a node budget is refused (a "billion laughs" document).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import yaml

from connectors.custom.discovery import heuristics as h

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
# Nodes a document may have once its YAML aliases are expanded.
MAX_DOCUMENT_NODES = 500_000
_MAX_REF_DEPTH = 32
_MAX_SCHEMA_DEPTH = 8
# The credentials a connector's config holds; no config field may take their names.
CREDENTIAL_NAMES = ("api_key", "bearer_token", "username", "password", "client_id", "client_secret")
_PATH_PARAM = re.compile(r"\{([^{}/]+)\}")


def _mapping(value: Any) -> dict[str, Any]:
    """`value` when it is an object, else an empty one (a document is data from anyone)."""
    return value if isinstance(value, dict) else {}


class DocumentError(Exception):
    """The document cannot be read, or is not an OpenAPI 3 / Swagger 2 document; the message
    says why."""

    def __init__(self, message: str, kind: str = "openapi_invalid") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


# --- loading ---------------------------------------------------------------------------------
def load_document(text: str | bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> dict[str, Any]:
    """The document held by `text` (JSON or YAML), checked to be an OpenAPI 3 or Swagger 2
    document."""
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > max_bytes:
        raise DocumentError(f"The document is larger than {max_bytes} bytes.", "openapi_too_large")
    try:
        decoded = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError("The document is not UTF-8 text.") from exc
    stripped = decoded.lstrip()
    try:
        if stripped.startswith(("{", "[")):
            document = json.loads(decoded)
        else:
            document = yaml.safe_load(decoded)
    except RecursionError as exc:
        raise DocumentError("The document is nested too deeply.") from exc
    except (ValueError, yaml.YAMLError) as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        raise DocumentError(f"The document is neither JSON nor YAML{at}.") from exc
    return check_document(_plain_json(check_document(document)))


def _plain_json(document: dict[str, Any]) -> dict[str, Any]:
    """`document` as JSON holds it: YAML's dates and other non-JSON values become text, and
    what JSON cannot hold (NaN, infinities) is refused, so that a discovery made from it can
    be stored. Called once its size is known to be bounded."""
    try:
        plain = json.loads(json.dumps(document, default=str, allow_nan=False))
    except (ValueError, RecursionError) as exc:
        raise DocumentError("The document holds values JSON cannot (NaN, infinity).") from exc
    return plain if isinstance(plain, dict) else {}


def check_document(document: Any) -> dict[str, Any]:
    """`document`, checked: a DocumentError unless it is an OpenAPI 3.x or Swagger 2.0
    document of a bounded size (its YAML aliases expanded)."""
    if not isinstance(document, dict):
        raise DocumentError("An OpenAPI document is an object (a mapping).")
    _count_nodes(document)
    version = document.get("openapi")
    if version is not None:
        if not str(version).startswith("3."):
            raise DocumentError(
                f"OpenAPI version {version} is not supported: give an OpenAPI 3.x or "
                "Swagger 2.0 document.",
                "openapi_unsupported",
            )
    elif str(document.get("swagger")) != "2.0":
        raise DocumentError(
            "Not an OpenAPI 3.x or Swagger 2.0 document: it has no `openapi: 3.x` or "
            '`swagger: "2.0"` field.',
            "openapi_unsupported",
        )
    if not isinstance(document.get("paths"), dict):
        raise DocumentError("The document has no `paths` object.")
    return document


def _count_nodes(document: Any) -> None:
    budget = MAX_DOCUMENT_NODES
    pending = [document]
    while pending:
        node = pending.pop()
        budget -= 1
        if budget < 0:
            raise DocumentError(
                f"The document has more than {MAX_DOCUMENT_NODES} nodes (with its YAML "
                "aliases expanded).",
                "openapi_too_large",
            )
        if isinstance(node, dict):
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)


# --- references ------------------------------------------------------------------------------
class _Resolver:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def target(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            return None  # remote references are never fetched
        node: Any = self.document
        for raw in ref[2:].split("/"):
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node

    def deref(self, node: Any) -> tuple[Any, str | None]:
        """The node a chain of `$ref`s leads to (None for a broken, remote or cyclic chain),
        and the name of the last component referred to (`Pet` for `#/.../schemas/Pet`)."""
        name = None
        seen: set[str] = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref in seen or len(seen) >= _MAX_REF_DEPTH:
                return None, name
            seen.add(ref)
            name = ref.rsplit("/", 1)[-1]
            node = self.target(ref)
        return node, name


# --- the discovery ---------------------------------------------------------------------------
@dataclass
class _Context:
    document: dict[str, Any]
    resolver: _Resolver
    swagger2: bool
    warnings: list[str] = field(default_factory=list)
    config_fields: list[dict[str, Any]] = field(default_factory=list)
    # The API key's query parameter: the auth sends it, not a stream's params.
    key_param: str | None = None

    def add_config_field(self, spec: dict[str, Any]) -> str:
        """The config field's name (an existing one of that name is reused), made valid: a
        letter or `_` first, and never a credential's name (those the auth type asks for)."""
        name = re.sub(r"[^A-Za-z0-9_]", "_", str(spec["name"]))[:50] or "field"
        if name[0].isdigit():
            name = f"_{name}"
        if name in CREDENTIAL_NAMES:
            name = f"{name}_value"
        spec = {**spec, "name": name}
        for existing in self.config_fields:
            if existing["name"] == spec["name"]:
                return str(existing["name"])
        self.config_fields.append(spec)
        return str(spec["name"])


def empty_discovery(*, base_url: str | None = None, title: str | None = None) -> dict[str, Any]:
    return {
        "sources": [],
        "title": title,
        "base_url": base_url,
        "auth": {
            "type": "none",
            "api_key_name": None,
            "api_key_in": None,
            "token_url": None,
            "scopes": None,
            "evidence": None,
        },
        "config_fields": [],
        "streams": [],
        "requests": [],
        "warnings": [],
    }


def discover_from_openapi(
    document: dict[str, Any], *, base_url: str | None = None
) -> dict[str, Any]:
    """The discovery of an OpenAPI 3 / Swagger 2 document; `base_url` (the custom connector's)
    completes a document whose server URL is relative or absent."""
    check_document(document)
    context = _Context(document, _Resolver(document), swagger2="swagger" in document)
    info = _mapping(document.get("info"))
    discovery = empty_discovery(title=str(info.get("title")) if info.get("title") else None)
    discovery["sources"] = ["openapi"]
    discovery["base_url"] = _base_url(context, base_url)
    discovery["auth"] = _auth(context)
    if discovery["auth"]["api_key_in"] == "query":
        context.key_param = discovery["auth"]["api_key_name"]
    discovery["streams"] = _streams(context)
    discovery["config_fields"] = context.config_fields
    discovery["warnings"] = context.warnings
    return discovery


# --- base URL --------------------------------------------------------------------------------
def _base_url(context: _Context, fallback: str | None) -> str | None:
    document = context.document
    if context.swagger2:
        host = document.get("host")
        base_path = str(document.get("basePath") or "")
        if not isinstance(host, str) or not host:
            return _joined(fallback, base_path) if fallback else None
        schemes = document.get("schemes") or []
        scheme = "https" if "https" in schemes or not schemes else str(schemes[0])
        return f"{scheme}://{host}{base_path}".rstrip("/")
    servers = document.get("servers")
    server = servers[0] if isinstance(servers, list) and servers else None
    if not isinstance(server, dict) or not isinstance(server.get("url"), str):
        return fallback.rstrip("/") if fallback else None
    url = _server_url(context, server)
    if urlsplit(url).scheme in ("http", "https"):
        return url.rstrip("/")
    if fallback:
        return _joined(fallback, url)
    context.warnings.append(
        f"The server URL '{url}' is relative and the custom connector has no base URL."
    )
    return None


def _joined(base: str, path: str) -> str:
    if not path or path == "/":
        return base.rstrip("/")
    return urljoin(base.rstrip("/") + "/", path).rstrip("/")


def _server_url(context: _Context, server: dict[str, Any]) -> str:
    """The server URL with its variables as `{config.<name>}` placeholders (each a config
    field with the variable's default), except in the scheme and host, where a placeholder
    would not make a URL: there the default is used."""
    url = str(server["url"])
    variables = _mapping(server.get("variables"))
    path_start = _path_start(url)
    result, position = [], 0
    for match in _PATH_PARAM.finditer(url):
        name = match.group(1)
        spec = _mapping(variables.get(name))
        default = "" if spec.get("default") is None else str(spec["default"])
        result.append(url[position : match.start()])
        position = match.end()
        if match.start() < path_start:
            result.append(default)
            context.warnings.append(
                f"Server variable '{name}' is part of the URL's scheme or host: its default "
                f"'{default}' is used."
            )
            continue
        field_name = h.snake(name) or "server_variable"
        description = str(spec.get("description") or f"Server variable {name}.")
        if isinstance(spec.get("enum"), list) and spec["enum"]:
            description += f" One of: {', '.join(str(v) for v in spec['enum'])}."
        context.add_config_field(
            {
                "name": field_name,
                "type": "string",
                "description": description,
                "required": spec.get("default") is None,
                "default": spec.get("default"),
            }
        )
        result.append(f"{{config.{field_name}}}")
    result.append(url[position:])
    return "".join(result)


def _path_start(url: str) -> int:
    """Where the path of `url` (which may hold placeholders) starts."""
    after_scheme = url.find("://")
    if after_scheme < 0:
        return 0
    slash = url.find("/", after_scheme + 3)
    return len(url) if slash < 0 else slash


# --- auth ------------------------------------------------------------------------------------
_AUTH_PREFERENCE = ("api_key", "bearer", "oauth2_client_credentials", "basic")


def _auth(context: _Context) -> dict[str, Any]:
    document = context.document
    if context.swagger2:
        schemes, where = document.get("securityDefinitions"), "securityDefinitions"
    else:
        components = _mapping(document.get("components"))
        schemes, where = components.get("securitySchemes"), "components.securitySchemes"
    auth: dict[str, Any] = empty_discovery()["auth"]
    if not isinstance(schemes, dict) or not schemes:
        return auth
    # The schemes the document's security requirements use come first.
    required_names: list[str] = []
    for requirement in document.get("security") or []:
        if isinstance(requirement, dict):
            required_names.extend(str(name) for name in requirement)
    names = sorted(schemes, key=lambda n: (n not in required_names, list(schemes).index(n)))
    options: list[dict[str, Any]] = []
    for name in names:
        scheme, _ = context.resolver.deref(schemes[name])
        if not isinstance(scheme, dict):
            continue
        option = _auth_option(scheme, context.swagger2)
        evidence = f"{where}.{name}"
        if isinstance(option, str):
            context.warnings.append(f"{evidence}: {option}")
        else:
            options.append({**auth, **option, "evidence": evidence})
    if not options:
        return auth
    options.sort(key=lambda o: _AUTH_PREFERENCE.index(o["type"]))
    return options[0]


def _auth_option(scheme: dict[str, Any], swagger2: bool) -> dict[str, Any] | str:
    """The auth fields for one security scheme, or why it is not supported."""
    kind = str(scheme.get("type") or "")
    if kind == "apiKey":
        where = scheme.get("in")
        if where not in ("header", "query") or not scheme.get("name"):
            return f"an API key sent in '{where}' is not supported (header or query only)."
        return {"type": "api_key", "api_key_name": str(scheme["name"]), "api_key_in": where}
    if kind == "basic" or (kind == "http" and str(scheme.get("scheme")).lower() == "basic"):
        return {"type": "basic"}
    if kind == "http" and str(scheme.get("scheme")).lower() == "bearer":
        return {"type": "bearer"}
    if kind == "oauth2":
        if swagger2:
            flow = scheme if scheme.get("flow") == "application" else None
        else:
            flows = _mapping(scheme.get("flows"))
            flow = flows.get("clientCredentials")
        if isinstance(flow, dict) and isinstance(flow.get("tokenUrl"), str):
            scopes = _mapping(flow.get("scopes"))
            return {
                "type": "oauth2_client_credentials",
                "token_url": flow["tokenUrl"],
                "scopes": " ".join(str(s) for s in scopes) or None,
            }
        return (
            "OAuth2 flows other than client credentials need a user's consent in a browser: "
            "not supported by a custom connector."
        )
    return f"security scheme type '{kind or scheme.get('scheme')}' is not supported."


# --- streams ---------------------------------------------------------------------------------
@dataclass
class _Candidate:
    api_path: str
    operation: dict[str, Any]
    parameters: list[dict[str, Any]]
    item_schema: dict[str, Any]
    item_name: str | None
    selector: str
    response: dict[str, Any]
    body_schema: dict[str, Any]


def _streams(context: _Context) -> list[dict[str, Any]]:
    candidates, skipped = [], []
    for api_path, item in context.document["paths"].items():
        path_item, _ = context.resolver.deref(item)
        if not isinstance(path_item, dict) or not isinstance(path_item.get("get"), dict):
            continue
        candidate = _candidate(context, str(api_path), path_item)
        if candidate is None:
            skipped.append(f"GET {api_path}")
        else:
            candidates.append(candidate)
    if skipped:
        shown = ", ".join(skipped[:8]) + (" ..." if len(skipped) > 8 else "")
        context.warnings.append(
            f"{len(skipped)} GET operation(s) answer no array of records and are not streams: "
            f"{shown}"
        )
    taken: set[str] = set()
    streams: dict[str, dict[str, Any]] = {}
    # Lists without path parameters first: they are the parents children are matched to.
    ordered = sorted(candidates, key=lambda c: (len(_PATH_PARAM.findall(c.api_path)), c.api_path))
    for candidate in ordered:
        stream = _stream(context, candidate, streams, taken)
        if stream is not None:
            streams[candidate.api_path] = stream
    return list(streams.values())


def _candidate(context: _Context, api_path: str, path_item: dict[str, Any]) -> _Candidate | None:
    operation = path_item["get"]
    response = _success_response(context, operation)
    if response is None:
        return None
    schema = _response_schema(context, response)
    if schema is None:
        return None
    name_hint = _name_from_path(api_path) or h.snake(str(operation.get("operationId") or ""))
    if _is_array(schema):
        items, item_name = context.resolver.deref(schema.get("items") or {})
        return _Candidate(
            api_path,
            operation,
            _parameters(context, path_item, operation),
            _object_schema(context, items),
            item_name,
            "",
            response,
            schema,
        )
    found = _array_property(context, schema, name_hint)
    if found is None:
        return None
    selector, items, item_name = found
    return _Candidate(
        api_path,
        operation,
        _parameters(context, path_item, operation),
        _object_schema(context, items),
        item_name,
        selector,
        response,
        schema,
    )


def _success_response(context: _Context, operation: dict[str, Any]) -> dict[str, Any] | None:
    responses = operation.get("responses")
    if not isinstance(responses, dict):
        return None
    for code in ("200", 200, "2XX", "2xx", "206", "default"):
        if code in responses:
            response, _ = context.resolver.deref(responses[code])
            return response if isinstance(response, dict) else None
    return None


def _response_schema(context: _Context, response: dict[str, Any]) -> dict[str, Any] | None:
    if context.swagger2:
        raw = response.get("schema")
    else:
        content = _mapping(response.get("content"))
        media = next(
            (m for t, m in content.items() if "json" in str(t).lower() and isinstance(m, dict)),
            None,
        )
        if media is None and "*/*" in content and isinstance(content["*/*"], dict):
            media = content["*/*"]
        raw = media.get("schema") if media else None
    schema, _ = context.resolver.deref(raw)
    return _object_schema(context, schema) if isinstance(schema, dict) else None


def _object_schema(context: _Context, schema: Any, depth: int = 0) -> dict[str, Any]:
    """`schema` with its `allOf` parts merged (properties, required), references followed."""
    schema, _ = context.resolver.deref(schema)
    if not isinstance(schema, dict):
        return {}
    if depth > _MAX_SCHEMA_DEPTH or not isinstance(schema.get("allOf"), list):
        return dict(schema)
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    properties = dict(merged.get("properties") or {})
    required = list(merged.get("required") or [])
    for part in schema["allOf"]:
        resolved = _object_schema(context, part, depth + 1)
        properties.update(resolved.get("properties") or {})
        required.extend(resolved.get("required") or [])
        for key in ("type", "items"):
            if key in resolved and key not in merged:
                merged[key] = resolved[key]
    if properties:
        merged["properties"] = properties
    if required:
        merged["required"] = required
    return merged


def _is_array(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "array" or ("items" in schema and "properties" not in schema)


def _array_property(
    context: _Context, schema: dict[str, Any], name_hint: str, depth: int = 0
) -> tuple[str, Any, str | None] | None:
    """(selector, item schema, item schema's name) of the array property holding the records
    (looking one object deep: `{"data": {"items": [...]}}`)."""
    properties = _mapping(schema.get("properties"))
    arrays: dict[str, dict[str, Any]] = {}
    objects: dict[str, dict[str, Any]] = {}
    for name, raw in properties.items():
        resolved = _object_schema(context, raw)
        if _is_array(resolved):
            arrays[str(name)] = resolved
        elif isinstance(resolved.get("properties"), dict):
            objects[str(name)] = resolved
    chosen = h.record_array_name(list(arrays), name_hint)
    if chosen is not None:
        items, item_name = context.resolver.deref(arrays[chosen].get("items") or {})
        return chosen, items, item_name
    if depth == 0:
        container = h.find_name(objects, ("data", "result", "response", "payload"))
        if container is not None:
            inner = _array_property(context, objects[container], name_hint, depth + 1)
            if inner is not None:
                return f"{container}.{inner[0]}", inner[1], inner[2]
    return None


def _parameters(
    context: _Context, path_item: dict[str, Any], operation: dict[str, Any]
) -> list[dict[str, Any]]:
    """The operation's parameters, those of its path item included (the operation's win)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for raw in [*(path_item.get("parameters") or []), *(operation.get("parameters") or [])]:
        parameter, _ = context.resolver.deref(raw)
        if isinstance(parameter, dict) and parameter.get("name"):
            found[(str(parameter["name"]), str(parameter.get("in")))] = parameter
    return list(found.values())


def _name_from_path(api_path: str) -> str:
    words = [h.snake(s) for s in api_path.split("/") if s and not _PATH_PARAM.search(s)]
    return "_".join(w for w in words if w)


def _stream(
    context: _Context,
    candidate: _Candidate,
    streams: dict[str, dict[str, Any]],
    taken: set[str],
) -> dict[str, Any] | None:
    api_path = candidate.api_path
    base_name = _name_from_path(api_path) or h.snake(
        str(candidate.operation.get("operationId") or "")
    )
    properties = candidate.item_schema.get("properties")
    properties = _mapping(properties)
    path_params = [p for p in candidate.parameters if p.get("in") == "path"]
    # The root is "/": the engine needs a non-empty path.
    path = api_path.lstrip("/") or "/"
    parent = None
    if path_params or _PATH_PARAM.search(api_path):
        linked = _child_link(context, api_path, path_params, streams)
        if linked is None:
            return None
        path, parent = linked
    query = [p for p in candidate.parameters if p.get("in") == "query"]
    params = _fixed_params(context, api_path, query)
    if params is None:
        return None
    name = h.unique_stream_name(base_name, taken)
    columns, temporal = _columns(context, properties)
    what = candidate.item_name or "records"
    where = f" at '{candidate.selector}'" if candidate.selector else ""
    evidence = [f"GET {api_path} returns array of {what}{where}"]
    paginator = _paginator(context, candidate, query, evidence)
    since = h.find_name([str(p["name"]) for p in query], h.SINCE_PARAMS)
    return {
        "name": name,
        "path": path,
        "method": "GET",
        "record_selector": candidate.selector,
        "params": params,
        "paginator": paginator,
        "primary_key": h.primary_key(properties, name),
        "cursor_candidates": h.cursor_candidates(temporal),
        "incremental_param": since,
        "columns": columns,
        "parent": parent,
        "evidence": evidence,
        "sample": None,
    }


def _child_link(
    context: _Context,
    api_path: str,
    path_params: list[dict[str, Any]],
    streams: dict[str, dict[str, Any]],
) -> tuple[str, dict[str, Any]] | None:
    """The child stream's path and parent for `/owners/{ownerId}/pets`: the list stream at
    `/owners` whose key the parameter names; None (with a warning) otherwise."""
    names = _PATH_PARAM.findall(api_path)
    if api_path.rstrip("/").endswith("}"):
        context.warnings.append(
            f"GET {api_path}: a path ending in a parameter addresses one record; skipped."
        )
        return None
    if len(names) != 1:
        context.warnings.append(
            f"GET {api_path}: only a path with one parameter can be a child stream; skipped."
        )
        return None
    placeholder = f"{{{names[0]}}}"
    prefix = api_path.split(placeholder, 1)[0].rstrip("/")
    parent = streams.get(prefix)
    if parent is None or parent["parent"] is not None:
        context.warnings.append(
            f"GET {api_path}: no list stream at GET {prefix or '/'} gives its "
            f"'{names[0]}'; skipped."
        )
        return None
    key = (parent["primary_key"] or [None])[0]
    param = h.squash(names[0])
    columns = parent["columns"]
    resource = h.singular(parent["name"].split("_")[-1])
    field_name = None
    if key is not None and param in (h.squash(key), resource + h.squash(key)):
        field_name = key
    else:
        field_name = h.find_name(columns, (param, param.removeprefix(resource)))
    if field_name is None:
        context.warnings.append(
            f"GET {api_path}: the parameter '{names[0]}' matches no field of stream "
            f"'{parent['name']}'; skipped."
        )
        return None
    path = api_path.replace(placeholder, f"{{parent.{field_name}}}").lstrip("/")
    link = {"stream": parent["name"], "field": field_name, "include_as": h.snake(names[0])}
    return path, link


def _fixed_params(
    context: _Context, api_path: str, query: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """Values for the required query parameters: a default, the first of an enum, or a config
    field the user fills (`{config.<name>}`)."""
    params: dict[str, Any] = {}
    for parameter in query:
        if not parameter.get("required") or parameter.get("name") == context.key_param:
            continue
        schema = parameter if context.swagger2 else _object_schema(context, parameter.get("schema"))
        name = str(parameter["name"])
        if schema.get("default") is not None:
            params[name] = schema["default"]
        elif isinstance(schema.get("enum"), list) and schema["enum"]:
            params[name] = schema["enum"][0]
        else:
            field_name = context.add_config_field(
                {
                    "name": h.snake(name) or "param",
                    "type": "string",
                    "description": str(
                        parameter.get("description") or f"Query parameter {name} of GET {api_path}."
                    ),
                    "required": True,
                    "default": None,
                }
            )
            params[name] = f"{{config.{field_name}}}"
        if isinstance(params[name], list | dict):
            context.warnings.append(f"GET {api_path}: parameter '{name}' is not a scalar; skipped.")
            return None
    return params


_TYPES = {"boolean": "boolean", "object": "json", "array": "json"}


def _column_type(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):  # OpenAPI 3.1: ["string", "null"]
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
    fmt = str(schema.get("format") or "")
    if kind == "integer":
        return "integer" if fmt == "int32" else "bigint"
    if kind == "number":
        return "real" if fmt == "float" else "double"
    if kind == "string":
        return {"date-time": "timestamptz", "date": "date"}.get(fmt, "string")
    if kind in _TYPES:
        return _TYPES[kind]
    if (
        "properties" in schema
        or "items" in schema
        or any(k in schema for k in ("oneOf", "anyOf", "allOf"))
    ):
        return "json"
    return "string"


def _columns(context: _Context, properties: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    columns: dict[str, str] = {}
    temporal: list[str] = []
    for name, raw in properties.items():
        schema = _object_schema(context, raw)
        kind = _column_type(schema)
        columns[str(name)] = kind
        if kind in ("timestamptz", "date"):
            temporal.append(str(name))
    return columns, temporal


# --- pagination ------------------------------------------------------------------------------
def _paginator(
    context: _Context, candidate: _Candidate, query: list[dict[str, Any]], evidence: list[str]
) -> dict[str, Any] | None:
    names = [str(p["name"]) for p in query]
    limit = h.find_name(names, h.LIMIT_PARAMS)
    offset = h.find_name(names, h.OFFSET_PARAMS)
    size = h.find_name(names, h.PAGE_SIZE_PARAMS)
    where = f"GET {candidate.api_path}"
    headers = candidate.response.get("headers")
    if isinstance(headers, dict) and any(str(k).lower() == "link" for k in headers):
        evidence.append(f"{where} documents a Link header")
        return {"type": "link_header", **({"size_param": size} if size else {})}
    next_path = _next_property(context, candidate.body_schema, h.NEXT_URL_NAMES, urls=True)
    if next_path is not None:
        evidence.append(f"{where} returns the next page's URL at '{next_path}'")
        return {
            "type": "next_url",
            "next_url_path": next_path,
            **({"size_param": size} if size else {}),
        }
    cursor_param = h.find_name(names, h.CURSOR_PARAMS)
    if cursor_param is not None:
        cursor_path = _next_property(context, candidate.body_schema, h.NEXT_CURSOR_NAMES)
        if cursor_path is None and h.squash(cursor_param) in ("startingafter", "after"):
            context.warnings.append(
                f"{where}: '{cursor_param}' pages by the last record's id, which the "
                "engine's paginators do not do; the stream is read without paging."
            )
        elif cursor_path is not None:
            evidence.append(
                f"{where} pages with the cursor parameter '{cursor_param}' from '{cursor_path}'"
            )
            return {
                "type": "cursor",
                "cursor_param": cursor_param,
                "cursor_path": cursor_path,
                **({"size_param": size} if size else {}),
            }
    if limit is not None and offset is not None:
        evidence.append(f"{where} takes '{limit}' and '{offset}' parameters")
        return {"type": "offset", "limit_param": limit, "offset_param": offset}
    page = h.find_name(names, h.PAGE_PARAMS)
    if page is not None:
        evidence.append(f"{where} takes a '{page}' parameter")
        return {"type": "page_number", "page_param": page, "size_param": size}
    return None


def _next_property(
    context: _Context, schema: dict[str, Any], wanted: tuple[str, ...], *, urls: bool = False
) -> str | None:
    """The dotted path of a next-page property of the list response (top level, or inside a
    `meta`/`pagination`/`links` object)."""
    properties = _mapping(schema.get("properties"))
    scalars = {}
    containers = {}
    for name, raw in properties.items():
        resolved = _object_schema(context, raw)
        if isinstance(resolved.get("properties"), dict):
            containers[str(name)] = resolved
        elif resolved.get("type") in ("string", None, "integer"):
            if urls and resolved.get("type") == "integer":
                continue
            scalars[str(name)] = resolved
    found = h.find_name(scalars, wanted)
    if found is not None and (not urls or _url_like(found, scalars[found])):
        return found
    container = h.find_name(containers, h.PAGING_CONTAINERS)
    if container is not None:
        inner = _next_property(context, containers[container], wanted, urls=urls)
        if inner is not None and "." not in inner:
            return f"{container}.{inner}"
    return None


def _url_like(name: str, schema: dict[str, Any]) -> bool:
    return (
        schema.get("format") in ("uri", "url", "uri-reference")
        or "url" in name.lower()
        or ("link" in name.lower())
        or h.squash(name) == "next"
    )
