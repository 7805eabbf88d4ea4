"""A tour of every main page as root, at desktop and phone widths: each renders without a script or CSP
error, fits a phone screen without sideways scrolling, and is saved as a screenshot."""

from __future__ import annotations

import time

import pytest

from app.extensions import db
from app.models import Midjourney, Task
from app.services import channels, tokens
from app.services.users import find_user
from tests.e2e.conftest import ROOT_NAME, ROOT_PASSWORD, login, screenshot
from tests.web.usage_rows import add_usage

pytestmark = pytest.mark.browser

PAGES = {
    "user-dashboard-tour": "/console",
    "user-keys-tour": "/console/keys",
    "user-logs-tour": "/console/logs",
    "user-tasks-tour": "/console/tasks",
    "user-wallet-tour": "/console/wallet",
    "user-profile": "/console/profile",
    "pricing": "/pricing",
    "admin-channels-tour": "/admin/channels",
    "admin-users": "/admin/users",
    "admin-redemptions-tour": "/admin/redemptions",
    "admin-logs": "/admin/logs",
    "admin-tasks": "/admin/tasks?platform=suno",
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
        now = int(time.time())
        db.session.add_all([
            Midjourney(user_id=root.id, mj_id="tour-mj-1", action="IMAGINE", prompt="a lighthouse at dusk",
                       status="FAILURE", progress="100%", fail_reason="banned prompt", channel_id=channel.id,
                       quota=50_000, submit_time=(now - 60) * 1000),
            Task(user_id=root.id, task_id="tour-song-1", platform="suno", action="MUSIC", status="SUCCESS",
                 progress="100%", channel_id=channel.id, quota=20_000, submit_time=now - 120,
                 data=[{"title": "Tour song", "audio_url": "https://cdn.example/tour.mp3"}]),
        ])
        db.session.commit()
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


def test_task_list_polls_until_its_tasks_finish(page, live_server, seeded):
    """A running task makes the list reload itself; once it has finished, the 286 answer stops the polling."""
    base = live_server.url
    with live_server.app.app_context():
        row = Midjourney(user_id=1, mj_id="tour-running", action="IMAGINE", prompt="a running task",
                         status="IN_PROGRESS", progress="10%", channel_id=seeded, submit_time=int(time.time() * 1000))
        db.session.add(row)
        db.session.commit()
        row_id = row.id
    login(page, base, ROOT_NAME, ROOT_PASSWORD)
    polls: list[int] = []  # statuses of the list's own requests
    page.on("response", lambda r: polls.append(r.status) if r.request.headers.get("hx-trigger") == "task-list"
            else None)
    page.goto(base + "/console/tasks")
    assert page.get_attribute("#task-list", "data-polling") == "true"
    with live_server.app.app_context():
        db.session.get(Midjourney, row_id).progress = "55%"
        db.session.commit()
    page.locator("#task-list progress[value='55']").wait_for(timeout=12_000)
    with live_server.app.app_context():
        finished = db.session.get(Midjourney, row_id)
        finished.status, finished.progress = "SUCCESS", "100%"
        db.session.commit()
    page.locator("#task-list[data-polling=false]").wait_for(timeout=12_000)
    assert polls[-1] == 286 and set(polls[:-1]) == {200}
    seen = len(polls)
    page.wait_for_timeout(6_000)  # no poll after the 286
    assert len(polls) == seen
    with live_server.app.app_context():
        db.session.delete(db.session.get(Midjourney, row_id))
        db.session.commit()
