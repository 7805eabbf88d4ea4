"""Checks of the native surfaces' request bodies, before anything is reserved: Claude Messages and
count_tokens, Gemini generateContent, countTokens and embedContent, OpenAI Responses and rerank. Each
returns the pipeline's `ClientRequest`.

Only what every channel needs is checked here (the shape, the model, the roles, token limits), so a
request that a Claude channel would accept is not refused just because translating it for another
channel type could fail; that is checked when (and if) it is translated. Reservation estimates follow
app.relay.request: bytes / 3 for text, a flat MEDIA_TOKENS per inline image or file.
"""

from __future__ import annotations

from typing import Any

from app.errors import ValidationError
from app.relay.request import (
    BYTES_PER_TOKEN,
    DEFAULT_COMPLETION_TOKENS,
    MAX_TOKENS,
    MEDIA_TOKENS,
    ClientRequest,
    check_model,
    parse_json_body,
)
from app.relay.translate.gemini_to_openai import get
from app.relay.types import Mode

MAX_RERANK_DOCUMENTS = 10_000
MAX_EMBED_BATCH = 100  # Google's limit: "at most 100 requests can be in one batch"
MAX_EMBED_DIMENSIONS = 65_536
EMBED_TASK_TYPES = frozenset({"TASK_TYPE_UNSPECIFIED", "RETRIEVAL_QUERY", "RETRIEVAL_DOCUMENT", "SEMANTIC_SIMILARITY",
                              "CLASSIFICATION", "CLUSTERING", "QUESTION_ANSWERING", "FACT_VERIFICATION",
                              "CODE_RETRIEVAL_QUERY"})
STREAM_ALTS = (None, "json", "sse")  # streamGenerateContent's `alt`: a JSON array (default) or SSE
_MEDIA_KEYS = ("media_type", "mimeType", "mime_type")


def prompt_estimate(raw: bytes, body: Any) -> int:
    """Reservation estimate of a prompt: inline media (base64 sources, data URLs) count MEDIA_TOKENS each."""
    media = media_bytes = 0
    stack = [body]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            data = item.get("data")
            if isinstance(data, str) and len(data) > 1024 and any(k in item for k in _MEDIA_KEYS):
                media, media_bytes = media + 1, media_bytes + len(data)
                stack.extend(v for k, v in item.items() if k != "data")
            else:
                stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and len(item) > 1024 and item.startswith("data:"):
            media, media_bytes = media + 1, media_bytes + len(item)
    return max(len(raw) - media_bytes, 0) // BYTES_PER_TOKEN + media * MEDIA_TOKENS


def _bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is not None and value is not True and value is not False:
        raise ValidationError(f"{name}: Input should be a valid boolean", param=name)
    return value is True


def _tokens(value: Any, name: str, *, required: bool = False) -> int | None:
    if value is None:
        if required:
            raise ValidationError(f"{name}: Field required", param=name)
        return None
    if type(value) is not int or not 1 <= value <= MAX_TOKENS:
        raise ValidationError(f"{name}: Input should be an integer between 1 and {MAX_TOKENS}", param=name)
    return value


def parse_claude(raw: bytes, headers: dict[str, str] | None = None) -> ClientRequest:
    """A Claude Messages request (https://docs.anthropic.com/en/api/messages)."""
    body = parse_json_body(raw)
    model = check_model(body.get("model"))
    max_tokens = _tokens(body.get("max_tokens"), "max_tokens", required=True)
    _check_claude_conversation(body)
    req = ClientRequest(Mode.MESSAGES, model, stream=_bool(body, "stream"), body=body, raw=raw,
                        headers=dict(headers or {}))
    req.prompt_estimate = prompt_estimate(raw, body)
    req.completion_estimate = max_tokens or DEFAULT_COMPLETION_TOKENS
    return req


def parse_claude_count(raw: bytes, headers: dict[str, str] | None = None) -> ClientRequest:
    """A Claude token-counting request (https://docs.anthropic.com/en/api/messages-count-tokens): the
    Messages body without max_tokens or stream, which that endpoint refuses."""
    body = parse_json_body(raw)
    model = check_model(body.get("model"))
    for name in ("max_tokens", "stream"):
        if name in body:
            raise ValidationError(f"{name}: Extra inputs are not permitted", param=name)
    _check_claude_conversation(body)
    return ClientRequest(Mode.CLAUDE_COUNT, model, body=body, raw=raw, headers=dict(headers or {}))


def _check_claude_conversation(body: dict[str, Any]) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValidationError("messages: at least one message is required", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise ValidationError(f"messages.{i}: Input should be a valid dictionary", param="messages")
        if message.get("role") not in ("user", "assistant"):
            raise ValidationError(f"messages.{i}.role: Input should be 'user' or 'assistant'", param="messages")
        if not isinstance(message.get("content"), (str, list)):
            raise ValidationError(f"messages.{i}.content: Input should be a valid string or list",
                                  param="messages")
    if body.get("system") is not None and not isinstance(body["system"], (str, list)):
        raise ValidationError("system: Input should be a valid string or list", param="system")
    if body.get("tools") is not None and not isinstance(body["tools"], list):
        raise ValidationError("tools: Input should be a valid list", param="tools")


def parse_gemini(raw: bytes, model: str, stream: bool, alt: str | None = None) -> ClientRequest:
    """A Gemini generateContent request (https://ai.google.dev/api/generate-content); the model is the URL's.

    A stream is server-sent events with `alt=sse`, else (`alt=json`, the default) Google's JSON array
    written element by element (app.relay.adaptors.gemini.JsonArrayStream).
    """
    if alt not in STREAM_ALTS:
        raise ValidationError(f"Invalid value at 'alt' ({alt!r}): use json or sse", param="alt")
    body = parse_json_body(raw)
    model = check_model(model.removeprefix("models/"))
    _check_gemini_contents(body, "GenerateContentRequest")
    config = get(body, "generationConfig")
    if config is not None and not isinstance(config, dict):
        raise ValidationError("generationConfig must be an object", param="generationConfig")
    max_tokens = _tokens(get(config, "maxOutputTokens"), "maxOutputTokens")
    candidates = get(config, "candidateCount")
    n = candidates if type(candidates) is int and 1 <= candidates <= 8 else 1
    req = ClientRequest(Mode.GEMINI, model, stream=stream, body=body, raw=raw)
    req.json_array_stream = stream and alt != "sse"
    req.prompt_estimate = prompt_estimate(raw, body)
    req.completion_estimate = (max_tokens or DEFAULT_COMPLETION_TOKENS) * n
    return req


def _check_gemini_contents(body: dict[str, Any], where: str) -> None:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise ValidationError(f"* {where}.contents: contents is not specified", param="contents")
    for i, content in enumerate(contents):
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list) or not content["parts"]:
            raise ValidationError(f"* {where}.contents[{i}].parts: contents.parts must not be empty.",
                                  param="contents")
        if content.get("role") not in (None, "user", "model", "function"):
            raise ValidationError("Please use a valid role: user, model.", param="contents")


def parse_gemini_count(raw: bytes, model: str) -> ClientRequest:
    """A Gemini countTokens request (https://ai.google.dev/api/tokens): `contents`, or a whole
    `generateContentRequest` (whose `model` names the same model), never both."""
    body = parse_json_body(raw)
    model = check_model(model.removeprefix("models/"))
    inner = get(body, "generateContentRequest")
    if inner is not None and "contents" in body:
        raise ValidationError("contents and generateContentRequest cannot both be set", param="contents")
    if inner is None:
        _check_gemini_contents(body, "CountTokensRequest")
    else:
        if not isinstance(inner, dict):
            raise ValidationError("generateContentRequest must be an object", param="generateContentRequest")
        _check_gemini_contents(inner, "CountTokensRequest.generateContentRequest")
        if inner.get("model") not in (None, f"models/{model}"):
            raise ValidationError(f"generateContentRequest.model must be models/{model}",
                                  param="generateContentRequest")
    return ClientRequest(Mode.GEMINI_COUNT, model, body=body, raw=raw)


def parse_gemini_embed(raw: bytes, model: str, *, batch: bool) -> ClientRequest:
    """A Gemini embedContent or batchEmbedContents request (https://ai.google.dev/api/embeddings).

    Each EmbedContentRequest needs content with parts; `model`, when given, must be the URL's model
    (`models/{model}`), as Google checks in a batch; a batch holds at most MAX_EMBED_BATCH requests.
    Billed like /v1/embeddings: prompt tokens only.
    """
    body = parse_json_body(raw)
    model = check_model(model.removeprefix("models/"))
    if batch:
        where = "BatchEmbedContentsRequest.requests"
        items = body.get("requests")
        if not isinstance(items, list) or not items:
            raise ValidationError(f"* {where}: requests is not specified", param="requests")
        if len(items) > MAX_EMBED_BATCH:
            raise ValidationError(f"* {where}: at most {MAX_EMBED_BATCH} requests can be in one batch",
                                  param="requests")
        for i, item in enumerate(items):
            _check_embed_item(item, f"{where}[{i}]", model)
    else:
        _check_embed_item(body, "EmbedContentRequest", model)
    req = ClientRequest(Mode.GEMINI_BATCH_EMBED if batch else Mode.GEMINI_EMBED, model, body=body, raw=raw)
    req.prompt_estimate = prompt_estimate(raw, body)
    return req


def _check_embed_item(item: Any, where: str, model: str) -> None:
    if not isinstance(item, dict):
        raise ValidationError(f"* {where}: must be an object", param="requests")
    parts = get(item.get("content"), "parts")
    if not isinstance(parts, list) or not parts or not all(isinstance(p, dict) and p for p in parts):
        raise ValidationError(f"* {where}.content.parts: contents.parts must not be empty.", param="content")
    if item.get("model") not in (None, f"models/{model}"):
        raise ValidationError(f"* {where}.model: the model of each request must match the model "
                              f"models/{model}", param="model")
    task = get(item, "taskType")
    if task is not None and task not in EMBED_TASK_TYPES:
        raise ValidationError(f"* {where}.task_type: invalid value {task!r}", param="taskType")
    if get(item, "title") is not None and not isinstance(get(item, "title"), str):
        raise ValidationError(f"* {where}.title: must be a string", param="title")
    size = get(item, "outputDimensionality")
    if size is not None and (type(size) is not int or not 1 <= size <= MAX_EMBED_DIMENSIONS):
        raise ValidationError(f"* {where}.output_dimensionality: must be an integer between 1 and "
                              f"{MAX_EMBED_DIMENSIONS}", param="outputDimensionality")


def parse_responses(raw: bytes) -> ClientRequest:
    """An OpenAI Responses request (https://platform.openai.com/docs/api-reference/responses/create)."""
    body = parse_json_body(raw)
    model = check_model(body.get("model"))
    if body.get("input") is not None and not isinstance(body["input"], (str, list)):
        raise ValidationError("'input' must be a string or an array of input items", param="input")
    max_tokens = _tokens(body.get("max_output_tokens"), "max_output_tokens")
    req = ClientRequest(Mode.RESPONSES, model, stream=_bool(body, "stream"), body=body, raw=raw)
    req.prompt_estimate = prompt_estimate(raw, body)
    req.completion_estimate = max_tokens or DEFAULT_COMPLETION_TOKENS
    return req


def parse_rerank(raw: bytes) -> ClientRequest:
    """A Jina/Cohere rerank request: model, query, documents, top_n, return_documents."""
    body = parse_json_body(raw)
    model = check_model(body.get("model"))
    if not isinstance(body.get("query"), str) or not body["query"]:
        raise ValidationError("'query' must be a non-empty string", param="query")
    documents = body.get("documents")
    if not isinstance(documents, list) or not documents or len(documents) > MAX_RERANK_DOCUMENTS:
        raise ValidationError(f"'documents' must be an array of 1 to {MAX_RERANK_DOCUMENTS} documents",
                              param="documents")
    if not all(isinstance(d, str) or (isinstance(d, dict) and isinstance(d.get("text"), str)) for d in documents):
        raise ValidationError("each document must be a string or an object with 'text'", param="documents")
    top_n = body.get("top_n")
    if top_n is not None and (type(top_n) is not int or top_n < 1):
        raise ValidationError("'top_n' must be a positive integer", param="top_n")
    _bool(body, "return_documents")
    req = ClientRequest(Mode.RERANK, model, body=body, raw=raw)
    req.prompt_estimate = len(raw) // BYTES_PER_TOKEN
    return req
