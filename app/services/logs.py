"""The usage log (Veloera `logs`): listing, searching, statistics and purging.

Rows are written by the billing layer (app/billing/ledger.py, the relay's settlement); this module only
reads and deletes them. Rows are shaped like new-api's (`channel` is the channel id). What a user sees of
their own rows differs from what an admin sees: `channel_name` is blank and `other.admin_info` (the retry
chain: which channels were tried) is removed. Every "self" query filters on `user_id`, never on the name.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select

from app.errors import ValidationError
from app.extensions import db
from app.models import Channel, Log, LogType
from app.validation import clean_text, strict_int

MAX_TIMESTAMP = 253402300799  # year 9999: a millisecond timestamp sent by mistake is refused
MAX_FILTER_LEN = 255
RATE_WINDOW_SECONDS = 60
PURGE_BATCH = 1000
LOG_TYPES = range(LogType.UNKNOWN, LogType.ERROR + 1)


@dataclass(frozen=True)
class LogFilter:
    """The filters of new-api's log list; empty string / 0 mean "any"."""

    type: int = 0
    start_timestamp: int = 0
    end_timestamp: int = 0
    username: str = ""
    token_name: str = ""
    model_name: str = ""
    channel: int = 0
    group: str = ""
    user_id: int | None = None  # the caller's own rows only (the /self routes)


def parse_timestamp(value: str | None, name: str) -> int:
    """A unix-seconds query parameter: blank means 0 (not set); anything else must be a valid time."""
    if value is None or value.strip() == "":
        return 0
    return strict_int(value, name, minimum=0, maximum=MAX_TIMESTAMP, allow_str=True)


def _text_arg(args: Mapping[str, str], name: str) -> str:
    value = args.get(name) or ""
    return clean_text(value, name, max_len=MAX_FILTER_LEN).strip()


def parse_log_filter(args: Mapping[str, str], *, user_id: int | None = None) -> LogFilter:
    """Build a LogFilter from query arguments; with `user_id` (self routes) username and channel are ignored."""
    raw_type = (args.get("type") or "").strip()
    log_type = strict_int(raw_type, "type", minimum=0, maximum=LOG_TYPES[-1], allow_str=True) if raw_type else 0
    start = parse_timestamp(args.get("start_timestamp"), "start_timestamp")
    end = parse_timestamp(args.get("end_timestamp"), "end_timestamp")
    if start and end and start > end:
        raise ValidationError("start_timestamp must not be after end_timestamp")
    own = user_id is not None
    raw_channel = (args.get("channel") or "").strip()
    channel = 0
    if raw_channel and not own:
        channel = strict_int(raw_channel, "channel", minimum=0, maximum=2**31 - 1, allow_str=True)
    return LogFilter(
        type=log_type, start_timestamp=start, end_timestamp=end,
        username="" if own else _text_arg(args, "username"),
        token_name=_text_arg(args, "token_name"), model_name=_text_arg(args, "model_name"),
        channel=channel, group=_text_arg(args, "group"), user_id=user_id,
    )


def _conditions(f: LogFilter, *, with_time: bool = True, with_type: bool = True) -> list:
    conds = []
    if f.user_id is not None:
        conds.append(Log.user_id == f.user_id)
    if with_type and f.type:
        conds.append(Log.type == f.type)
    if f.username:
        conds.append(Log.username == f.username)
    if f.token_name:
        conds.append(Log.token_name == f.token_name)
    if f.model_name:
        conds.append(Log.model_name == f.model_name)
    if f.channel:
        conds.append(Log.channel_id == f.channel)
    if f.group:
        conds.append(Log.group == f.group)
    if with_time and f.start_timestamp:
        conds.append(Log.created_at >= f.start_timestamp)
    if with_time and f.end_timestamp:
        conds.append(Log.created_at <= f.end_timestamp)
    return conds


# -- presentation --------------------------------------------------------------------------------------

def _user_other(other: str | None) -> str:
    """`other` without the admin-only parts; text that is not a JSON object is dropped entirely."""
    if not other:
        return ""
    try:
        data = json.loads(other)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    data.pop("admin_info", None)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) if data else ""


def log_to_dict(row: Log, *, admin: bool, channel_names: Mapping[int, str] | None = None) -> dict[str, Any]:
    """A row in new-api's shape; for non-admins without channel names and `other.admin_info`."""
    return {
        "id": row.id,
        "user_id": row.user_id,
        "created_at": row.created_at,
        "type": row.type,
        "content": row.content or "",
        "username": row.username or "",
        "token_name": row.token_name or "",
        "model_name": row.model_name or "",
        "quota": row.quota,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "use_time": row.use_time,
        "is_stream": bool(row.is_stream),
        "channel": row.channel_id or 0,
        "channel_name": (channel_names or {}).get(row.channel_id or 0, "") if admin else "",
        "token_id": row.token_id or 0,
        "group": row.group or "",
        "ip": row.ip or "",
        "request_id": row.request_id or "",
        "other": (row.other or "") if admin else _user_other(row.other),
    }


def _channel_names(rows: list[Log]) -> dict[int, str]:
    ids = {r.channel_id for r in rows if r.channel_id}
    if not ids:
        return {}
    return dict(db.session.execute(select(Channel.id, Channel.name).where(Channel.id.in_(ids))).all())


def _page(conds: list, page: int, page_size: int, *, admin: bool) -> tuple[list[dict], int]:
    total = db.session.scalar(select(func.count()).select_from(Log).where(*conds)) or 0
    rows = list(db.session.scalars(
        select(Log).where(*conds).order_by(Log.id.desc()).limit(page_size).offset((page - 1) * page_size)))
    names = _channel_names(rows) if admin else None
    return [log_to_dict(r, admin=admin, channel_names=names) for r in rows], total


# -- use cases -----------------------------------------------------------------------------------------

def list_logs(f: LogFilter, page: int, page_size: int, *, admin: bool) -> tuple[list[dict], int]:
    """Logs matching `f`, newest first, and how many match."""
    return _page(_conditions(f), page, page_size, admin=admin)


def search_logs(keyword: str, page: int, page_size: int, *, user_id: int | None = None,
                admin: bool = False) -> tuple[list[dict], int]:
    """Logs whose content contains `keyword` (LIKE wildcards in it are literal), or whose model, key name,
    user name (admins only) or type number equals it. `user_id` limits the search to that user's rows."""
    keyword = clean_text(keyword or "", "keyword", max_len=MAX_FILTER_LEN).strip()
    conds: list = []
    if user_id is not None:
        conds.append(Log.user_id == user_id)
    if keyword:
        matches = [Log.content.icontains(keyword, autoescape=True), Log.model_name == keyword,
                   Log.token_name == keyword]
        if user_id is None:
            matches.append(Log.username == keyword)
        if keyword.isdigit() and int(keyword) in LOG_TYPES:
            matches.append(Log.type == int(keyword))
        conds.append(or_(*matches))
    return _page(conds, page, page_size, admin=admin)


def log_stat(f: LogFilter, *, now: float | None = None) -> dict[str, int]:
    """`{quota, rpm, tpm}` like new-api: quota of the consume rows matching `f`; rpm and tpm count the
    consume rows (and their tokens) of the last 60 seconds under the same filters, whatever the time range."""
    now = int(time.time() if now is None else now)
    consume = Log.type == LogType.CONSUME
    quota = db.session.scalar(
        select(func.coalesce(func.sum(Log.quota), 0)).where(consume, *_conditions(f, with_type=False)))
    rpm, tpm = db.session.execute(
        select(func.count(), func.coalesce(func.sum(Log.prompt_tokens + Log.completion_tokens), 0))
        .where(consume, Log.created_at >= now - RATE_WINDOW_SECONDS,
               *_conditions(f, with_time=False, with_type=False))
    ).one()
    return {"quota": int(quota or 0), "rpm": int(rpm or 0), "tpm": int(tpm or 0)}


def purge_logs(target_timestamp: int, *, batch_size: int = PURGE_BATCH) -> int:
    """Delete every log row created before `target_timestamp`, `batch_size` rows per transaction.

    Small transactions keep locks short on a busy table (and work on MySQL, which cannot LIMIT a
    subquery inside IN). quota_data is not touched: the aggregates have their own retention.
    """
    target = strict_int(target_timestamp, "target_timestamp", minimum=1, maximum=MAX_TIMESTAMP)
    total = 0
    while True:
        ids = list(db.session.scalars(
            select(Log.id).where(Log.created_at < target).order_by(Log.id).limit(batch_size)))
        if not ids:
            break
        db.session.execute(delete(Log).where(Log.id.in_(ids)))
        db.session.commit()
        total += len(ids)
        if len(ids) < batch_size:
            break
    return total
