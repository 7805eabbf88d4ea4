"""What the mock upstream does for one request: a frozen ``Behaviour``, and its model-name shorthand.

A request's behaviour is, in order: the next queued behaviour (``MockUpstream.enqueue``), else
the behaviour set for its API key, else the default (``MockUpstream.set_behaviour``). Then, if the
requested model starts with ``mock``, the model name's tokens override fields, so a relay test
can pick a scenario by model name alone, with no headers or server calls:

    mock-error-429          status 429 (OpenAI rate-limit error, retry-after header)
    mock-error-429-quota    429 with type/code insufficient_quota
    mock-error-502-html     502 with an HTML body, like a proxy in front of the upstream
    mock-error-500          any 4xx/5xx status: OpenAI error JSON with that status
    mock-drop               connection closed before any response byte
    mock-firstbyte-800      wait 800 ms before the status line and headers
    mock-chunks-40 / -n40   40 content chunks (stream) / pieces of the reply
    mock-delay-50 / -d50    50 ms before each content chunk
    mock-cut-3              stream: close the connection after 3 content chunks, no [DONE]
    mock-eof-3              stream: end the body cleanly after 3 content chunks, no [DONE]
    mock-streamerror-2      stream: after 2 content chunks send data: {"error": ...} and stop
    mock-nousage            never send usage (not in JSON, not in streams even when asked)
    mock-prompt-12 / -completion-7 / -cached-4 / -reasoning-5   usage numbers
    mock-tools              reply with a tool call (finish_reason "tool_calls")
    mock-length             finish_reason "length"
    mock-flagged            moderation results flagged

Tokens combine (``mock-n5-d20-nousage``); unknown tokens are ignored (``mock-gpt-4o-cut-2``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_CONTENT = "Hello! This is the mock upstream speaking."
DEFAULT_MODELS = (
    "gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo", "gpt-3.5-turbo-instruct", "text-embedding-3-small",
    "text-embedding-3-large", "dall-e-3", "gpt-image-1", "tts-1", "whisper-1", "omni-moderation-latest",
)
DEFAULT_TOOL_CALL = {"name": "get_weather", "arguments": '{"location": "Paris, France", "unit": "celsius"}'}


@dataclass(frozen=True)
class Behaviour:
    """One request's outcome. Every field has a default that answers like a healthy upstream."""

    # -- outcome --------------------------------------------------------------------------------
    status: int = 200  # >= 400: answer the provider's error JSON with this status
    error_message: str | None = None  # override the catalogue message for ``status``
    error_type: str | None = None
    error_code: str | None = None
    error_param: str | None = None
    error_body: bytes | str | None = None  # raw error body instead of JSON (e.g. an HTML 502 page)
    error_content_type: str = "text/html; charset=utf-8"
    retry_after: str | None = "1"  # sent on 429 and 503; None omits the header
    headers: Mapping[str, str] = field(default_factory=dict)  # extra response headers, any status
    drop_connection: bool = False  # close the socket without sending a response
    first_byte_delay: float = 0.0  # seconds before the status line (slow upstream)

    # -- generated text -------------------------------------------------------------------------
    content: str = DEFAULT_CONTENT  # reply text (chat, completions, transcriptions)
    chunks: int | None = None  # pieces of the reply; None = one per word
    chunk_delay: float = 0.0  # seconds before each content chunk of a stream
    finish_reason: str | None = None  # None = "stop" ("tool_calls" with tool_calls)
    tool_calls: tuple[Mapping[str, str], ...] | None = None  # ({"name":..., "arguments": "<json>"},)
    response_model: str | None = None  # "model" in responses; None echoes the request

    # -- usage ----------------------------------------------------------------------------------
    send_usage: bool = True  # False: no usage in JSON and never a usage chunk in streams
    prompt_tokens: int = 10
    completion_tokens: int | None = None  # None = number of reply pieces (+ reasoning_tokens)
    cached_tokens: int = 0  # usage.prompt_tokens_details.cached_tokens
    reasoning_tokens: int = 0  # usage.completion_tokens_details.reasoning_tokens
    usage_details: bool = True  # include *_tokens_details objects, as current OpenAI models do

    # -- stream faults --------------------------------------------------------------------------
    cut_after: int | None = None  # close after this many content chunks, before [DONE]
    cut_mode: str = "abort"  # "abort": connection closed mid-body; "eof": body ends cleanly
    stream_error_after: int | None = None  # send an error event after this many content chunks

    # -- other endpoints ------------------------------------------------------------------------
    embedding_dimensions: int | None = None  # None: request "dimensions", else the model's size
    audio_seconds: float = 3.0  # transcription duration (usage.seconds, verbose_json duration)
    flagged: bool = False  # moderation verdict
    models: tuple[str, ...] = DEFAULT_MODELS  # GET /v1/models
    hard_limit_usd: float = 100.0  # legacy billing: subscription limit / credit granted
    used_usd: float = 12.5  # legacy billing: usage (reported in cents by /usage)

    def replace(self, **changes: Any) -> Behaviour:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    def reply_pieces(self) -> list[str]:
        """The reply split into the chunks a stream sends; joined, they are the full reply.

        One piece per word by default (leading spaces kept, like model tokens). With ``chunks=N``
        the words are cycled until there are exactly N pieces, so ``chunks`` also sets the length.
        """
        words = re.findall(r"\s*\S+", self.content) or ([self.content] if self.content else [])
        if self.chunks is None:
            return words
        if not words:
            words = ["tok"]
        n = max(0, self.chunks)
        return [words[i % len(words)] if i < len(words) else " " + words[i % len(words)].lstrip()
                for i in range(n)]

    def completion_count(self, pieces: list[str]) -> int:
        """usage.completion_tokens for a reply of ``pieces``."""
        if self.completion_tokens is not None:
            return self.completion_tokens
        return len(pieces) + self.reasoning_tokens


_NUMBER_FIELDS = {
    "error": ("status", int), "chunks": ("chunks", int), "n": ("chunks", int),
    "delay": ("chunk_delay", "ms"), "d": ("chunk_delay", "ms"), "firstbyte": ("first_byte_delay", "ms"),
    "cut": ("cut_after", int), "eof": ("cut_after", int), "streamerror": ("stream_error_after", int),
    "prompt": ("prompt_tokens", int), "completion": ("completion_tokens", int),
    "cached": ("cached_tokens", int), "reasoning": ("reasoning_tokens", int),
}
_FLAGS: dict[str, dict[str, Any]] = {
    "nousage": {"send_usage": False},
    "drop": {"drop_connection": True},
    "tools": {"tool_calls": (DEFAULT_TOOL_CALL,)},
    "length": {"finish_reason": "length"},
    "flagged": {"flagged": True},
    "quota": {"error_type": "insufficient_quota", "error_code": "insufficient_quota"},
}
_GLUED = re.compile(r"^(n|d)(\d+)$")  # bench-style "n40" / "d50"
HTML_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
            b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
            b"</body>\r\n</html>\r\n")


def overrides_from_model(model: str | None) -> dict[str, Any]:
    """Field overrides encoded in a ``mock...`` model name (see the module docstring)."""
    if not isinstance(model, str) or not model.lower().startswith("mock"):
        return {}
    tokens = model.lower().split("-")[1:]
    changes: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        glued = _GLUED.match(token)
        if glued:
            token, arg = glued.group(1), glued.group(2)
            i += 1
        elif token in _NUMBER_FIELDS and i + 1 < len(tokens) and tokens[i + 1].isdigit():
            arg = tokens[i + 1]
            i += 2
        else:
            changes.update(_FLAGS.get(token, {}))
            if token == "html":
                changes["error_body"] = HTML_502
                changes.setdefault("status", 502)
            i += 1
            continue
        name, kind = _NUMBER_FIELDS[token]
        changes[name] = int(arg) / 1000.0 if kind == "ms" else int(arg)
        if token == "eof":
            changes["cut_mode"] = "eof"
    if changes.get("error_type") == "insufficient_quota" and "status" not in changes:
        changes["status"] = 429
    return changes


def apply_model(behaviour: Behaviour, model: str | None) -> Behaviour:
    """``behaviour`` with the overrides of a ``mock...`` model name applied."""
    changes = overrides_from_model(model)
    return behaviour.replace(**changes) if changes else behaviour
