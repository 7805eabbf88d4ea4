"""OpenAI's Videos API (Sora) for the mock upstream, part of the OpenAI provider (openai_routes.py).

Shapes from https://platform.openai.com/docs/api-reference/videos and openai-python's `types/video*.py`:
``POST /v1/videos`` (JSON or multipart: prompt, model, seconds "4"|"8"|"12", size, input_reference) answers
the video object ``{"id": "video_...", "object": "video", "model", "status": "queued", "progress": 0,
"created_at", "completed_at": null, "expires_at": null, "prompt", "remixed_from_video_id": null,
"seconds", "size", "error": null}``; ``GET /v1/videos/{id}`` the object, ``GET /v1/videos/{id}/content``
the MP4 (``variant=thumbnail`` a WebP, ``spritesheet`` a JPEG), ``GET /v1/videos`` the list,
``DELETE /v1/videos/{id}`` ``{"id", "object": "video.deleted", "deleted": true}``.

Each read of a job applies its next script step: in_progress (50%), then completed with an expiry; a
prompt containing ``mock-fail`` ends failed (``error: {"code": "moderation_blocked", ...}``),
``mock-stuck`` never moves and ``mock-reject`` is refused at submit with a 400.
"""

from __future__ import annotations

import collections
import secrets
import threading
import time
from typing import Any

from werkzeug.wrappers import Response

from .server import Call, MockUpstream, json_response

SECONDS = ("4", "8", "12")
SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
# The start of a real MP4 (an ftyp box) and then filler: clients check the type, tests the bytes.
MP4_BYTES = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00mock-video-frame" * 4096
CONTENT = {"video": ("video/mp4", MP4_BYTES), "thumbnail": ("image/webp", b"RIFF\x00\x00\x00\x00WEBPVP8 mock"),
           "spritesheet": ("image/jpeg", b"\xff\xd8\xff\xe0mock-spritesheet\xff\xd9")}
EXPIRES_AFTER = 3600


class VideoState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.videos: dict[str, dict[str, Any]] = {}
        self.scripts: dict[str, collections.deque] = {}
        self.references: dict[str, Any] = {}  # what input_reference each job got (file bytes or object)

    def read(self, video_id: str) -> dict[str, Any] | None:
        with self.lock:
            current = self.videos.get(video_id)
            if current is None:
                return None
            steps = self.scripts.get(video_id)
            if steps:
                current.update(steps.popleft())
            return dict(current)

    def finish(self, video_id: str, status: str, **fields: Any) -> None:
        """End a job now (the next read sees it): "completed" or "failed" with `error`."""
        with self.lock:
            self.scripts[video_id] = collections.deque()
            self.videos[video_id].update(status=status, progress=100 if status == "completed" else 50,
                                         completed_at=int(time.time()), **fields)

    def peek(self, video_id: str) -> dict[str, Any] | None:
        with self.lock:
            current = self.videos.get(video_id)
            return dict(current) if current is not None else None


def state(upstream: MockUpstream) -> VideoState:
    with upstream._cond:
        current = upstream.__dict__.get("_video_state")
        if current is None:
            current = upstream.__dict__["_video_state"] = VideoState()
        return current


def _script(prompt: str) -> list[dict[str, Any]]:
    if "mock-stuck" in prompt:
        return []
    now = int(time.time())
    steps: list[dict[str, Any]] = [{"status": "in_progress", "progress": 50}]
    if "mock-fail" in prompt:
        steps.append({"status": "failed", "progress": 50, "completed_at": now,
                      "error": {"code": "moderation_blocked", "message": "Your request was blocked by our "
                                "moderation system."}})
    else:
        steps.append({"status": "completed", "progress": 100, "completed_at": now,
                      "expires_at": now + EXPIRES_AFTER})
    return steps


def _invalid(call: Call, message: str, param: str, code: str | None = "invalid_value") -> Response:
    return call.error(400, message, error_type="invalid_request_error", error_code=code, error_param=param)


def create(call: Call) -> Response:
    body = call.body
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        return _invalid(call, "Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter")
    seconds = str(body.get("seconds") or "4")
    if seconds not in SECONDS:
        return _invalid(call, f"Invalid value: '{seconds}'. Supported values are: '4', '8', and '12'.", "seconds")
    size = body.get("size") or "720x1280"
    if size not in SIZES:
        return _invalid(call, f"Invalid value: '{size}'.", "size")
    if "mock-reject" in prompt:
        return _invalid(call, "Your request was rejected as a result of our safety system.", "prompt",
                        "moderation_blocked")
    video_id = "video_" + secrets.token_hex(16)
    store = state(call.upstream)
    obj = {"id": video_id, "object": "video", "model": body.get("model") or "sora-2", "status": "queued",
           "progress": 0, "created_at": int(time.time()), "completed_at": None, "expires_at": None,
           "prompt": prompt, "remixed_from_video_id": None, "seconds": seconds, "size": size, "error": None}
    with store.lock:
        store.videos[video_id] = obj
        store.scripts[video_id] = collections.deque(_script(prompt))
        upload = call.rec.files.get("input_reference")
        store.references[video_id] = upload.data if upload is not None else body.get("input_reference")
    return json_response(obj)


def _not_found(video_id: str) -> Response:
    return json_response({"error": {"message": f"Video with id '{video_id}' not found.",
                                    "type": "invalid_request_error", "param": None, "code": None}}, status=404)


def retrieve(call: Call) -> Response:
    video_id = call.args["video_id"]
    obj = state(call.upstream).read(video_id)
    return json_response(obj) if obj is not None else _not_found(video_id)


def content(call: Call) -> Response:
    video_id = call.args["video_id"]
    obj = state(call.upstream).peek(video_id)
    if obj is None:
        return _not_found(video_id)
    variant = call.rec.query.get("variant") or "video"
    if variant not in CONTENT:
        return _invalid(call, f"Invalid value: '{variant}'.", "variant")
    if obj["status"] != "completed":
        return json_response({"error": {"message": "Video is not ready yet, use GET /v1/videos/{video_id} to "
                                        "check status.", "type": "invalid_request_error", "param": None,
                                        "code": None}}, status=404)
    content_type, data = CONTENT[variant]
    return Response(data, status=200, content_type=content_type)


def listing(call: Call) -> Response:
    store = state(call.upstream)
    with store.lock:
        data = [dict(v) for v in reversed(store.videos.values())]
    return json_response({"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                          "last_id": data[-1]["id"] if data else None, "has_more": False})


def delete(call: Call) -> Response:
    video_id = call.args["video_id"]
    store = state(call.upstream)
    with store.lock:
        found = store.videos.pop(video_id, None)
    if found is None:
        return _not_found(video_id)
    return json_response({"id": video_id, "object": "video.deleted", "deleted": True})


ROUTES = [
    ("POST", "/v1/videos", create),
    ("GET", "/v1/videos", listing),
    ("GET", "/v1/videos/<video_id>", retrieve),
    ("DELETE", "/v1/videos/<video_id>", delete),
    ("GET", "/v1/videos/<video_id>/content", content),
]
