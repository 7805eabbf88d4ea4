"""Redemption and gift codes (Veloera `redemptions`): admin CRUD, and redeeming a code for quota.

A code is a bearer secret, stored as-is in `key_value` (one-api's model) so admins can list it again;
only admins ever see keys. A single-use code is credited exactly once, a gift code at most `max_uses`
times and once per user, however many requests race: the code's row is locked (SELECT ... FOR UPDATE),
claimed with a conditional UPDATE whose row count decides, and the UNIQUE(redemption_id, user_id) row in
`redemption_logs` backs that up. The credit, the claim, the top-up log row and any inviter rebate are
one transaction, taking row locks in one order: the code, then the redeemer, then the inviter.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.billing.ledger import add_topup_log
from app.database import retry_on_deadlock
from app.errors import Conflict, NotFound, ValidationError
from app.extensions import db
from app.models import Redemption, RedemptionLog, RedemptionStatus, User
from app.models.base import now_ts
from app.security import random_string
from app.services import affiliate
from app.services.accounts import quota_text
from app.services.users import LIKE_ESCAPE, atomic, credit_quota, escape_like, lock_wallet
from app.validation import clean_text, strict_bool, strict_int

KEY_LENGTH = 32
CUSTOM_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_KEY_INPUT = 64
KEY_INPUT_RE = re.compile(r"^[\x21-\x7e]{1,64}$")  # printable ASCII, the alphabet of every key we issue
MAX_CODE_QUOTA = 10**12  # $2,000,000 at the default 500,000 quota per dollar
MAX_COUNT = 100
MAX_GIFT_USES = 10**9
MAX_TIMESTAMP = 253402300799  # year 9999; a millisecond timestamp sent by mistake is refused
MAX_ROW_ID = 2**31 - 1
ADMIN_STATUSES = (RedemptionStatus.UNUSED, RedemptionStatus.DISABLED)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# -- presentation --------------------------------------------------------------------------------------

def code_to_dict(code: Redemption) -> dict[str, Any]:
    """A code as the admin API shows it (with its key: admins only). `expired_time` is new-api's name
    for `valid_until`."""
    return {
        "id": code.id, "user_id": code.user_id, "key": code.key, "status": code.status, "name": code.name,
        "quota": code.quota, "created_time": code.created_time, "redeemed_time": code.redeemed_time,
        "used_user_id": code.used_user_id, "is_gift": code.is_gift, "max_uses": code.max_uses,
        "used_count": code.used_count, "valid_from": code.valid_from, "valid_until": code.valid_until,
        "expired_time": code.valid_until,
    }


def _exhausted(code: Redemption) -> bool:
    """True when the code has no use left (whatever its status says)."""
    if code.is_gift:
        return code.max_uses != -1 and code.used_count >= code.max_uses
    return code.used_count > 0 or bool(code.used_user_id) or code.status == RedemptionStatus.USED


# -- admin: reading -----------------------------------------------------------------------------------

def _live():
    return select(Redemption).where(Redemption.deleted_at.is_(None))


def _paged(query, page: int, page_size: int) -> tuple[list[Redemption], int]:
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = db.session.scalars(query.order_by(Redemption.id.desc()).limit(page_size)
                              .offset((page - 1) * page_size))
    return list(rows), total


def list_codes(page: int = 1, page_size: int = 10) -> tuple[list[Redemption], int]:
    """Codes that are not deleted, newest first, and how many there are."""
    return _paged(_live(), page, page_size)


def search_codes(keyword: Any = "", page: int = 1, page_size: int = 10) -> tuple[list[Redemption], int]:
    """Codes whose id or key equals `keyword`, or whose name starts with it (Veloera's prefix match)."""
    keyword = clean_text(keyword or "", "keyword", max_len=MAX_KEY_INPUT).strip()
    query = _live()
    if keyword:
        conditions = [Redemption.name.like(escape_like(keyword) + "%", escape=LIKE_ESCAPE),
                      Redemption.key == keyword]
        if keyword.isascii() and keyword.isdigit() and int(keyword) <= MAX_ROW_ID:
            conditions.append(Redemption.id == int(keyword))
        query = query.where(or_(*conditions))
    return _paged(query, page, page_size)


def get_code(code_id: int) -> Redemption:
    """A code that is not deleted, or NotFound."""
    if isinstance(code_id, bool) or not isinstance(code_id, int) or not 0 < code_id <= MAX_ROW_ID:
        raise NotFound("redemption code not found")
    code = db.session.scalar(_live().where(Redemption.id == code_id))
    if code is None:
        raise NotFound("redemption code not found")
    return code


# -- admin: writing -----------------------------------------------------------------------------------

def _parse_name(value: Any) -> str:
    name = clean_text(value if value is not None else "", "name", max_len=20).strip()
    if not name:
        raise ValidationError("name must be 1-20 characters")
    return name


def _parse_quota(value: Any) -> int:
    return strict_int(value, "quota", minimum=1, maximum=MAX_CODE_QUOTA)


def _parse_time(value: Any, name: str) -> int:
    return strict_int(value, name, minimum=0, maximum=MAX_TIMESTAMP)


def _parse_window(data: dict, *, now: int, current: Redemption | None = None) -> tuple[int, int]:
    """`valid_from` and `valid_until` (alias `expired_time`; 0 = no limit), checked against each other."""
    valid_from = current.valid_from if current else 0
    valid_until = current.valid_until if current else 0
    if data.get("valid_from") is not None:
        valid_from = _parse_time(data["valid_from"], "valid_from")
    until_raw = data.get("valid_until")
    alias_raw = data.get("expired_time")
    if until_raw is not None and alias_raw is not None and until_raw != alias_raw:
        raise ValidationError("valid_until and expired_time disagree; send one of them")
    raw = until_raw if until_raw is not None else alias_raw
    if raw is not None:
        # new-api's UI sends -1 for "never"; keep the meaning, store our 0.
        valid_until = 0 if raw == -1 and not isinstance(raw, bool) else _parse_time(raw, "valid_until")
        if valid_until and valid_until <= now and (current is None or valid_until != current.valid_until):
            raise ValidationError("valid_until must be in the future")
    if valid_from and valid_until and valid_from >= valid_until:
        raise ValidationError("valid_from must be earlier than valid_until")
    return valid_from, valid_until


def _parse_max_uses(value: Any) -> int:
    uses = strict_int(value, "max_uses", minimum=-1, maximum=MAX_GIFT_USES)
    if uses == 0:
        raise ValidationError("max_uses must be -1 (unlimited) or at least 1")
    return uses


def _parse_custom_key(value: Any) -> str:
    if not isinstance(value, str) or not CUSTOM_KEY_RE.fullmatch(value.strip()):
        raise ValidationError("key must be 8-64 letters, digits, '_' or '-'")
    return value.strip()


def create_codes(actor: User, data: dict) -> list[str]:
    """Create `count` codes from `{name, quota, count?, is_gift?, max_uses?, valid_from?, valid_until?,
    key?}` in one transaction and return their keys (the only time the API returns them in bulk)."""
    now = now_ts()
    name = _parse_name(data.get("name"))
    quota = _parse_quota(data.get("quota"))
    count = strict_int(data["count"], "count", minimum=1, maximum=MAX_COUNT) if data.get("count") is not None else 1
    is_gift = strict_bool(data["is_gift"], "is_gift") if data.get("is_gift") is not None else False
    max_uses = -1
    if data.get("max_uses") is not None:
        max_uses = _parse_max_uses(data["max_uses"])
        if not is_gift and max_uses not in (-1, 1):
            raise ValidationError("max_uses applies to gift codes only; a redemption code is used once")
        if not is_gift:
            max_uses = -1
    valid_from, valid_until = _parse_window(data, now=now)
    custom = data.get("key")
    keys: list[str]
    if custom not in (None, ""):
        if count != 1:
            raise ValidationError("a custom key can only be used when creating a single code")
        keys = [_parse_custom_key(custom)]
        if db.session.scalar(select(Redemption.id).where(Redemption.key == keys[0]).limit(1)) is not None:
            raise Conflict("a code with this key already exists")
    else:
        keys = [random_string(KEY_LENGTH) for _ in range(count)]
    try:
        with atomic():
            for key in keys:
                db.session.add(Redemption(
                    user_id=actor.id, key=key, status=RedemptionStatus.UNUSED, name=name, quota=quota,
                    created_time=now, is_gift=is_gift, max_uses=max_uses, used_count=0,
                    valid_from=valid_from, valid_until=valid_until,
                ))
    except IntegrityError:
        raise Conflict("a code with this key already exists") from None
    return keys


def _lock_code(code_id: int) -> Redemption:
    get_code(code_id)  # validates the id
    code = db.session.execute(
        select(Redemption).where(Redemption.id == code_id, Redemption.deleted_at.is_(None))
        .with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if code is None:
        raise NotFound("redemption code not found")
    return code


def _parse_status(value: Any) -> int:
    status = strict_int(value, "status")
    if status not in ADMIN_STATUSES:
        raise ValidationError("status must be 1 (enabled) or 3 (disabled)")
    return status


def update_code(data: dict, *, status_only: bool = False) -> Redemption:
    """Edit a code from a PUT body `{id, ...}`: with `status_only`, only `status` (1 enable, 3 disable);
    otherwise name, quota, valid_from/valid_until, max_uses (gift codes) and status. A used-up code
    cannot be enabled again; raising a gift code's max_uses re-opens it."""
    code_id = strict_int(data.get("id"), "id", minimum=1)
    now = now_ts()
    with atomic():
        code = _lock_code(code_id)
        values: dict[str, Any] = {}
        status = code.status
        if status_only or data.get("status") is not None:
            if data.get("status") is None:
                raise ValidationError("status is required")
            wanted = _parse_status(data["status"])
            if wanted != code.status:
                status = wanted
        if not status_only:
            if data.get("name") is not None:
                values["name"] = _parse_name(data["name"])
            if data.get("quota") is not None:
                values["quota"] = _parse_quota(data["quota"])
            values["valid_from"], values["valid_until"] = _parse_window(data, now=now, current=code)
            if data.get("max_uses") is not None:
                max_uses = _parse_max_uses(data["max_uses"])
                if code.is_gift:
                    code.max_uses = max_uses  # for the status rule below; written with the values
                    values["max_uses"] = max_uses
                elif max_uses not in (-1, 1):
                    raise ValidationError("max_uses applies to gift codes only")
        if status == RedemptionStatus.UNUSED and _exhausted(code):
            if status != code.status:
                raise ValidationError("this code is used up and cannot be enabled again")
            if code.is_gift:
                status = RedemptionStatus.USED  # max_uses was lowered to the number of uses so far
        elif status == RedemptionStatus.USED and code.is_gift and not _exhausted(code):
            status = RedemptionStatus.UNUSED  # max_uses was raised: the gift code is open again
        if status != code.status:
            values["status"] = status
        if values:
            db.session.execute(update(Redemption).where(Redemption.id == code.id).values(**values)
                               .execution_options(synchronize_session=False))
    db.session.expire_all()
    return get_code(code_id)


def delete_code(code_id: int) -> None:
    """Soft-delete one code: it can no longer be redeemed, and its history stays."""
    get_code(code_id)
    with atomic():
        result = db.session.execute(
            update(Redemption).where(Redemption.id == code_id, Redemption.deleted_at.is_(None))
            .values(deleted_at=_utcnow()).execution_options(synchronize_session=False))
        if result.rowcount != 1:
            raise NotFound("redemption code not found")


def delete_invalid_codes() -> int:
    """Soft-delete every used, disabled or expired code; returns how many."""
    now = now_ts()
    with atomic():
        result = db.session.execute(
            update(Redemption)
            .where(Redemption.deleted_at.is_(None),
                   or_(Redemption.status.in_((RedemptionStatus.USED, RedemptionStatus.DISABLED)),
                       (Redemption.valid_until != 0) & (Redemption.valid_until <= now)))
            .values(deleted_at=_utcnow()).execution_options(synchronize_session=False))
    return result.rowcount


# -- users: redeeming ---------------------------------------------------------------------------------

def _parse_key(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("please enter a redemption code", code="code_missing")
    key = value.strip()
    if not KEY_INPUT_RE.fullmatch(key):  # no code has control, non-ASCII or over-long text: don't look it up
        raise ValidationError("invalid redemption code", code="code_not_found")
    return key


def _refusal(code: Redemption | None, user_id: int, now: int) -> ValidationError | None:
    """Why `code` cannot be redeemed by `user_id` now, or None. Distinct message and code per reason."""
    if code is None or code.deleted_at is not None:
        return ValidationError("invalid redemption code", code="code_not_found")
    if code.status == RedemptionStatus.DISABLED:
        return ValidationError("this code has been disabled", code="code_disabled")
    if code.status == RedemptionStatus.USED or _exhausted(code):
        if code.is_gift:
            return ValidationError("this gift code has reached its maximum number of uses", code="code_used")
        return ValidationError("this code has already been used", code="code_used")
    if code.valid_from and now < code.valid_from:
        return ValidationError("this code is not valid yet", code="code_not_yet_valid")
    if code.valid_until and now >= code.valid_until:
        return ValidationError("this code has expired", code="code_expired")
    if code.is_gift and db.session.scalar(
        select(RedemptionLog.id).where(RedemptionLog.redemption_id == code.id,
                                       RedemptionLog.user_id == user_id).limit(1)
    ) is not None:
        return ValidationError("you have already redeemed this gift code", code="gift_already_redeemed")
    return None


def _claim(code: Redemption, user_id: int, now: int) -> bool:
    """Take one use of the (locked) code with a conditional UPDATE; the row count decides."""
    live = [Redemption.id == code.id, Redemption.status == RedemptionStatus.UNUSED,
            Redemption.deleted_at.is_(None),
            (Redemption.valid_from == 0) | (Redemption.valid_from <= now),
            (Redemption.valid_until == 0) | (Redemption.valid_until > now)]
    if code.is_gift:
        statement = (update(Redemption)
                     .where(*live, (Redemption.max_uses == -1) | (Redemption.used_count < Redemption.max_uses))
                     .values(used_count=Redemption.used_count + 1, redeemed_time=now))
    else:
        statement = (update(Redemption).where(*live, Redemption.used_count == 0)
                     .values(status=RedemptionStatus.USED, used_user_id=user_id, redeemed_time=now,
                             used_count=Redemption.used_count + 1))
    if db.session.execute(statement.execution_options(synchronize_session=False)).rowcount != 1:
        return False
    if code.is_gift:
        # A separate statement: MySQL evaluates SET assignments left to right, so one statement that
        # also tested used_count would see the incremented value on MySQL and the old one elsewhere.
        db.session.execute(
            update(Redemption)
            .where(Redemption.id == code.id, Redemption.max_uses != -1,
                   Redemption.used_count >= Redemption.max_uses)
            .values(status=RedemptionStatus.USED).execution_options(synchronize_session=False))
    return True


@retry_on_deadlock
def redeem(user: User, key: Any) -> tuple[int, bool]:
    """Redeem `key` for `user`: returns (quota credited, is_gift) or raises ValidationError with a distinct
    code: code_missing, code_not_found, code_disabled, code_used, code_not_yet_valid, code_expired,
    gift_already_redeemed, account_unavailable.

    Rebates go to the inviter for redemption codes only: a gift code is a free promotion, and rebating
    it would pay inviters for farming accounts that claim it."""
    key = _parse_key(key)
    user_id, username = user.id, user.username
    now = now_ts()
    try:
        with atomic():
            code = db.session.execute(
                select(Redemption).where(Redemption.key == key).with_for_update()
                .execution_options(populate_existing=True)
            ).scalar_one_or_none()
            refusal = _refusal(code, user_id, now)
            if refusal is not None:
                raise refusal
            if not lock_wallet(user_id):  # before redemption_logs references the user (MySQL deadlocks)
                raise ValidationError("your account cannot receive quota right now", code="account_unavailable")
            if not _claim(code, user_id, now):
                raise ValidationError("this code has already been used", code="code_used")
            quota, is_gift = code.quota, code.is_gift
            db.session.add(RedemptionLog(redemption_id=code.id, user_id=user_id, used_time=now, quota=quota))
            db.session.flush()
            if not credit_quota(user_id, quota):
                raise ValidationError("your account cannot receive quota right now", code="account_unavailable")
            kind = "gift code" if is_gift else "redemption code"
            add_topup_log(user, quota, f"Redeemed a {kind} for {quota_text(quota)} (code id {code.id})",
                          other={"redemption_id": code.id, "is_gift": is_gift})
            if not is_gift:
                affiliate.pay_rebate(user_id, username, quota, {"redemption_id": code.id})
    except IntegrityError:
        # UNIQUE(redemption_id, user_id): the same user won a race against themselves
        raise ValidationError("you have already redeemed this gift code", code="gift_already_redeemed") from None
    return quota, is_gift
