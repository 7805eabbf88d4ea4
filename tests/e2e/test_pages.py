"""A tour of every main page as root, at desktop and phone widths: each renders without a script or CSP
error, fits a phone screen without sideways scrolling, and is saved as a screenshot."""

from __future__ import annotations

import time

import pytest

from app.services import channels, tokens
from app.services.users import find_user
from tests.e2e.conftest import ROOT_NAME, ROOT_PASSWORD, login, screenshot
from tests.web.usage_rows import add_usage

pytestmark = pytest.mark.browser

PAGES = {
    "user-dashboard-tour": "/console",
    "user-keys-tour": "/console/keys",
    "user-logs-tour": "/console/logs",
    "user-wallet-tour": "/console/wallet",
    "user-profile": "/console/profile",
    "pricing": "/pricing",
    "admin-channels-tour": "/admin/channels",
    "admin-users": "/admin/users",
    "admin-redemptions-tour": "/admin/redemptions",
    "admin-logs": "/admin/logs",
    "admin-settings-quota": "/admin/settings?group=quota",
}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def seeded(live_server):
    """A channel, a key and a few days of usage, so lists and charts have something to show."""
    with live_server.app.app_context():
        root = find_user(1)
        channel = channels.create_channels({"mode": "single", "channel": {
            "name": "tour channel", "key": "sk-tour", "models": "gpt-4o-mini,gpt-4o", "group": "default",
            "tag": "tour"}})[0]
        token, _ = tokens.create_token(root, {"name": "tour key"})
        for day in range(3):
            for model, quota in (("gpt-4o-mini", 40_000), ("gpt-4o", 90_000)):
                add_usage(root, model=model, quota=quota * (day + 1), token_id=token.id, token_name="tour key",
                          channel_id=channel.id, when=int(time.time()) - day * 86400)
        return channel.id


def _fits(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px"


def test_every_main_page_renders_and_fits_a_phone(browser, page, live_server, seeded, tmp_path, dialogs):
    base = live_server.url
    page.goto(base + "/")
    screenshot(page, "home", tmp_path)
    login(page, base, ROOT_NAME, ROOT_PASSWORD)
    for name, path in PAGES.items():
        page.goto(base + path)
        assert page.locator("main h1").count() == 1, path
        if path == "/console":
            page.locator("canvas[data-chart-ready]").first.wait_for()
        screenshot(page, name, tmp_path)

    page.goto(f"{base}/admin/channels/{seeded}/usage")
    assert "tour key" in page.inner_text("[data-testid=usage-by-key]")
    screenshot(page, "admin-channel-usage", tmp_path)

    phone = browser.new_context(viewport=PHONE, locale="en-US", is_mobile=True, has_touch=True)
    small = phone.new_page()
    small.on("dialog", dialogs)
    login(small, base, ROOT_NAME, ROOT_PASSWORD)
    for name, path in PAGES.items():
        small.goto(base + path)
        _fits(small)
        if name in ("user-dashboard-tour", "user-keys-tour", "admin-channels-tour"):
            if path == "/console":
                small.locator("canvas[data-chart-ready]").first.wait_for()
            screenshot(small, f"phone-{name}", tmp_path)
    small.click(".navbar-toggler")
    small.locator("#nav-main").get_by_role("link", name="Keys").wait_for()
    phone.close()
    assert not dialogs.alerts
