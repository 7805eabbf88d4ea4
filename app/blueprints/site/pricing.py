"""The public price list: every model an enabled channel serves, priced per 1M tokens or per call."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from app.blueprints.site import bp
from app.services import catalog
from app.web.htmx import render


@bp.get("/pricing")
def pricing():
    """Prices for the chosen group (default ratio 1); searching and switching groups swap the table."""
    own_group = current_user.group if current_user.is_authenticated else None
    data = catalog.pricing(own_group)
    group = request.args.get("group", "")
    if group not in data["group_ratio"]:
        group = ""
    ratio = float(data["group_ratio"].get(group, 1)) if group else 1.0
    query = request.args.get("q", "").strip()[:100]
    rows = [row for row in data["data"] if query.lower() in row["model_name"].lower()]
    return render("site/pricing.html", "site/_pricing_table.html", rows=rows, groups=data["usable_group"],
                  group_ratio=data["group_ratio"], group=group, ratio=ratio, q=query)
