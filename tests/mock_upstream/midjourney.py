"""midjourney-proxy for the mock upstream: ``MockUpstream(providers=[midjourney.PROVIDER], require_auth=False)``.

Wire format from https://github.com/novicezk/midjourney-proxy/blob/main/docs/api.md (and the plus
variant's buttons): the key comes in ``mj-api-secret`` (checked here, so ``require_auth`` can be off);
submits answer ``{"code", "description", "result", "properties"}``; tasks are objects with ``id``,
``action``, ``status`` (NOT_START, SUBMITTED, IN_PROGRESS, FAILURE, SUCCESS), ``progress``, ``imageUrl``,
``failReason``, ``submitTime`` ... in milliseconds. HTTP errors (``Behaviour(status=500)``) are Spring
Boot's default error JSON, which is what a Java midjourney-proxy sends.

Tasks move through a script, one step per time the task is read (``list-by-condition`` or ``fetch``):
by default IN_PROGRESS 50% then SUCCESS; a prompt containing ``mock-fail`` ends in FAILURE instead, and
``mock-stuck`` never moves. Prompt words pick a submit answer: ``mock-banned`` (code 24), ``mock-full``
(23), ``mock-queued`` (22), ``mock-exists`` (21, already finished), ``mock-noinstance`` (3). Tests can
also drive a task directly: ``state(upstream).script(task_id, [...])``.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
from typing import Any

from werkzeug.wrappers import Response

from .behaviour import Behaviour
from .server import Call, MockUpstream, Provider, json_response

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
ROUTE_ACTIONS = {"imagine": "IMAGINE", "blend": "BLEND", "describe": "DESCRIBE", "shorten": "SHORTEN",
                 "modal": "MODAL", "video": "VIDEO", "edits": "EDITS"}
SIMPLE = {"u": "UPSCALE", "v": "VARIATION", "r": "REROLL"}


def _ms() -> int:
    return int(time.time() * 1000)


class MidjourneyState:
    """The proxy's task store, one per MockUpstream."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tasks: dict[str, dict[str, Any]] = {}
        self.scripts: dict[str, collections.deque] = {}
        self.reads: collections.Counter = collections.Counter()
        self._ids = itertools.count(1712000000000001)

    def new_id(self) -> str:
        return str(next(self._ids))

    def script(self, task_id: str, steps: list[dict[str, Any]]) -> None:
        """Replace what the task does on its next reads (each step updates the task's fields)."""
        with self.lock:
            self.scripts[task_id] = collections.deque(steps)

    def finish(self, task_id: str, status: str = "SUCCESS", **fields: Any) -> None:
        """The task's next read shows it ended with `status`."""
        step = {"status": status, "progress": "100%", "finishTime": _ms(), **fields}
        if status == "SUCCESS":
            step.setdefault("imageUrl", f"{self.origin}/attachments/{task_id}.png")
        elif status == "FAILURE":
            step.setdefault("failReason", "[Invalid parameter] Invalid value")
        self.script(task_id, [step])

    origin = ""

    def read(self, task_id: str) -> dict[str, Any] | None:
        """The task as the proxy shows it now, after applying its next script step."""
        with self.lock:
            task = self.tasks.get(task_id)
            if task is None:
                return None
            self.reads[task_id] += 1
            steps = self.scripts.get(task_id)
            if steps:
                task.update(steps.popleft())
            return dict(task)


def state(upstream: MockUpstream) -> MidjourneyState:
    """The Midjourney task store of `upstream` (created on first use)."""
    with upstream._cond:
        current = upstream.__dict__.get("_midjourney_state")
        if current is None:
            current = upstream.__dict__["_midjourney_state"] = MidjourneyState()
        current.origin = upstream.origin
        return current


def _default_script(store: MidjourneyState, task_id: str, prompt: str) -> list[dict[str, Any]]:
    if "mock-stuck" in prompt:
        return []
    running = {"status": "IN_PROGRESS", "progress": "50%", "startTime": _ms(),
               "imageUrl": f"{store.origin}/attachments/{task_id}_preview.png"}
    if "mock-fail" in prompt:
        return [running, {"status": "FAILURE", "progress": "", "finishTime": _ms(),
                          "failReason": "[Banned prompt detected] Sorry! Our AI moderator thinks this prompt is "
                                        "probably against our community standards."}]
    buttons = [{"customId": f"MJ::JOB::upsample::{i}::{task_id}", "emoji": "", "label": f"U{i}", "type": 2,
                "style": 2} for i in range(1, 5)]
    buttons += [{"customId": f"MJ::JOB::variation::{i}::{task_id}", "emoji": "", "label": f"V{i}", "type": 2,
                 "style": 2} for i in range(1, 5)]
    return [running, {"status": "SUCCESS", "progress": "100%", "finishTime": _ms(),
                      "imageUrl": f"{store.origin}/attachments/{task_id}.png", "buttons": buttons,
                      "properties": {"finalPrompt": prompt, "finalZhPrompt": ""}}]


def _authorised(call: Call) -> bool:
    key = call.rec.header("mj-api-secret")
    return bool(key) and key not in call.upstream.bad_keys


def _unauthorised() -> Response:
    return json_response({"timestamp": "2024-04-01T12:00:00.000+00:00", "status": 401, "error": "Unauthorized",
                          "path": ""}, status=401)


def _reply(code: int, description: str, result: Any = None, properties: dict | None = None) -> Response:
    return json_response({"code": code, "description": description, "result": result,
                          "properties": properties or {}})


def submit(call: Call) -> Response:
    if not _authorised(call):
        return _unauthorised()
    store = state(call.upstream)
    route = call.args["route"]
    body = call.body
    prompt = body.get("prompt") if isinstance(body.get("prompt"), str) else ""
    related = None
    if route in ROUTE_ACTIONS:
        action = ROUTE_ACTIONS[route]
        if action == "IMAGINE" and not prompt:
            return _reply(4, "prompt不能为空")
        if action == "MODAL":
            related = str(body.get("taskId") or "")
    elif route == "change":
        action, related = str(body.get("action") or ""), str(body.get("taskId") or "")
    elif route == "simple-change":
        parts = str(body.get("content") or "").split(" ")
        if len(parts) != 2 or parts[1][:1].lower() not in SIMPLE:
            return _reply(4, "content参数错误")
        related, action = parts[0], SIMPLE[parts[1][:1].lower()]
    elif route == "action":
        action, related = "ACTION", str(body.get("taskId") or "")
    else:
        return call.error(404, "Not Found")
    if related is not None:
        with store.lock:
            parent = store.tasks.get(related)
        if parent is None:
            return _reply(3, "关联任务不存在或已失效")
        prompt = parent.get("prompt") or ""
    if "mock-banned" in prompt:
        return _reply(24, "可能包含敏感词", properties={"promptEn": prompt, "bannedWord": "mock-banned"})
    if "mock-full" in prompt:
        return _reply(23, "队列已满，请稍后尝试", store.new_id(), {"discordInstanceId": "1118138338562560102"})
    if "mock-noinstance" in prompt:
        return _reply(3, "无可用的账号实例")
    task_id = store.new_id()
    task = {"id": task_id, "action": action, "prompt": prompt, "promptEn": prompt, "description": f"/{route} {prompt}",
            "state": body.get("state") or "", "submitTime": _ms(), "startTime": 0, "finishTime": 0, "imageUrl": None,
            "status": "SUBMITTED", "progress": "0%", "failReason": None, "properties": {}, "buttons": []}
    if "mock-exists" in prompt:
        task.update(status="SUCCESS", progress="100%", imageUrl=f"{store.origin}/attachments/{task_id}.png")
    with store.lock:
        store.tasks[task_id] = task
        store.scripts.setdefault(task_id, collections.deque(_default_script(store, task_id, prompt)))
    if "mock-exists" in prompt:
        return _reply(21, "任务已存在", task_id, {"status": "SUCCESS", "imageUrl": task["imageUrl"]})
    if "mock-queued" in prompt:
        return _reply(22, "排队中，前面还有1个任务", task_id, {"numberOfQueues": 1})
    return _reply(1, "提交成功", task_id, {"discordInstanceId": "1118138338562560102"})


def fetch(call: Call) -> Response:
    if not _authorised(call):
        return _unauthorised()
    task = state(call.upstream).read(call.args["task_id"])
    if task is None:
        return Response(b"", status=200, content_type="application/json")  # the proxy answers null
    return json_response(task)


def list_by_condition(call: Call) -> Response:
    if not _authorised(call):
        return _unauthorised()
    ids = call.body.get("ids") if isinstance(call.body.get("ids"), list) else []
    store = state(call.upstream)
    found = [store.read(str(i)) for i in ids]
    return json_response([task for task in found if task is not None])


def attachment(call: Call) -> Response:
    return Response(PNG, status=200, content_type="image/png")


attachment.public = True  # type: ignore[attr-defined]  # the Discord CDN needs no key


def error_payload(call: Call, b: Behaviour) -> dict[str, Any]:
    """Spring Boot's default error body."""
    return {"timestamp": "2024-04-01T12:00:00.000+00:00", "status": b.status,
            "error": b.error_message or ("Internal Server Error" if b.status >= 500 else "Bad Request"),
            "path": call.rec.path}


PROVIDER = Provider(
    name="midjourney",
    routes=[("POST", "/mj/submit/<route>", submit), ("GET", "/mj/task/<task_id>/fetch", fetch),
            ("POST", "/mj/task/list-by-condition", list_by_condition),
            ("GET", "/attachments/<name>", attachment)],
    error_payload=error_payload,
)
