"""API keys (Veloera "tokens"): create, list, search, update and delete a user's own keys.

Only a SHA-256 of a key is stored (`key_hash`) with a short hint for display (`key_hint`); the full key is
returned once, by `create_token`. Every function takes the owner's id or user and never reaches another
user's rows: a key of someone else is "not found". Every write commits, then calls `bump("tokens")` so the
relay's key cache drops the old state everywhere.
"""

from __future__ import annotations

import ipaddress
import re
import time
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.cache import bump
from app.errors import NotFound, ValidationError
from app.extensions import db
from app.models import Token, TokenStatus, User
from app.options import get_option
from app.security import hash_secret, key_hint, new_api_key
from app.validation import MAX_INT64, clean_text, strict_bool, strict_int

MAX_TOKENS_PER_USER = 1000
NAME_MAX_LEN = 50  # new-api's limit (Veloera: 30)
LIST_FIELD_MAX_LEN = 1024  # model_limits and allow_ips columns
MODEL_NAME_MAX_LEN = 255
MAX_ALLOW_IPS = 100
MAX_BATCH_IDS = 1000
# Year 9999: a millisecond timestamp sent by mistake is refused instead of meaning "never" in practice.
MAX_EXPIRED_TIME = 253402300799
NEVER_EXPIRES = -1
MAX_OFFSET = 2**62  # `p` is not capped by page_args(); a larger OFFSET overflows SQLite's integers
USER_SETTABLE_STATUSES = (TokenStatus.ENABLED, TokenStatus.DISABLED)

MSG_EXPIRED_CANNOT_ENABLE = ("the key has expired and cannot be enabled; change its expiry time first, "
                             "or set it to never expire")
MSG_EXHAUSTED_CANNOT_ENABLE = ("the key's quota is used up and it cannot be enabled; raise its remaining "
                               "quota first, or make it unlimited")

_IP_SEPARATORS = re.compile(r"[\s,]+")


# -- presentation --------------------------------------------------------------------------------------

def token_to_dict(token: Token, *, full_key: str | None = None) -> dict[str, Any]:
    """The key as the API shows it: masked (`sk-abcd...wxyz`), unless `full_key` is given (creation only)."""
    return {
        "id": token.id,
        "user_id": token.user_id,
        "key": full_key if full_key is not None else token.masked_key,
        "status": token.status,
        "name": token.name,
        "created_time": token.created_time,
        "accessed_time": token.accessed_time,
        "expired_time": token.expired_time,
        "remain_quota": token.remain_quota,
        "unlimited_quota": token.unlimited_quota,
        "used_quota": token.used_quota,
        "model_limits_enabled": bool(token.model_limits_enabled),
        "model_limits": token.model_limits or "",
        "allow_ips": token.allow_ips or "",
        "group": token.group or "",
    }


# -- reading -------------------------------------------------------------------------------------------

def _owned(user_id: int):
    return select(Token).where(Token.user_id == user_id, Token.deleted_at.is_(None))


def page_offset(page: int, page_size: int) -> int:
    """The row offset of a 1-based page, kept within what every database accepts."""
    return min(max(page - 1, 0) * page_size, MAX_OFFSET)


def _paged(query, page: int, page_size: int) -> tuple[list[Token], int]:
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = db.session.scalars(query.order_by(Token.id.desc()).limit(page_size).offset(page_offset(page, page_size)))
    return list(rows), total


def list_tokens(user_id: int, page: int = 1, page_size: int = 10) -> tuple[list[Token], int]:
    """The user's keys, newest first, and how many there are."""
    return _paged(_owned(user_id), page, page_size)


def escape_like(text: str) -> str:
    """`text` for a LIKE pattern with `\\` as the escape character: % and _ match themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_tokens(user_id: int, keyword: str = "", token: str = "", page: int = 1,
                  page_size: int = 10) -> tuple[list[Token], int]:
    """The user's keys whose name contains `keyword` and, when `token` is given, that match it.

    `token` may be a full key (matched by hash), a masked key as lists show it, or a few characters of
    the visible start or end of a key.
    """
    query = _owned(user_id)
    keyword = (keyword or "").strip()
    if keyword:
        query = query.where(Token.name.like(f"%{escape_like(keyword)}%", escape="\\"))
    token = (token or "").strip()
    if token:
        query = query.where(_key_condition(token))
    return _paged(query, page, page_size)


def _key_condition(text: str):
    body = text[3:] if text.startswith("sk-") else text
    if len(body) == 48:
        return Token.key_hash == hash_secret("sk-" + body)
    head, sep, tail = body.partition("...")
    if sep:
        return Token.key_hint == f"{head}|{tail}"
    fragment = escape_like(body.replace("|", ""))
    # The hint is "head|tail": a fragment matches the start of the head or the end of the tail.
    return Token.key_hint.like(f"{fragment}%", escape="\\") | Token.key_hint.like(f"%|%{fragment}", escape="\\")


def get_token(user_id: int, token_id: int) -> Token:
    """One of the user's keys; someone else's key or a deleted one is "not found"."""
    token = db.session.scalar(_owned(user_id).where(Token.id == token_id))
    if token is None:
        raise NotFound("token not found")
    return token


# -- validation ----------------------------------------------------------------------------------------

def parse_name(value: Any) -> str:
    name = clean_text("" if value is None else value, "name", max_len=NAME_MAX_LEN).strip()
    return name


def parse_expired_time(value: Any, *, now: int, allow: int | None = None) -> int:
    """Unix seconds in the future, or -1 for never; `allow` is a stored value that may be kept as it is."""
    expired = strict_int(value, "expired_time", minimum=NEVER_EXPIRES, maximum=MAX_EXPIRED_TIME)
    if expired == NEVER_EXPIRES or expired == allow:
        return expired
    if expired <= now:
        raise ValidationError("expired_time must be in the future (unix seconds), or -1 for never")
    return expired


def parse_remain_quota(value: Any) -> int:
    return strict_int(value, "remain_quota", minimum=0, maximum=MAX_INT64)


def parse_model_limits(value: Any) -> str:
    """Comma-separated model names, trimmed and without duplicates."""
    if value is None:
        return ""
    if isinstance(value, list):
        items = value
    else:
        items = clean_text(value, "model_limits", max_len=LIST_FIELD_MAX_LEN * 4).split(",")
    models: list[str] = []
    for item in items:
        name = clean_text(item, "model_limits entry", max_len=MODEL_NAME_MAX_LEN).strip()
        if name and name not in models:
            models.append(name)
    text = ",".join(models)
    if len(text) > LIST_FIELD_MAX_LEN:
        raise ValidationError(f"model_limits must be at most {LIST_FIELD_MAX_LEN} characters")
    return text


def parse_allow_ips(value: Any) -> str:
    """IP addresses and CIDR ranges, separated by newlines or commas; stored one per line."""
    if value is None:
        return ""
    text = clean_text(value, "allow_ips", max_len=LIST_FIELD_MAX_LEN * 4, allow_newlines=True)
    entries: list[str] = []
    for raw in _IP_SEPARATORS.split(text):
        if not raw:
            continue
        try:
            if "%" in raw:
                raise ValueError(raw)
            entry = str(ipaddress.ip_network(raw, strict=False)) if "/" in raw else str(ipaddress.ip_address(raw))
        except ValueError:
            raise ValidationError(f"allow_ips: {raw[:64]!r} is not an IP address or CIDR range") from None
        if entry not in entries:
            entries.append(entry)
    if len(entries) > MAX_ALLOW_IPS:
        raise ValidationError(f"allow_ips may list at most {MAX_ALLOW_IPS} entries")
    joined = "\n".join(entries)
    if len(joined) > LIST_FIELD_MAX_LEN:
        raise ValidationError(f"allow_ips must be at most {LIST_FIELD_MAX_LEN} characters")
    return joined


def usable_groups(user: User) -> set[str]:
    """Groups a key of `user` may use: the option UserUsableGroups plus the user's own group."""
    groups = get_option("UserUsableGroups") or {}
    return {*groups.keys(), user.group}


def parse_group(value: Any, user: User) -> str:
    group = clean_text("" if value is None else value, "group", max_len=64).strip()
    if group and group not in usable_groups(user):
        raise ValidationError(f"group {group!r} is not available to you")
    return group


def _parse_fields(data: dict, user: User, *, now: int, current: Token | None = None) -> dict[str, Any]:
    """The editable fields present in `data`, validated; unknown fields are ignored."""
    fields: dict[str, Any] = {}
    if "name" in data:
        fields["name"] = parse_name(data["name"])
    if "expired_time" in data:
        fields["expired_time"] = parse_expired_time(
            data["expired_time"], now=now, allow=current.expired_time if current is not None else None)
    if "remain_quota" in data:
        fields["remain_quota"] = parse_remain_quota(data["remain_quota"])
    if "unlimited_quota" in data:
        fields["unlimited_quota"] = strict_bool(data["unlimited_quota"], "unlimited_quota")
    if "model_limits_enabled" in data:
        fields["model_limits_enabled"] = strict_bool(data["model_limits_enabled"], "model_limits_enabled")
    if "model_limits" in data:
        fields["model_limits"] = parse_model_limits(data["model_limits"])
    if "allow_ips" in data:
        fields["allow_ips"] = parse_allow_ips(data["allow_ips"])
    if "group" in data:
        fields["group"] = parse_group(data["group"], user)
    return fields


def _parse_status(value: Any, current: int) -> int:
    status = strict_int(value, "status")
    if status != current and status not in USER_SETTABLE_STATUSES:
        raise ValidationError("status must be 1 (enabled) or 2 (disabled)")
    return status


def _check_can_enable(token: Token, *, previous_status: int, now: int) -> None:
    """new-api's rule: an expired or used-up key is not switched back on until that is fixed."""
    if token.expired_time != NEVER_EXPIRES and token.expired_time <= now:
        raise ValidationError(MSG_EXPIRED_CANNOT_ENABLE, code="token_expired")
    if previous_status == TokenStatus.EXHAUSTED and token.remain_quota <= 0 and not token.unlimited_quota:
        raise ValidationError(MSG_EXHAUSTED_CANNOT_ENABLE, code="token_exhausted")


# -- writing -------------------------------------------------------------------------------------------

def create_token(user: User, data: dict) -> tuple[Token, str]:
    """Create a key for `user` from `data`; returns the row and the full key, which is never stored."""
    now = int(time.time())
    fields = _parse_fields(data, user, now=now)
    if "expired_time" not in fields:
        fields["expired_time"] = NEVER_EXPIRES
    try:
        # Lock the owner's row so two concurrent creations cannot both pass the cap.
        db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
        count = db.session.scalar(select(func.count()).select_from(_owned(user.id).subquery())) or 0
        if count >= MAX_TOKENS_PER_USER:
            raise ValidationError(f"you have reached the limit of {MAX_TOKENS_PER_USER} keys",
                                  code="token_limit_reached")
        key = new_api_key()
        token = Token(user_id=user.id, key_hash=hash_secret(key), key_hint=key_hint(key),
                      status=TokenStatus.ENABLED, created_time=now, accessed_time=now, **fields)
        db.session.add(token)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ValidationError("could not create the key, please try again") from None
    except Exception:
        db.session.rollback()
        raise
    bump("tokens")
    return token, key


def update_token(user: User, data: dict, *, status_only: bool = False) -> Token:
    """Update one of `user`'s keys (`data["id"]`): only the fields sent change; `status_only` changes only status."""
    token_id = strict_int(data.get("id"), "id", minimum=1)
    now = int(time.time())
    try:
        token = db.session.scalar(_owned(user.id).where(Token.id == token_id).with_for_update())
        if token is None:
            raise NotFound("token not found")
        previous_status = token.status
        if status_only:
            if "status" not in data:
                raise ValidationError("status is required")
            fields = {}
        else:
            fields = _parse_fields(data, user, now=now, current=token)
        if "status" in data:
            fields["status"] = _parse_status(data["status"], previous_status)
        for name, value in fields.items():
            setattr(token, name, value)
        if token.status == TokenStatus.ENABLED and previous_status != TokenStatus.ENABLED:
            _check_can_enable(token, previous_status=previous_status, now=now)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    bump("tokens")
    return token


def _soft_delete(query) -> int:
    tokens = list(db.session.scalars(query.with_for_update()))
    stamp = datetime.utcnow()
    for token in tokens:
        token.deleted_at = stamp
        # Disabled as well, so a lookup that forgets deleted_at still refuses the key.
        token.status = TokenStatus.DISABLED
    db.session.commit()
    return len(tokens)


def delete_token(user_id: int, token_id: int) -> None:
    """Soft-delete one of the user's keys; the key stops working at once."""
    try:
        if _soft_delete(_owned(user_id).where(Token.id == token_id)) == 0:
            raise NotFound("token not found")
    except Exception:
        db.session.rollback()
        raise
    bump("tokens")


def parse_ids(value: Any, name: str = "ids") -> list[int]:
    """A non-empty JSON list of positive integer ids (duplicates dropped)."""
    if not isinstance(value, list) or not value:
        raise ValidationError(f"{name} must be a non-empty list of ids")
    if len(value) > MAX_BATCH_IDS:
        raise ValidationError(f"{name} may hold at most {MAX_BATCH_IDS} ids")
    return list(dict.fromkeys(strict_int(item, name, minimum=1) for item in value))


def delete_tokens(user_id: int, ids: list[int]) -> int:
    """Soft-delete those of `ids` that belong to the user; returns how many were deleted."""
    try:
        count = _soft_delete(_owned(user_id).where(Token.id.in_(ids)))
    except Exception:
        db.session.rollback()
        raise
    if count:
        bump("tokens")
    return count
