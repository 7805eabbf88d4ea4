"""Upstream channels: validation, CRUD, tags and the routing rows (`abilities`) derived from them.

A channel's keys never leave this module towards a caller: `channel_to_dict` leaves them out, and no error
message quotes one. Every save rebuilds the channel's abilities (one row per group x model) in the same
transaction, then the caller's change is announced with `bump("channels")` after the commit.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Iterable
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import String, delete, distinct, func, insert, literal, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from app.cache import bump
from app.errors import AppError, NotFound, ValidationError
from app.extensions import db
from app.models import Ability, Channel, ChannelStatus
from app.services.tokens import escape_like, page_offset
from app.validation import MAX_INT64, clean_text, strict_int

log = logging.getLogger(__name__)

# Channel type ids and names, as new-api's constant/channel.go numbers them (29 is one-api's Groq). These
# are the types an admin can create; the relay's adaptor registry must resolve every one (a registry test
# pins it), so a type is listed here only once the relay serves it or is about to (2, 5: midjourney-proxy;
# 36: Suno; 3, 14, 24: Azure, Claude and Gemini adaptors).
CHANNEL_TYPES: dict[int, str] = {
    1: "OpenAI",
    2: "Midjourney Proxy",
    3: "Azure OpenAI",
    4: "Ollama",
    5: "Midjourney Proxy Plus",
    6: "OpenAI Max",
    7: "OhMyGPT",
    8: "Custom",
    9: "AILS",
    10: "AI Proxy",
    12: "API2GPT",
    13: "AIGC2D",
    14: "Anthropic Claude",
    17: "Alibaba Qwen",
    20: "OpenRouter",
    24: "Google Gemini",
    25: "Moonshot",
    26: "Zhipu GLM",
    27: "Perplexity",
    29: "Groq",
    31: "01.AI",
    36: "Suno API",
    38: "Jina",
    40: "SiliconFlow",
    42: "Mistral",
    43: "DeepSeek",
    45: "VolcEngine",
    46: "Baidu Qianfan v2",
    47: "Xinference",
    48: "xAI",
}

MULTI_KEY_MODES = ("random", "round_robin")
CREATE_MODES = ("single", "batch", "multi_to_single")
SETTABLE_STATUSES = (ChannelStatus.ENABLED, ChannelStatus.MANUALLY_DISABLED, ChannelStatus.AUTO_DISABLED)
DISABLED_STATUSES = (ChannelStatus.MANUALLY_DISABLED, ChannelStatus.AUTO_DISABLED)

NAME_MAX_LEN = 255
MODEL_NAME_MAX_LEN = 255
GROUP_COLUMN_MAX_LEN = 64  # Veloera's channels.group is varchar(64): the whole comma list must fit
BASE_URL_MAX_LEN = 512
KEY_TEXT_MAX_LEN = 1 << 20
KEY_LINE_MAX_LEN = 16384
JSON_FIELD_MAX_LEN = 65536
STATUS_CODE_MAPPING_MAX_LEN = 1024
MAX_BATCH_CHANNELS = 1000
MAX_BATCH_IDS = 1000
HEADER_VALUE_MAX_LEN = 8192

_GROUP_NAME = re.compile(r"^[\w.\-]+$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_STATUS_CODE = re.compile(r"^[1-5][0-9][0-9]$")
_PLAIN_VERSION = re.compile(r"^[\w.\-:]+$")


# -- presentation --------------------------------------------------------------------------------------

def channel_to_dict(channel: Channel) -> dict[str, Any]:
    """A channel as the API shows it. `key` is always empty: keys are write-only."""
    keys = channel.key_list()
    return {
        "id": channel.id,
        "type": channel.type,
        "type_name": CHANNEL_TYPES.get(channel.type, "Unknown"),
        "key": "",
        "key_count": len(keys),
        "name": channel.name,
        "status": channel.status,
        "base_url": channel.base_url or "",
        "models": channel.models or "",
        "group": channel.group,
        "model_mapping": channel.model_mapping,
        "status_code_mapping": channel.status_code_mapping or "",
        "priority": channel.priority,
        "weight": channel.weight,
        "auto_ban": channel.auto_ban,
        "tag": channel.tag,
        "test_model": channel.test_model,
        "openai_organization": channel.openai_organization,
        "other": channel.other,
        "param_override": channel.param_override,
        "header_override": channel.header_override,
        "multi_key_mode": channel.multi_key_mode,
        "channel_info": {"is_multi_key": len(keys) > 1, "multi_key_size": len(keys),
                         "multi_key_mode": channel.multi_key_mode},
        "created_time": channel.created_time,
        "test_time": channel.test_time,
        "response_time": channel.response_time,
        "balance": float(channel.balance or 0),
        "balance_updated_time": channel.balance_updated_time,
        "used_quota": channel.used_quota,
    }


# -- validation ----------------------------------------------------------------------------------------

def _no_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValidationError(f"duplicate key {key!r} in JSON")
        obj[key] = value
    return obj


def _reject_constant(name: str):
    raise ValidationError(f"{name} is not allowed in JSON")


def _json_object(value: Any, name: str) -> dict | None:
    """A JSON object given as an object or as text; None for null, "" or {}."""
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        if len(value) > JSON_FIELD_MAX_LEN:
            raise ValidationError(f"{name} must be at most {JSON_FIELD_MAX_LEN} characters")
        try:
            value = json.loads(value, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
        except (json.JSONDecodeError, RecursionError):
            raise ValidationError(f"{name} must be a JSON object") from None
    if not isinstance(value, dict):
        raise ValidationError(f"{name} must be a JSON object")
    return value or None


def _dump(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _check_finite(value: Any, name: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(f"{name} must not contain NaN or Infinity")
    if isinstance(value, dict):
        for item in value.values():
            _check_finite(item, name)
    elif isinstance(value, list):
        for item in value:
            _check_finite(item, name)


def parse_type(value: Any) -> int:
    channel_type = strict_int(value, "type")
    if channel_type not in CHANNEL_TYPES:
        raise ValidationError(f"type {channel_type} is not a known channel type")
    return channel_type


def parse_keys(value: Any) -> list[str]:
    """Keys, one per line: trimmed, empty lines dropped. Messages never quote a key."""
    if not isinstance(value, str):
        raise ValidationError("key must be a string, one key per line")
    if len(value) > KEY_TEXT_MAX_LEN:
        raise ValidationError("key is too long")
    keys = []
    for line in value.replace("\r\n", "\n").split("\n"):
        line = line.strip()
        if not line:
            continue
        clean_text(line, "key", max_len=KEY_LINE_MAX_LEN, nfkc=False)
        if line not in keys:
            keys.append(line)
    return keys


def parse_name(value: Any) -> str:
    return clean_text("" if value is None else value, "name", max_len=NAME_MAX_LEN).strip()


def parse_base_url(value: Any) -> str:
    """"" (the provider's default) or an absolute http(s) URL, without a trailing slash."""
    if value is None:
        return ""
    text = clean_text(value, "base_url", max_len=BASE_URL_MAX_LEN, nfkc=False).strip()
    if not text:
        return ""
    if any(ch.isspace() for ch in text):
        raise ValidationError("base_url must not contain spaces")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValidationError("base_url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("base_url must be an http:// or https:// URL")
    if parts.fragment:
        raise ValidationError("base_url must not have a #fragment")
    return text.rstrip("/")


def _split_list(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        items = value
    else:
        items = clean_text(value, name, max_len=JSON_FIELD_MAX_LEN * 16, nfkc=False).split(",")
    result: list[str] = []
    for item in items:
        text = clean_text(item, name, max_len=MODEL_NAME_MAX_LEN + 64, nfkc=False).strip()
        if text and text not in result:
            result.append(text)
    return result


def parse_models(value: Any) -> str:
    models = _split_list(value, "models")
    for model in models:
        if len(model) > MODEL_NAME_MAX_LEN:
            raise ValidationError(f"models: a model name is longer than {MODEL_NAME_MAX_LEN} characters")
    return ",".join(models)


def parse_groups(value: Any) -> str:
    groups = _split_list(value, "group")
    for group in groups:
        if not _GROUP_NAME.match(group):
            raise ValidationError(f"group {group[:64]!r} may contain letters, digits, '.', '_' and '-' only")
    text = ",".join(groups) or "default"
    if len(text) > GROUP_COLUMN_MAX_LEN:
        raise ValidationError(f"group must be at most {GROUP_COLUMN_MAX_LEN} characters in all")
    return text


def parse_model_mapping(value: Any) -> str | None:
    """A JSON object of model name -> upstream model name, with no self-map and no cycle."""
    mapping = _json_object(value, "model_mapping")
    if mapping is None:
        return None
    for source, target in mapping.items():
        if not isinstance(target, str):
            raise ValidationError(f"model_mapping: the value for {source[:64]!r} must be a string")
        if not source.strip() or not target.strip():
            raise ValidationError("model_mapping: model names must not be empty")
        clean_text(source, "model_mapping", max_len=MODEL_NAME_MAX_LEN, nfkc=False)
        clean_text(target, "model_mapping", max_len=MODEL_NAME_MAX_LEN, nfkc=False)
        if source == target:
            raise ValidationError(f"model_mapping maps {source!r} to itself")
    for start in mapping:
        path = [start]
        current = mapping[start]
        while current in mapping:
            if current in path:
                cycle = " -> ".join([*path[path.index(current):], current])
                raise ValidationError(f"model_mapping has a cycle: {cycle[:300]}")
            path.append(current)
            current = mapping[current]
    return _dump(mapping)


def parse_status_code_mapping(value: Any) -> str:
    """A JSON object of upstream status code -> status code sent to the client, both as strings."""
    mapping = _json_object(value, "status_code_mapping")
    if mapping is None:
        return ""
    for source, target in mapping.items():
        if not _STATUS_CODE.match(source) or not isinstance(target, str) or not _STATUS_CODE.match(target):
            raise ValidationError('status_code_mapping must map status codes to status codes, e.g. {"400": "500"}')
    text = _dump(mapping)
    if len(text) > STATUS_CODE_MAPPING_MAX_LEN:
        raise ValidationError(f"status_code_mapping must be at most {STATUS_CODE_MAPPING_MAX_LEN} characters")
    return text


def parse_param_override(value: Any) -> str | None:
    override = _json_object(value, "param_override")
    if override is None:
        return None
    _check_finite(override, "param_override")
    text = _dump(override)
    if len(text) > JSON_FIELD_MAX_LEN:
        raise ValidationError(f"param_override must be at most {JSON_FIELD_MAX_LEN} characters")
    return text


def parse_header_override(value: Any) -> str | None:
    """A JSON object of header name -> value; names are HTTP tokens, values have no CR, LF or NUL."""
    headers = _json_object(value, "header_override")
    if headers is None:
        return None
    for name, header_value in headers.items():
        if not _HEADER_NAME.match(name):
            raise ValidationError(f"header_override: {name[:64]!r} is not a valid header name")
        if not isinstance(header_value, str):
            raise ValidationError(f"header_override: the value of {name!r} must be a string")
        if any(ch in header_value for ch in "\r\n\x00") or len(header_value) > HEADER_VALUE_MAX_LEN:
            raise ValidationError(f"header_override: the value of {name!r} must be one line of text")
    return _dump(headers)


def parse_other(value: Any) -> str | None:
    """Provider settings as a JSON object. The one-api family kept a bare API version here (Azure, Gemini),
    so a plain version string is accepted as {"api_version": ...}."""
    if isinstance(value, str) and value.strip() and not value.strip().startswith("{"):
        version = value.strip()
        if len(version) > 64 or not _PLAIN_VERSION.match(version):
            raise ValidationError('other must be a JSON object, e.g. {"api_version": "2024-10-21"}')
        return _dump({"api_version": version})
    other = _json_object(value, "other")
    if other is None:
        return None
    _check_finite(other, "other")
    return _dump(other)


def _optional_text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    text = clean_text(value, name, max_len=255).strip()
    return text or None


def parse_multi_key_mode(value: Any) -> str:
    if value not in MULTI_KEY_MODES:
        raise ValidationError("multi_key_mode must be \"random\" or \"round_robin\"")
    return value


def parse_status(value: Any) -> int:
    status = strict_int(value, "status")
    if status not in SETTABLE_STATUSES:
        raise ValidationError("status must be 1 (enabled), 2 (disabled) or 3 (auto-disabled)")
    return status


_FIELD_PARSERS = {
    "type": parse_type,
    "name": parse_name,
    "base_url": parse_base_url,
    "models": parse_models,
    "group": parse_groups,
    "model_mapping": parse_model_mapping,
    "status_code_mapping": parse_status_code_mapping,
    "priority": lambda v: strict_int(v, "priority", minimum=-MAX_INT64, maximum=MAX_INT64),
    "weight": lambda v: strict_int(v, "weight", minimum=0, maximum=2**31 - 1),
    "auto_ban": lambda v: strict_int(v, "auto_ban", minimum=0, maximum=1),
    "tag": lambda v: _optional_text(v, "tag"),
    "test_model": lambda v: _optional_text(v, "test_model"),
    "openai_organization": lambda v: _optional_text(v, "openai_organization"),
    "param_override": parse_param_override,
    "header_override": parse_header_override,
    "multi_key_mode": parse_multi_key_mode,
    "status": parse_status,
}


def parse_channel_fields(data: dict) -> dict[str, Any]:
    """The editable channel fields present in `data` (except key), validated. Unknown fields are ignored.

    `other` is parsed last because how a bare string is read could depend on the type in the future.
    """
    if not isinstance(data, dict):
        raise ValidationError("channel must be a JSON object")
    fields = {name: parse(data[name]) for name, parse in _FIELD_PARSERS.items() if name in data}
    if "other" in data:
        fields["other"] = parse_other(data["other"])
    return fields


# -- abilities -----------------------------------------------------------------------------------------

def rebuild_abilities(channels: Iterable[Channel]) -> None:
    """Replace the abilities of `channels` with one row per (group, model); call inside the transaction."""
    channels = list(channels)
    if not channels:
        return
    db.session.flush()
    ids = [c.id for c in channels]
    db.session.execute(delete(Ability).where(Ability.channel_id.in_(ids)))
    rows = [
        {"group": group, "model": model, "channel_id": c.id, "enabled": c.status == ChannelStatus.ENABLED,
         "priority": c.priority or 0, "weight": c.weight or 0, "tag": c.tag}
        for c in channels for group in c.group_list() for model in c.model_list()
    ]
    if rows:
        db.session.execute(insert(Ability), rows)


def fix_abilities() -> dict[str, int]:
    """Rebuild the abilities of every channel (new-api's POST /api/channel/fix)."""
    with _transaction():
        channels = list(db.session.scalars(select(Channel).with_for_update()))
        db.session.execute(delete(Ability))
        rebuild_abilities(channels)
    bump("channels")
    return {"success": len(channels), "fails": 0}


# -- reading -------------------------------------------------------------------------------------------

def _in_group(group: str):
    """`group` is one of the channel's comma-separated groups."""
    wrapped = literal(",", String) + Channel.group + literal(",", String)
    return wrapped.like(f"%,{escape_like(group)},%", escape="\\")


def _filters(*, status: int | None = None, type_: int | None = None, group: str = "") -> list:
    """`status`: 1 = enabled only, 0 = disabled only (manual or automatic), None = all."""
    conditions = []
    if status == ChannelStatus.ENABLED:
        conditions.append(Channel.status == ChannelStatus.ENABLED)
    elif status == 0:
        conditions.append(Channel.status != ChannelStatus.ENABLED)
    if type_ is not None:
        conditions.append(Channel.type == type_)
    if group:
        conditions.append(_in_group(group))
    return conditions


def _order(id_sort: bool):
    return (Channel.id.desc(),) if id_sort else (Channel.priority.desc(), Channel.id.desc())


def _type_counts(conditions: list) -> dict[str, int]:
    rows = db.session.execute(select(Channel.type, func.count()).where(*conditions).group_by(Channel.type))
    return {str(channel_type): count for channel_type, count in rows}


def _count(conditions: list) -> int:
    return db.session.scalar(select(func.count(Channel.id)).where(*conditions)) or 0


def list_channels(page: int = 1, page_size: int = 10, *, id_sort: bool = False, tag_mode: bool = False,
                  status: int | None = None, type_: int | None = None,
                  group: str = "") -> tuple[list[Channel], int, dict[str, int]]:
    """A page of channels, the total, and the count per type (over every type).

    In tag mode a page holds tags rather than channels: each tag brings all its channels, and channels
    without a tag follow the tags one by one (new-api leaves them out; we do not hide them).
    """
    conditions = _filters(status=status, type_=type_, group=group)
    type_counts = _type_counts(_filters(status=status, group=group))
    offset = page_offset(page, page_size)
    if not tag_mode:
        total = _count(conditions)
        rows = db.session.scalars(select(Channel).where(*conditions).order_by(*_order(id_sort))
                                  .limit(page_size).offset(offset))
        return list(rows), total, type_counts

    tagged = [Channel.tag.isnot(None), Channel.tag != ""]
    untagged = or_(Channel.tag.is_(None), Channel.tag == "")
    n_tags = db.session.scalar(select(func.count(distinct(Channel.tag))).where(*conditions, *tagged)) or 0
    n_untagged = _count([*conditions, untagged])
    tags = list(db.session.scalars(select(Channel.tag).where(*conditions, *tagged).group_by(Channel.tag)
                                   .order_by(Channel.tag).limit(page_size).offset(offset)))
    items: list[Channel] = []
    if tags:
        items += db.session.scalars(select(Channel).where(*conditions, Channel.tag.in_(tags))
                                    .order_by(Channel.tag, *_order(id_sort)))
    room = page_size - len(tags)
    if room > 0:
        items += db.session.scalars(select(Channel).where(*conditions, untagged).order_by(*_order(id_sort))
                                    .limit(room).offset(max(0, offset - n_tags)))
    return items, n_tags + n_untagged, type_counts


def search_channels(keyword: str = "", group: str = "", model: str = "", *, page: int = 1, page_size: int = 10,
                    id_sort: bool = False, status: int | None = None,
                    type_: int | None = None) -> tuple[list[Channel], int, dict[str, int]]:
    """Channels whose id equals `keyword`, or whose name, base URL or tag contains it, or one of whose
    keys is exactly it; that offer a model containing `model`; in `group`. Paged like the list."""
    conditions = _filters(status=status, group=group)
    keyword = (keyword or "").strip()
    if keyword:
        pattern = f"%{escape_like(keyword)}%"
        matches = [Channel.name.like(pattern, escape="\\"), Channel.base_url.like(pattern, escape="\\"),
                   Channel.tag.like(pattern, escape="\\"), Channel.key == keyword]
        if keyword.isdigit() and len(keyword) < 19:
            matches.append(Channel.id == int(keyword))
        conditions.append(or_(*matches))
    model = (model or "").strip()
    if model:
        conditions.append(Channel.models.like(f"%{escape_like(model)}%", escape="\\"))
    type_counts = _type_counts(conditions)
    if type_ is not None:
        conditions.append(Channel.type == type_)
    total = _count(conditions)
    rows = db.session.scalars(select(Channel).where(*conditions).order_by(*_order(id_sort))
                              .limit(page_size).offset(page_offset(page, page_size)))
    return list(rows), total, type_counts


def get_channel(channel_id: int) -> Channel:
    channel = db.session.get(Channel, channel_id)
    if channel is None:
        raise NotFound("channel not found")
    return channel


def all_models() -> list[dict[str, str]]:
    """Every model offered by any channel, sorted, as OpenAI-style model objects (for the admin UI)."""
    owners: dict[str, str] = {}
    for channel_type, models in db.session.execute(select(Channel.type, Channel.models).order_by(Channel.id)):
        for model in (models or "").split(","):
            model = model.strip()
            if model and model not in owners:
                owners[model] = CHANNEL_TYPES.get(channel_type, "Unknown")
    return [{"id": m, "object": "model", "owned_by": owners[m]} for m in sorted(owners)]


def enabled_models() -> list[str]:
    """Models that at least one enabled channel serves."""
    return list(db.session.scalars(select(Ability.model).where(Ability.enabled.is_(True)).distinct()
                                   .order_by(Ability.model)))


def tag_models(tag: str) -> str:
    """The longest models list among the channels of `tag` (new-api's GET /api/channel/tag/models)."""
    best = ""
    for models in db.session.scalars(select(Channel.models).where(Channel.tag == tag)):
        if len((models or "").split(",")) > len(best.split(",")) or not best:
            best = models or ""
    return best


# -- writing -------------------------------------------------------------------------------------------

@contextmanager
def _transaction():
    """Commit what the block did, or roll it all back.

    A database error is logged by class only and answered as a plain 500: SQLAlchemy's own message quotes
    the statement's parameters, which include channel keys.
    """
    try:
        yield
        db.session.commit()
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.error("channel change failed in the database: %s", type(getattr(exc, "orig", None) or exc).__name__)
        raise AppError("the database refused the change; nothing was saved", status=500,
                       code="database_error", error_type="server_error") from None
    except BaseException:
        db.session.rollback()
        raise


def create_channels(data: dict) -> list[Channel]:
    """Create channels from a request body and return them.

    Accepts new-api's `{"mode": "single"|"batch"|"multi_to_single", "multi_key_mode": ..., "channel": {...}}`
    and one-api's bare channel object. "batch" makes one channel per key line; "single" and
    "multi_to_single" make one channel holding every key line. A bare object is "batch", as one-api did,
    unless it names a mode itself.
    """
    if not isinstance(data, dict):
        raise ValidationError("request body must be a JSON object")
    if isinstance(data.get("channel"), dict):
        body, mode = data["channel"], data.get("mode", "single")
    else:
        body, mode = data, data.get("mode", "batch")
    if mode not in CREATE_MODES:
        raise ValidationError("mode must be \"single\", \"batch\" or \"multi_to_single\"")
    fields = parse_channel_fields(body)
    if "multi_key_mode" in data and body is not data and data["multi_key_mode"] not in (None, ""):
        fields["multi_key_mode"] = parse_multi_key_mode(data["multi_key_mode"])
    keys = parse_keys(body["key"]) if body.get("key") is not None else []
    if not keys:
        raise ValidationError("key is required")
    fields.setdefault("type", 1)
    fields.setdefault("group", "default")
    fields.setdefault("models", "")
    key_sets = [[k] for k in keys] if mode == "batch" else [keys]
    if len(key_sets) > MAX_BATCH_CHANNELS:
        raise ValidationError(f"at most {MAX_BATCH_CHANNELS} channels can be created at once")
    now = int(time.time())
    with _transaction():
        channels = [Channel(key="\n".join(ks), created_time=now, **fields) for ks in key_sets]
        db.session.add_all(channels)
        rebuild_abilities(channels)
    bump("channels")
    return channels


def update_channel(data: dict) -> Channel:
    """Update the channel `data["id"]` with the fields present. An empty or missing key keeps the stored
    keys; `key_mode: "append"` adds the new lines to them instead of replacing them."""
    if not isinstance(data, dict):
        raise ValidationError("request body must be a JSON object")
    channel_id = strict_int(data.get("id"), "id", minimum=1)
    fields = parse_channel_fields(data)
    new_keys = parse_keys(data["key"]) if data.get("key") not in (None, "") else []
    key_mode = data.get("key_mode") or "replace"
    if key_mode not in ("replace", "append"):
        raise ValidationError("key_mode must be \"replace\" or \"append\"")
    with _transaction():
        channel = db.session.scalar(select(Channel).where(Channel.id == channel_id).with_for_update())
        if channel is None:
            raise NotFound("channel not found")
        for name, value in fields.items():
            setattr(channel, name, value)
        if new_keys:
            if key_mode == "append":
                new_keys = channel.key_list() + [k for k in new_keys if k not in channel.key_list()]
            channel.key = "\n".join(new_keys)
        rebuild_abilities([channel])
    bump("channels")
    return channel


def set_channel_status(channel_id: int, status: int) -> Channel:
    """Enable or disable one channel; its abilities follow."""
    status = parse_status(status)
    with _transaction():
        channel = db.session.scalar(select(Channel).where(Channel.id == channel_id).with_for_update())
        if channel is None:
            raise NotFound("channel not found")
        channel.status = status
        db.session.execute(update(Ability).where(Ability.channel_id == channel_id)
                           .values(enabled=status == ChannelStatus.ENABLED))
    bump("channels")
    return channel


def _delete_where(*conditions) -> int:
    with _transaction():
        ids = list(db.session.scalars(select(Channel.id).where(*conditions).with_for_update()))
        if ids:
            db.session.execute(delete(Ability).where(Ability.channel_id.in_(ids)))
            db.session.execute(delete(Channel).where(Channel.id.in_(ids)))
    if ids:
        bump("channels")
    return len(ids)


def delete_channel(channel_id: int) -> None:
    if _delete_where(Channel.id == channel_id) == 0:
        raise NotFound("channel not found")


def parse_ids(value: Any) -> list[int]:
    """A non-empty JSON list of positive integer ids (duplicates dropped)."""
    if not isinstance(value, list) or not value:
        raise ValidationError("ids must be a non-empty list of ids")
    if len(value) > MAX_BATCH_IDS:
        raise ValidationError(f"ids may hold at most {MAX_BATCH_IDS} ids")
    return list(dict.fromkeys(strict_int(item, "ids", minimum=1) for item in value))


def delete_channels(ids: list[int]) -> int:
    """Delete the channels among `ids` that exist; returns how many."""
    return _delete_where(Channel.id.in_(ids))


def delete_disabled_channels() -> int:
    """Delete every manually or automatically disabled channel; returns how many."""
    return _delete_where(Channel.status.in_(DISABLED_STATUSES))


def parse_tag(value: Any, name: str = "tag") -> str:
    tag = clean_text("" if value is None else value, name, max_len=255).strip()
    if not tag:
        raise ValidationError(f"{name} is required")
    return tag


def set_tag_status(tag: str, status: int) -> int:
    """Enable or disable every channel of `tag`; returns how many channels it has."""
    status = parse_status(status)
    with _transaction():
        ids = list(db.session.scalars(select(Channel.id).where(Channel.tag == tag).with_for_update()))
        if ids:
            db.session.execute(update(Channel).where(Channel.id.in_(ids)).values(status=status))
            db.session.execute(update(Ability).where(Ability.channel_id.in_(ids))
                               .values(enabled=status == ChannelStatus.ENABLED))
    if ids:
        bump("channels")
    return len(ids)


TAG_EDIT_FIELDS = {"new_tag": "tag", "priority": "priority", "weight": "weight", "models": "models",
                   "groups": "group", "model_mapping": "model_mapping", "param_override": "param_override",
                   "header_override": "header_override"}


def edit_tag(data: dict) -> int:
    """new-api's PUT /api/channel/tag: set the given fields on every channel of `data["tag"]`.

    Fields left out, null or "" are unchanged (as in new-api); `model_mapping: "{}"` clears the mapping.
    Returns how many channels carry the tag.
    """
    tag = parse_tag(data.get("tag"))
    values = {TAG_EDIT_FIELDS[name]: data[name] for name in TAG_EDIT_FIELDS if data.get(name) not in (None, "")}
    fields = parse_channel_fields(values)
    with _transaction():
        channels = list(db.session.scalars(select(Channel).where(Channel.tag == tag).with_for_update()))
        for channel in channels:
            for name, value in fields.items():
                setattr(channel, name, value)
        rebuild_abilities(channels)
    if channels:
        bump("channels")
    return len(channels)


def set_channels_tag(ids: list[int], tag: Any) -> int:
    """Set (or, with null or "", clear) the tag of the channels among `ids`; returns how many exist."""
    new_tag = _optional_text(tag, "tag")
    with _transaction():
        channels = list(db.session.scalars(select(Channel).where(Channel.id.in_(ids)).with_for_update()))
        for channel in channels:
            channel.tag = new_tag
        rebuild_abilities(channels)
    if channels:
        bump("channels")
    return len(channels)
