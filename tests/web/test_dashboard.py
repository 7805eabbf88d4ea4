"""The dashboard: summary cards and charts from quota_data, with a date range and grouping."""

from __future__ import annotations

import json
import re

import pytest

from tests.web.conftest import fragment, full
from tests.web.usage_rows import add_usage


def charts(body: str) -> dict[str, dict]:
    found = re.findall(r"data-chart='([^']*)' data-testid=\"chart-(\w+)\"", body)
    return {name: json.loads(spec) for spec, name in found}


def test_dashboard_needs_sign_in(client):
    assert client.get("/console").status_code == 302


def test_empty_dashboard(user_client):
    body = full(user_client, "/console")
    assert 'data-testid="charts-empty"' in body and "vendor/chart.umd.js" in body


def test_charts_show_usage_by_model_calls_and_share(user_client, user):
    add_usage(user, model="gpt-4o-mini", quota=500_000)
    add_usage(user, model="claude-3-haiku-20240307", quota=250_000)
    body = full(user_client, "/console")
    specs = charts(body)
    assert set(specs) == {"quota", "share", "calls"}
    assert {s["label"] for s in specs["quota"]["series"]} == {"gpt-4o-mini", "claude-3-haiku-20240307"}
    assert sum(specs["calls"]["series"][0]["data"]) == 2
    assert dict(zip(specs["share"]["labels"], specs["share"]["series"][0]["data"])) == {
        "gpt-4o-mini": 1.0, "claude-3-haiku-20240307": 0.5}


@pytest.mark.parametrize("group_by", ["hour", "day", "week"])
def test_range_and_grouping_swap_only_the_charts(user_client, user, group_by):
    add_usage(user)
    part = fragment(user_client, f"/console?group_by={group_by}")
    assert part.lstrip().startswith('<div id="dashboard-charts"') and "chart-calls" in part


def test_bad_range_is_explained(user_client):
    part = fragment(user_client, "/console?start=2020-01-01&end=2024-01-01&group_by=hour")
    assert 'role="alert"' in part


def test_other_users_usage_is_not_shown(user_client, admin_user):
    add_usage(admin_user)
    assert 'data-testid="charts-empty"' in full(user_client, "/console")
