"""Plans, quota types and subscriptions (seeds 000, 001, 004): the admin's side of plan limits.

Limits are in quota units (QuotaPerUnit of them make one dollar); 0 means no limit. A plan counts the models
of its quota types (none: every model). A user has at most one active subscription at a time: assigning a
plan ends or cancels the subscriptions it overlaps. Every write commits, then calls `bump("plans")` so each
process drops its cached plans and re-seeds its window counters (app/billing/plans.py).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.billing.plans import SUBSCRIPTION_ACTIVE, SUBSCRIPTION_CANCELLED, parse_id_list, split_models
from app.cache import bump
from app.errors import Conflict, NotFound, ValidationError
from app.extensions import db
from app.models import Plan, QuotaType, User, UserSubscription
from app.validation import clean_text, strict_int

NAME_MAX_LEN = 64
DESCRIPTION_MAX_LEN = 255
MODELS_MAX_LEN = 65535
MAX_TIMESTAMP = 253402300799  # year 9999
MAX_ID = 2**31 - 1
PLAN_FIELDS = ("name", "description", "status", "daily_quota_limit", "monthly_quota_limit",
               "daily_request_limit", "quota_type_ids")
QUOTA_TYPE_FIELDS = ("name", "description", "models")


# -- presentation --------------------------------------------------------------------------------------

def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    return {
        "id": plan.id, "name": plan.name, "description": plan.description or "", "status": plan.status,
        "daily_quota_limit": plan.daily_quota_limit, "monthly_quota_limit": plan.monthly_quota_limit,
        "daily_request_limit": plan.daily_request_limit, "quota_type_ids": parse_id_list(plan.quota_type_ids),
        "created_at": _iso(plan.created_at), "updated_at": _iso(plan.updated_at),
    }


def quota_type_to_dict(quota_type: QuotaType) -> dict[str, Any]:
    return {"id": quota_type.id, "name": quota_type.name, "description": quota_type.description or "",
            "models": split_models(quota_type.models),
            "created_at": _iso(quota_type.created_at), "updated_at": _iso(quota_type.updated_at)}


def subscription_to_dict(sub: UserSubscription, plan: Plan | None = None, username: str | None = None,
                         now: float | None = None) -> dict[str, Any]:
    now = int(time.time() if now is None else now)
    active = (sub.status == SUBSCRIPTION_ACTIVE and sub.start_time <= now
              and (sub.end_time == 0 or sub.end_time > now))
    return {"id": sub.id, "user_id": sub.user_id, "username": username, "plan_id": sub.plan_id,
            "plan_name": plan.name if plan is not None else None, "start_time": sub.start_time,
            "end_time": sub.end_time, "status": sub.status, "active": active}


# -- validation ----------------------------------------------------------------------------------------

def _name(value: Any, what: str) -> str:
    name = clean_text(value, f"{what} name", max_len=NAME_MAX_LEN, min_len=1).strip()
    if not name:
        raise ValidationError(f"{what} name must not be empty")
    return name


def _limit(value: Any, name: str) -> int:
    return strict_int(value, name, minimum=0, allow_str=True)


def _quota_type_ids(value: Any) -> str:
    """A list of ids (or "1,2") that must all exist; stored comma-separated, sorted and unique."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        ids = [strict_int(p, "quota_type_ids", minimum=1, maximum=MAX_ID, allow_str=True) for p in parts]
    elif isinstance(value, list):
        ids = [strict_int(v, "quota_type_ids", minimum=1, maximum=MAX_ID) for v in value]
    else:
        raise ValidationError("quota_type_ids must be a list of quota type ids")
    ids = sorted(set(ids))
    if len(ids) > 50:
        raise ValidationError("a plan may count at most 50 quota types")
    if ids:
        found = set(db.session.scalars(select(QuotaType.id).where(QuotaType.id.in_(ids))))
        missing = [i for i in ids if i not in found]
        if missing:
            raise ValidationError(f"unknown quota type id(s): {', '.join(map(str, missing))}")
    return ",".join(map(str, ids))


def _models(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        if not all(isinstance(m, str) for m in value):
            raise ValidationError("models must be a list of model names")
        names = value
    else:
        names = clean_text(value, "models", max_len=MODELS_MAX_LEN, allow_newlines=True).replace("\n", ",")
        names = names.split(",")
    cleaned: list[str] = []
    for name in names:
        name = clean_text(name, "model name", max_len=255).strip()
        if name and name not in cleaned:
            cleaned.append(name)
    text = ",".join(cleaned)
    if len(text) > MODELS_MAX_LEN:
        raise ValidationError("models is too long")
    return text


def _plan_values(data: dict, *, partial: bool) -> dict[str, Any]:
    unknown = set(data) - set(PLAN_FIELDS) - {"id"}
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(sorted(unknown))}")
    if not partial and "name" not in data:
        raise ValidationError("name is required")
    values: dict[str, Any] = {}
    if "name" in data:
        values["name"] = _name(data["name"], "plan")
    if "description" in data:
        values["description"] = clean_text(data["description"] or "", "description",
                                           max_len=DESCRIPTION_MAX_LEN).strip()
    if "status" in data:
        values["status"] = strict_int(data["status"], "status", minimum=1, maximum=2)
    for key in ("daily_quota_limit", "monthly_quota_limit", "daily_request_limit"):
        if key in data:
            values[key] = _limit(data[key], key)
    if "quota_type_ids" in data:
        values["quota_type_ids"] = _quota_type_ids(data["quota_type_ids"])
    return values


def _commit(conflict_message: str) -> None:
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(conflict_message) from None
    bump("plans")


# -- plans ---------------------------------------------------------------------------------------------

def list_plans(page: int, page_size: int) -> tuple[list[dict], int]:
    total = db.session.scalar(select(func.count()).select_from(Plan)) or 0
    plans = db.session.scalars(select(Plan).order_by(Plan.id).limit(page_size).offset((page - 1) * page_size))
    return [plan_to_dict(p) for p in plans], total


def get_plan(plan_id: int) -> Plan:
    plan = db.session.get(Plan, plan_id)
    if plan is None:
        raise NotFound("plan not found")
    return plan


def create_plan(data: dict) -> Plan:
    values = _plan_values(data, partial=False)
    plan = Plan(**{"description": "", "quota_type_ids": "", **values})
    db.session.add(plan)
    _commit(f"a plan named {values['name']!r} already exists")
    return plan


def update_plan(plan_id: int, data: dict) -> Plan:
    plan = get_plan(plan_id)
    values = _plan_values(data, partial=True)
    for key, value in values.items():
        setattr(plan, key, value)
    _commit("a plan with that name already exists")
    return plan


def delete_plan(plan_id: int) -> None:
    """Delete a plan and its subscriptions (their users simply have no plan any more)."""
    plan = get_plan(plan_id)
    db.session.execute(UserSubscription.__table__.delete().where(UserSubscription.plan_id == plan.id))
    db.session.delete(plan)
    _commit("the plan could not be deleted")


# -- quota types ---------------------------------------------------------------------------------------

def list_quota_types() -> list[dict]:
    return [quota_type_to_dict(q) for q in db.session.scalars(select(QuotaType).order_by(QuotaType.id))]


def get_quota_type(quota_type_id: int) -> QuotaType:
    quota_type = db.session.get(QuotaType, quota_type_id)
    if quota_type is None:
        raise NotFound("quota type not found")
    return quota_type


def _quota_type_values(data: dict, *, partial: bool) -> dict[str, Any]:
    unknown = set(data) - set(QUOTA_TYPE_FIELDS) - {"id"}
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(sorted(unknown))}")
    if not partial and "name" not in data:
        raise ValidationError("name is required")
    values: dict[str, Any] = {}
    if "name" in data:
        values["name"] = _name(data["name"], "quota type")
    if "description" in data:
        values["description"] = clean_text(data["description"] or "", "description",
                                           max_len=DESCRIPTION_MAX_LEN).strip()
    if "models" in data:
        values["models"] = _models(data["models"])
    return values


def create_quota_type(data: dict) -> QuotaType:
    values = _quota_type_values(data, partial=False)
    quota_type = QuotaType(**{"description": "", "models": "", **values})
    db.session.add(quota_type)
    _commit(f"a quota type named {values['name']!r} already exists")
    return quota_type


def update_quota_type(quota_type_id: int, data: dict) -> QuotaType:
    quota_type = get_quota_type(quota_type_id)
    values = _quota_type_values(data, partial=True)
    for key, value in values.items():
        setattr(quota_type, key, value)
    _commit("a quota type with that name already exists")
    return quota_type


def delete_quota_type(quota_type_id: int) -> None:
    """Delete a quota type no plan counts (refused while a plan refers to it)."""
    quota_type = get_quota_type(quota_type_id)
    users = [p.name for p in db.session.scalars(select(Plan))
             if quota_type.id in parse_id_list(p.quota_type_ids)]
    if users:
        raise Conflict(f"quota type is used by plan(s): {', '.join(users)}")
    db.session.delete(quota_type)
    _commit("the quota type could not be deleted")


# -- subscriptions -------------------------------------------------------------------------------------

def _timestamp(value: Any, name: str) -> int:
    return strict_int(value, name, minimum=0, maximum=MAX_TIMESTAMP, allow_str=True)


def assign_plan(data: dict, *, now: float | None = None) -> UserSubscription:
    """Subscribe a user to a plan from `start_time` (default now) to `end_time` (default 0: open-ended).

    Subscriptions of the user that would overlap end when the new one starts (or are cancelled if they
    had not started yet), so at most one is active at any moment.
    """
    unknown = set(data) - {"user_id", "plan_id", "start_time", "end_time"}
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(sorted(unknown))}")
    now = int(time.time() if now is None else now)
    user_id = strict_int(data.get("user_id"), "user_id", minimum=1, maximum=MAX_ID, allow_str=True)
    plan_id = strict_int(data.get("plan_id"), "plan_id", minimum=1, maximum=MAX_ID, allow_str=True)
    start = _timestamp(data["start_time"], "start_time") if data.get("start_time") not in (None, 0, "") else now
    end = _timestamp(data["end_time"], "end_time") if data.get("end_time") not in (None, "") else 0
    if end and end <= start:
        raise ValidationError("end_time must be after start_time")
    if end and end <= now:
        raise ValidationError("end_time must be in the future")
    user = db.session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise NotFound("user not found")
    get_plan(plan_id)
    overlapping = db.session.scalars(select(UserSubscription).where(
        UserSubscription.user_id == user_id, UserSubscription.status == SUBSCRIPTION_ACTIVE)).all()
    for sub in overlapping:
        if sub.end_time and sub.end_time <= start:
            continue  # ends before the new one starts
        if sub.start_time >= start:
            sub.status = SUBSCRIPTION_CANCELLED
        else:
            sub.end_time = start
    sub = UserSubscription(user_id=user_id, plan_id=plan_id, start_time=start, end_time=end,
                           status=SUBSCRIPTION_ACTIVE)
    db.session.add(sub)
    _commit("the subscription could not be saved")
    return sub


def list_subscriptions(user_id: int | None, page: int, page_size: int,
                       *, now: float | None = None) -> tuple[list[dict], int]:
    """Subscriptions, newest first, with plan and user names; one user's when `user_id` is given."""
    base = select(UserSubscription)
    if user_id is not None:
        base = base.where(UserSubscription.user_id == user_id)
    total = db.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = db.session.execute(
        select(UserSubscription, Plan, User.username)
        .join(Plan, Plan.id == UserSubscription.plan_id, isouter=True)
        .join(User, User.id == UserSubscription.user_id, isouter=True)
        .where(*([UserSubscription.user_id == user_id] if user_id is not None else []))
        .order_by(UserSubscription.id.desc()).limit(page_size).offset((page - 1) * page_size)
    ).all()
    return [subscription_to_dict(sub, plan, username, now) for sub, plan, username in rows], total


def delete_subscription(subscription_id: int) -> None:
    sub = db.session.get(UserSubscription, subscription_id)
    if sub is None:
        raise NotFound("subscription not found")
    db.session.delete(sub)
    _commit("the subscription could not be deleted")
