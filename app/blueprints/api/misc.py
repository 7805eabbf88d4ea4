"""Public catalogue and site texts, and the group lists: /api/pricing, /api/notice, /api/about,
/api/home_page_content (anyone); /api/user/self/groups (signed in); /api/group/ and /api/models (admin)."""

from __future__ import annotations

from flask import jsonify
from flask_login import current_user

from app.blueprints.api import bp
from app.services import catalog
from app.web.api import ok
from app.web.auth import admin_required, user_required


@bp.get("/pricing")
def pricing_get():
    """Every model on sale with its ratios and dollar prices, in new-api's shape (`data`, `group_ratio`,
    `usable_group` at the top level). Signed-in callers also see their own group's models."""
    group = current_user.group if current_user.is_authenticated else None
    return jsonify({"success": True, "message": "", **catalog.pricing(group)})


@bp.get("/notice")
def notice_get():
    """The site notice, Markdown rendered to sanitised HTML."""
    return ok(catalog.site_text("Notice"))


@bp.get("/about")
def about_get():
    """The About text, Markdown rendered to sanitised HTML (a bare URL is returned as is)."""
    return ok(catalog.site_text("About"))


@bp.get("/home_page_content")
def home_page_content_get():
    """The home page text, Markdown rendered to sanitised HTML (a bare URL is returned as is)."""
    return ok(catalog.site_text("HomePageContent"))


@bp.get("/group/", strict_slashes=False)
@admin_required
def group_list():
    """Every group name that has a ratio (GroupRatio)."""
    return ok(catalog.group_names())


@bp.get("/user/self/groups")
@user_required
def user_self_groups():
    """The groups the caller may use for keys: `{name: {"ratio", "desc"}}` (new-api)."""
    return ok(catalog.user_groups(current_user.group))


@bp.get("/models")
@admin_required
def models_list():
    """The models configured on the channels of each channel type: `{"<type>": [model, ...]}`."""
    return ok(catalog.models_by_channel_type())
