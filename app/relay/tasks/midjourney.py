"""midjourney-proxy (channel types 2 and 5): request checks, action -> model name, answers. Pure.

Wire format: https://github.com/novicezk/midjourney-proxy/blob/main/docs/api.md, as new-api relays it
(relay/relay-mj.go, service/midjourney.go). A submit answers `{"code", "description", "result",
"properties"}`: code 1 (submitted), 21 (exists, maybe already finished) and 22 (queued) are accepted,
and the client sees code 1 for all three; anything else (4 bad request, 23 queue full, 24 banned
prompt, 3 no account instance ...) is refused and passed back as it came. The key goes in
`mj-api-secret`. Tasks are fetched in batches with `POST /mj/task/list-by-condition {"ids": [...]}`,
which answers a JSON list of task objects (`id`, `status`, `progress`, `imageUrl`, `failReason` ...).

The price of a submit is the ModelPrice of `mj_<action>` (`swap_face` for SWAP_FACE), as in new-api.
INPAINT and CUSTOM_ZOOM are never charged: they are the second step of a MODAL, which paid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from app.errors import AppError
from app.relay.tasks.common import (
    DONE,
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

MODE = "midjourney"

IMAGINE, UPSCALE, VARIATION, REROLL = "IMAGINE", "UPSCALE", "VARIATION", "REROLL"
DESCRIBE, BLEND, SHORTEN, MODAL = "DESCRIBE", "BLEND", "SHORTEN", "MODAL"
ZOOM, CUSTOM_ZOOM, INPAINT, PAN = "ZOOM", "CUSTOM_ZOOM", "INPAINT", "PAN"
HIGH_VARIATION, LOW_VARIATION, SWAP_FACE = "HIGH_VARIATION", "LOW_VARIATION", "SWAP_FACE"
VIDEO, EDITS, UPLOAD = "VIDEO", "EDITS", "UPLOAD"

# /mj/submit/<route> -> the action it always is (change, simple-change and action read it from the body)
ROUTE_ACTIONS = {"imagine": IMAGINE, "describe": DESCRIBE, "blend": BLEND, "shorten": SHORTEN, "modal": MODAL,
                 "video": VIDEO, "edits": EDITS}
SUBMIT_ROUTES = frozenset(ROUTE_ACTIONS) | {"change", "simple-change", "action"}
FREE_ACTIONS = frozenset({INPAINT, CUSTOM_ZOOM})
ACCEPTED_CODES = (1, 21, 22)
REQUEST_ERROR = 4  # new-api's MjRequestError
UNKNOWN_ERROR = 5  # new-api's MjErrorUnknown
NO_INSTANCE = 3  # "no available account instance": the channel cannot draw at all
DROPPED_FIELDS = ("notifyHook", "accountFilter")  # callbacks and account choice stay with the gateway


class MidjourneyError(AppError):
    """A refused /mj request, answered as `{"code": mj_code, "description": message}`."""

    status = 400
    code = "midjourney_request_error"

    def __init__(self, message: str, *, mj_code: int = REQUEST_ERROR, status: int = 400) -> None:
        super().__init__(message, status=status)
        self.mj_code = mj_code


@dataclass(slots=True)
class MjSubmit:
    """A checked submit: what to send where, what it costs, and which earlier task it acts on."""

    route: str
    action: str
    model: str
    body: dict[str, Any]
    origin_id: str | None = None  # the mj id of the task a change/action/modal works on
    prompt: str = ""

    @property
    def free(self) -> bool:
        return self.action in FREE_ACTIONS

    @property
    def path(self) -> str:
        return f"/mj/submit/{self.route}"


def model_name(action: str) -> str:
    """new-api's model name for an action: `mj_imagine`, `mj_upscale` ... and `swap_face`."""
    return "swap_face" if action == SWAP_FACE else "mj_" + action.lower()


def _index(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def plus_action(custom_id: str) -> tuple[str, int]:
    """The action and index a midjourney-proxy-plus button (`customId`) stands for.

    `MJ::JOB::upsample::2::<hash>` is UPSCALE 2, `MJ::JOB::variation::3::<hash>` VARIATION 3,
    `MJ::JOB::low_variation::1::...`, `MJ::JOB::pan_left::1::...`, `MJ::JOB::reroll::0::...`,
    `MJ::Outpaint::50::1::...` ZOOM, `MJ::CustomZoom::...` CUSTOM_ZOOM, `MJ::Inpaint::1::...` INPAINT.
    """
    if not custom_id:
        raise MidjourneyError("custom_id_is_required")
    parts = custom_id.split("::")
    if len(parts) < 2:
        raise MidjourneyError(f"unknown_action:{custom_id}")
    name = parts[2] if parts[1] == "JOB" and len(parts) > 2 else parts[1]

    def index_at(i: int) -> int:
        try:
            return int(parts[i])
        except (IndexError, ValueError):
            raise MidjourneyError("index_parse_failed") from None

    if "upsample" in name:
        return UPSCALE, index_at(3)
    if name == "variation":
        return VARIATION, index_at(3)
    if name == "low_variation":
        return LOW_VARIATION, 1
    if name == "high_variation":
        return HIGH_VARIATION, 1
    if "pan" in name:
        return PAN, 1
    if "reroll" in name:
        return REROLL, 1
    if name == "Outpaint":
        return ZOOM, 1
    if name == "CustomZoom":
        return CUSTOM_ZOOM, 1
    if name == "Inpaint":
        return INPAINT, 1
    raise MidjourneyError(f"unknown_action:{custom_id}")


def simple_change(content: Any) -> tuple[str, str, int]:
    """(task id, action, index) from `"<task id> U2"` (U1-U4, V1-V4 or R)."""
    parts = content.split(" ") if isinstance(content, str) else []
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise MidjourneyError("content_parse_failed")
    task_id, op = parts[0], parts[1].lower()
    if op == "r":
        return task_id, REROLL, 1
    if op[0] not in "uv" or len(op) != 2 or op[1] not in "1234":
        raise MidjourneyError("content_parse_failed")
    return task_id, UPSCALE if op[0] == "u" else VARIATION, int(op[1])


def check_submit(route: str, body: dict[str, Any]) -> MjSubmit:
    """Validate a submit body for `/mj/submit/<route>`; raises MidjourneyError like new-api does."""
    if route not in SUBMIT_ROUTES:
        raise MidjourneyError("unknown_relay_action", status=404)
    prompt = body.get("prompt") if isinstance(body.get("prompt"), str) else ""
    origin: str | None = None
    if route in ROUTE_ACTIONS:
        action = ROUTE_ACTIONS[route]
        if action == IMAGINE and not prompt.strip():
            raise MidjourneyError("prompt_is_required")
        if action == MODAL:
            origin = _task_id(body)
    elif route == "change":
        action = body.get("action") if isinstance(body.get("action"), str) else ""
        origin = _task_id(body)
        if action not in (UPSCALE, VARIATION, REROLL):
            raise MidjourneyError("action_is_required" if not action else f"unknown_action:{action}")
        if action != REROLL and not 1 <= _index(body.get("index")) <= 4:
            raise MidjourneyError("index_is_required")
    elif route == "simple-change":
        origin, action, _ = simple_change(body.get("content"))
    else:  # "action": midjourney-proxy-plus buttons
        action, _ = plus_action(body.get("customId") if isinstance(body.get("customId"), str) else "")
        origin = _task_id(body)
    sent = {k: v for k, v in body.items() if k not in DROPPED_FIELDS}
    return MjSubmit(route, action, model_name(action), sent, origin, prompt)


def _task_id(body: dict[str, Any]) -> str:
    value = body.get("taskId")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise MidjourneyError("task_id_is_required")
    return value.strip()


def error_body(code: int, description: str, result: Any = None) -> bytes:
    """A midjourney-proxy style refusal."""
    return dumps({"code": code, "description": description, "result": result, "properties": {}})


def parse_submit(status: int, content: bytes, action: str) -> SubmitVerdict:
    """What a submit answer means (see the module docstring)."""
    reply = load_json(content)
    if not isinstance(reply, dict) or not isinstance(reply.get("code"), int):
        shown = 502 if status < 400 else status
        what = f"upstream returned status {status}" if status >= 400 else "unmarshal_response_body_failed"
        return SubmitVerdict(False, shown, error_body(UNKNOWN_ERROR, what), code=UNKNOWN_ERROR,
                             description=what, retry=retryable_status(status))
    code = reply["code"]
    result = reply.get("result")
    remote_id = str(result) if isinstance(result, (str, int)) and not isinstance(result, bool) else None
    description = text(reply.get("description"), 1000)
    if status != 200 or code not in ACCEPTED_CODES or not remote_id:
        if code in ACCEPTED_CODES:  # accepted without an id, or with an error status: nothing to poll
            description = description or "the upstream accepted the task without an id"
            code = UNKNOWN_ERROR
        return SubmitVerdict(False, status if status >= 400 else 200, content, remote_id, code, description,
                             retry=retryable_status(status), extra={"no_instance": _no_instance(code, description)})
    extra: dict[str, Any] = {}
    properties = reply.get("properties")
    if code == 21 and isinstance(properties, dict) and properties.get("status") == SUCCESS:
        extra = {"status": SUCCESS, "progress": DONE, "image_url": text(properties.get("imageUrl"))}
    if code in (21, 22) and not (code == 21 and action in FREE_ACTIONS):
        reply["code"] = 1
        content = dumps(reply)
    return SubmitVerdict(True, 200, content, remote_id, code, description, extra=extra)


def _no_instance(code: Any, description: str) -> bool:
    """Code 3 is midjourney-proxy's NOT_FOUND: "no available account instance" (the channel cannot draw:
    new-api disables it) but also "related task not found or expired" (nothing wrong with the channel)."""
    return code == NO_INSTANCE and ("instance" in description.lower() or "实例" in description)


def parse_task_list(status: int, content: bytes) -> list[dict[str, Any]]:
    """The task objects of a list-by-condition answer; ValueError when the answer is not one."""
    items = load_json(content)
    if status != 200 or not isinstance(items, list):
        raise ValueError(f"list-by-condition answered status {status}: {content[:200]!r}")
    return [item for item in items if isinstance(item, dict) and isinstance(item.get("id"), (str, int))]


def row_values(item: dict[str, Any]) -> dict[str, Any]:
    """The `midjourney` columns a polled task object sets (new-api's UpdateMidjourneyTaskBulk)."""
    values = {"code": 1, "progress": text(item.get("progress"), 20), "prompt_en": text(item.get("promptEn")),
              "state": text(item.get("state"), 255), "image_url": text(item.get("imageUrl")),
              "status": text(item.get("status"), 20), "fail_reason": text(item.get("failReason"))}
    for column, name in (("submit_time", "submitTime"), ("start_time", "startTime"), ("finish_time", "finishTime")):
        if integer(item.get(name)):  # a missing time never erases ours (the timeout counts from submit_time)
            values[column] = integer(item.get(name))
    if item.get("properties") is not None:
        values["properties"] = json.dumps(item["properties"], ensure_ascii=False)
    if item.get("buttons") is not None:
        values["buttons"] = json.dumps(item["buttons"], ensure_ascii=False)
    return values


def _json_text(value: str | None) -> Any:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def task_dto(row: Any) -> dict[str, Any]:
    """A saved task in midjourney-proxy's task shape (new-api's MidjourneyDto): `id` is the mj id."""
    return {"id": row.mj_id or "", "action": row.action or "", "customId": "", "botType": "",
            "prompt": row.prompt or "", "promptEn": row.prompt_en or "", "description": row.description or "",
            "state": row.state or "", "submitTime": row.submit_time or 0, "startTime": row.start_time or 0,
            "finishTime": row.finish_time or 0, "imageUrl": row.image_url or "", "status": row.status or "",
            "progress": row.progress or "", "failReason": row.fail_reason or "",
            "buttons": _json_text(row.buttons) or [], "properties": _json_text(row.properties)}


class MidjourneyAdaptor(TaskAdaptor):
    """midjourney-proxy and midjourney-proxy-plus channels."""

    name = "Midjourney"
    platform = MODE
    modes = frozenset({MODE})

    def auth_headers(self, key: str) -> dict[str, str]:
        return {"mj-api-secret": key} if key else {}

    def submit_request(self, channel: ChannelInfo, key: str, sub: MjSubmit) -> UpstreamRequest:
        return self.request(channel, key, "POST", sub.path, sub.body)

    def list_request(self, channel: ChannelInfo, key: str, ids: list[str]) -> UpstreamRequest:
        return self.request(channel, key, "POST", "/mj/task/list-by-condition", {"ids": ids})
