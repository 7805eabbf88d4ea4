"""Parse and check the client's request once, before anything is reserved or sent upstream.

The body is decoded with the standard library's C JSON parser; the strict checks ride along cheaply:
duplicate keys through `object_pairs_hook`, NaN/Infinity through `parse_constant`, nesting through
the parser's own recursion limit, lone surrogates only when the body contains a `\\uD...` escape.
Everything refused here is a 400 with nothing charged and no upstream request.

Reservation estimates are deliberately cheap (no tokenizer): prompt tokens ~ body bytes / 3, which
over-counts English (about 4 bytes per token, plus JSON syntax) and roughly matches CJK text; inline
base64 media (images, audio) is replaced by OpenAI's flat 765-token image estimate. The completion
estimate is max_tokens (or max_completion_tokens / max_output_tokens) x n when given, else
DEFAULT_COMPLETION_TOKENS x n. Settlement uses the upstream's real usage, so estimates only decide how
much is held while the request runs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from app.errors import ValidationError
from app.relay.types import Mode

MAX_MODEL_LENGTH = 256
MAX_N = 128
MAX_IMAGES = 10
MAX_TOKENS = 1 << 20
DEFAULT_COMPLETION_TOKENS = 1024
DEFAULT_MODERATION_MODEL = "omni-moderation-latest"
BYTES_PER_TOKEN = 3
MEDIA_TOKENS = 765
AUDIO_BYTES_PER_SECOND = 16000  # 128 kbit/s mp3; wav is larger, so this over-estimates the duration


@dataclass(slots=True)
class ClientRequest:
    mode: str
    model: str
    stream: bool = False
    body: dict[str, Any] | None = None
    raw: bytes = b""
    form: dict[str, Any] = field(default_factory=dict)
    files: list[tuple[str, tuple[str | None, Any, str | None]]] = field(default_factory=list)
    client_wants_usage: bool = False
    prompt_estimate: int = 0
    completion_estimate: int = 0
    calls: float = 1.0  # per-call pricing units (images: n x size/quality factors)
    audio_seconds_estimate: float | None = None
    speech_chars: int = 0
    image_size: str | None = None
    image_quality: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # provider headers to forward (RelayContext.headers)
    json_array_stream: bool = False  # Gemini streamGenerateContent without alt=sse: a JSON array, not SSE


def _reject_constant(name: str):
    raise ValidationError(f"{name} is not allowed in JSON")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValidationError(f"duplicate key {key!r} in the JSON body")
            seen.add(key)
    return obj


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or ValidationError (400) for anything the checks refuse."""
    if not raw or not raw.strip():
        raise ValidationError("the request body must be a JSON object")
    try:
        text = raw.decode("utf-8")
        body = json.loads(text, object_pairs_hook=_pairs, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ValidationError("the request body is not valid UTF-8") from None
    except RecursionError:
        raise ValidationError("the request body is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ValidationError(f"the request body is not valid JSON: {exc.msg}") from None
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object")
    if "\\ud" in text or "\\uD" in text:
        try:
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError("the request body contains an unpaired surrogate escape") from None
    return body


def check_model(model: Any, *, required: bool = True) -> str:
    """A model name that is safe to log and to put in headers and URLs."""
    if model is None and not required:
        return ""
    if not isinstance(model, str) or not model:
        raise ValidationError("you must provide a model parameter", param="model")
    if len(model) > MAX_MODEL_LENGTH or not model.isprintable():
        raise ValidationError("the model name is too long or contains control characters", param="model")
    return model


def _opt_int(body: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if type(value) is not int or not low <= value <= high:
        raise ValidationError(f"'{name}' must be an integer between {low} and {high}", param=name)
    return value


def _opt_bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if value is not True and value is not False:
        raise ValidationError(f"'{name}' must be a boolean", param=name)
    return value


def _media_aware_estimate(raw: bytes, body: Any) -> int:
    if b";base64," not in raw:
        return len(raw) // BYTES_PER_TOKEN
    total = 0
    stack = [body]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += MEDIA_TOKENS * BYTES_PER_TOKEN if item.startswith("data:") else len(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return total // BYTES_PER_TOKEN


def _text_request(req: ClientRequest, body: dict[str, Any]) -> None:
    req.stream = _opt_bool(body, "stream")
    n = _opt_int(body, "n", 1, MAX_N) or 1
    max_tokens = None
    for name in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        value = _opt_int(body, name, 1, MAX_TOKENS)
        if value is not None:
            max_tokens = value if max_tokens is None else max(max_tokens, value)
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise ValidationError("'stream_options' must be an object", param="stream_options")
        req.client_wants_usage = options.get("include_usage") is True
    req.prompt_estimate = _media_aware_estimate(req.raw, body)
    req.completion_estimate = (max_tokens or DEFAULT_COMPLETION_TOKENS) * n


def parse_json_request(mode: str, raw: bytes) -> ClientRequest:
    """Check a JSON endpoint's body; returns what the pipeline needs to price and route it."""
    body = parse_json_body(raw)
    if mode == Mode.MODERATIONS:
        model = check_model(body.get("model"), required=False) or DEFAULT_MODERATION_MODEL
    else:
        model = check_model(body.get("model"))
    req = ClientRequest(mode, model, body=body, raw=raw)
    if mode == Mode.CHAT:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ValidationError("'messages' must be a non-empty array", param="messages")
        _text_request(req, body)
    elif mode == Mode.COMPLETIONS:
        if not isinstance(body.get("prompt"), (str, list)):
            raise ValidationError("'prompt' must be a string or an array", param="prompt")
        _text_request(req, body)
    elif mode in (Mode.EMBEDDINGS, Mode.MODERATIONS):
        if body.get("input") in (None, "", []):
            raise ValidationError("'input' is required", param="input")
        req.prompt_estimate = _media_aware_estimate(raw, body)
    elif mode == Mode.IMAGES:
        if not isinstance(body.get("prompt"), str) or not body["prompt"]:
            raise ValidationError("'prompt' must be a non-empty string", param="prompt")
        n = _opt_int(body, "n", 1, MAX_IMAGES) or 1
        size, quality = body.get("size"), body.get("quality")
        if (size is not None and not isinstance(size, str)) or (quality is not None and not isinstance(quality, str)):
            raise ValidationError("'size' and 'quality' must be strings")
        req.calls = n
        req.image_size, req.image_quality = size, quality
        req.prompt_estimate = len(raw) // BYTES_PER_TOKEN
    elif mode == Mode.SPEECH:
        text = body.get("input")
        if not isinstance(text, str) or not text:
            raise ValidationError("'input' must be a non-empty string", param="input")
        req.speech_chars = len(text)
        req.prompt_estimate = len(text)
    if mode not in Mode.STREAMABLE:
        _opt_bool(body, "stream")  # refused when malformed, ignored otherwise
    return req


def parse_multipart_request(mode: str, form, files) -> ClientRequest:
    """Check an audio upload (werkzeug `form` and `files`); the file bytes are read once for retries."""
    model = check_model(form.get("model"))
    upload = files.get("file")
    if upload is None:
        raise ValidationError("'file' is required", param="file")
    fields: dict[str, Any] = {}
    for key in form:
        values = form.getlist(key)
        if any(not isinstance(v, str) or "\x00" in v for v in values):
            raise ValidationError(f"invalid form field {key!r}")
        fields[key] = values[0] if len(values) == 1 else values
    parts = []
    size = 0
    for key in files:
        for item in files.getlist(key):
            data = item.read()
            size += len(data)
            parts.append((key, (item.filename or "audio", data, item.mimetype or "application/octet-stream")))
    req = ClientRequest(mode, model, form=fields, files=parts)
    req.audio_seconds_estimate = max(1.0, math.ceil(size / AUDIO_BYTES_PER_SECOND))
    req.stream = False
    return req
