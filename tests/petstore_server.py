"""A local pet store API for the tests of custom connector discovery: pets paged by a Link
header, owners paged by limit/offset in a `data` envelope, each owner's pets as a child
collection, an index of links at the root, and its own OpenAPI 3 description (YAML). The
collections want an API key (query parameter `api_key` or header `X-Api-Key`). Every request
is counted.

Routes (GET):
  /v1                          {"pets_url": ".../v1/pets", "owners_url": ".../v1/owners", ...}
  /v1/pets?page&per_page       [...] with Link: <...>; rel="next"      (per_page default 3)
  /v1/owners?limit&offset      {"data": [...], "total": N}             (limit default 2)
  /v1/owners/{id}/pets         [...]
  /docs/openapi.yaml           the OpenAPI 3 document of all this
  anything in `documents`      a test's own document
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_KEY = "sk-live-123"

PETS = [
    {
        "id": i,
        "name": f"pet {i}",
        "tag": "dog" if i % 2 else "cat",
        "owner_id": 1 + i % 4,
        "updated_at": f"2026-03-{i:02d}T10:00:00Z",
    }
    for i in range(1, 8)
]
OWNERS = [{"id": i, "name": f"owner {i}", "city": "Lyon"} for i in range(1, 9)]


def openapi_yaml(server_url: str) -> str:
    return f"""openapi: 3.0.3
info:
  title: Local Pet Store
  version: "1.0"
servers:
  - url: {server_url}/v1
security:
  - key: []
components:
  securitySchemes:
    key:
      type: apiKey
      in: query
      name: api_key
  schemas:
    Pet:
      type: object
      properties:
        id: {{type: integer, format: int64}}
        name: {{type: string}}
        tag: {{type: string}}
        owner_id: {{type: integer, format: int64}}
        updated_at: {{type: string, format: date-time}}
    Owner:
      type: object
      properties:
        id: {{type: integer, format: int64}}
        name: {{type: string}}
        city: {{type: string}}
paths:
  /pets:
    get:
      operationId: listPets
      parameters:
        - {{name: page, in: query, schema: {{type: integer}}}}
        - {{name: per_page, in: query, schema: {{type: integer}}}}
      responses:
        "200":
          description: pets
          content:
            application/json:
              schema:
                type: array
                items: {{$ref: "#/components/schemas/Pet"}}
  /pets/{{petId}}:
    get:
      parameters:
        - {{name: petId, in: path, required: true, schema: {{type: integer}}}}
      responses:
        "200":
          description: a pet
          content:
            application/json:
              schema: {{$ref: "#/components/schemas/Pet"}}
  /owners:
    get:
      parameters:
        - {{name: limit, in: query, schema: {{type: integer}}}}
        - {{name: offset, in: query, schema: {{type: integer}}}}
      responses:
        "200":
          description: owners
          content:
            application/json:
              schema:
                type: object
                properties:
                  total: {{type: integer}}
                  data:
                    type: array
                    items: {{$ref: "#/components/schemas/Owner"}}
  /owners/{{ownerId}}/pets:
    get:
      parameters:
        - {{name: ownerId, in: path, required: true, schema: {{type: integer}}}}
      responses:
        "200":
          description: the owner's pets
          content:
            application/json:
              schema:
                type: array
                items: {{$ref: "#/components/schemas/Pet"}}
"""


class PetStore:
    def __init__(self) -> None:
        self.hits: list[str] = []  # path with query, as received
        self.documents: dict[str, bytes] = {}  # more documents a test serves, by path
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> PetStore:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def api_hits(self) -> list[str]:
        """The requests to the API itself (the document's fetches left out)."""
        return [hit for hit in self.hits if hit.startswith("/v1")]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        store = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with store._lock:
                    store.hits.append(self.path)
                status, body, headers = store._answer(self)
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

        return Handler

    def _answer(self, handler: BaseHTTPRequestHandler) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        path = parts.path.rstrip("/")
        if path in self.documents:
            return 200, self.documents[path], {}
        if path == "/docs/openapi.yaml":
            return 200, openapi_yaml(self.url).encode(), {"Content-Type": "application/yaml"}
        if path == "/v1":
            return (
                200,
                {
                    "pets_url": f"{self.url}/v1/pets",
                    "owners_url": f"{self.url}/v1/owners",
                    "documentation_url": "https://docs.example.com/petstore",
                },
                {},
            )
        if API_KEY not in (query.get("api_key"), handler.headers.get("X-Api-Key")):
            return 401, {"error": "unauthorized"}, {}
        if path == "/v1/pets":
            page, size = int(query.get("page", 1)), int(query.get("per_page", 3))
            headers = {}
            if page * size < len(PETS):
                following = f"{self.url}/v1/pets?per_page={size}&page={page + 1}"
                headers["Link"] = f'<{following}>; rel="next"'
            return 200, PETS[(page - 1) * size : page * size], headers
        if path == "/v1/owners":
            offset, limit = int(query.get("offset", 0)), int(query.get("limit", 2))
            return 200, {"data": OWNERS[offset : offset + limit], "total": len(OWNERS)}, {}
        segments = path.split("/")
        if len(segments) == 5 and segments[2] == "owners" and segments[4] == "pets":
            owner = int(segments[3])
            return 200, [p for p in PETS if p["owner_id"] == owner], {}
        return 404, {"error": f"no route {path}"}, {}
