"""The whole path a new deployment takes, in the browser: first-run setup, sign-in, a channel pointing at
the mock upstream (tested from its row), a key created and copied, a call with the openai SDK, and the
call showing in the log (with its details) and on the dashboard's charts."""

from __future__ import annotations

import json
import re

import openai
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import login, screenshot
from tests.mock_upstream import MockUpstream

pytestmark = pytest.mark.browser
PASSWORD = "root-password-1"


def test_setup_channel_key_call_log_and_chart(page, fresh_server, tmp_path, dialogs):
    base = fresh_server.url
    page.goto(base + "/")
    assert page.url.endswith("/setup")
    screenshot(page, "setup", tmp_path)
    page.fill("input[name=username]", "root")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirmPassword]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/login**")
    screenshot(page, "login", tmp_path)
    login(page, base, "root", PASSWORD)

    with MockUpstream() as upstream:
        # A channel, created in the editor the "Add channel" button swaps in.
        page.goto(base + "/admin/channels")
        page.click("text=Add channel")
        form = page.locator("[data-testid=channel-form]")
        form.wait_for()
        form.locator("#ch-name").fill("mock upstream")
        form.locator("#ch-base-url").fill(upstream.origin)
        form.locator("#ch-models").fill("gpt-4o-mini")
        form.locator("#ch-key").fill("sk-upstream-good")
        form.locator("button[type=submit]").click()
        row = page.locator("#channel-list tbody tr", has_text="mock upstream")
        row.wait_for()
        assert form.count() == 0  # the editor closed; the list refreshed through HX-Trigger
        row.get_by_role("button", name="Test").click()
        expect(row.locator("[data-testid=channel-test-result]")).to_have_text(re.compile(r"^\d+(\.\d)? m?s$"))
        screenshot(page, "admin-channels", tmp_path)

        # A key: created, revealed once, copied to the clipboard.
        page.goto(base + "/console/keys")
        page.fill("#new-name", "e2e key")
        page.click("#key-create button[type=submit]")
        page.locator("[data-testid=key-reveal]").wait_for()
        page.click("[data-testid=key-reveal] [data-copy]")
        key = page.evaluate("navigator.clipboard.readText()")
        assert key.startswith("sk-") and len(key) == 51

        # A real call through the relay with the openai SDK.
        client = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=20)
        answer = client.chat.completions.create(model="gpt-4o-mini",
                                                messages=[{"role": "user", "content": "Hello"}])
        assert answer.choices[0].message.content
        assert upstream.requests[-1].api_key == "sk-upstream-good"

    # The log row, with its ratios and first-response time in the detail.
    page.goto(base + "/console/logs")
    log_row = page.locator("#log-list tbody tr[data-log-id]", has_text="gpt-4o-mini").first
    log_row.wait_for()
    assert "e2e key" in log_row.inner_text()
    log_row.get_by_role("button", name="Details").click()
    detail = page.locator("#log-list tr.log-detail.show")
    detail.wait_for()
    assert "model" in detail.inner_text() and "First response" in detail.inner_text()
    screenshot(page, "user-logs", tmp_path)

    # The dashboard's charts were drawn from quota_data and include the call.
    page.goto(base + "/console")
    page.locator("canvas[data-chart-ready]").first.wait_for()
    assert page.locator("canvas[data-chart-ready]").count() == 3
    spec = json.loads(page.get_attribute("[data-testid=chart-quota]", "data-chart"))
    assert [s["label"] for s in spec["series"]] == ["gpt-4o-mini"]
    calls = json.loads(page.get_attribute("[data-testid=chart-calls]", "data-chart"))
    assert sum(calls["series"][0]["data"]) == 1
    assert page.inner_text("[data-testid=stat-requests]") == "1"
    screenshot(page, "user-dashboard", tmp_path)

    # Grouping by day swaps the charts in place and keeps the URL shareable.
    page.select_option("#range-group", "day")
    page.wait_for_url("**group_by=day**")
    page.locator("canvas[data-chart-ready]").first.wait_for()
    assert not dialogs.alerts
