"""Chart data for the pages: usage rows (stats.quota_data_series) reshaped for static/js/charts.js.

Only the shape changes here; the rows come from the stats service. The browser gets plain data in a
data-chart attribute and builds the Chart.js configuration itself (colours, axes, tooltips).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from app.errors import ValidationError
from app.web.filters import quota_to_amount

LABEL_FORMATS = {"hour": "%m-%d %H:00", "day": "%Y-%m-%d", "week": "%Y-%m-%d"}
MAX_MODELS = 12  # the rest are summed as "other", so a legend stays readable


def parse_day_range(start: str, end: str, zone: tzinfo, *, default_days: int = 7) -> tuple[int, int, str, str]:
    """Two YYYY-MM-DD dates (either may be empty) as unix seconds from the start of the first day to the
    end of the last, in `zone`; also the dates to show back in the form."""
    today = datetime.now(zone).date()
    try:
        last = date.fromisoformat(end) if end else today
        first = date.fromisoformat(start) if start else last - timedelta(days=default_days - 1)
    except ValueError:
        raise ValidationError("dates must look like 2025-01-31") from None
    begin = int(datetime.combine(first, time.min, zone).timestamp())
    finish = int(datetime.combine(last + timedelta(days=1), time.min, zone).timestamp()) - 1
    return begin, finish, first.isoformat(), last.isoformat()


def _value(quota: int, money: bool) -> float:
    return round(quota_to_amount(quota), 6) if money else quota


def usage_charts(rows: list[dict[str, Any]], group_by: str, zone: tzinfo, *, money: bool) -> dict[str, Any]:
    """Three charts from `{created_at, model_name, count, quota}` rows: spend per model over time (stacked
    bars), calls over time (bars) and each model's share of the spend (a doughnut)."""
    buckets = sorted({row["created_at"] for row in rows})
    position = {bucket: i for i, bucket in enumerate(buckets)}
    fmt = LABEL_FORMATS.get(group_by, LABEL_FORMATS["hour"])
    labels = [datetime.fromtimestamp(b, zone).strftime(fmt) for b in buckets]

    totals: dict[str, int] = {}
    for row in rows:
        totals[row["model_name"]] = totals.get(row["model_name"], 0) + row["quota"]
    ranked = sorted(totals, key=lambda m: (-totals[m], m))
    shown = set(ranked[:MAX_MODELS])
    names = ranked[:MAX_MODELS] + (["other"] if len(ranked) > MAX_MODELS else [])

    spend = {name: [0] * len(buckets) for name in names}
    calls = [0] * len(buckets)
    for row in rows:
        name = row["model_name"] if row["model_name"] in shown else "other"
        spend[name][position[row["created_at"]]] += row["quota"]
        calls[position[row["created_at"]]] += row["count"]
    share = {name: 0 for name in names}
    for model, quota in totals.items():
        share[model if model in shown else "other"] += quota

    return {
        "empty": not rows,
        "quota": {"kind": "stacked-bar", "money": money, "labels": labels,
                  "series": [{"label": n, "data": [_value(q, money) for q in spend[n]]} for n in names]},
        "calls": {"kind": "bar", "money": False, "labels": labels, "series": [{"label": "calls", "data": calls}]},
        "share": {"kind": "doughnut", "money": money, "labels": names,
                  "series": [{"label": "share", "data": [_value(share[n], money) for n in names]}]},
        "total_quota": sum(totals.values()),
        "total_calls": sum(calls),
    }
