"""Plain data passed between the relay's layers. Standard library only.

`RelayContext` is built once per client request by the pipeline and handed to the adaptor for each
attempt (the channel fields change between attempts). Adaptors read it; they never reach for Flask's
`request`/`g` or the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class Mode:
    """Which OpenAI endpoint a request came in on; selects validation, pricing and the upstream path."""

    CHAT = "chat"
    COMPLETIONS = "completions"
    EMBEDDINGS = "embeddings"
    IMAGES = "images"
    SPEECH = "speech"
    TRANSCRIPTION = "transcription"
    TRANSLATION = "translation"
    MODERATIONS = "moderations"

    PATHS = {
        CHAT: "/v1/chat/completions",
        COMPLETIONS: "/v1/completions",
        EMBEDDINGS: "/v1/embeddings",
        IMAGES: "/v1/images/generations",
        SPEECH: "/v1/audio/speech",
        TRANSCRIPTION: "/v1/audio/transcriptions",
        TRANSLATION: "/v1/audio/translations",
        MODERATIONS: "/v1/moderations",
    }
    MULTIPART = frozenset({TRANSCRIPTION, TRANSLATION})
    STREAMABLE = frozenset({CHAT, COMPLETIONS})

    # Client surfaces that are not OpenAI's chat family: served by a channel's own adaptor when it
    # speaks them (`native_modes`), else through app.relay.translate.bridge. Kept out of PATHS so
    # the OpenAI adaptors do not claim them.
    MESSAGES = "messages"  # Anthropic Messages
    GEMINI = "gemini"  # Gemini generateContent / streamGenerateContent
    RESPONSES = "responses"  # OpenAI Responses
    RERANK = "rerank"  # Jina/Cohere rerank
    CLAUDE_COUNT = "claude_count"  # Anthropic messages/count_tokens
    GEMINI_COUNT = "gemini_count"  # Gemini countTokens
    GEMINI_EMBED = "gemini_embed"  # Gemini embedContent
    GEMINI_BATCH_EMBED = "gemini_batch_embed"  # Gemini batchEmbedContents
    SURFACES = {
        MESSAGES: "/v1/messages",
        GEMINI: "/v1beta/models",
        RESPONSES: "/v1/responses",
        RERANK: "/v1/rerank",
        CLAUDE_COUNT: "/v1/messages/count_tokens",
        GEMINI_COUNT: "/v1beta/models/{model}:countTokens",
        GEMINI_EMBED: "/v1beta/models/{model}:embedContent",
        GEMINI_BATCH_EMBED: "/v1beta/models/{model}:batchEmbedContents",
    }
    # Token counting: never charged (the providers do not charge for it either); the answer writes one
    # quota-0 log row (app.relay.pipeline.count_tokens).
    UNCHARGED = frozenset({CLAUDE_COUNT, GEMINI_COUNT})


@dataclass(slots=True)
class Usage:
    """Token usage in OpenAI's sense, whatever the provider reported.

    `prompt_tokens` counts every input token, cached reads and cache writes included (OpenAI's
    `usage.prompt_tokens`); an adaptor for a provider that reports them apart (Anthropic's
    `input_tokens` excludes `cache_read_input_tokens` and `cache_creation_input_tokens`) adds them up.
    `completion_tokens` includes reasoning tokens. `audio_seconds` is set for transcriptions billed by
    duration. `estimated` is True when the numbers come from our tokenizer, not the upstream.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0
    audio_seconds: float | None = None
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(slots=True)
class ChannelInfo:
    """An immutable snapshot of one channel row, parsed once when the routing cache is filled."""

    id: int
    type: int
    name: str
    base_url: str
    keys: tuple[str, ...]
    key_status: dict[str, int]
    multi_key_mode: str
    model_mapping: dict[str, str]
    param_override: dict[str, Any]
    header_override: dict[str, str]
    settings: dict[str, Any]  # the `other` JSON column: provider settings (api_version, proxy, ...)
    status_code_mapping: dict[str, str]
    organization: str | None = None
    auto_ban: bool = True
    status: int = 1
    priority: int = 0
    weight: int = 0
    test_model: str | None = None
    models: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    def enabled_key_indexes(self) -> list[int]:
        """Indexes of keys not disabled in `key_status` (1 or absent = enabled)."""
        status = self.key_status
        if not status:
            return list(range(len(self.keys)))
        return [i for i in range(len(self.keys)) if status.get(str(i), 1) == 1]


@dataclass(slots=True)
class RelayContext:
    """Everything one attempt needs: the client's request, who sent it, and the channel chosen."""

    mode: str
    origin_model: str  # the model the client asked for: priced and logged
    stream: bool
    body: dict[str, Any] | None  # parsed JSON body (None for multipart)
    raw_body: bytes = b""
    form: dict[str, Any] = field(default_factory=dict)  # multipart text fields
    files: list[tuple[str, tuple[str | None, Any, str | None]]] = field(default_factory=list)
    client_wants_usage: bool = False  # the client itself set stream_options.include_usage
    user_id: int = 0
    token_id: int = 0
    group: str = ""
    request_id: str = ""
    # -- set per attempt -----------------------------------------------------------------------
    channel: ChannelInfo | None = None
    api_key: str = ""
    key_index: int = 0
    upstream_model: str = ""  # after the channel's model_mapping
    headers: dict[str, str] = field(default_factory=dict)  # client headers the upstream sees (anthropic-version)

    @property
    def path(self) -> str:
        return Mode.PATHS.get(self.mode) or Mode.SURFACES[self.mode]


@dataclass(slots=True)
class UpstreamRequest:
    """What the HTTP helper sends: built by an adaptor, sent by `app.relay.http.send`."""

    method: str
    url: str
    headers: dict[str, str]
    data: bytes | None = None  # a JSON body, already encoded
    form: dict[str, Any] | None = None  # multipart text fields
    files: list[tuple[str, tuple[str | None, Any, str | None]]] | None = None
    stream: bool = False
    proxy: str | None = None


@dataclass(slots=True)
class ParsedResponse:
    """A non-stream upstream answer translated for the client: bytes to send and the usage found."""

    body: bytes
    content_type: str
    usage: Usage | None


@dataclass(slots=True)
class UpstreamFailure:
    """Why one attempt failed, in terms the retry policy and channel health understand."""

    status: int  # HTTP status from the upstream, or 502/504 for network errors and timeouts
    message: str
    error_type: str = "upstream_error"
    code: str | None = None
    param: str | None = None
    network: bool = False  # timeout, refused, reset: nothing usable came back

    @property
    def retryable(self) -> bool:
        """Another channel may succeed: rate limits, server errors, network trouble, bad credentials."""
        s = self.status
        return self.network or s in (401, 403, 408, 429) or s >= 500
