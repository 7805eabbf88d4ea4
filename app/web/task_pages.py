"""What the user's and the admin's task pages share: the platform tabs, the filters, the rows, and polling.

Two tables: Midjourney rows keep times in milliseconds, generic tasks (Suno, video) in seconds
(app.services.tasks). Rows become plain dicts for the template here; every upstream URL in them passed
`http_url`, so the template links only http(s) URLs and shows as an <img> only https ones (the CSP's
img-src). The list polls itself while a task on it is running; the poll that finds none answers 286,
which stops htmx polling (STYLE habit 11).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from flask import request, url_for
from flask_babel import lazy_gettext as _l

from app.billing.plans import plan_timezone
from app.errors import ValidationError
from app.services import tasks as task_service
from app.validation import strict_int
from app.web import forms
from app.web.filters import http_url
from app.web.htmx import STOP_POLLING, polled_by

MIDJOURNEY, SUNO, VIDEO = "midjourney", "suno", "video"
PLATFORMS = {MIDJOURNEY: "Midjourney", SUNO: "Suno", VIDEO: _l("Video")}  # product names are not translated
LIST_ID = "task-list"  # the list element, which polls itself
MAX_CLIPS = 10  # Suno clips shown per task
MAX_TEXT = 5000  # characters of lyrics shown per clip

STATUS_LABELS = {
    "NOT_START": _l("Not started"), "SUBMITTED": _l("Submitted"), "QUEUED": _l("Queued"),
    "IN_PROGRESS": _l("In progress"), "MODAL": _l("Waiting for input"), "SUCCESS": _l("Succeeded"),
    "FAILURE": _l("Failed"), "CANCEL": _l("Cancelled"), "UNKNOWN": _l("Unknown"),
    "DELETED": _l("Deleted"),
}
STATUS_COLORS = {"SUCCESS": "success", "FAILURE": "danger", "CANCEL": "secondary", "IN_PROGRESS": "primary",
                 "MODAL": "warning"}
# What the filter form offers (midjourney-proxy's and the Suno proxies' spellings); other values still filter.
STATUSES = {
    MIDJOURNEY: ("NOT_START", "SUBMITTED", "IN_PROGRESS", "MODAL", "SUCCESS", "FAILURE", "CANCEL"),
    SUNO: ("NOT_START", "SUBMITTED", "QUEUED", "IN_PROGRESS", "SUCCESS", "FAILURE", "UNKNOWN"),
    VIDEO: ("QUEUED", "IN_PROGRESS", "SUCCESS", "FAILURE", "DELETED"),
}
ACTIONS = {
    MIDJOURNEY: ("IMAGINE", "UPSCALE", "VARIATION", "HIGH_VARIATION", "LOW_VARIATION", "REROLL", "ZOOM",
                 "CUSTOM_ZOOM", "PAN", "INPAINT", "DESCRIBE", "BLEND", "SHORTEN", "MODAL", "SWAP_FACE", "VIDEO",
                 "EDITS", "UPLOAD"),
    SUNO: ("MUSIC", "LYRICS"),
    VIDEO: ("GENERATE",),
}
_PERCENT = re.compile(r"\s*(\d{1,3})(?:\.\d+)?\s*%\s*")


def _filter(platform: str, *, user_id: int | None, admin: bool) -> task_service.TaskFilter:
    """The service's filter from the query string: dates become the platform's time unit."""
    args = request.args
    zone = plan_timezone()
    scale = 1000 if platform == MIDJOURNEY else 1
    id_name = "mj_id" if platform == MIDJOURNEY else "task_id"
    query = {id_name: args.get("task_id", ""), "status": args.get("status", ""),
             "action": args.get("action", "").strip().upper()}
    start = forms.day_bound(args.get("start", "").strip(), zone)
    end = forms.day_bound(args.get("end", "").strip(), zone, end=True)
    if start:
        query["start_timestamp"] = str(start * scale)
    if end:
        query["end_timestamp"] = str(end * scale + scale - 1)  # the last millisecond of the last second
    if platform != MIDJOURNEY:
        query["platform"] = platform
    if admin:
        query["channel_id"] = args.get("channel_id", "")
    f = task_service.parse_filter(query, id_name=id_name, user_id=user_id)
    owner = args.get("user_id", "").strip()
    if admin and owner:
        f = replace(f, user_id=strict_int(owner, "user_id", minimum=1, allow_str=True))
    return f


def _percent(progress: str | None) -> int | None:
    match = _PERCENT.fullmatch(progress or "")
    return min(int(match.group(1)), 100) if match else None


def _row(item: dict[str, Any], *, platform: str, remote_id: str | None, submitted: int) -> dict[str, Any]:
    status = item.get("status") or ""
    return {
        "id": item["id"], "platform": platform, "action": item.get("action") or "", "remote_id": remote_id or "",
        "submitted": submitted, "status": status, "status_label": STATUS_LABELS.get(status, status),
        "status_color": STATUS_COLORS.get(status, "info"), "progress": item.get("progress") or "",
        "percent": _percent(item.get("progress")), "quota": item.get("quota") or 0,
        "fail_reason": item.get("fail_reason") or "", "unfinished": task_service.is_unfinished(item),
        "user_id": item.get("user_id"), "username": item.get("username", ""), "channel_id": item.get("channel_id"),
        "prompt": "", "image_link": "", "thumbnail": "", "clips": [], "video": None,
    }


def midjourney_row(item: dict[str, Any]) -> dict[str, Any]:
    """A Midjourney list item for the page: its image only once the task succeeded."""
    row = _row(item, platform=PLATFORMS[MIDJOURNEY], remote_id=item.get("mj_id"),
               submitted=int(item.get("submit_time") or 0) // 1000)
    row["prompt"] = item.get("prompt") or ""
    if row["status"] == "SUCCESS":
        row["image_link"] = http_url(item.get("image_url"))
        row["thumbnail"] = row["image_link"] if row["image_link"].lower().startswith("https://") else ""
    return row


def clips(data: Any) -> list[dict[str, Any]]:
    """Suno's `data` (a list of clips, or one lyrics object) as titles, http(s) links and lyrics text."""
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        return []
    out = []
    for clip in data[:MAX_CLIPS]:
        if not isinstance(clip, dict):
            continue
        links = [(label, http_url(clip.get(key))) for key, label in (
            ("audio_url", _l("Audio")), ("video_url", _l("Video")), ("image_url", _l("Cover")))]
        out.append({"title": str(clip.get("title") or "")[:200], "links": [(k, u) for k, u in links if u],
                    "text": str(clip.get("text") or "")[:MAX_TEXT]})
    return out


def task_row(item: dict[str, Any]) -> dict[str, Any]:
    """A generic task list item for the page: a Suno task with its clips, a video with its prompt and
    model, seconds and size (the file itself is fetched with an API key from /v1/videos/{id}/content)."""
    row = _row(item, platform=PLATFORMS.get(item.get("platform") or "", item.get("platform") or ""),
               remote_id=item.get("task_id"), submitted=int(item.get("submit_time") or 0))
    props = item.get("properties") if isinstance(item.get("properties"), dict) else {}
    if item.get("platform") == VIDEO:
        row["prompt"] = str(props.get("prompt") or "")
        row["video"] = {"model": str(props.get("origin_model_name") or ""), "seconds": str(props.get("seconds") or ""),
                        "size": str(props.get("size") or "")}
    else:
        row["clips"] = clips(item.get("data"))
    return row


def task_page_context(endpoint: str, *, user_id: int | None, admin: bool) -> dict[str, Any]:
    """Rows and total of one platform's tab for the filters in the query string; a bad filter becomes a
    message. `user_id` limits the rows to one user's (None: everyone's, for admins)."""
    page, size = forms.page_args()
    platform = request.args.get("platform", "")
    platform = platform if platform in PLATFORMS else MIDJOURNEY
    filters = request.args.to_dict() | {"platform": platform}
    context: dict[str, Any] = {
        "page": page, "page_size": size, "filters": filters, "admin": admin, "platform": platform,
        "platforms": PLATFORMS, "statuses": [(s, STATUS_LABELS.get(s, s)) for s in STATUSES[platform]],
        "actions": ACTIONS[platform], "rows": [], "total": 0, "filter_error": None, "list_endpoint": endpoint,
        "list_id": LIST_ID,
    }
    try:
        f = _filter(platform, user_id=user_id, admin=admin)
        if platform == MIDJOURNEY:
            items, context["total"] = task_service.list_midjourney(f, page, size, admin=admin)
            context["rows"] = [midjourney_row(item) for item in items]
        else:
            items, context["total"] = task_service.list_tasks(f, page, size, admin=admin)
            context["rows"] = [task_row(item) for item in items]
    except ValidationError as exc:
        context["filter_error"] = exc.message
    context["polling"] = any(row["unfinished"] for row in context["rows"])
    context["poll_url"] = url_for(endpoint, **{k: v for k, v in filters.items() if v})
    return context


def poll_status(context: dict[str, Any]) -> int:
    """286 for the list's own poll once nothing on it is running (htmx then stops polling), else 200."""
    return STOP_POLLING if polled_by(LIST_ID) and not context["polling"] else 200
