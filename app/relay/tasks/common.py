"""What the Midjourney, Suno and video adaptors share: the adaptor base class and a submit verdict. Pure."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from app.relay.adaptors.base import Adaptor
from app.relay.types import ChannelInfo, UpstreamRequest

SUBMIT_TIMEOUT = 60.0  # seconds to wait for a submit answer (new-api: 60 s)
FETCH_TIMEOUT = 15.0  # seconds to wait for a poll answer (new-api: 15 s)
FETCH_BATCH = 100  # task ids per poll request

# Task statuses, as midjourney-proxy and the Suno proxies spell them.
NOT_START = "NOT_START"
SUBMITTED = "SUBMITTED"
IN_PROGRESS = "IN_PROGRESS"
SUCCESS = "SUCCESS"
FAILURE = "FAILURE"
CANCEL = "CANCEL"
DONE = "100%"  # progress of a finished task: polling stops (new-api's "unfinished" is progress != 100%)


@dataclass(slots=True)
class SubmitVerdict:
    """What a submit answer means: accepted (charge and save) or not (refund), and what the client gets."""

    accepted: bool
    status: int  # HTTP status for the client
    reply: bytes  # body for the client
    remote_id: str | None = None  # the upstream task id (midjourney-proxy `result`, Suno `data`)
    code: int | str | None = None
    description: str = ""
    retry: bool = False  # another channel may accept it (network trouble, 5xx, 429, bad credentials)
    extra: dict[str, Any] = field(default_factory=dict)  # platform details for the saved row


class TaskAdaptor(Adaptor):
    """A channel type that serves one asynchronous task platform instead of the OpenAI modes."""

    platform = ""

    def supports(self, mode: str) -> bool:
        return mode in self.modes

    def build_request(self, ctx):  # the /v1 pipeline never routes here: `modes` has no OpenAI mode
        raise NotImplementedError(f"{self.name} channels serve /{self.platform} only")

    def request(self, channel: ChannelInfo, key: str, method: str, path: str,
                body: dict[str, Any] | None) -> UpstreamRequest:
        """An UpstreamRequest to `path` on the channel's base URL with this platform's auth header."""
        base = ((channel.base_url or "") or self.default_base_url).rstrip("/")
        headers = {"Content-Type": "application/json", "Accept": "application/json", **self.auth_headers(key)}
        for name, value in (channel.header_override or {}).items():
            if name.lower() not in ("content-length", "transfer-encoding", "host"):
                headers[name] = str(value).replace("{api_key}", key)
        data = None if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return UpstreamRequest(method=method, url=base + path, headers=headers, data=data,
                               proxy=(channel.settings or {}).get("proxy") or None)

    def auth_headers(self, key: str) -> dict[str, str]:
        raise NotImplementedError


def load_json(content: bytes) -> Any:
    """Parsed JSON, or None when the body is not JSON."""
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def text(value: Any, limit: int = 4000) -> str:
    """A string field from an upstream object ("" for missing or non-strings), cut to `limit`."""
    return value[:limit] if isinstance(value, str) else ""


def integer(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def retryable_status(status: int) -> bool:
    """Another channel may succeed where this answer came from: credentials, rate limits, server errors."""
    return status in (401, 403, 408, 429) or status >= 500
