"""A Suno-API proxy for the mock upstream: ``MockUpstream(providers=[suno.PROVIDER])``.

The protocol new-api speaks to Suno proxies (relay/channel/task/suno/adaptor.go, dto/suno.go):
``POST /suno/submit/{MUSIC|LYRICS}`` with ``Authorization: Bearer <key>`` answers
``{"code": "success", "message": "", "data": "<task id>"}``; ``POST /suno/fetch {"ids": [...]}`` answers
``{"code": "success", "data": [{"task_id", "action", "status", "fail_reason", "submit_time", "start_time",
"finish_time", "data": [...clips]}]}`` (times in seconds); ``GET /suno/fetch/{id}`` one of them. Refusals
are ``{"code": "<error>", "message": ..., "data": null}``.

Each read of a task applies its next script step: IN_PROGRESS, then SUCCESS with two clips (or the
lyrics); a prompt containing ``mock-fail`` ends in FAILURE, ``mock-stuck`` never moves and
``mock-reject`` is refused at submit.
"""

from __future__ import annotations

import collections
import threading
import time
import uuid
from typing import Any

from werkzeug.wrappers import Response

from .behaviour import Behaviour
from .server import Call, MockUpstream, Provider, json_response


class SunoState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tasks: dict[str, dict[str, Any]] = {}
        self.scripts: dict[str, collections.deque] = {}

    def script(self, task_id: str, steps: list[dict[str, Any]]) -> None:
        with self.lock:
            self.scripts[task_id] = collections.deque(steps)

    def read(self, task_id: str) -> dict[str, Any] | None:
        with self.lock:
            task = self.tasks.get(task_id)
            if task is None:
                return None
            steps = self.scripts.get(task_id)
            if steps:
                task.update(steps.popleft())
            return dict(task)


def state(upstream: MockUpstream) -> SunoState:
    with upstream._cond:
        current = upstream.__dict__.get("_suno_state")
        if current is None:
            current = upstream.__dict__["_suno_state"] = SunoState()
        return current


def _clip(task_id: str, n: int, prompt: str) -> dict[str, Any]:
    clip_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{task_id}/{n}"))
    return {"id": clip_id, "video_url": f"https://cdn1.suno.ai/{clip_id}.mp4",
            "audio_url": f"https://cdn1.suno.ai/{clip_id}.mp3", "image_url": f"https://cdn2.suno.ai/image_{clip_id}.jpeg",
            "major_model_version": "v3", "model_name": "chirp-v3", "status": "complete", "title": "Mock song",
            "metadata": {"tags": "pop", "prompt": prompt, "duration": 120.5, "type": "gen", "error_type": None,
                         "error_message": None}}


def _script(task_id: str, action: str, prompt: str) -> list[dict[str, Any]]:
    if "mock-stuck" in prompt:
        return []
    now = int(time.time())
    steps: list[dict[str, Any]] = [{"status": "IN_PROGRESS", "start_time": now}]
    if "mock-fail" in prompt:
        steps.append({"status": "FAILURE", "finish_time": now, "fail_reason": "Unable to generate music: "
                      "the prompt was flagged by moderation"})
    elif action == "LYRICS":
        steps.append({"status": "SUCCESS", "finish_time": now,
                      "data": {"id": task_id, "status": "complete", "title": "Mock lyrics", "text": "[Verse]\nla la"}})
    else:
        steps.append({"status": "SUCCESS", "finish_time": now, "data": [_clip(task_id, 1, prompt),
                                                                        _clip(task_id, 2, prompt)]})
    return steps


def _authorised(call: Call) -> bool:
    return bool(call.rec.api_key) and call.rec.api_key not in call.upstream.bad_keys


def _refusal(code: str, message: str, status: int = 200) -> Response:
    return json_response({"code": code, "message": message, "data": None}, status=status)


def submit(call: Call) -> Response:
    if not _authorised(call):
        return _refusal("unauthorized", "invalid api key", 401)
    action = call.args["action"].upper()
    if action not in ("MUSIC", "LYRICS"):
        return _refusal("invalid_action", f"unknown action {action}", 400)
    body = call.body
    prompt = " ".join(str(body.get(k) or "") for k in ("prompt", "gpt_description_prompt"))
    if "mock-reject" in prompt:
        return _refusal("fail_to_submit", "the prompt contains banned words")
    task_id = str(uuid.uuid4())
    store = state(call.upstream)
    with store.lock:
        store.tasks[task_id] = {"task_id": task_id, "action": action, "status": "SUBMITTED", "fail_reason": "",
                                "submit_time": int(time.time()), "start_time": 0, "finish_time": 0, "data": None}
        store.scripts[task_id] = collections.deque(_script(task_id, action, prompt))
    return json_response({"code": "success", "message": "", "data": task_id})


def fetch(call: Call) -> Response:
    if not _authorised(call):
        return _refusal("unauthorized", "invalid api key", 401)
    ids = call.body.get("ids") if isinstance(call.body.get("ids"), list) else []
    store = state(call.upstream)
    found = [store.read(str(i)) for i in ids]
    return json_response({"code": "success", "message": "", "data": [t for t in found if t is not None]})


def fetch_one(call: Call) -> Response:
    if not _authorised(call):
        return _refusal("unauthorized", "invalid api key", 401)
    task = state(call.upstream).read(call.args["task_id"])
    if task is None:
        return _refusal("task_not_exist", "task not exist", 404)
    return json_response({"code": "success", "message": "", "data": task})


def error_payload(call: Call, b: Behaviour) -> dict[str, Any]:
    return {"code": b.error_code or "upstream_error", "message": b.error_message or f"mock error {b.status}",
            "data": None}


PROVIDER = Provider(
    name="suno",
    routes=[("POST", "/suno/submit/<action>", submit), ("POST", "/suno/fetch", fetch),
            ("GET", "/suno/fetch/<task_id>", fetch_one)],
    error_payload=error_payload,
)
