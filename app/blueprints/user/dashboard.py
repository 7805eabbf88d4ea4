"""The dashboard: balance, spend and requests, and usage charts over a chosen range and grouping."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from app.billing.plans import plan_timezone
from app.blueprints.user import bp
from app.errors import ValidationError
from app.options import get_option
from app.services import stats
from app.web.auth import page_role_required
from app.web.charts import parse_day_range, usage_charts
from app.web.htmx import render, wants_fragment


def _charts() -> dict:
    zone = plan_timezone()
    group_by = request.args.get("group_by") or get_option("DataExportDefaultTime") or "hour"
    form = {"start": request.args.get("start", ""), "end": request.args.get("end", ""), "group_by": group_by}
    try:
        start, end, form["start"], form["end"] = parse_day_range(form["start"], form["end"], zone)
        start, end = stats.parse_range(start, end, group_by, own=True)
        rows = stats.quota_data_series(start, end, user_id=current_user.id, group_by=group_by)
    except ValidationError as exc:
        return {"range": form, "charts": None, "chart_error": exc.message}
    money = bool(get_option("DisplayInCurrencyEnabled"))
    return {"range": form, "charts": usage_charts(rows, group_by, zone, money=money), "chart_error": None}


@bp.get("", endpoint="dashboard")
@page_role_required()
def dashboard():
    """Summary cards and charts; changing the range swaps only the charts."""
    if wants_fragment():
        return render("user/dashboard.html", "user/_dashboard_charts.html", **_charts())
    summary = stats.user_usage_summary(current_user._get_current_object())
    return render("user/dashboard.html", summary=summary, **_charts())
