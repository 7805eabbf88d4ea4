"""Suno (channel type 36): the Suno-API proxy protocol as new-api relays it. Pure.

new-api relay/channel/task/suno/adaptor.go and relay/relay_task.go: `POST /suno/submit/MUSIC|LYRICS`
with new-api's SunoSubmitReq fields, `Authorization: Bearer <key>`; the answer is
`{"code": "success", "message": "", "data": "<task id>"}`. Tasks are fetched with
`POST /suno/fetch {"ids": [...]}`, answered `{"code": "success", "data": [{"task_id", "action",
"status", "fail_reason", "submit_time", "start_time", "finish_time", "data": [...clips]}]}`.
Errors to the client are new-api's TaskError: `{"code": str, "message": str, "data": null}`.
Prices: ModelPrice `suno_music` and `suno_lyrics`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.errors import AppError
from app.relay.tasks.common import (
    SubmitVerdict,
    TaskAdaptor,
    dumps,
    integer,
    load_json,
    retryable_status,
    text,
)
from app.relay.types import ChannelInfo, UpstreamRequest

MODE = "suno"
PLATFORM = "suno"
MUSIC, LYRICS = "MUSIC", "LYRICS"
ACTIONS = {"music": MUSIC, "lyrics": LYRICS}
DEFAULT_MV = "chirp-v3-0"
# new-api's dto.SunoSubmitReq: what goes upstream (anything else the client sends is dropped)
FIELDS = ("gpt_description_prompt", "prompt", "mv", "title", "tags", "continue_at", "task_id",
          "continue_clip_id", "make_instrumental")


class SunoError(AppError):
    """A refused /suno request, answered as `{"code": task_code, "message": message, "data": null}`."""

    status = 400
    code = "invalid_request"

    def __init__(self, message: str, *, task_code: str = "invalid_request", status: int = 400) -> None:
        super().__init__(message, status=status)
        self.task_code = task_code


@dataclass(slots=True)
class SunoSubmit:
    action: str
    model: str
    body: dict[str, Any]
    origin_id: str | None = None  # the task a continuation extends (its channel is used)

    @property
    def path(self) -> str:
        return f"/suno/submit/{self.action}"

    @property
    def free(self) -> bool:
        return False


def model_name(action: str) -> str:
    return "suno_" + action.lower()


def check_submit(action_path: str, body: dict[str, Any]) -> SunoSubmit:
    """Validate `/suno/submit/<action>` (new-api's actionValidate) and keep SunoSubmitReq's fields."""
    action = ACTIONS.get(action_path.lower())
    if action is None:
        raise SunoError("invalid_action")
    sent = {k: body[k] for k in FIELDS if k in body and body[k] is not None}
    if action == MUSIC and not sent.get("mv"):
        sent["mv"] = DEFAULT_MV
    if action == LYRICS and not (isinstance(sent.get("prompt"), str) and sent["prompt"].strip()):
        raise SunoError("prompt_empty")
    origin = None
    if sent.get("continue_clip_id"):
        origin = sent.get("task_id")
        if not isinstance(origin, str) or not origin:
            raise SunoError("task id is empty")
    return SunoSubmit(action, model_name(action), sent, origin)


def error_body(code: str, message: str) -> bytes:
    return dumps({"code": code, "message": message, "data": None})


def parse_submit(status: int, content: bytes) -> SubmitVerdict:
    """Accepted when the upstream answers 200 with code "success" and a task id."""
    reply = load_json(content)
    if status != 200:
        message = content[:1000].decode("utf-8", "replace") or f"upstream returned status {status}"
        return SubmitVerdict(False, status if status >= 400 else 502, error_body("fail_to_fetch_task", message),
                             code="fail_to_fetch_task", description=message, retry=retryable_status(status))
    if not isinstance(reply, dict):
        return SubmitVerdict(False, 500, error_body("unmarshal_response_body_failed", "the upstream answer is "
                             "not JSON"), code="unmarshal_response_body_failed", description="not JSON")
    code = reply.get("code") if isinstance(reply.get("code"), str) else ""
    task_id = reply.get("data")
    if code != "success" or not isinstance(task_id, str) or not task_id:
        message = text(reply.get("message"), 1000) or "the upstream did not accept the task"
        return SubmitVerdict(False, 500, error_body(code or "fail_to_submit_task", message), code=code,
                             description=message)
    return SubmitVerdict(True, 200, dumps({"code": "success", "message": text(reply.get("message")),
                                           "data": task_id}), task_id, code)


def parse_fetch(status: int, content: bytes) -> list[dict[str, Any]]:
    """The task objects of a fetch answer; ValueError when it is not a successful one."""
    reply = load_json(content)
    if status != 200 or not isinstance(reply, dict) or reply.get("code") != "success":
        raise ValueError(f"suno fetch answered status {status}: {content[:200]!r}")
    items = reply.get("data")
    if not isinstance(items, list):
        raise ValueError("suno fetch answered no task list")
    return [item for item in items if isinstance(item, dict) and isinstance(item.get("task_id"), str)]


def row_values(item: dict[str, Any]) -> dict[str, Any]:
    """The `tasks` columns a polled task object sets (new-api's updateSunoTaskAll); keeps what is missing."""
    values: dict[str, Any] = {}
    if text(item.get("status"), 20):
        values["status"] = text(item.get("status"), 20)
    if text(item.get("fail_reason")):
        values["fail_reason"] = text(item.get("fail_reason"))
    for name in ("submit_time", "start_time", "finish_time"):
        if integer(item.get(name)):
            values[name] = integer(item.get(name))
    if text(item.get("progress"), 20):
        values["progress"] = text(item.get("progress"), 20)
    if item.get("data") is not None:
        values["data"] = item["data"]
    return values


def task_dto(row: Any) -> dict[str, Any]:
    """new-api's TaskDto, as /suno/fetch answers it."""
    return {"task_id": row.task_id or "", "action": row.action or "", "status": row.status or "",
            "fail_reason": row.fail_reason or "", "submit_time": row.submit_time or 0,
            "start_time": row.start_time or 0, "finish_time": row.finish_time or 0, "progress": row.progress or "",
            "data": row.data}


class SunoAdaptor(TaskAdaptor):
    """Suno-API proxy channels."""

    name = "Suno"
    platform = PLATFORM
    modes = frozenset({MODE})

    def auth_headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"} if key else {}

    def submit_request(self, channel: ChannelInfo, key: str, sub: SunoSubmit) -> UpstreamRequest:
        return self.request(channel, key, "POST", sub.path, sub.body)

    def fetch_request(self, channel: ChannelInfo, key: str, ids: list[str]) -> UpstreamRequest:
        return self.request(channel, key, "POST", "/suno/fetch", {"ids": ids})
