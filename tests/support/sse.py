"""Reading a support answer's Server-Sent Events as a browser's EventSource does, from a real
streaming HTTP response (requests with stream=True), event by event as they arrive."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests


@dataclass
class Event:
    event: str  # "message" when the stream named none, as EventSource says
    data: Any


def events(response: requests.Response) -> Iterator[Event]:
    buffer = ""
    for chunk in response.iter_content(chunk_size=None, decode_unicode=True):
        buffer += chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            name, data = "message", []
            for line in block.splitlines():
                if line.startswith("event:"):
                    name = line.removeprefix("event:").strip()
                elif line.startswith("data:"):
                    data.append(line.removeprefix("data:").strip())
            if data:
                yield Event(name, json.loads("\n".join(data)))


def read_answer(response: requests.Response) -> tuple[str, Event]:
    """The answer's text (its `data: {"text"}` pieces joined) and the event that ended it."""
    text = []
    for event in events(response):
        if event.event == "message":
            text.append(event.data["text"])
        else:
            return "".join(text), event
    raise AssertionError(f"the stream ended without done or error after {''.join(text)!r}")
