"""OpenAI's Videos API (Sora) relayed to OpenAI and OpenAI-compatible channels. Pure: no Flask, no DB.

The wire format is OpenAI's (https://platform.openai.com/docs/api-reference/videos, openai-python's
`types/video*.py`): `POST /v1/videos` (JSON or multipart: prompt, model, seconds, size, input_reference)
answers a video object `{"id", "object": "video", "model", "status": queued|in_progress|completed|failed,
"progress", "created_at", "completed_at", "expires_at", "prompt", "seconds", "size", "error"}`;
`GET /v1/videos/{id}` is the same object, `GET /v1/videos/{id}/content?variant=video|thumbnail|spritesheet`
the file. Errors are `{"error": {"message", "type", "param", "code"}}`.

The client never sees the upstream: a job gets Sluice's own id (`video_<32 hex>`, the `tasks.task_id`
column), the upstream id stays in the row's `properties.upstream_id` (admins only), and every object the
client gets is rebuilt from the row with the model name the client asked for. Rows keep the house
statuses (SUBMITTED, QUEUED, IN_PROGRESS, SUCCESS, FAILURE), so the poller, the refunds and the task
pages treat videos like Suno tasks. Price: ModelPrice (USD per second) x seconds x size factor
(app.billing.pricing.video_calls) x group ratio, charged at submit.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from app.billing.pricing import video_calls
from app.errors import ValidationError
from app.relay.adaptors.azure import AzureAdaptor
from app.relay.adaptors.base import Adaptor, failure_from_body
from app.relay.adaptors.openai import ALL_MODES, OpenAIAdaptor, join_url
from app.relay.request import check_model
from app.relay.tasks.common import (
    FAILURE,
    IN_PROGRESS,
    SUBMITTED,
    SUCCESS,
    SubmitVerdict,
    TaskAdaptor,
    dumps,
    integer,
    load_json,
    retryable_status,
    text,
)
from app.relay.types import ChannelInfo, UpstreamRequest

MODE = "video"
PLATFORM = "video"
GENERATE = "GENERATE"  # the one action (the task pages filter on it)
QUEUED = "QUEUED"
DEFAULT_MODEL = "sora-2"
DEFAULT_SECONDS = "4"
DEFAULT_SIZE = "720x1280"
MAX_PROMPT_CHARS = 32_000
MAX_SECONDS = 60  # other models on OpenAI-compatible channels may allow other durations, never more
MAX_REFERENCE_BYTES = 20 * 1024 * 1024
REFERENCE_TYPES = ("image/jpeg", "image/png", "image/webp", "video/mp4")
VARIANTS = {"video": "video/mp4", "thumbnail": "image/webp", "spritesheet": "image/jpeg"}
# OpenAI's allowed values per Sora model (the API reference); other models are checked loosely.
SORA_SECONDS = ("4", "8", "12")
SORA_SIZES = {"sora-2": ("720x1280", "1280x720"),
              "sora-2-pro": ("720x1280", "1280x720", "1024x1792", "1792x1024")}
FIELDS = ("prompt", "model", "seconds", "size", "input_reference")
_SIZE = re.compile(r"^[1-9]\d{1,4}x[1-9]\d{1,4}$")
_SORA_SNAPSHOT = re.compile(r"^(sora-2(?:-pro)?)-\d{4}-\d{2}-\d{2}$")

# upstream status -> row status, and back for the client
FROM_OPENAI = {"queued": QUEUED, "in_progress": IN_PROGRESS, "completed": SUCCESS, "failed": FAILURE}
TO_OPENAI = {SUBMITTED: "queued", QUEUED: "queued", IN_PROGRESS: "in_progress", SUCCESS: "completed",
             FAILURE: "failed", "CANCEL": "failed"}
GENERIC_FAILURE = "the video generation failed"


def new_video_id() -> str:
    return "video_" + uuid.uuid4().hex


def serves(adaptor: Adaptor | None) -> bool:
    """True for channel types that speak OpenAI's whole surface (OpenAI, Custom and the OpenAI resellers);
    Azure serves Sora under its own paths and versions, the partial providers no video at all."""
    return isinstance(adaptor, OpenAIAdaptor) and not isinstance(adaptor, AzureAdaptor) and \
        adaptor.modes == ALL_MODES


@dataclass(slots=True)
class VideoSubmit:
    """A checked `POST /v1/videos`: what goes upstream and what it costs (`calls` seconds x size factor)."""

    model: str
    prompt: str
    seconds: str
    size: str
    body: dict[str, Any]  # the JSON fields sent upstream (with a reference object, if any)
    reference: tuple[str, bytes, str] | None = None  # an uploaded input_reference: (filename, bytes, type)
    calls: float = 1.0
    public_id: str = field(default_factory=new_video_id)
    action: str = GENERATE

    @property
    def free(self) -> bool:
        return False

    @property
    def path(self) -> str:
        return "/v1/videos"


def _base_model(model: str) -> str:
    match = _SORA_SNAPSHOT.fullmatch(model)
    return match.group(1) if match else model


def _seconds(value: Any, model: str) -> str:
    if value is None or value == "":
        return DEFAULT_SECONDS
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).isdigit():
        raise ValidationError("'seconds' must be a whole number of seconds such as \"4\"", param="seconds")
    seconds = str(int(value))
    if _base_model(model) in SORA_SIZES:
        if seconds not in SORA_SECONDS:
            raise ValidationError(f"Invalid value: '{value}'. Supported values are: "
                                  + ", ".join(f"'{s}'" for s in SORA_SECONDS) + ".", param="seconds",
                                  code="invalid_value")
    elif not 1 <= int(seconds) <= MAX_SECONDS:
        raise ValidationError(f"'seconds' must be between 1 and {MAX_SECONDS}", param="seconds",
                              code="invalid_value")
    return seconds


def _size(value: Any, model: str) -> str:
    if value is None or value == "":
        return DEFAULT_SIZE
    if not isinstance(value, str) or not _SIZE.fullmatch(value):
        raise ValidationError("'size' must be WIDTHxHEIGHT such as \"720x1280\"", param="size")
    allowed = SORA_SIZES.get(_base_model(model))
    if allowed is not None and value not in allowed:
        raise ValidationError(f"Invalid value: '{value}'. Supported values are: "
                              + ", ".join(f"'{s}'" for s in allowed) + ".", param="size", code="invalid_value")
    return value


def _reference_object(value: Any) -> dict[str, str]:
    """`{"image_url": ...}` or `{"file_id": ...}` (openai-python's ImageInputReferenceParam)."""
    if not isinstance(value, dict) or set(value) - {"image_url", "file_id"} or len(value) != 1:
        raise ValidationError("'input_reference' must be a file upload or an object with one of "
                              "'image_url' or 'file_id'", param="input_reference")
    (name, ref), = value.items()
    if not isinstance(ref, str) or not ref or len(ref) > MAX_REFERENCE_BYTES:
        raise ValidationError(f"'input_reference.{name}' must be a non-empty string", param="input_reference")
    if name == "image_url" and not ref.startswith(("https://", "http://", "data:image/")):
        raise ValidationError("'input_reference.image_url' must be an http(s) URL or a data:image URL",
                              param="input_reference")
    return {name: ref}


def check_create(fields: dict[str, Any], reference: tuple[str, bytes, str] | None = None) -> VideoSubmit:
    """Validate a create request (JSON fields, or multipart fields plus an uploaded `input_reference`)."""
    for name in fields:
        if name not in FIELDS:
            raise ValidationError(f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter")
    model = check_model(fields.get("model") or DEFAULT_MODEL)
    prompt = fields.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValidationError("Missing required parameter: 'prompt'.", param="prompt",
                              code="missing_required_parameter")
    if len(prompt) > MAX_PROMPT_CHARS or "\x00" in prompt:
        raise ValidationError(f"'prompt' must be at most {MAX_PROMPT_CHARS} characters", param="prompt")
    seconds, size = _seconds(fields.get("seconds"), model), _size(fields.get("size"), model)
    body: dict[str, Any] = {"model": model, "prompt": prompt, "seconds": seconds, "size": size}
    if reference is not None:
        if fields.get("input_reference") is not None:
            raise ValidationError("send 'input_reference' once: as a file or as an object",
                                  param="input_reference")
        filename, data, content_type = reference
        if not data or len(data) > MAX_REFERENCE_BYTES:
            raise ValidationError(f"'input_reference' must be a file of 1 byte to {MAX_REFERENCE_BYTES} bytes",
                                  param="input_reference")
        if content_type not in REFERENCE_TYPES:
            raise ValidationError("'input_reference' must be one of " + ", ".join(REFERENCE_TYPES),
                                  param="input_reference")
    elif fields.get("input_reference") is not None:
        body["input_reference"] = _reference_object(fields["input_reference"])
    return VideoSubmit(model, prompt, seconds, size, body, reference, video_calls(model, int(seconds), size))


def form_fields(form) -> tuple[dict[str, Any], bool]:
    """Multipart text fields as create fields; `input_reference[image_url]` style keys (how openai-python
    sends an object in a form) become one object. The bool says whether a field repeated."""
    fields: dict[str, Any] = {}
    repeated = False
    for key in form:
        values = form.getlist(key)
        repeated = repeated or len(values) != 1
        match = re.fullmatch(r"input_reference\[(\w+)\]", key)
        if match:
            fields.setdefault("input_reference", {})
            if isinstance(fields["input_reference"], dict):
                fields["input_reference"][match.group(1)] = values[0]
        else:
            fields[key] = values[0]
    return fields, repeated


# -- answers ----------------------------------------------------------------------------------------------
def error_body(message: str, error_type: str = "upstream_error", code: str | None = None,
               param: str | None = None) -> bytes:
    return dumps({"error": {"message": message, "type": error_type, "param": param, "code": code}})


def upstream_error(status: int, content: bytes) -> SubmitVerdict:
    """An upstream error answer (status >= 400) as the OpenAI error the client gets, with the same status."""
    failure = failure_from_body(status, content)
    body = error_body(failure.message, failure.error_type, failure.code, failure.param)
    return SubmitVerdict(False, status, body, code=failure.code, description=failure.message,
                         retry=retryable_status(status))


def parse_submit(status: int, content: bytes, sub: VideoSubmit) -> SubmitVerdict:
    """Accepted when the upstream answers 2xx with a video object that has an id and has not failed."""
    if status >= 400:
        return upstream_error(status, content)
    reply = load_json(content)
    remote_id = reply.get("id") if isinstance(reply, dict) else None
    if not isinstance(remote_id, str) or not remote_id or reply.get("status") == "failed":
        message = "the upstream did not accept the video job"
        if isinstance(reply, dict) and isinstance(reply.get("error"), dict):
            message = text(reply["error"].get("message"), 1000) or message
        return SubmitVerdict(False, 502, error_body(message), code="upstream_error", description=message)
    values = row_values(reply)
    return SubmitVerdict(True, 200, b"", remote_id, extra={"public_id": sub.public_id, "values": values})


def row_values(item: dict[str, Any]) -> dict[str, Any]:
    """The `tasks` columns an upstream video object sets; `data` keeps only what the client may see."""
    values: dict[str, Any] = {}
    status = FROM_OPENAI.get(item.get("status"))
    if status:
        values["status"] = status
    progress = item.get("progress")
    if isinstance(progress, (int, float)) and not isinstance(progress, bool):
        values["progress"] = f"{max(0, min(int(progress), 100))}%"
    data: dict[str, Any] = {}
    for name in ("created_at", "completed_at", "expires_at"):
        if integer(item.get(name)):
            data[name] = integer(item.get(name))
    error = item.get("error")
    if isinstance(error, dict):
        data["error"] = {"code": text(error.get("code"), 100) or "video_generation_failed",
                         "message": text(error.get("message"), 1000) or GENERIC_FAILURE}
        values["fail_reason"] = data["error"]["message"]
    if data:
        values["data"] = data
    if data.get("completed_at"):
        values["finish_time"] = data["completed_at"]
    return values


def percent(progress: str | None) -> int:
    value = (progress or "").strip().rstrip("%")
    return min(int(value), 100) if value.isdigit() else 0


def video_object(row: Any) -> dict[str, Any]:
    """The client's video object, rebuilt from a `tasks` row (never the upstream's answer as it came)."""
    props = row.properties if isinstance(row.properties, dict) else {}
    data = row.data if isinstance(row.data, dict) else {}
    status = TO_OPENAI.get(row.status or "", "queued")
    error = None
    if status == "failed":
        error = data.get("error") if isinstance(data.get("error"), dict) else \
            {"code": "video_generation_failed", "message": GENERIC_FAILURE}
    finished = status in ("completed", "failed")
    return {
        "id": row.task_id, "object": "video", "model": props.get("origin_model_name") or "",
        "status": status, "progress": 100 if status == "completed" else percent(row.progress),
        "created_at": int(row.submit_time or row.created_at or 0),
        "completed_at": (int(row.finish_time or 0) or None) if finished else None,
        "expires_at": data.get("expires_at"), "prompt": props.get("prompt"), "remixed_from_video_id": None,
        "seconds": props.get("seconds") or DEFAULT_SECONDS, "size": props.get("size") or DEFAULT_SIZE,
        "error": error,
    }


def upstream_id(row: Any) -> str:
    props = row.properties if isinstance(row.properties, dict) else {}
    value = props.get("upstream_id")
    return value if isinstance(value, str) else ""


class VideoAdaptor(TaskAdaptor):
    """The Videos API on one OpenAI-shaped channel type: its default base URL and path prefix."""

    name = "OpenAI Videos"
    platform = PLATFORM
    modes = frozenset({MODE})

    def __init__(self, channel_adaptor: OpenAIAdaptor) -> None:
        self.default_base_url = channel_adaptor.default_base_url
        self.path_prefix = channel_adaptor.path_prefix

    def auth_headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _request(self, channel: ChannelInfo, key: str, method: str, path: str, body: dict[str, Any] | None,
                 *, accept: str = "application/json", stream: bool = False) -> UpstreamRequest:
        req = self.request(channel, key, method, path, body)
        base = ((channel.base_url or "") or self.default_base_url).rstrip("/")
        req.url = join_url(base, path, self.path_prefix)
        req.headers["Accept"] = accept
        if body is None:
            req.headers.pop("Content-Type", None)
        req.stream = stream
        return req

    def submit_request(self, channel: ChannelInfo, key: str, sub: VideoSubmit) -> UpstreamRequest:
        if sub.reference is None:
            return self._request(channel, key, "POST", sub.path, sub.body)
        req = self._request(channel, key, "POST", sub.path, None)
        req.form = dict(sub.body)
        req.files = [("input_reference", sub.reference)]
        return req

    def retrieve_request(self, channel: ChannelInfo, key: str, remote_id: str) -> UpstreamRequest:
        return self._request(channel, key, "GET", f"/v1/videos/{remote_id}", None)

    def delete_request(self, channel: ChannelInfo, key: str, remote_id: str) -> UpstreamRequest:
        return self._request(channel, key, "DELETE", f"/v1/videos/{remote_id}", None)

    def content_request(self, channel: ChannelInfo, key: str, remote_id: str, variant: str) -> UpstreamRequest:
        return self._request(channel, key, "GET", f"/v1/videos/{remote_id}/content?variant={variant}", None,
                             accept=VARIANTS[variant] + ", application/json", stream=True)
