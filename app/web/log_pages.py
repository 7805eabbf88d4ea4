"""What the user's and the admin's log pages share: reading the filters and asking the logs service."""

from __future__ import annotations

from flask import request

from app.billing.plans import plan_timezone
from app.errors import ValidationError
from app.services import logs as log_service
from app.web import forms


def log_page_context(endpoint: str, *, user_id: int | None, admin: bool) -> dict:
    """Rows, total and stats for the filters in the query string; a bad filter becomes a message.
    `endpoint` is the page's own, for the filter form and the paging links."""
    page, size = forms.page_args()
    context = {"page": page, "page_size": size, "filters": request.args, "admin": admin, "rows": [], "total": 0,
               "stat": None, "filter_error": None, "list_endpoint": endpoint}
    try:
        f = log_service.parse_log_filter(forms.log_query(plan_timezone()), user_id=user_id)
        context["rows"], context["total"] = log_service.list_logs(f, page, size, admin=admin)
        context["stat"] = log_service.log_stat(f)
    except ValidationError as exc:
        context["filter_error"] = exc.message
    return context
