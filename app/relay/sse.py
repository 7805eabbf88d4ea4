"""Server-sent events: split an upstream byte stream into events, and write events. Standard library only.

The relay passes events through as they complete (at each blank line), so the decoder never holds
more than one partial event. Spec: https://html.spec.whatwg.org/multipage/server-sent-events.html
(`\\n` and `\\r\\n` line ends; a lone `\\r` is not used by any LLM provider and is not handled).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

DONE = b"data: [DONE]\n\n"
DONE_DATA = b"[DONE]"
MAX_EVENT_BYTES = 16 * 1024 * 1024  # an event larger than this is a broken upstream, not a reply


class EventTooLarge(Exception):
    """The upstream sent more than MAX_EVENT_BYTES without an event boundary."""


class Event:
    """One event: its raw bytes (without the blank line) and the joined `data:` payload, if any."""

    __slots__ = ("raw", "data", "name")

    def __init__(self, raw: bytes, data: bytes | None, name: bytes | None = None) -> None:
        self.raw = raw
        self.data = data
        self.name = name

    def frame(self) -> bytes:
        """The event as it goes to the client."""
        return self.raw + b"\n\n"

    def json(self) -> Any:
        """The payload parsed as JSON, or None when it is not JSON."""
        if not self.data:
            return None
        try:
            return json.loads(self.data)
        except ValueError:
            return None


def parse_event(raw: bytes) -> Event:
    """Read the `event:` name and `data:` lines of one raw event block."""
    if raw.startswith(b"data: ") and b"\n" not in raw:  # the usual case: one data line
        return Event(raw, raw[6:])
    data: list[bytes] = []
    name = None
    for line in raw.split(b"\n"):
        if line.startswith(b"data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(b" ") else value)
        elif line.startswith(b"event:"):
            name = line[6:].strip()
    return Event(raw, b"\n".join(data) if data else None, name)


class Decoder:
    """Feed byte chunks in, get complete events out."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[Event]:
        buf = self._buf + chunk if self._buf else chunk
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        if b"\n\n" not in buf:
            if len(buf) > MAX_EVENT_BYTES:
                raise EventTooLarge(f"an upstream event exceeded {MAX_EVENT_BYTES} bytes")
            self._buf = buf
            return []
        *complete, self._buf = buf.split(b"\n\n")
        return [parse_event(raw.strip(b"\n")) for raw in complete if raw.strip(b"\n")]

    def whole_events(self, chunk: bytes) -> bool:
        """True when nothing is buffered and `chunk` is complete events that `feed` would hand out and
        `Event.frame` write back byte for byte (so a pass-through may forward the chunk as it is)."""
        return (not self._buf and chunk[-2:] == b"\n\n" and chunk[:1] != b"\n" and b"\r" not in chunk
                and b"\n\n\n" not in chunk)

    def flush(self) -> list[Event]:
        """The last event when the stream ended without a blank line after it."""
        rest, self._buf = self._buf.strip(b"\n"), b""
        return [parse_event(rest)] if rest else []


def iter_events(chunks: Iterable[bytes]) -> Iterator[Event]:
    """Events from an iterable of byte chunks; the final unterminated event is flushed at the end."""
    decoder = Decoder()
    for chunk in chunks:
        if chunk:
            yield from decoder.feed(chunk)
    yield from decoder.flush()


def data_frame(payload: Any) -> bytes:
    """`data: <json>` and a blank line; `payload` may be pre-encoded bytes."""
    if not isinstance(payload, bytes):
        payload = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return b"data: " + payload + b"\n\n"


def error_frame(message: str, error_type: str = "upstream_error", code: str | None = None) -> bytes:
    """The OpenAI-style error event a stream ends with when it cannot finish."""
    return data_frame({"error": {"message": message, "type": error_type, "param": None, "code": code}})
