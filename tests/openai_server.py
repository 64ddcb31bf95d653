"""A local OpenAI-compatible server for the tests: a real HTTP server on 127.0.0.1 speaking the
Chat Completions protocol as OpenAI documents it (and vLLM, Ollama and llama.cpp copy), so that
the official `openai` library is exercised as in production.

- POST /v1/chat/completions. Not streaming: a `chat.completion` object with `usage`.
  Streaming (`"stream": true`): Server-Sent Events, `data: {chat.completion.chunk}` per piece
  of the answer, a last chunk with `finish_reason`, then (with
  `stream_options.include_usage`) a chunk with no choices and the `usage`, then
  `data: [DONE]`; the body is sent chunked (HTTP/1.1), piece by piece.
- Answers are scripted: `answer(text)` / `answer_json(obj)` queue the next answers (a JSON
  answer is what a server honouring `response_format` json_schema sends); with none queued
  the answer echoes the last user message. `honour_response_format = False` makes the server
  wrap JSON answers in prose, as a server that ignores the parameter does;
  `refuse_response_format = True` makes it answer 400 to a request that has one, and
  `refuse_stream_options = True` likewise for `stream_options` (older servers).
- Usage: one token per word of the messages (prompt) and of the answer (completion).
- Failure injection: `fail_next(n, status, retry_after=...)` (OpenAI's error JSON, with
  `Retry-After` / `retry-after-ms` when given); `stall_next(seconds)` waits before answering;
  `endless_stream(interval)` makes the next stream send a piece every `interval` seconds until
  the client goes away, which sets `disconnected`.
- `requests` records each request (body and headers) for the tests' assertions.

`serve_as_provider(server, settings)` makes it the configured provider for one test.
"""

from __future__ import annotations

import itertools
import json
import re
import select
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "fake-gpt"
API_KEY = "sk-test-landed"
# An endless stream gives up on its own after this long (a test that forgot to close it).
ENDLESS_LIMIT_SECONDS = 30.0


@dataclass
class ChatRequest:
    body: dict[str, Any]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or [])

    @property
    def streaming(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def response_format(self) -> dict[str, Any] | None:
        return self.body.get("response_format")


@dataclass
class _Failure:
    status: int
    retry_after: str | None
    retry_after_ms: str | None
    message: str


def _client_gone(handler: BaseHTTPRequestHandler, wait: float) -> bool:
    """Waits up to `wait` seconds; True as soon as the client has closed the connection (an
    HTTP/1.1 client sends nothing more while it reads an answer, so any readable end is its
    close). Noticed at once, not at a later write, which the kernel may still accept."""
    connection = handler.connection
    readable, _, _ = select.select([connection], [], [], wait)
    if not readable:
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _words(text: str) -> int:
    return len(text.split())


def _pieces(text: str) -> list[str]:
    """The answer as a model streams it: a word and the space before it, per piece."""
    return re.findall(r"\s*\S+", text) or [text]


class FakeOpenAI:
    def __init__(self, *, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.requests: list[ChatRequest] = []
        self.honour_response_format = True
        self.refuse_response_format = False
        self.refuse_stream_options = False
        self.disconnected = threading.Event()
        self.stream_finished = threading.Event()
        self._answers: deque[tuple[str, bool]] = deque()
        self._failures: deque[_Failure] = deque()
        self._stalls: deque[float] = deque()
        self._endless_interval: float | None = None
        self._break: tuple[int, str] | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    fake._handle(self, raw, headers)
                except (BrokenPipeError, ConnectionResetError):
                    # The client gave up (its timeout, a closed stream): nothing to answer.
                    fake.disconnected.set()
                    self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # --- The test's controls ------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The base URL a client is given (the OpenAI library appends /chat/completions)."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._answers.clear()
            self._failures.clear()
            self._stalls.clear()
            self._endless_interval = None
            self.honour_response_format = True
            self.refuse_response_format = False
            self.refuse_stream_options = False
            self.disconnected.clear()
            self.stream_finished.clear()

    def answer(self, text: str) -> None:
        with self._lock:
            self._answers.append((text, False))

    def answer_json(self, data: Any) -> None:
        with self._lock:
            self._answers.append((json.dumps(data), True))

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 500,
        retry_after: str | None = None,
        retry_after_ms: str | None = None,
        message: str = "",
    ) -> None:
        text = message or ("Rate limit reached" if status == 429 else "The server had an error")
        with self._lock:
            self._failures.extend([_Failure(status, retry_after, retry_after_ms, text)] * count)

    def stall_next(self, seconds: float, count: int = 1) -> None:
        """The next `count` requests wait `seconds` before their answer."""
        with self._lock:
            self._stalls.extend([seconds] * count)

    def break_next_stream(self, after_pieces: int, how: str) -> None:
        """The next stream fails after `after_pieces` pieces: "drop" closes the connection
        mid-body, "error" sends an error event, "garbage" a chunk that is not JSON."""
        with self._lock:
            self._break = (after_pieces, how)

    def endless_stream(self, interval: float = 0.02) -> None:
        with self._lock:
            self._endless_interval = interval

    # --- The protocol -------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler, raw: bytes, headers: dict[str, str]) -> None:
        path = handler.path.split("?", 1)[0]
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        with self._lock:
            if isinstance(body, dict):
                self.requests.append(ChatRequest(body=body, headers=headers))
            failure = self._failures.popleft() if self._failures else None
            stall = self._stalls.popleft() if self._stalls else 0.0
        if stall:
            time.sleep(stall)
        if path != "/v1/chat/completions":
            return self._error(handler, 404, f"Unknown path {path}", "invalid_request_error")
        if self.api_key and headers.get("authorization") != f"Bearer {self.api_key}":
            return self._error(handler, 401, "Incorrect API key provided", "invalid_request_error")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return self._error(handler, 400, "'messages' is required", "invalid_request_error")
        if failure is not None:
            extra = {}
            if failure.retry_after is not None:
                extra["Retry-After"] = failure.retry_after
            if failure.retry_after_ms is not None:
                extra["retry-after-ms"] = failure.retry_after_ms
            kind = "rate_limit_exceeded" if failure.status == 429 else "server_error"
            return self._error(handler, failure.status, failure.message, kind, extra)
        response_format = body.get("response_format")
        if self.refuse_response_format and response_format is not None:
            return self._error(
                handler,
                400,
                "Unrecognized request argument supplied: response_format",
                "invalid_request_error",
            )
        if self.refuse_stream_options and "stream_options" in body:
            return self._error(
                handler,
                400,
                "Unrecognized request argument supplied: stream_options",
                "invalid_request_error",
            )
        content = self._next_answer(body)
        if body.get("stream"):
            return self._stream(handler, body, content)
        return self._json(handler, 200, self._completion(body, content))

    def _next_answer(self, body: dict[str, Any]) -> str:
        with self._lock:
            scripted = self._answers.popleft() if self._answers else None
        if scripted is None:
            users = [m for m in body["messages"] if m.get("role") == "user"]
            return f"echo: {users[-1].get('content', '') if users else ''}"
        text, is_json = scripted
        wants_schema = (body.get("response_format") or {}).get("type") == "json_schema"
        if is_json and wants_schema and not self.honour_response_format:
            return f"Sure! Here is the JSON you asked for:\n```json\n{text}\n```\nAnything else?"
        return text

    def _usage(self, body: dict[str, Any], content: str) -> dict[str, int]:
        prompt = sum(_words(str(m.get("content") or "")) for m in body["messages"])
        completion = _words(content)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def _completion(self, body: dict[str, Any], content: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": self._usage(body, content),
        }

    def _stream(self, handler: BaseHTTPRequestHandler, body: dict[str, Any], content: str) -> None:
        with self._lock:
            interval, self._endless_interval = self._endless_interval, None
            breaking, self._break = self._break, None
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        stream_id = f"chatcmpl-{next(self._ids)}"
        model = body.get("model") or MODEL

        def chunk(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> bytes:
            data = {
                "id": stream_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": choices,
                "usage": usage,
            }
            return f"data: {json.dumps(data)}\n\n".encode()

        def piece(text: str) -> bytes:
            delta = {"index": 0, "delta": {"content": text}, "finish_reason": None}
            return chunk([delta])

        try:
            self._write(handler, chunk([{"index": 0, "delta": {"role": "assistant"}}]))
            if interval is not None:
                ends_at = time.monotonic() + ENDLESS_LIMIT_SECONDS
                while time.monotonic() < ends_at:
                    self._write(handler, piece(" more"))
                    if _client_gone(handler, interval):
                        raise ConnectionResetError("the client closed the connection")
                handler.close_connection = True  # the body was never finished
                return
            for number, text in enumerate(_pieces(content)):
                if breaking is not None and number == breaking[0]:
                    return self._broken(handler, breaking[1])
                self._write(handler, piece(text))
            self._write(handler, chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
            if (body.get("stream_options") or {}).get("include_usage"):
                self._write(handler, chunk([], self._usage(body, content)))
            self._write(handler, b"data: [DONE]\n\n")
            self._write(handler, b"")  # the chunked body's end
            self.stream_finished.set()
        except (BrokenPipeError, ConnectionResetError):
            self.disconnected.set()
            handler.close_connection = True

    def _broken(self, handler: BaseHTTPRequestHandler, how: str) -> None:
        if how == "error":
            error = {"message": "The server had an error", "type": "server_error"}
            self._write(handler, f"data: {json.dumps({'error': error})}\n\n".encode())
            self._write(handler, b"")
        elif how == "garbage":
            self._write(handler, b"data: {not json\n\n")
            self._write(handler, b"")
        handler.close_connection = True  # "drop": the body is never finished

    @staticmethod
    def _write(handler: BaseHTTPRequestHandler, data: bytes) -> None:
        handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        handler.wfile.flush()

    def _error(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        message: str,
        kind: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        answer = {"error": {"message": message, "type": kind, "param": None, "code": kind}}
        self._json(handler, status, answer, headers)

    @staticmethod
    def _json(
        handler: BaseHTTPRequestHandler,
        status: int,
        answer: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)


def serve_as_provider(server: FakeOpenAI, settings: Any) -> FakeOpenAI:
    """`server`, reset, configured as the LLM provider (pytest-django's `settings`), priced
    2.50 / 10 USD per million tokens."""
    server.reset()
    server.api_key = API_KEY
    settings.LLM_BASE_URL = server.url
    settings.LLM_API_KEY = API_KEY
    settings.LLM_MODEL = MODEL
    settings.LLM_TIMEOUT_SECONDS = 5.0
    settings.LLM_MAX_RETRIES = 2
    settings.LLM_INPUT_USD_PER_MILLION_TOKENS = Decimal("2.50")
    settings.LLM_OUTPUT_USD_PER_MILLION_TOKENS = Decimal("10")
    return server
