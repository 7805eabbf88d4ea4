"""/api/plan/*: plans, quota types and subscriptions (admin), seeds 000, 001 and 004.

Routes: `/api/plan/` list/create/update (PUT with `id` in the body, like new-api, or PUT /api/plan/<id>),
`/api/plan/<id>` get/delete; `/api/plan/quota_types` the same for quota types; `POST /api/plan/assign`,
`GET /api/plan/subscriptions?user_id=`, `DELETE /api/plan/subscriptions/<id>`.
"""

from __future__ import annotations

from flask import request

from app.blueprints.api import bp
from app.errors import NotFound, ValidationError
from app.services import plans as plan_service
from app.validation import strict_int
from app.web.api import json_body, ok, page_args, page_result
from app.web.auth import admin_required

MAX_ID = 2**31 - 1


def _id(value: int) -> int:
    """Path ids beyond the column's range cannot exist."""
    if value > MAX_ID:
        raise NotFound("not found")
    return value


def _body_id(body: dict) -> int:
    if "id" not in body:
        raise ValidationError("id is required")
    return _id(strict_int(body["id"], "id", minimum=1, allow_str=True))


# -- plans ---------------------------------------------------------------------------------------------

@bp.get("/plan/", strict_slashes=False)
@admin_required
def plan_list():
    """Every plan, paged."""
    page, size = page_args()
    items, total = plan_service.list_plans(page, size)
    return ok(page_result(items, total, page, size))


@bp.get("/plan/<int:plan_id>")
@admin_required
def plan_get(plan_id: int):
    """One plan."""
    return ok(plan_service.plan_to_dict(plan_service.get_plan(_id(plan_id))))


@bp.post("/plan/", strict_slashes=False)
@admin_required
def plan_create():
    """Create a plan: name, description, daily/monthly quota limits, daily request limit, quota_type_ids."""
    return ok(plan_service.plan_to_dict(plan_service.create_plan(json_body())))


@bp.put("/plan/", strict_slashes=False)
@admin_required
def plan_update():
    """Change a plan (`id` in the body; only the fields sent change)."""
    body = json_body()
    return ok(plan_service.plan_to_dict(plan_service.update_plan(_body_id(body), body)))


@bp.put("/plan/<int:plan_id>")
@admin_required
def plan_update_by_id(plan_id: int):
    """Change a plan (only the fields sent change)."""
    body = json_body()
    body.pop("id", None)
    return ok(plan_service.plan_to_dict(plan_service.update_plan(_id(plan_id), body)))


@bp.delete("/plan/<int:plan_id>")
@admin_required
def plan_delete(plan_id: int):
    """Delete a plan and its subscriptions."""
    plan_service.delete_plan(_id(plan_id))
    return ok()


# -- quota types ---------------------------------------------------------------------------------------

@bp.get("/plan/quota_types")
@admin_required
def quota_type_list():
    """Every quota type."""
    return ok(plan_service.list_quota_types())


@bp.get("/plan/quota_types/<int:quota_type_id>")
@admin_required
def quota_type_get(quota_type_id: int):
    """One quota type."""
    return ok(plan_service.quota_type_to_dict(plan_service.get_quota_type(_id(quota_type_id))))


@bp.post("/plan/quota_types")
@admin_required
def quota_type_create():
    """Create a quota type: name, description, models (list or comma-separated; empty = every model)."""
    return ok(plan_service.quota_type_to_dict(plan_service.create_quota_type(json_body())))


@bp.put("/plan/quota_types")
@admin_required
def quota_type_update():
    """Change a quota type (`id` in the body)."""
    body = json_body()
    return ok(plan_service.quota_type_to_dict(plan_service.update_quota_type(_body_id(body), body)))


@bp.put("/plan/quota_types/<int:quota_type_id>")
@admin_required
def quota_type_update_by_id(quota_type_id: int):
    """Change a quota type."""
    body = json_body()
    body.pop("id", None)
    return ok(plan_service.quota_type_to_dict(plan_service.update_quota_type(_id(quota_type_id), body)))


@bp.delete("/plan/quota_types/<int:quota_type_id>")
@admin_required
def quota_type_delete(quota_type_id: int):
    """Delete a quota type that no plan counts."""
    plan_service.delete_quota_type(_id(quota_type_id))
    return ok()


# -- subscriptions -------------------------------------------------------------------------------------

@bp.post("/plan/assign")
@admin_required
def plan_assign():
    """Subscribe a user to a plan: `{user_id, plan_id, start_time?, end_time?}` (unix seconds; end 0 = open)."""
    sub = plan_service.assign_plan(json_body())
    return ok(plan_service.subscription_to_dict(sub, plan_service.get_plan(sub.plan_id)))


@bp.get("/plan/subscriptions")
@admin_required
def subscription_list():
    """Subscriptions, newest first; one user's with `?user_id=`."""
    page, size = page_args()
    raw = (request.args.get("user_id") or "").strip()
    user_id = strict_int(raw, "user_id", minimum=1, maximum=MAX_ID, allow_str=True) if raw else None
    items, total = plan_service.list_subscriptions(user_id, page, size)
    return ok(page_result(items, total, page, size))


@bp.delete("/plan/subscriptions/<int:subscription_id>")
@admin_required
def subscription_delete(subscription_id: int):
    """Remove a subscription."""
    plan_service.delete_subscription(_id(subscription_id))
    return ok()
